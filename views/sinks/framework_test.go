package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// The framework is tested with two tables of its own: an append-only log
// and a current-state table, fed by "test.event" envelopes.
const testSchema = `
CREATE TABLE test_events (
    event_id   TEXT NOT NULL UNIQUE,
    key        TEXT NOT NULL,
    value      INTEGER NOT NULL CHECK (value >= 0),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE test_state (
    key           TEXT PRIMARY KEY,
    value         INTEGER NOT NULL CHECK (value >= 0),
    note          TEXT,
    version       BIGINT NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    last_event_id TEXT NOT NULL
);`

var (
	testEvents = &Table{Name: "test_events", Kind: AppendOnly, Columns: []string{"event_id", "key", "value", "created_at"}}
	testState  = &Table{Name: "test_state", Kind: CurrentState, Columns: []string{"key", "value", "note"},
		Key: []string{"key"}, Merge: []string{"note"}}
)

type testEvent struct {
	Key     string  `json:"key"`
	Value   *int    `json:"value"`
	Version int64   `json:"version"`
	Note    *string `json:"note,omitempty"`
}

func testMap(env *topics.Envelope, _ *kgo.Record) ([]Row, error) {
	e, err := topics.DecodeData[testEvent](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if e.Key == "" || e.Value == nil {
		return nil, fmt.Errorf("%w: test event without key or value", ErrMalformedEvent)
	}
	return []Row{
		{Table: testEvents, Values: []any{env.ID, e.Key, *e.Value, env.OccurredAt}},
		{Table: testState, Values: []any{e.Key, *e.Value, e.Note},
			Order: Order{Version: e.Version, OccurredAt: env.OccurredAt, EventID: env.ID}},
	}, nil
}

// fixture is one test's topic, DLQ and sink name.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	topic string
	dlq   string
	name  string
	prod  *kgo.Client
	base  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := migrated(t)
	f := &fixture{t: t, pool: pool, topic: cluster.Unique("sink-in"), dlq: cluster.Unique("sink-dlq"),
		name: cluster.Unique("test"), base: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	cluster.CreateTopic(t, f.topic, topics.Delete)
	cluster.CreateTopic(t, f.dlq, topics.Delete)
	f.prod = cluster.Producer(t)
	return f
}

func (f *fixture) spec() Spec {
	return Spec{Name: f.name, Topics: []string{f.topic}, Tables: []*Table{testEvents, testState}, Map: testMap}
}

func (f *fixture) sink(opts ...Option) *Sink {
	f.t.Helper()
	s, err := New(f.spec(), f.pool, cluster.Clients, append([]Option{WithDLQ(f.dlq), WithRetryBackoff(50 * time.Millisecond)}, opts...)...)
	require.NoError(f.t, err)
	return s
}

// envelope builds a test event; id "" gets a new ID.
func (f *fixture) envelope(id, key string, value int, version int64, note *string) []byte {
	f.t.Helper()
	env, err := topics.NewEnvelope("test.event", f.base.Add(time.Duration(version)*time.Second),
		testEvent{Key: key, Value: &value, Version: version, Note: note})
	require.NoError(f.t, err)
	if id != "" {
		env.ID = id
	}
	b, err := env.Encode()
	require.NoError(f.t, err)
	return b
}

func (f *fixture) produce(key string, values ...[]byte) {
	f.t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: f.topic, Key: []byte(key), Value: v}
	}
	require.NoError(f.t, f.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

// produceMany produces n events over keys k0..k(keys-1), one event ID each.
func (f *fixture) produceMany(prefix string, n, keys int) {
	f.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range n {
		key := fmt.Sprintf("%s-k%d", prefix, i%keys)
		recs[i] = &kgo.Record{Topic: f.topic, Key: []byte(key), Value: f.envelope("", key, i, int64(i), nil)}
	}
	require.NoError(f.t, f.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

// start runs s until the test ends (or stop is called) and returns stop,
// which waits for Run to return.
func start(t *testing.T, s *Sink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return stop
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func (f *fixture) events(prefix string) int {
	return f.count("SELECT count(*) FROM test_events WHERE key LIKE $1", prefix+"-%")
}

func (f *fixture) storedOffsets() int64 {
	f.t.Helper()
	offs, err := Offsets(context.Background(), f.pool, f.name)
	require.NoError(f.t, err)
	var sum int64
	for _, p := range offs[f.topic] {
		sum += p
	}
	return sum
}

func TestBatchesWriteEveryRowOnce(t *testing.T) {
	cases := []struct {
		name     string
		maxBatch int
		n        int
	}{
		{name: "small batches: multi-row inserts", maxBatch: 7, n: 200},
		{name: "large batches: COPY into staging", maxBatch: 2000, n: 3000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			prefix := cluster.Unique("batch")
			f.produceMany(prefix, tc.n, 50)
			s := f.sink(WithMaxBatch(tc.maxBatch))
			recordsBefore := testutil.ToFloat64(sinkRecords.WithLabelValues(s.Name()))
			start(t, s)
			kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == tc.n })
			kafkatest.Eventually(t, 10*time.Second, s.Ready)
			require.Equal(t, int64(tc.n), f.storedOffsets(), "offsets cover exactly the rows")
			require.Equal(t, int64(tc.n), s.Stats().Records.Load())
			require.Equal(t, float64(tc.n), testutil.ToFloat64(sinkRecords.WithLabelValues(s.Name()))-recordsBefore, "the records metric counts them")
			require.Positive(t, testutil.CollectAndCount(sinkBatchSeconds), "batch latency is observed")
			require.GreaterOrEqual(t, s.Stats().Batches.Load(), int64(tc.n/tc.maxBatch))
			if tc.maxBatch > copyThreshold {
				require.Less(t, s.Stats().Batches.Load(), int64(tc.n/copyThreshold), "some batch was large enough for COPY")
			}
			require.Equal(t, 50, f.count("SELECT count(*) FROM test_state WHERE key LIKE $1", prefix+"-%"))
			// Each key's state is its last event: key k holds the highest i with i%50 == k.
			require.Equal(t, 0, f.count(`SELECT count(*) FROM test_state s WHERE key LIKE $1 AND value <>
				(SELECT max(value) FROM test_events e WHERE e.key = s.key)`, prefix+"-%"))
		})
	}
}

func TestResumesFromTheOffsetsStoredInPostgres(t *testing.T) {
	f := newFixture(t)
	prefix := cluster.Unique("resume")
	f.produceMany(prefix, 300, 10)
	first := f.sink(WithMaxBatch(50))
	stop := start(t, first)
	kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == 300 })
	stop()

	f.produceMany(prefix+"x", 120, 10)
	second := f.sink(WithMaxBatch(50))
	start(t, second)
	kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix+"x") == 120 })
	kafkatest.Eventually(t, 10*time.Second, second.Ready)
	require.Equal(t, int64(120), second.Stats().Records.Load(), "the restarted sink read only the new records")
	require.Equal(t, int64(420), f.storedOffsets())
	require.Equal(t, 300, f.events(prefix))
}

