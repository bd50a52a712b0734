package recommendations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

func TestCombinerOptions(t *testing.T) {
	cases := []struct {
		name string
		opt  Option
		ok   bool
	}{
		{"default", func(*config) {}, true},
		{"a window of 1 ms", WithCombineWindow(time.Millisecond), true},
		{"a window of 10 s", WithCombineWindow(10 * time.Second), true},
		{"no window", WithCombineWindow(0), false},
		{"a negative window", WithCombineWindow(-time.Millisecond), false},
		{"a window past 10 s", WithCombineWindow(11 * time.Second), false},
		{"one increment per window", WithCombineMaxEntries(1), true},
		{"no increments per window", WithCombineMaxEntries(0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCombiner(cluster.Clients, tc.opt)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, topics.RecommendationsCombinerGroup, c.group)
		})
	}
	_, err := NewCombiner(nil)
	require.ErrorIs(t, err, ErrMissingDependency)
}

// testSets returns n increment sets (records of topic in, keyed by
// user) over 40 products and the items they make applied once each. Each
// set carries the source position the user processor would give it: an
// interaction on the partition with the number of the one its record goes
// to (the topics are co-partitioned), in order; every reemit-th set is
// emitted again right after it (the user processor crashed with the set
// produced, before its user row's write landed). entries counts the
// increments of the n sets, copies the increments of the copies.
func testSets(t *testing.T, in string, n, reemit int, seed uint64) (recs []*kgo.Record, want map[string]*Item, entries, copies int) {
	t.Helper()
	cfg, err := newConfig(nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 2))
	want = map[string]*Item{}
	partitioner := topics.Partitioner().ForTopic(in)
	next := map[int32]int64{} // per input partition: the next offset
	for i := range n {
		a, b := fmt.Sprint("p", rng.IntN(20)), fmt.Sprint("q", rng.IntN(20))
		incs := []Increment{{ProductID: a, Weight: 1, At: t0, NewUser: true, With: []string{b}}, {ProductID: b, At: t0, With: []string{a}}}
		for j := range incs {
			if want[incs[j].ProductID] == nil {
				want[incs[j].ProductID] = &Item{}
			}
			want[incs[j].ProductID].Apply(&incs[j], &cfg)
		}
		r := &kgo.Record{Topic: in, Key: []byte(fmt.Sprint("u", i))}
		p := int32(partitioner.Partition(r, kafkatest.Partitions))
		r.Value, err = incrementSetCodec{}.Encode(&IncrementSet{Source: SourcePosition{Input: SourceInteractions, Partition: p, Offset: next[p]},
			Increments: incs})
		require.NoError(t, err)
		next[p]++
		recs = append(recs, r)
		entries += len(incs)
		if reemit > 0 && i%reemit == 0 {
			recs = append(recs, &kgo.Record{Topic: in, Key: r.Key, Value: r.Value})
			copies += len(incs)
		}
	}
	return recs, want, entries, copies
}

// foldBatches waits until group has committed every set of its input,
// then reads the batches topic out to its end and folds every batch into
// item rows; it returns them with the entries delivered and applied.
func foldBatches(t *testing.T, group, out string, committed func() bool) (rows map[string][]byte, delivered, applied int) {
	t.Helper()
	// Every set committed means every batch acknowledged before it: read
	// the batches topic to its end then.
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		lags, err := cluster.Admin.Lag(context.Background(), group)
		if err != nil {
			return false
		}
		l, ok := lags[group]
		return ok && l.Error() == nil && committed() && l.Lag.Total() == 0
	}, "the combiner's offsets are committed")
	ends, err := cluster.Admin.ListEndOffsets(context.Background(), out)
	require.NoError(t, err)
	cfg, err := newConfig(nil)
	require.NoError(t, err)
	consumer := cluster.Producer(t, kgo.ConsumeTopics(out))
	rows = map[string][]byte{}
	read := map[int32]int64{}
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	for behind := true; behind; {
		fs := consumer.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "%d entries applied, %d delivered", applied, delivered)
		fs.EachRecord(func(r *kgo.Record) {
			read[r.Partition] = r.Offset + 1
			v, err := incrementBatchCodec{}.Decode(r.Value)
			require.NoError(t, err)
			b := v.(*IncrementBatch)
			require.Equal(t, b.ProductID, string(r.Key))
			delivered += len(b.Entries)
			row, n, err := applyBatchRaw(rows[b.ProductID], b, &cfg)
			require.NoError(t, err)
			rows[b.ProductID], applied = row, applied+n
		})
		behind = false
		ends.Each(func(o kadm.ListedOffset) {
			if read[o.Partition] < o.Offset {
				behind = true
			}
		})
	}
	return rows, delivered, applied
}

