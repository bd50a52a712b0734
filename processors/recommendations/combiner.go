package recommendations

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// Combiner batches the co-occurrence increments per product between the
// user processor and the item processor. It consumes IncrementSetsStream
// (one record per recorded batch of interactions, keyed by user) in the
// consumer group topics.RecommendationsCombinerGroup, and once per window
// (WithCombineWindow) produces, for every product an increment of the
// window went to, one IncrementBatch record keyed by product on
// IncrementBatchesStream: the item processor then rewrites an item row once
// per window instead of once per increment.
//
// Exactly-once counting: the combiner commits its offsets only after every
// record of the window is acknowledged, so a crash between the two
// redelivers the window's sets to the next owner, which produces their
// entries again. Every entry carries its set's source position (the input
// message the user processor recorded it from: IncrementSet.Source), and
// the item processor skips an entry at or before the position its row
// records for that source (Item.Sources): a set produced again by the
// combiner, or emitted again by the user processor after a crash, is
// counted once. Rebalances happen only
// between windows (BlockRebalanceOnPoll): a partition changes owner with
// nothing of it in flight.
//
// The skip needs a product's entries of one source in offset order, which
// holds when IncrementSetsStream has the partition count of the user
// processor's inputs that emit sets (InteractionsStream, CommandsStream):
// the combiner checks it each time it joins its group, and stops
// (ErrNotCopartitioned) when it does not hold.
type Combiner struct {
	clients *topics.Clients
	cfg     config
	// The group, the topics and the pause before rejoining; tests change
	// them, and beforeCommit (nil but in tests) runs once a window's
	// records are acknowledged, before its offsets are committed: an error
	// stops the membership there, as a crash would.
	group, in, out string
	retry          time.Duration
	beforeCommit   func() error
	// sources are the topics in must be co-partitioned with.
	sources []string
}

// ErrNotCopartitioned is returned by Combiner.Run (and so Service.Run)
// when the increment sets topic has another partition count than an input
// of the user processor that emits sets: the sets of one input partition
// would reach an item through several combiner partitions, out of order,
// and the item rows could skip sets they never applied.
var ErrNotCopartitioned = errors.New("recommendations: the increment sets topic is not co-partitioned with the user processor's inputs")

// NewCombiner builds the combiner; of the options it uses
// WithCombineWindow, WithCombineMaxEntries and WithLogger.
func NewCombiner(clients *topics.Clients, opts ...Option) (*Combiner, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if clients == nil {
		return nil, ErrMissingDependency
	}
	return &Combiner{clients: clients, cfg: cfg, group: topics.RecommendationsCombinerGroup,
		in: topics.RecommendationsIncrementSets, out: topics.RecommendationsIncrementBatches, retry: time.Second,
		sources: []string{topics.RecommendationsInteractions, topics.RecommendationsCommands}}, nil
}

// Run combines until ctx is done. After a failure (the broker, a produce,
// a commit) it leaves the group and joins it again: what it had not
// committed is consumed again, and the item processor skips what it
// applied already. It returns ErrNotCopartitioned (wrapped) when the
// topics are not co-partitioned, having consumed nothing.
func (c *Combiner) Run(ctx context.Context) error {
	for {
		err := c.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrNotCopartitioned) {
			return err
		}
		combinerFailures.Inc()
		c.cfg.logger.Warn("recommendations: combiner stopped; rejoining", "err", err, "after", c.retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.retry):
		}
	}
}

// consume is one membership of the group: windows of sets until ctx is
// done or something fails.
func (c *Combiner) consume(ctx context.Context) error {
	cl, err := kgo.NewClient(c.clients.Kgo(
		kgo.ConsumerGroup(c.group),
		kgo.ConsumeTopics(c.in),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)...)
	if err != nil {
		return err
	}
	defer cl.CloseAllowingRebalance()
	if err := c.checkCopartitioned(ctx, cl); err != nil {
		return err
	}
	w := newCombineWindow()
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if w.records > 0 {
			pctx, cancel = context.WithDeadline(ctx, w.deadline)
		}
		// Records, not increments, are bounded here: a window may pass
		// combineMax by the increments of the last sets polled.
		fetches := cl.PollRecords(pctx, max(1, c.cfg.combineMax-w.entries))
		cancel()
		if ctx.Err() != nil {
			return ctx.Err() // what was not committed is consumed again
		}
		var ferr error
		fetches.EachError(func(topic string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetching %s/%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if w.records == 0 {
				w.deadline = time.Now().Add(c.cfg.combineWindow)
			}
			w.add(c.group, r)
		})
		if w.records > 0 && (w.entries >= c.cfg.combineMax || !time.Now().Before(w.deadline)) {
			if err := c.flush(ctx, cl, w); err != nil {
				return err
			}
			w = newCombineWindow()
		}
		if w.records == 0 {
			cl.AllowRebalance()
		}
	}
}