// TestCrashInTheMiddleOfABatch kills the sink after a batch's rows are
// written and before its transaction commits, then restarts it: the rows
// and offsets of committed batches agree at every point, and in the end
// every row is there exactly once.
func TestCrashInTheMiddleOfABatch(t *testing.T) {
	t.Run("context cancelled (process killed)", func(t *testing.T) {
		f := newFixture(t)
		prefix := cluster.Unique("kill")
		f.produceMany(prefix, 500, 20)
		ctx, cancel := context.WithCancel(context.Background())
		var commits atomic.Int64
		killer := f.sink(WithMaxBatch(40), WithWorkers(1), withBeforeCommit(func(context.Context) error {
			if commits.Add(1) == 4 {
				cancel() // the process dies with rows written, not committed
				return context.Canceled
			}
			return nil
		}))
		require.NoError(t, killer.Run(ctx))
		// Rows and offsets agree: the killed batch left neither.
		rows := f.events(prefix)
		require.Equal(t, int64(rows), f.storedOffsets())
		require.Equal(t, int64(3), killer.Stats().Batches.Load())
		require.Less(t, rows, 500)

		restarted := f.sink(WithMaxBatch(40))
		start(t, restarted)
		kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == 500 })
		kafkatest.Eventually(t, 10*time.Second, restarted.Ready)
		require.Equal(t, int64(500), f.storedOffsets())
		require.Equal(t, int64(500-rows), restarted.Stats().Records.Load())
		require.Equal(t, 500, f.count("SELECT count(DISTINCT event_id) FROM test_events WHERE key LIKE $1", prefix+"-%"))
	})
	t.Run("transaction fails (database error), the sink restarts itself", func(t *testing.T) {
		f := newFixture(t)
		prefix := cluster.Unique("fail")
		f.produceMany(prefix, 400, 20)
		var commits atomic.Int64
		s := f.sink(WithMaxBatch(30), withBeforeCommit(func(ctx context.Context) error {
			if n := commits.Add(1); n == 3 || n == 7 {
				return errors.New("injected: connection lost before COMMIT")
			}
			return nil
		}))
		start(t, s)
		kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == 400 })
		kafkatest.Eventually(t, 10*time.Second, func() bool { return f.storedOffsets() == 400 && s.Stats().Records.Load() >= 400 })
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, int64(400), s.Stats().Records.Load(), "committed records count once")
		require.GreaterOrEqual(t, commits.Load(), int64(400/30+2), "the failed batches were consumed again")
	})
}