// requireItems checks that rows hold the counts of want.
func requireItems(t *testing.T, want map[string]*Item, rows map[string][]byte) {
	t.Helper()
	require.Len(t, rows, len(want))
	for product, it := range want {
		v, err := itemCodec{}.Decode(rows[product])
		require.NoError(t, err)
		got := v.(*Item)
		require.Equal(t, it.Co, got.Co, product)
		require.Equal(t, it.Users, got.Users, product)
		require.Equal(t, it.Increments, got.Increments, product)
	}
}

// testCombiner returns a combiner on topics of its own (in, out) in a
// group of its own.
func testCombiner(t *testing.T, group, in, out string) *Combiner {
	t.Helper()
	c, err := NewCombiner(cluster.Clients, WithCombineWindow(20*time.Millisecond))
	require.NoError(t, err)
	c.group, c.in, c.out, c.retry = group, in, out, 50*time.Millisecond
	return c
}

// runCombiner runs c until the returned stop is called.
func runCombiner(t *testing.T, c *Combiner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

// TestIntegrationCombinerCrashBetweenProduceAndCommit runs a combiner on
// topics of its own whose first window fails after its batches are
// acknowledged and before its offsets are committed (as a crash there
// would): it rejoins, batches the same sets again, and the item rows folded
// from every batch delivered count each set once, a set the user processor
// emitted twice too.
func TestIntegrationCombinerCrashBetweenProduceAndCommit(t *testing.T) {
	t.Parallel()
	group, in, out := cluster.Unique("combiner"), cluster.Unique("sets"), cluster.Unique("batches")
	cluster.CreateTopic(t, in, topics.Delete)
	cluster.CreateTopic(t, out, topics.Delete)
	c := testCombiner(t, group, in, out)
	var commits atomic.Int32
	c.beforeCommit = func() error {
		if commits.Add(1) == 1 {
			return errors.New("crash between produce and commit")
		}
		return nil
	}
	recs, want, entries, copies := testSets(t, in, 200, 7, 1)
	require.NotZero(t, copies)
	require.NoError(t, producer(t).ProduceSync(context.Background(), recs...).FirstErr())
	defer runCombiner(t, c)()
	rows, delivered, applied := foldBatches(t, group, out, func() bool { return commits.Load() >= 2 })
	require.Greater(t, delivered, entries+copies, "the first window was delivered again after the crash")
	require.Equal(t, entries, applied, "every set once, none of the copies")
	requireItems(t, want, rows)
}

// TestIntegrationCombinerRebalances produces sets while a second member
// joins the combiner's group and the first one leaves: partitions change
// owner between windows, and every set counts once.
func TestIntegrationCombinerRebalances(t *testing.T) {
	t.Parallel()
	group, in, out := cluster.Unique("combiner"), cluster.Unique("sets"), cluster.Unique("batches")
	cluster.CreateTopic(t, in, topics.Delete)
	cluster.CreateTopic(t, out, topics.Delete)
	recs, want, entries, _ := testSets(t, in, 600, 0, 3)
	send := func(recs []*kgo.Record) {
		for i := 0; i < len(recs); i += 20 {
			require.NoError(t, producer(t).ProduceSync(context.Background(), recs[i:min(i+20, len(recs))]...).FirstErr())
			time.Sleep(5 * time.Millisecond)
		}
	}
	stop1 := runCombiner(t, testCombiner(t, group, in, out))
	send(recs[:200])
	stop2 := runCombiner(t, testCombiner(t, group, in, out))
	defer stop2()
	send(recs[200:400])
	stop1()
	send(recs[400:])
	rows, _, applied := foldBatches(t, group, out, func() bool { return true })
	require.Equal(t, entries, applied)
	requireItems(t, want, rows)
}

// TestIntegrationRedeliveredBatchAppliesOnce sends the item processor a
// batch, the same batch again and one that overlaps it, as a combiner that
// restarted before its commit would: each entry counts once.
func TestIntegrationRedeliveredBatchAppliesOnce(t *testing.T) {
	t.Parallel()
	product, partner := cluster.Unique("p"), cluster.Unique("p")
	entry := func(o int64) BatchEntry {
		return BatchEntry{Source: SourcePosition{Input: SourceInteractions, Partition: 0, Offset: o},
			Increment: Increment{ProductID: product, Weight: 1, At: time.Now(), NewUser: true, With: []string{partner}}}
	}
	send := func(entries ...BatchEntry) {
		raw, err := incrementBatchCodec{}.Encode(&IncrementBatch{ProductID: product, Entries: entries})
		require.NoError(t, err)
		require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topics.RecommendationsIncrementBatches,
			Key: []byte(product), Value: raw}).FirstErr())
	}
	send(entry(1), entry(2))
	send(entry(1), entry(2))
	send(entry(2), entry(3))
	// One product's batches are applied in order: with the last one
	// applied, so are the duplicates before it.
	waitItem(t, product, func(it *Item) bool { return it.Users >= 3 })
	it, err := svc.engine.store.Item(product)
	require.NoError(t, err)
	require.Equal(t, int64(3), it.Users)
	require.Equal(t, int64(3), it.Increments)
	require.Equal(t, map[string]int64{partner: 3}, it.Co)
	require.Equal(t, []SourcePosition{{Input: SourceInteractions, Partition: 0, Offset: 3}}, it.Sources)
}

