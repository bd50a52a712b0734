package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shopstream/streams/topics"
)

// Mapper turns one event into the rows it adds to the read models. It
// returns an error wrapping ErrMalformedEvent (or any error) for an event it
// cannot map; the record goes to the DLQ with that reason. A Mapper may
// return no rows for an event that changes no read model.
type Mapper func(env *topics.Envelope, rec *kgo.Record) ([]Row, error)

// RecordMapper turns one record whose value is not an envelope (a row of a
// processor's table changelog) into the rows it adds to the read models.
// Errors and empty results mean what they mean for a Mapper: an error
// dead-letters the record with its reason and the sink goes on.
type RecordMapper func(rec *kgo.Record) ([]Row, error)

// Spec is what a sink consumes and how it maps it: one per domain.
type Spec struct {
	// Name names the sink: its offsets in sink_offsets and its DLQ
	// (topics.DLQ("sink-" + Name)).
	Name string
	// Topics are the topics it consumes.
	Topics []string
	// Tables are the tables its Map and Raw mappers write.
	Tables []*Table
	// Map maps one event: a record of Topics that Raw does not name, whose
	// value must be an envelope.
	Map Mapper
	// Raw maps the records of the topics of Topics it names, whose values
	// are not envelopes (a processor's table changelog), each topic with
	// its own mapper. Nil for none.
	Raw map[string]RecordMapper
}

// DLQTopic is the dead-letter topic of the sink named name.
func DLQTopic(name string) string { return topics.DLQ("sink-" + name) }

// Sink consumes Spec.Topics into PostgreSQL, one transaction per batch.
type Sink struct {
	spec    Spec
	pool    *pgxpool.Pool
	clients *topics.Clients
	cfg     config
	tables  map[*Table]bool
	states  map[*Table]*tableState
	workers []*worker

	stats Stats
	ready atomic.Bool
}

// Stats counts what a sink did since it started.
type Stats struct {
	// Batches and Rows committed, Records consumed, Dead letters written.
	Batches, Rows, Records, DeadLetters atomic.Int64
}

type config struct {
	logger     *slog.Logger
	maxRecords int
	workers    int
	dlqTopic   string
	group      string
	retry      time.Duration
	// beforeCommit, set by tests only, runs after the batch's rows are
	// written and before its transaction commits.
	beforeCommit func(ctx context.Context) error
	// holdAssignments, set by benchmarks only, keeps newly assigned
	// partitions from loading their offsets (so from being fetched) until
	// it is closed.
	holdAssignments <-chan struct{}
}

// Option configures a Sink.
type Option func(*config)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxBatch caps the records written in one transaction (default 10,000).
func WithMaxBatch(n int) Option { return func(c *config) { c.maxRecords = n } }

// WithWorkers sets how many members of the sink's consumer group this
// sink runs (default 2), each with its own client and transactions:
// PostgreSQL writes of one run while another maps its next batch.
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithGroup sets the Kafka consumer group the sink's workers join to
// share its partitions (default DefaultGroup(name)). Only copies of one sink
// (same name, topics and database) may share a group.
func WithGroup(id string) Option { return func(c *config) { c.group = id } }

// DefaultGroup is the consumer group of the sink named name.
func DefaultGroup(name string) string { return "sink-" + name }

// WithDLQ overrides the dead-letter topic (default DLQTopic(name)).
func WithDLQ(topic string) Option { return func(c *config) { c.dlqTopic = topic } }

// WithRetryBackoff sets the pause before the sink restarts from its stored
// offsets after a failure (default 1 s).
func WithRetryBackoff(d time.Duration) Option { return func(c *config) { c.retry = d } }

func (c *config) validate() error {
	switch {
	case c.logger == nil:
		return errors.New("sinks: nil logger")
	case c.workers < 1:
		return fmt.Errorf("sinks: %d workers", c.workers)
	case c.maxRecords < 1:
		return fmt.Errorf("sinks: max batch %d must be positive", c.maxRecords)
	case c.dlqTopic == "":
		return errors.New("sinks: empty DLQ topic")
	case c.group == "":
		return errors.New("sinks: empty consumer group")
	case c.retry <= 0:
		return fmt.Errorf("sinks: retry backoff %v must be positive", c.retry)
	}
	return nil
}