func TestTwoCopiesOfOneSinkCommitEachRecordOnce(t *testing.T) {
	cases := []struct {
		name   string
		groups [2]string // "" is the sink's default group
	}{
		{name: "one consumer group: the copies split the partitions"},
		// Copies that do not share a group (misconfigured, or a group
		// member that lost its partitions without noticing yet) both
		// consume every partition; the offsets stored with the rows fence
		// the second commit of any record.
		{name: "two consumer groups: fencing keeps each record once", groups: [2]string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			prefix := cluster.Unique("twins")
			f.produceMany(prefix, 600, 30)
			var copies [2]*Sink
			for i, g := range tc.groups {
				opts := []Option{WithMaxBatch(25)}
				if g != "" {
					opts = append(opts, WithGroup(cluster.Unique(g)))
				}
				copies[i] = f.sink(opts...)
				start(t, copies[i])
			}
			a, b := copies[0], copies[1]
			kafkatest.Eventually(t, 60*time.Second, func() bool {
				return f.events(prefix) == 600 && f.storedOffsets() == 600 && a.Stats().Records.Load()+b.Stats().Records.Load() >= 600
			})
			time.Sleep(200 * time.Millisecond) // a duplicate commit would show up now
			require.Equal(t, int64(600), a.Stats().Records.Load()+b.Stats().Records.Load(),
				"between them, the copies committed each record once")
			require.Equal(t, int64(600), f.storedOffsets())
			require.Equal(t, 600, f.count("SELECT count(DISTINCT event_id) FROM test_events WHERE key LIKE $1", prefix+"-%"))
		})
	}
}

// TestConsumerGroupSplitsAndTakesOver runs two copies of a sink in one
// consumer group: they split the partitions, and when one stops (with
// records of its partitions still unwritten) the other takes its
// partitions over from the offsets stored in PostgreSQL. Every record is
// written and committed exactly once.
func TestConsumerGroupSplitsAndTakesOver(t *testing.T) {
	f := newFixture(t)
	prefix := cluster.Unique("group")
	a, b := f.sink(WithWorkers(1), WithMaxBatch(20)), f.sink(WithWorkers(1), WithMaxBatch(20))
	stopA := start(t, a)
	start(t, b)
	partitions := func(s *Sink) []int32 { return s.Assigned()[f.topic] }
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		pa, pb := partitions(a), partitions(b)
		return len(pa) > 0 && len(pb) > 0 && len(pa)+len(pb) == kafkatest.Partitions && a.Ready() && b.Ready()
	}, "both copies own partitions")
	pa, pb := partitions(a), partitions(b)
	for _, p := range pa {
		require.NotContains(t, pb, p, "a partition is owned by one copy only")
	}

	// A batch's rows show in PostgreSQL at its COMMIT, a moment before the
	// sink counts its records: the waits are for both.
	records := func() int64 { return a.Stats().Records.Load() + b.Stats().Records.Load() }
	t.Run("the copies split the work", func(t *testing.T) {
		f.produceMany(prefix+"-1", 400, 40)
		kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix+"-1") == 400 && records() >= 400 })
		require.Positive(t, a.Stats().Records.Load())
		require.Positive(t, b.Stats().Records.Load())
		require.Equal(t, int64(400), a.Stats().Records.Load()+b.Stats().Records.Load())
	})

	t.Run("when one copy stops, the other takes its partitions over", func(t *testing.T) {
		f.produceMany(prefix+"-2", 400, 40)
		stopA() // a stops with part of its share unwritten
		f.produceMany(prefix+"-3", 400, 40)
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			return len(partitions(b)) == kafkatest.Partitions && f.events(prefix+"-2") == 400 && f.events(prefix+"-3") == 400 &&
				records() >= 1200
		})
		require.Empty(t, a.Assigned(), "a stopped copy owns nothing")
	})

	require.Equal(t, int64(1200), f.storedOffsets())
	require.Equal(t, 1200, f.count("SELECT count(*) FROM test_events WHERE key LIKE $1", prefix+"-%"), "no row lost or duplicated")
	require.Equal(t, 1200, f.count("SELECT count(DISTINCT event_id) FROM test_events WHERE key LIKE $1", prefix+"-%"))
	time.Sleep(200 * time.Millisecond) // a duplicate commit would show up now
	require.Equal(t, int64(1200), records(), "each record was committed once")
}