// TestIntegrationOneIncrementSetPerEvent checks what the user processor
// emits: one set per recorded event, keyed by user, with the increments of
// every product the event touched.
func TestIntegrationOneIncrementSetPerEvent(t *testing.T) {
	t.Parallel()
	user, p1, p2 := cluster.Unique("u"), cluster.Unique("p"), cluster.Unique("p")
	view(t, user, p1, time.Now())
	view(t, user, p2, time.Now())
	var sets []*IncrementSet
	consume(t, topics.RecommendationsIncrementSets, func(r *kgo.Record) bool {
		if string(r.Key) != user {
			return false
		}
		v, err := incrementSetCodec{}.Decode(r.Value)
		require.NoError(t, err)
		set := v.(*IncrementSet)
		require.Equal(t, SourceInteractions, set.Source.Input, "the set of an interaction")
		require.Equal(t, r.Partition, set.Source.Partition, "the interactions topic is co-partitioned with the sets topic")
		sets = append(sets, set)
		return len(sets) == 2
	})
	require.Less(t, sets[0].Source.Offset, sets[1].Source.Offset)
	// The two views reach the ingress on the partitions of their foreign
	// keys, so either can be the user's first: its set has the one
	// product, the second set pairs both.
	require.Len(t, sets[0].Increments, 1)
	first := sets[0].Increments[0].ProductID
	require.Contains(t, []string{p1, p2}, first)
	second := p1
	if first == p1 {
		second = p2
	}
	got := map[string][]string{}
	for _, inc := range sets[1].Increments {
		got[inc.ProductID] = inc.With
	}
	require.Equal(t, map[string][]string{first: {second}, second: {first}}, got)
	waitItem(t, p1, func(it *Item) bool { return it.Co[p2] == 1 && len(it.Sources) == 1 })
	it, err := svc.engine.store.Item(p1)
	require.NoError(t, err)
	require.Equal(t, []SourcePosition{sets[1].Source}, it.Sources, "the position of the interaction applied last")
}