// checkCopartitioned returns ErrNotCopartitioned (wrapped) when c.in has
// another partition count than one of c.sources, or the error of listing
// them.
func (c *Combiner) checkCopartitioned(ctx context.Context, cl *kgo.Client) error {
	details, err := kadm.NewClient(cl).ListTopics(ctx, append([]string{c.in}, c.sources...)...)
	if err != nil {
		return fmt.Errorf("listing the topics to combine: %w", err)
	}
	if err := details.Error(); err != nil {
		return fmt.Errorf("listing the topics to combine: %w", err)
	}
	want := len(details[c.in].Partitions)
	for _, s := range c.sources {
		if n := len(details[s].Partitions); n != want {
			return fmt.Errorf("%w: %s has %d partitions, %s %d", ErrNotCopartitioned, c.in, want, s, n)
		}
	}
	return nil
}

// flush produces the window's batches and dead letters, waits until the
// broker has acknowledged all of them, then commits the offsets of every
// set consumed.
func (c *Combiner) flush(ctx context.Context, cl *kgo.Client, w *combineWindow) error {
	var mu sync.Mutex
	var first error
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	}
	for product, bb := range w.batches {
		cl.Produce(ctx, &kgo.Record{Topic: c.out, Key: []byte(product), Value: bb.record(product)}, done)
	}
	for _, dl := range w.dead {
		cl.Produce(ctx, dl, done)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	err := first
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("producing increment batches: %w", err)
	}
	if c.beforeCommit != nil {
		if err := c.beforeCommit(); err != nil {
			return err
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("committing increment sets: %w", err)
	}
	combinerSets.Add(float64(w.records - len(w.dead)))
	combinerIncrements.Add(float64(w.entries))
	combinerBatches.Add(float64(len(w.batches)))
	combinerDLQ.Add(float64(len(w.dead)))
	return nil
}

// Combiner metrics, on the default Prometheus registry; counted once a
// window is committed.
var (
	combinerSets = promauto.NewCounter(prometheus.CounterOpts{
		Name: "shopstream_recommendations_combiner_sets_total",
		Help: "Increment sets (one per recorded interaction batch) the recommendations combiner batched.",
	})
	combinerIncrements = promauto.NewCounter(prometheus.CounterOpts{
		Name: "shopstream_recommendations_combiner_increments_total",
		Help: "Increments the recommendations combiner batched.",
	})
	combinerBatches = promauto.NewCounter(prometheus.CounterOpts{
		Name: "shopstream_recommendations_combiner_batches_total",
		Help: "Increment batches (one per product per window) the recommendations combiner produced; increments / batches is how many increments share an item row rewrite.",
	})
	combinerDLQ = promauto.NewCounter(prometheus.CounterOpts{
		Name: "shopstream_recommendations_combiner_dead_letters_total",
		Help: "Increment sets the recommendations combiner could not read and sent to its dead-letter queue.",
	})
	combinerFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "shopstream_recommendations_combiner_failures_total",
		Help: "Times the recommendations combiner stopped (broker, produce or commit failure) and rejoined its group.",
	})
)

// combineWindow is what the combiner has read and not yet produced.
type combineWindow struct {
	records  int // sets read (dead letters included)
	entries  int // increments batched
	deadline time.Time
	batches  map[string]*batchBuilder
	dead     []*kgo.Record
}

func newCombineWindow() *combineWindow {
	return &combineWindow{batches: make(map[string]*batchBuilder)}
}

// add splits the increment set r into the batches of its products, each
// entry with the set's source position (IncrementSet.Source; for a set
// without one, SourceSetRecord and r's partition and offset); a set that
// cannot be read becomes a dead letter, with none of its increments
// batched.
func (w *combineWindow) add(group string, r *kgo.Record) {
	w.records++
	pos, err := splitIncrementSet(r.Value, func(string, []byte) error { return nil })
	if err != nil {
		w.dead = append(w.dead, deadLetterRecord(group, r, err))
		return
	}
	if pos.Input == SourceSetRecord {
		pos = SourcePosition{Input: SourceSetRecord, Partition: r.Partition, Offset: r.Offset}
	}
	_, _ = splitIncrementSet(r.Value, func(product string, raw []byte) error {
		bb := w.batches[product]
		if bb == nil {
			bb = &batchBuilder{}
			w.batches[product] = bb
		}
		bb.add(pos, bb.last == r, raw)
		bb.last = r
		w.entries++
		return nil
	})
}

// deadLetterRecord is the record, on group's DLQ, of the set r that could
// not be read.
func deadLetterRecord(group string, r *kgo.Record, reason error) *kgo.Record {
	dl := &topics.DeadLetter{Group: group, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value, Reason: reason.Error(), At: r.Timestamp}
	raw, err := topics.JSONCodec[topics.DeadLetter]{}.Encode(dl)
	if err != nil { // a DeadLetter always encodes
		panic(err)
	}
	return &kgo.Record{Topic: topics.DLQ(group), Key: r.Key, Value: raw}
}