func TestAppendOnlyRowsAreNeverRewritten(t *testing.T) {
	f := newFixture(t)
	key := cluster.Unique("imm")
	id := topics.NewID()
	f.produce(key, f.envelope(id, key, 10, 1, nil))
	s := f.sink()
	start(t, s)
	kafkatest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Records.Load() == 1 })
	// The same event again, with another value: a replay or a producer bug.
	f.produce(key, f.envelope(id, key, 99, 2, nil), f.envelope("", key, 20, 3, nil))
	kafkatest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Records.Load() == 3 })
	require.Equal(t, 1, f.count("SELECT count(*) FROM test_events WHERE event_id = $1 AND value = 10", id))
	require.Equal(t, 2, f.count("SELECT count(*) FROM test_events WHERE key = $1", key))
}

func TestCurrentStateNeverGoesBackwards(t *testing.T) {
	note := "set by the first event only"
	cases := []struct {
		name     string
		maxBatch int
	}{
		{name: "one event per batch", maxBatch: 1},
		{name: "every event in one batch", maxBatch: 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			key := cluster.Unique("order")
			// Versions 3, 1, 2 arrive in that order; version 1 alone carries the note.
			f.produce(key, f.envelope("", key, 30, 3, nil), f.envelope("", key, 10, 1, &note), f.envelope("", key, 20, 2, nil))
			s := f.sink(WithMaxBatch(tc.maxBatch))
			start(t, s)
			kafkatest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Records.Load() == 3 })
			var value int
			var version int64
			var got *string
			require.NoError(t, f.pool.QueryRow(context.Background(),
				"SELECT value, version, note FROM test_state WHERE key = $1", key).Scan(&value, &version, &got))
			require.Equal(t, 30, value, "the newest event's value stays")
			require.Equal(t, int64(3), version)
			require.NotNil(t, got, "an older event fills a merge column that is still NULL")
			require.Equal(t, note, *got)
		})
	}
}

func TestMalformedEventsGoToTheDLQ(t *testing.T) {
	f := newFixture(t)
	key := cluster.Unique("dlq")
	f.produce(key,
		f.envelope("", key, 1, 1, nil),
		[]byte("not json"),
		[]byte(`{"id":"x","type":"test.event","v":1,"occurred_at":"2026-11-24T10:00:00Z","actor":{"id":"a","type":"system"},"data":{"key":""}}`),
		f.envelope("", key, -5, 2, nil), // refused by a CHECK constraint
		f.envelope("", key, 3, 3, nil),
	)
	s := f.sink()
	start(t, s)
	kafkatest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Records.Load() == 5 })
	require.Equal(t, 2, f.count("SELECT count(*) FROM test_events WHERE key = $1", key), "good events around the bad ones are written")
	require.Equal(t, int64(3), s.Stats().DeadLetters.Load())

	// The sink goes on after dead-lettering.
	f.produce(key, f.envelope("", key, 4, 4, nil))
	kafkatest.Eventually(t, 20*time.Second, func() bool { return f.count("SELECT count(*) FROM test_events WHERE key = $1", key) == 3 })

	cl := cluster.Producer(t, kgo.ConsumeTopics(f.dlq))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var letters []topics.DeadLetter
	for len(letters) < 3 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var dl topics.DeadLetter
			require.NoError(t, json.Unmarshal(r.Value, &dl))
			letters = append(letters, dl)
		})
	}
	require.Len(t, letters, 3)
	byOffset := map[int64]topics.DeadLetter{}
	for _, dl := range letters {
		require.Equal(t, "sink-"+f.name, dl.Group)
		require.Equal(t, f.topic, dl.Topic)
		require.Equal(t, key, string(dl.Key))
		byOffset[dl.Offset] = dl
	}
	require.Len(t, byOffset, 3)
	reasons := map[string]string{}
	for _, dl := range byOffset {
		reasons[string(dl.Value)] = dl.Reason
		require.Equal(t, CodeMalformedEvent, dl.Code, dl.Reason)
	}
	require.Contains(t, reasons["not json"], "not a JSON envelope")
	found := map[string]bool{}
	for _, r := range reasons {
		switch {
		case strings.Contains(r, "without key or value"):
			found["mapper"] = true
		case strings.Contains(r, "refused by PostgreSQL"):
			found["constraint"] = true
		}
	}
	require.True(t, found["mapper"] && found["constraint"], "reasons: %v", reasons)
}