// TestIntegrationUserProcessorCrashCountsOnce reproduces, for each input
// of the user processor, a crash after a message's increment set was
// produced and before its user row's write landed: goka hands the message
// to the processor again, the row does not know the event, and the
// processor emits the same set again (the same bytes, a new record on the
// sets topic; here the test produces that copy). Every co-occurrence must
// count once, and a set after the copy counts.
func TestIntegrationUserProcessorCrashCountsOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		input SourceInput
		topic string
		msg   func(t *testing.T, user, product string) *topics.Envelope
	}{
		{"an interaction", SourceInteractions, topics.RecommendationsInteractions, func(t *testing.T, user, product string) *topics.Envelope {
			t.Helper()
			env, err := topics.NewEnvelope(TypeInteraction, time.Now(), Batch{UserID: user, OccurredAt: time.Now(),
				Items: []Interaction{{EventID: topics.NewID(), ProductID: product, Type: View}}})
			require.NoError(t, err)
			return env
		}},
		{"a record_interaction command", SourceCommands, topics.RecommendationsCommands, func(t *testing.T, user, product string) *topics.Envelope {
			t.Helper()
			return recordCmd(t, user, product, View, "")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			user, pa, pb, pc := cluster.Unique("u"), cluster.Unique("p"), cluster.Unique("p"), cluster.Unique("p")
			// record produces the message on the user processor's input
			// and returns the record of the set it emits for it.
			record := func(product string) *kgo.Record {
				raw, err := tc.msg(t, user, product).Encode()
				require.NoError(t, err)
				in, err := producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: tc.topic, Key: []byte(user), Value: raw}).First()
				require.NoError(t, err)
				var set *kgo.Record
				consume(t, topics.RecommendationsIncrementSets, func(r *kgo.Record) bool {
					if string(r.Key) != user {
						return false
					}
					v, err := incrementSetCodec{}.Decode(r.Value)
					require.NoError(t, err)
					if v.(*IncrementSet).Source == (SourcePosition{Input: tc.input, Partition: in.Partition, Offset: in.Offset}) {
						set = r
					}
					return set != nil
				})
				return set
			}
			record(pa)
			set := record(pb) // pb with pa, pa with pb
			// The crash: the same set again, as the user processor emits
			// it when it handles the message again.
			copied, err := producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topics.RecommendationsIncrementSets,
				Key: set.Key, Value: set.Value}).First()
			require.NoError(t, err)
			require.Equal(t, set.Partition, copied.Partition)
			require.Greater(t, copied.Offset, set.Offset)
			record(pc) // after the copy on the sets topic: pc with pb and pa, pa and pb with pc
			// A product's entries reach its row in the order of the sets
			// topic: with pc counted, the copy was read before.
			waitItem(t, pa, func(it *Item) bool { return it.Co[pc] == 1 })
			waitItem(t, pb, func(it *Item) bool { return it.Co[pc] == 1 })
			for product, want := range map[string]map[string]int64{pa: {pb: 1, pc: 1}, pb: {pa: 1, pc: 1}} {
				it, err := svc.engine.store.Item(product)
				require.NoError(t, err)
				require.Equal(t, want, it.Co, "%s counts each user once", product)
				require.Equal(t, int64(1), it.Users)
			}
		})
	}
}

