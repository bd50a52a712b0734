package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// Mapper turns one event into the rows it adds to the read models. It
// returns an error wrapping ErrMalformedEvent (or any error) for an event it
// cannot map; the record goes to the DLQ with that reason. A Mapper may
// return no rows for an event that changes no read model.
type Mapper func(env *topics.Envelope, rec *kgo.Record) ([]Row, error)

// Spec is what a sink consumes and how it maps it: one per domain.
type Spec struct {
	// Name names the sink: its offsets in sink_offsets and its DLQ
	// (topics.DLQ("sink-" + Name)).
	Name string
	// Topics are the topics it consumes.
	Topics []string
	// Tables are the tables its Map writes.
	Tables []*Table
	// Map maps one event.
	Map Mapper
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
	retry      time.Duration
	// beforeCommit, set by tests only, runs after the batch's rows are
	// written and before its transaction commits.
	beforeCommit func(ctx context.Context) error
}

// Option configures a Sink.
type Option func(*config)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxBatch caps the records written in one transaction (default 10,000).
func WithMaxBatch(n int) Option { return func(c *config) { c.maxRecords = n } }

// WithWorkers sets how many consumers share the sink's partitions (default
// 2), each with its own transactions: PostgreSQL writes of one run while
// another maps its next batch.
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

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
	cfg := config{logger: slog.Default(), maxRecords: 10_000, workers: 2, dlqTopic: DLQTopic(spec.Name), retry: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sink{spec: spec, pool: pool, clients: clients, cfg: cfg, tables: map[*Table]bool{}, states: map[*Table]*tableState{}}
	for _, t := range spec.Tables {
		if err := t.validate(); err != nil {
			return nil, err
		}
		s.tables[t] = true
		s.states[t] = &tableState{}
	}
	s.cfg.logger = cfg.logger.With("sink", spec.Name)
	return s, nil
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.spec.Name }

// Stats returns the sink's counters.
func (s *Sink) Stats() *Stats { return &s.stats }

// Ready reports whether the sink has caught up with the end of its topics
// at least once since it started.
func (s *Sink) Ready() bool { return s.ready.Load() }

// Run consumes until ctx is done, then returns nil. The partitions of the
// sink's topics are dealt round-robin to its workers; each worker has its
// own client and transactions and owns its partitions' offsets. After a
// failure (PostgreSQL or Kafka unreachable, a fenced batch) a worker rolls
// back, waits the retry backoff and resumes from the offsets stored in
// PostgreSQL; the other workers go on.
func (s *Sink) Run(ctx context.Context) error {
	var parts []topicPartition
	var end map[topicPartition]int64
	for {
		var err error
		parts, end, err = s.discover(ctx)
		if err == nil {
			break
		}
		s.cfg.logger.Warn("sink cannot list its partitions; retrying", "err", err, "after", s.cfg.retry)
		if !s.pause(ctx) {
			return nil
		}
	}
	n := min(s.cfg.workers, len(parts))
	shares := make([][]topicPartition, n)
	for i, tp := range parts {
		shares[i%n] = append(shares[i%n], tp)
	}
	var behind atomic.Int64
	behind.Store(int64(n))
	var wg sync.WaitGroup
	for _, share := range shares {
		wg.Go(func() { s.work(ctx, share, end, &behind) })
	}
	wg.Wait()
	return nil
}

// discover lists the partitions of the sink's topics and their end offsets.
func (s *Sink) discover(ctx context.Context) ([]topicPartition, map[topicPartition]int64, error) {
	cl, err := kgo.NewClient(s.clients.Kgo()...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts, err := partitions(ctx, adm, s.spec.Topics)
	if err != nil {
		return nil, nil, err
	}
	end, err := endOffsets(ctx, adm, s.spec.Topics)
	if err != nil {
		return nil, nil, err
	}
	return sortedPartitions(parts), end, nil
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

// work runs one worker until ctx is done: load the stored offsets of its
// partitions, consume from them, and start again after a failure.
func (s *Sink) work(ctx context.Context, parts []topicPartition, end map[topicPartition]int64, behind *atomic.Int64) {
	caught := false
	markCaughtUp := func(pos map[topicPartition]int64) {
		if !caught && caughtUp(pos, end) {
			caught = true
			if behind.Add(-1) == 0 {
				s.ready.Store(true)
			}
		}
	}
	for {
		pos, err := loadOffsets(ctx, s.pool, s.spec.Name, parts)
		if err == nil {
			markCaughtUp(pos)
			err = s.consume(ctx, pos, func() { markCaughtUp(pos) })
		}
		if ctx.Err() != nil {
			return
		}
		s.cfg.logger.Warn("sink worker stopped; resuming from stored offsets", "err", err, "after", s.cfg.retry)
		if !s.pause(ctx) {
			return
		}
	}
}

// consume writes the records of the partitions in pos, from the offsets in
// pos, until ctx is done or something fails.
func (s *Sink) consume(ctx context.Context, pos map[topicPartition]int64, written func()) error {
	assign := make(map[string]map[int32]kgo.Offset, len(pos))
	for tp, off := range pos {
		if assign[tp.topic] == nil {
			assign[tp.topic] = map[int32]kgo.Offset{}
		}
		assign[tp.topic][tp.partition] = kgo.NewOffset().At(off)
	}
	cl, err := kgo.NewClient(s.clients.Kgo(
		kgo.ConsumePartitions(assign),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fetches := cl.PollRecords(ctx, s.cfg.maxRecords)
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
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		if err := s.writeBatch(ctx, cl, pos, recs); err != nil {
			return err
		}
		written()
	}
}

func sortedPartitions(parts []topicPartition) []topicPartition {
	out := slices.Clone(parts)
	slices.SortFunc(out, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
	return out
}

// caughtUp reports whether every partition's position has reached end.
func caughtUp(pos, end map[topicPartition]int64) bool {
	for tp, p := range pos {
		if p < end[tp] {
			return false
		}
	}
	return true
}