// TestDirectCopyFallsBackForStoredRows: large append-only batches are
// copied straight into the table; a batch repeating stored rows goes
// through the staging table's anti-join instead (each row still written
// once), and the direct copy resumes after a batch that found none stored.
func TestDirectCopyFallsBackForStoredRows(t *testing.T) {
	f := newFixture(t)
	key := cluster.Unique("direct")
	s := f.sink(WithWorkers(1))
	start(t, s)
	st := s.states[testEvents]
	// A step's records must reach the sink in one fetch, to be one batch:
	// a producer sending as records come may send a step's first records
	// on their own, and batches below copyThreshold never try the COPY.
	// Flushed at once, a step is one record batch of one partition.
	oneBatch := cluster.Producer(t, kgo.ManualFlushing())
	batch := func(ids []string, firstValue int) {
		t.Helper()
		before := s.Stats().Records.Load()
		errs := make(chan error, len(ids))
		for i, id := range ids {
			v := f.envelope(id, key, firstValue+i, int64(firstValue+i), nil)
			oneBatch.Produce(context.Background(), &kgo.Record{Topic: f.topic, Key: []byte(key), Value: v},
				func(_ *kgo.Record, err error) { errs <- err })
		}
		require.NoError(t, oneBatch.Flush(context.Background()))
		for range ids {
			require.NoError(t, <-errs)
		}
		kafkatest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Records.Load() == before+int64(len(ids)) })
	}
	newIDs := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = topics.NewID()
		}
		return ids
	}
	first := newIDs(2 * copyThreshold)
	steps := []struct {
		name       string
		ids        []string
		wantRows   int
		wantStaged bool
	}{
		{name: "new rows are copied directly", ids: first, wantRows: 2 * copyThreshold, wantStaged: false},
		{name: "a replay with new rows goes through staging", ids: append(slices.Clone(first), newIDs(copyThreshold)...), wantRows: 3 * copyThreshold, wantStaged: true},
		{name: "staging stays until a batch finds nothing stored", ids: newIDs(copyThreshold), wantRows: 4 * copyThreshold, wantStaged: false},
		{name: "then direct copy again", ids: newIDs(copyThreshold), wantRows: 5 * copyThreshold, wantStaged: false},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			batch(step.ids, i*1000)
			require.Equal(t, step.wantRows, f.count("SELECT count(*) FROM test_events WHERE key = $1", key))
			require.Equal(t, step.wantRows, f.count("SELECT count(DISTINCT event_id) FROM test_events WHERE key = $1", key))
			require.Equal(t, step.wantStaged, st.staged.Load())
		})
	}
	// Stored rows kept their first values: the replay did not rewrite them.
	require.Equal(t, 0, f.count("SELECT count(*) FROM test_events WHERE key = $1 AND event_id = ANY($2) AND value >= 1000", key, first))
	require.Zero(t, s.Stats().DeadLetters.Load())
}

// TestLagGauge: shopstream_sink_lag shows, per partition, the records not
// committed yet: all of them while the first commit is held back, none
// once the sink has caught up.
func TestLagGauge(t *testing.T) {
	f := newFixture(t)
	prefix := cluster.Unique("lag")
	f.produceMany(prefix, 200, 20)
	release := make(chan struct{})
	s := f.sink(WithMaxBatch(10), withBeforeCommit(func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	start(t, s)
	lag := func() (total float64) {
		for p := range kafkatest.Partitions {
			total += testutil.ToFloat64(sinkLag.WithLabelValues(s.Name(), f.topic, strconv.Itoa(p)))
		}
		return total
	}
	kafkatest.Eventually(t, 20*time.Second, func() bool { return len(s.Assigned()[f.topic]) == kafkatest.Partitions && lag() == 200 },
		"before any commit, every record is lag")
	require.Zero(t, f.events(prefix))
	close(release)
	kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == 200 && lag() == 0 }, "caught up: no lag")
}