// New returns a sink for spec writing through pool (whose search_path holds
// the migrated tables) and reading with clients.
func New(spec Spec, pool *pgxpool.Pool, clients *topics.Clients, opts ...Option) (*Sink, error) {
	if spec.Name == "" || spec.Map == nil {
		return nil, errors.New("sinks: a spec needs a name and a mapper")
	}
	if len(spec.Topics) == 0 {
		return nil, fmt.Errorf("%w (sink %s)", ErrNoTopics, spec.Name)
	}
	if pool == nil || clients == nil {
		return nil, errors.New("sinks: nil pool or clients")
	}
	for topic, m := range spec.Raw {
		if m == nil || !slices.Contains(spec.Topics, topic) {
			return nil, fmt.Errorf("sinks: the raw mapper of %s in sink %s is nil or the topic is not consumed", topic, spec.Name)
		}
	}
	cfg := config{logger: slog.Default(), maxRecords: 10_000, workers: 2, dlqTopic: DLQTopic(spec.Name),
		group: DefaultGroup(spec.Name), retry: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sink{spec: spec, pool: pool, clients: clients, cfg: cfg, tables: map[*Table]bool{}, states: map[*Table]*tableState{}}
	// counters that are usually zero exist from the start, so that rate()
	// and increase() see them start (a dead-letter alert, say)
	for _, c := range []*prometheus.CounterVec{sinkRecords, sinkRows, sinkDeadLetters} {
		c.WithLabelValues(spec.Name)
	}
	for _, t := range spec.Tables {
		if err := t.validate(); err != nil {
			return nil, err
		}
		s.tables[t] = true
		s.states[t] = &tableState{}
	}
	for _, t := range spec.Tables {
		if t.Kind != ReplacedSet {
			continue
		}
		st := s.states[t.Lists]
		switch {
		case st == nil:
			return nil, fmt.Errorf("sinks: the lists table %s of %s is not in the spec", t.Lists.Name, t.Name)
		case st.set != nil && st.set != t:
			return nil, fmt.Errorf("sinks: %s is the lists table of both %s and %s", t.Lists.Name, st.set.Name, t.Name)
		}
		st.set = t
	}
	s.cfg.logger = cfg.logger.With("sink", spec.Name)
	for range cfg.workers {
		s.workers = append(s.workers, &worker{s: s})
	}
	return s, nil
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.spec.Name }

// Stats returns the sink's counters.
func (s *Sink) Stats() *Stats { return &s.stats }

// Ready reports whether every worker of the sink has, at least once since
// it started, joined the group, loaded the offsets of the partitions it was
// given and reached the end offsets listed when it got them (a worker given
// no partition is caught up).
func (s *Sink) Ready() bool { return s.ready.Load() }

// Run consumes until ctx is done, then returns nil. Each of the sink's
// workers is a member of the sink's consumer group (WithGroup), so the
// partitions of its topics are split between the workers of every running
// copy of the sink, and move to the others when a copy stops. The group only
// assigns partitions: a worker starts a newly assigned partition at the
// offset stored in PostgreSQL and commits offsets there, with its rows; it
// also commits them to the group in Kafka, for display only
// (publishOffsets), and never reads them back. After a failure (PostgreSQL or Kafka
// unreachable, a fenced batch) a worker rolls back, leaves the group, waits
// the retry backoff and joins again; the other workers go on.
func (s *Sink) Run(ctx context.Context) error {
	var behind atomic.Int64
	behind.Store(int64(len(s.workers)))
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Go(func() { w.run(ctx, &behind) })
	}
	wg.Wait()
	return nil
}

// Assigned returns the partitions the sink's workers own now: topic →
// sorted partitions.
func (s *Sink) Assigned() map[string][]int32 {
	out := map[string][]int32{}
	for _, w := range s.workers {
		w.mu.Lock()
		for tp := range w.pos {
			out[tp.topic] = append(out[tp.topic], tp.partition)
		}
		for tp := range w.pending {
			out[tp.topic] = append(out[tp.topic], tp.partition)
		}
		w.mu.Unlock()
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// pause waits the retry backoff; it returns false when ctx ended first.
func (s *Sink) pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(s.cfg.retry):
		return true
	}
}

// worker is one member of the sink's consumer group. Its group callbacks
// (assigned, adjust, revoked) and its poll loop share the state under mu;
// BlockRebalanceOnPoll keeps revocations out of a batch in flight.
type worker struct {
	s *Sink

	mu sync.Mutex
	// pos holds the next offset of every partition the worker owns and
	// has loaded from PostgreSQL; it moves only when a batch commits.
	pos map[topicPartition]int64
	// pending are assigned partitions whose offsets are not loaded yet.
	pending map[topicPartition]bool
	// end is the last stable offset of each owned partition when it was
	// assigned; reaching it counts as caught up (Ready).
	end    map[topicPartition]int64
	joined bool
	caught bool
	behind *atomic.Int64
}

