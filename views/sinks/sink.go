package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// WithDLQ overrides the dead-letter topic (default DLQTopic(name)).
func WithDLQ(topic string) Option { return func(c *config) { c.dlqTopic = topic } }

// WithRetryBackoff sets the pause before the sink restarts from its stored
// offsets after a failure (default 1 s).
func WithRetryBackoff(d time.Duration) Option { return func(c *config) { c.retry = d } }

func (c *config) validate() error {
	switch {
	case c.logger == nil:
		return errors.New("sinks: nil logger")
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
	cfg := config{logger: slog.Default(), maxRecords: 10_000, dlqTopic: DLQTopic(spec.Name), retry: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sink{spec: spec, pool: pool, clients: clients, cfg: cfg, tables: map[*Table]bool{}}
	for _, t := range spec.Tables {
		if err := t.validate(); err != nil {
			return nil, err
		}
		s.tables[t] = true
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

// Run consumes until ctx is done, then returns nil. After a failure
// (PostgreSQL or Kafka unreachable, a fenced batch) it rolls back, waits
// the retry backoff and resumes from the offsets stored in PostgreSQL.
func (s *Sink) Run(ctx context.Context) error {
	for {
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.logger.Warn("sink stopped; resuming from stored offsets", "err", err, "after", s.cfg.retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.retry):
		}
	}
}

// runOnce loads the stored offsets, consumes from them and writes batches
// until ctx is done or something fails.
func (s *Sink) runOnce(ctx context.Context) error {
	adm, err := kgo.NewClient(s.clients.Kgo()...)
	if err != nil {
		return err
	}
	parts, err := partitions(ctx, kadm.NewClient(adm), s.spec.Topics)
	if err != nil {
		adm.Close()
		return err
	}
	end, err := endOffsets(ctx, kadm.NewClient(adm), s.spec.Topics)
	adm.Close()
	if err != nil {
		return err
	}
	pos, err := loadOffsets(ctx, s.pool, s.spec.Name, parts)
	if err != nil {
		return err
	}
	if caughtUp(pos, end) {
		s.ready.Store(true)
	}
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
	s.cfg.logger.Debug("sink consuming", "topics", s.spec.Topics, "partitions", len(pos))

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
		if !s.ready.Load() && caughtUp(pos, end) {
			s.ready.Store(true)
		}
	}
}

// caughtUp reports whether every partition's position has reached end.
func caughtUp(pos, end map[topicPartition]int64) bool {
	for tp, e := range end {
		if pos[tp] < e {
			return false
		}
	}
	return true
}