// TestRefusedRowInACopiedBatch: a row PostgreSQL refuses (a CHECK
// constraint) inside a batch large enough for the direct COPY fails the
// COPY; the batch is written record by record, the refused record is
// dead-lettered and the others are written.
func TestRefusedRowInACopiedBatch(t *testing.T) {
	f := newFixture(t)
	key := cluster.Unique("refused")
	n := 2 * copyThreshold
	vals := make([][]byte, n)
	for i := range vals {
		v := i
		if i == n/2 {
			v = -1 // refused by test_events' CHECK (value >= 0)
		}
		vals[i] = f.envelope("", key, v, int64(i), nil)
	}
	f.produce(key, vals...) // one key: one partition, one batch
	s := f.sink(WithWorkers(1))
	start(t, s)
	kafkatest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Records.Load() == int64(n) })
	require.Equal(t, int64(1), s.Stats().Batches.Load(), "one batch")
	require.Equal(t, int64(1), s.Stats().DeadLetters.Load())
	require.Equal(t, n-1, f.count("SELECT count(*) FROM test_events WHERE key = $1", key))
	require.Equal(t, 0, f.count("SELECT count(*) FROM test_events WHERE key = $1 AND value = $2", key, n/2))
	require.Equal(t, int64(n), f.storedOffsets())
}

// TestGroupOffsetsArePublishedForDisplay: once the sink has committed, the
// group's offsets in Kafka are the ones stored in PostgreSQL, so
// `shopstream lag` and the consumer-lag metrics show the sink's real lag.
func TestGroupOffsetsArePublishedForDisplay(t *testing.T) {
	f := newFixture(t)
	prefix := cluster.Unique("display")
	f.produceMany(prefix, 120, 12)
	s := f.sink()
	start(t, s)
	kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == 120 })
	stored, err := Offsets(context.Background(), f.pool, s.Name())
	require.NoError(t, err)
	require.NotEmpty(t, stored[f.topic])
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		committed, err := cluster.Admin.FetchOffsets(context.Background(), DefaultGroup(s.Name()))
		if err != nil {
			return false
		}
		for p, off := range stored[f.topic] {
			o, ok := committed.Lookup(f.topic, p)
			if !ok || o.At != off {
				return false
			}
		}
		return true
	}, "the group's committed offsets equal the stored ones")
}

// A sink's counters exist, at zero, as soon as it is built: an alert on
// increase(shopstream_sink_dead_letters_total[5m]) sees the first dead
// letter, where a series that appears at 1 would show no increase.
func TestSinkCountersExistFromTheStart(t *testing.T) {
	f := newFixture(t)
	f.sink()
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, name := range []string{"shopstream_sink_records_total", "shopstream_sink_rows_total", "shopstream_sink_dead_letters_total"} {
		found := false
		for _, mf := range families {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == "sink" && l.GetValue() == f.name)
				}
			}
		}
		require.True(t, found, "%s{sink=%q} is exported before any record", name, f.name)
	}
}

// Offsets stored past the end of their partitions belong to an earlier log
// (the broker's data deleted, the topic created again): the sink reads
// those partitions from the start, says so in its log, and writes every
// record of the new log. Before, it skipped them all, with a lag of 0.
func TestOffsetsPastTheEndAreReadFromTheStart(t *testing.T) {
	f := newFixture(t)
	prefix := cluster.Unique("reborn")
	f.produceMany(prefix, 30, 5)
	for p := range int32(kafkatest.Partitions) {
		_, err := f.pool.Exec(context.Background(), `INSERT INTO sink_offsets (sink, topic, partition, next_offset) VALUES ($1, $2, $3, 1000)`,
			f.name, f.topic, p)
		require.NoError(t, err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	s := f.sink(WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))))
	start(t, s)
	kafkatest.Eventually(t, 30*time.Second, func() bool { return f.events(prefix) == 30 }, "the records of the new log")
	require.Equal(t, int64(30), f.storedOffsets(), "the offsets are this log's")
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "sink offset is past the end of its partition")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