func TestIntegrationBadSetsAndBatchesGoToTheDLQs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, topic, dlq string
		value            []byte
	}{
		{"an increment set the combiner cannot read", topics.RecommendationsIncrementSets, topics.DLQ(topics.RecommendationsCombinerGroup),
			[]byte{incrementSetFormat1, 0, 2, 3, 1, 'c', 0}},
		{"a batch that is not one", topics.RecommendationsIncrementBatches, topics.DLQ(string(ItemsGroup)), []byte(`{"product_id":"x"}`)},
		{"a batch under another product's key", topics.RecommendationsIncrementBatches, topics.DLQ(string(ItemsGroup)),
			func() []byte {
				raw, err := incrementBatchCodec{}.Encode(&IncrementBatch{ProductID: "someone-else"})
				require.NoError(t, err)
				return raw
			}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := cluster.Unique("k")
			require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: tc.topic, Key: []byte(key), Value: tc.value}).FirstErr())
			consume(t, tc.dlq, func(r *kgo.Record) bool {
				var dl topics.DeadLetter
				return json.Unmarshal(r.Value, &dl) == nil && string(dl.Key) == key && dl.Topic == tc.topic
			})
		})
	}
}

// TestIntegrationIncrementsOfEarlierVersionsAreApplied produces what a
// version before the combiner left on recommendations.increments: the item
// processor still applies it, and a batch after it counts too.
func TestIntegrationIncrementsOfEarlierVersionsAreApplied(t *testing.T) {
	t.Parallel()
	product, partner := cluster.Unique("p"), cluster.Unique("p")
	raw, err := incrementCodec{}.Encode(&Increment{ProductID: product, Weight: 1, At: time.Now(), NewUser: true, With: []string{partner}})
	require.NoError(t, err)
	require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topics.RecommendationsIncrements,
		Key: []byte(product), Value: raw}).FirstErr())
	waitItem(t, product, func(it *Item) bool { return it.Users == 1 })
	batch, err := incrementBatchCodec{}.Encode(&IncrementBatch{ProductID: product, Entries: []BatchEntry{{Source: SourcePosition{Input: SourceInteractions, Partition: 0, Offset: 0},
		Increment: Increment{ProductID: product, At: time.Now(), NewUser: true, With: []string{partner}}}}})
	require.NoError(t, err)
	require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topics.RecommendationsIncrementBatches,
		Key: []byte(product), Value: batch}).FirstErr())
	waitItem(t, product, func(it *Item) bool { return it.Users == 2 })
	it, err := svc.engine.store.Item(product)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{partner: 2}, it.Co)
	require.NotNil(t, it.Last, "the position on recommendations.increments")
	require.Equal(t, []SourcePosition{{Input: SourceInteractions, Partition: 0, Offset: 0}}, it.Sources)
}

// TestIntegrationCombinerRefusesSetsNotCopartitioned runs a combiner on a
// sets topic whose partition count differs from the user processor's
// inputs': it stops with ErrNotCopartitioned, consuming nothing.
func TestIntegrationCombinerRefusesSetsNotCopartitioned(t *testing.T) {
	t.Parallel()
	for _, partitions := range []int32{kafkatest.Partitions / 2, kafkatest.Partitions * 2} {
		t.Run(fmt.Sprint(partitions, " partitions"), func(t *testing.T) {
			t.Parallel()
			group, in, out := cluster.Unique("combiner"), cluster.Unique("sets"), cluster.Unique("batches")
			resp, err := cluster.Admin.CreateTopic(context.Background(), partitions, 1, nil, in)
			require.NoError(t, err)
			require.NoError(t, resp.Err)
			cluster.CreateTopic(t, out, topics.Delete)
			recs, _, _, _ := testSets(t, in, 10, 0, 4)
			require.NoError(t, producer(t).ProduceSync(context.Background(), recs...).FirstErr())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = testCombiner(t, group, in, out).Run(ctx)
			require.ErrorIs(t, err, ErrNotCopartitioned)
			require.NoError(t, ctx.Err(), "it stopped by itself")
			ends, err := cluster.Admin.ListEndOffsets(context.Background(), out)
			require.NoError(t, err)
			ends.Each(func(o kadm.ListedOffset) { require.Zero(t, o.Offset, "no batch produced") })
		})
	}
}