// run runs the worker until ctx is done: join the group, consume, and
// start again after a failure.
func (w *worker) run(ctx context.Context, behind *atomic.Int64) {
	w.mu.Lock()
	w.behind = behind
	w.mu.Unlock()
	for {
		err := w.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		w.s.cfg.logger.Warn("sink worker stopped; rejoining and resuming from stored offsets", "err", err, "after", w.s.cfg.retry)
		if !w.s.pause(ctx) {
			return
		}
	}
}

// consume joins the group and writes the records of the partitions it is
// assigned until ctx is done or something fails.
func (w *worker) consume(ctx context.Context) error {
	w.mu.Lock()
	w.pos, w.pending, w.end, w.joined = map[topicPartition]int64{}, map[topicPartition]bool{}, map[topicPartition]int64{}, false
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.pos, w.pending, w.end = nil, nil, nil
		w.mu.Unlock()
	}()
	cl, err := kgo.NewClient(w.s.clients.Kgo(
		kgo.ConsumerGroup(w.s.cfg.group),
		kgo.ConsumeTopics(w.s.spec.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.OnPartitionsAssigned(w.assigned),
		kgo.OnPartitionsRevoked(w.revoked),
		kgo.OnPartitionsLost(w.revoked),
		kgo.AdjustFetchOffsetsFn(w.adjust),
	)...)
	if err != nil {
		return err
	}
	defer cl.CloseAllowingRebalance()
	for {
		fetches := cl.PollRecords(ctx, w.s.cfg.maxRecords)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fetches.EachError(func(topic string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetching %s/%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		recs, from := w.owned(fetches.Records())
		if len(recs) > 0 {
			next, err := w.s.writeBatch(ctx, cl, from, recs)
			if err != nil {
				return err
			}
			w.advance(next)
			w.publishOffsets(ctx, cl, next)
		}
		w.observeLag(fetches)
		cl.AllowRebalance()
	}
}

// publishOffsets commits the positions just stored in PostgreSQL to the
// group in Kafka as well, for display only: `shopstream lag`, /v1/ops/lag
// and the consumer-lag metrics read group offsets. PostgreSQL stays the
// only source of truth (adjust ignores Kafka's offsets on assignment), so a
// failed or lost commit here changes nothing but the display; it is logged
// at debug level.
func (w *worker) publishOffsets(ctx context.Context, cl *kgo.Client, next map[topicPartition]int64) {
	offsets := make(map[string]map[int32]kgo.EpochOffset, len(next))
	for tp, off := range next {
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			w.s.cfg.logger.Debug("sink could not publish its offsets to the group (display only)", "err", err)
		}
	})
}

// owned keeps the records of partitions the worker owns, from their
// stored position on, and returns them with the positions they start from.
// The group hands out records of owned partitions only; this guards the
// offsets written with the rows against anything else.
func (w *worker) owned(recs []*kgo.Record) ([]*kgo.Record, map[topicPartition]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	from := map[topicPartition]int64{}
	out := recs[:0]
	for _, r := range recs {
		tp := topicPartition{r.Topic, r.Partition}
		p, ok := w.pos[tp]
		if !ok || r.Offset < p {
			continue
		}
		from[tp] = p
		out = append(out, r)
	}
	return out, from
}

// advance moves the positions of a committed batch.
func (w *worker) advance(next map[topicPartition]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for tp, n := range next {
		if _, ok := w.pos[tp]; ok {
			w.pos[tp] = n
		}
	}
	w.markCaughtUp()
}

// observeLag sets the lag gauge of every owned partition in fetches.
func (w *worker) observeLag(fetches kgo.Fetches) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		tp := topicPartition{p.Topic, p.Partition}
		if pos, ok := w.pos[tp]; ok && p.LastStableOffset >= 0 {
			w.s.setLag(tp, p.LastStableOffset-pos)
		}
	})
}

// setLag sets the lag gauge of tp (never below zero).
func (s *Sink) setLag(tp topicPartition, lag int64) {
	sinkLag.WithLabelValues(s.spec.Name, tp.topic, strconv.Itoa(int(tp.partition))).Set(float64(max(lag, 0)))
}

// assigned (OnPartitionsAssigned) records the partitions the group gave
// the worker; their offsets are loaded by adjust before fetching starts.
func (w *worker) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.joined = true
	for topic, ps := range parts {
		for _, p := range ps {
			w.pending[topicPartition{topic, p}] = true
		}
	}
	w.markCaughtUp()
}

// revoked (OnPartitionsRevoked and OnPartitionsLost) forgets partitions.
// With BlockRebalanceOnPoll no batch is in flight when it runs: every batch
// of the revoked partitions is committed (or rolled back) already, so the
// next owner starts at what this worker stored.
func (w *worker) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			delete(w.pos, tp)
			delete(w.pending, tp)
			delete(w.end, tp)
			sinkLag.DeleteLabelValues(w.s.spec.Name, topic, strconv.Itoa(int(p)))
		}
	}
	w.markCaughtUp()
}

// adjust (AdjustFetchOffsetsFn) replaces the offsets Kafka has for the
// group (published for display only, and possibly behind) by the ones stored in
// PostgreSQL, or the start of a partition with none stored. It retries
// until PostgreSQL answers or the group session ends.
func (w *worker) adjust(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var parts []topicPartition
	var names []string
	for topic, ps := range offsets {
		names = append(names, topic)
		for p := range ps {
			parts = append(parts, topicPartition{topic, p})
		}
	}
	if hold := w.s.cfg.holdAssignments; hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var pos, end map[topicPartition]int64
	for {
		var err error
		pos, err = loadOffsets(ctx, w.s.pool, w.s.spec.Name, parts)
		if err == nil {
			end, err = w.endOffsets(ctx, names)
		}
		if err == nil {
			err = w.rewindPastEnd(ctx, pos, end)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		w.s.cfg.logger.Warn("sink cannot load the offsets of its assigned partitions; retrying", "err", err, "after", w.s.cfg.retry)
		if !w.s.pause(ctx) {
			return nil, ctx.Err()
		}
	}
	out := make(map[string]map[int32]kgo.Offset, len(offsets))
	w.mu.Lock()
	defer w.mu.Unlock()
	for tp, off := range pos {
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]kgo.Offset{}
		}
		out[tp.topic][tp.partition] = kgo.NewOffset().At(off)
		w.pos[tp] = off
		w.end[tp] = end[tp]
		delete(w.pending, tp)
		w.s.setLag(tp, end[tp]-off)
	}
	w.markCaughtUp()
	return out, nil
}

// rewindPastEnd reads from the start a partition whose stored offset is
// past its end: the offset belongs to an earlier log (a broker whose data
// was deleted, a topic created again), and from it the sink would skip
// every record of this log up to there, silently and with no lag to show.
// Its rows are keyed, so those stored before are not written twice.
func (w *worker) rewindPastEnd(ctx context.Context, pos, end map[topicPartition]int64) error {
	for tp, off := range pos {
		e, ok := end[tp]
		if !ok || off <= e {
			continue
		}
		w.s.cfg.logger.Warn("sink offset is past the end of its partition (an earlier log's?); reading the partition from its start",
			"sink", w.s.spec.Name, "topic", tp.topic, "partition", tp.partition, "stored_offset", off, "end_offset", e)
		rewound, err := rewindOffset(ctx, w.s.pool, w.s.spec.Name, tp, off)
		if err != nil {
			return err
		}
		if !rewound {
			return fmt.Errorf("sinks: the offset of %s/%d moved while it was rewound", tp.topic, tp.partition)
		}
		pos[tp] = 0
	}
	return nil
}

// endOffsets lists the last stable offsets of topics on a client of its
// own (callbacks must not wait on the group's client).
func (w *worker) endOffsets(ctx context.Context, names []string) (map[topicPartition]int64, error) {
	cl, err := kgo.NewClient(w.s.clients.Kgo()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return endOffsets(ctx, kadm.NewClient(cl), names)
}

// markCaughtUp counts the worker as caught up, once, when it has joined,
// loaded every assigned partition and reached the end offsets it saw at
// assignment. The caller holds w.mu.
func (w *worker) markCaughtUp() {
	if w.caught || !w.joined || len(w.pending) > 0 || w.behind == nil {
		return
	}
	for tp, p := range w.pos {
		if p < w.end[tp] {
			return
		}
	}
	w.caught = true
	if w.behind.Add(-1) == 0 {
		w.s.ready.Store(true)
	}
}
