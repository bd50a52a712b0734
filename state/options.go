package state

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Defaults used when the corresponding Option is not given.
const (
	// DefaultCacheSize is the default size of the Pebble block cache: shared
	// by all partitions a Builder has open, or owned by a database opened
	// with Open. Cache memory is allocated on demand.
	DefaultCacheSize int64 = 256 << 20
	// DefaultMemTableSize is the default Pebble memtable size of each
	// partition database. Pebble starts small (256 KiB) and doubles up to this
	// size, so idle partitions stay small.
	DefaultMemTableSize uint64 = 16 << 20
	// DefaultRecoveryBatchBytes is the default size at which the pending
	// recovery batch is committed.
	DefaultRecoveryBatchBytes = 4 << 20
	// DefaultRecoveryBatchOps is the default number of operations at which
	// the pending recovery batch is committed.
	DefaultRecoveryBatchOps = 100_000
	// DefaultWriteBufferBytes is the default size of the write buffer of a
	// storage without write-ahead log (WithWriteBuffer).
	DefaultWriteBufferBytes = 4 << 20
)

const (
	minMemTableSize = 256 << 10
	maxMemTableSize = 4<<30 - 1 // Pebble requires MemTableSize < 4 GiB.
)

// Option configures a storage opened by Open or NewBuilder.
type Option func(*config)

// config is the unexported configuration assembled from Options.
type config struct {
	cacheSize          int64
	memTableSize       uint64
	recoveryBatchBytes int
	recoveryBatchOps   int
	logger             pebble.Logger
	pebbleOpts         []func(*pebble.Options)
	// withoutWAL turns Pebble's write-ahead log off (WithoutWAL).
	withoutWAL bool
	// writeBufferBytes bounds the write buffer used with withoutWAL (0: none).
	writeBufferBytes int
	// topicOpts are the options of WithTopicOptions, by topic.
	topicOpts map[string][]Option
}

func defaultConfig() config {
	return config{
		cacheSize:          DefaultCacheSize,
		memTableSize:       DefaultMemTableSize,
		recoveryBatchBytes: DefaultRecoveryBatchBytes,
		recoveryBatchOps:   DefaultRecoveryBatchOps,
		writeBufferBytes:   DefaultWriteBufferBytes,
	}
}

func newConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg, cfg.validate()
}

// validate reports configuration errors; all of them match ErrInvalidConfig.
func (c *config) validate() error {
	switch {
	case c.cacheSize <= 0:
		return fmt.Errorf("%w: cache size must be > 0, got %d", ErrInvalidConfig, c.cacheSize)
	case c.memTableSize < minMemTableSize || c.memTableSize > maxMemTableSize:
		return fmt.Errorf("%w: memtable size must be in [%d, %d], got %d",
			ErrInvalidConfig, minMemTableSize, uint64(maxMemTableSize), c.memTableSize)
	case c.recoveryBatchBytes <= 0:
		return fmt.Errorf("%w: recovery batch bytes must be > 0, got %d", ErrInvalidConfig, c.recoveryBatchBytes)
	case c.recoveryBatchOps <= 0:
		return fmt.Errorf("%w: recovery batch ops must be > 0, got %d", ErrInvalidConfig, c.recoveryBatchOps)
	case c.writeBufferBytes < 0:
		return fmt.Errorf("%w: write buffer bytes must be >= 0, got %d", ErrInvalidConfig, c.writeBufferBytes)
	}
	// Pebble options supplied through WithPebbleOptions must not turn off the
	// guarantees this package documents.
	po := c.pebbleOptions(nil)
	if po.DisableWAL && !c.withoutWAL {
		return fmt.Errorf("%w: DisableWAL through WithPebbleOptions is not supported: use WithoutWAL", ErrInvalidConfig)
	}
	if po.ReadOnly {
		return fmt.Errorf("%w: ReadOnly is not supported", ErrInvalidConfig)
	}
	return nil
}

// pebbleOptions builds the Pebble options for one partition database. If
// cache is nil, the database gets its own cache of c.cacheSize bytes.
func (c *config) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	o := &pebble.Options{
		Cache:              cache,
		CacheSize:          c.cacheSize,
		MemTableSize:       c.memTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		// State tables are written in bursts during recovery: let L0 grow
		// instead of stalling writes at Pebble's default of 12 sublevels.
		// (L0CompactionThreshold stays at Pebble's default of 4, which wrote
		// fewer bytes than 2 in the bulk-load benchmark.)
		L0StopWritesThreshold: 1000,
		// Goka looks up keys that often do not exist yet (first event of a
		// key); bloom filters make those misses cheap.
		Levels: [7]pebble.LevelOptions{0: {FilterPolicy: bloom.FilterPolicy(10)}},
		Logger: c.logger,
	}
	for _, f := range c.pebbleOpts {
		f(o)
	}
	if c.withoutWAL {
		o.DisableWAL = true
	}
	return o
}

// WithCacheSize sets the size in bytes of the Pebble block cache (default
// DefaultCacheSize). It must be > 0. A Builder shares one cache among all
// partitions it has open; a database opened with Open gets its own. As in
// Pebble, memtables are accounted against the cache: the cache should be
// larger than the memtables of all partitions sharing it, or little room is
// left for cached blocks.
func WithCacheSize(bytes int64) Option {
	return func(c *config) { c.cacheSize = bytes }
}

// WithMemTableSize sets the Pebble memtable size in bytes of each partition
// database (default DefaultMemTableSize). It must be in [256 KiB, 4 GiB).
// Up to two memtables per partition can be in memory while one is flushed.
func WithMemTableSize(bytes uint64) Option {
	return func(c *config) { c.memTableSize = bytes }
}

// WithRecoveryBatchBytes sets the size in bytes at which the batch collecting
// writes before MarkRecovered is committed (default
// DefaultRecoveryBatchBytes). It must be > 0. Independently of it, a batch is
// committed before its estimated memtable footprint reaches 3/8 of the
// memtable size, so that Pebble never takes the large-batch path for it.
func WithRecoveryBatchBytes(bytes int) Option {
	return func(c *config) { c.recoveryBatchBytes = bytes }
}

// WithRecoveryBatchOps sets the number of operations at which the batch
// collecting writes before MarkRecovered is committed (default
// DefaultRecoveryBatchOps). It must be > 0.
func WithRecoveryBatchOps(n int) Option {
	return func(c *config) { c.recoveryBatchOps = n }
}

// WithoutWAL turns Pebble's write-ahead log off. It is for goka tables,
// whose changelog topic is the source of truth (Kafka Streams runs its
// RocksDB stores the same way): every write then costs a memtable insert
// only, with no log record and no write system call.
//
// What survives is still consistent. Pebble flushes memtables in write
// order and the goka offset is stored in the same database, after the
// data it covers, so a database reopened after a crash holds a prefix of
// the writes: the data up to some point and an offset that does not run
// ahead of it. Goka then reads the changelog from that offset to catch up,
// exactly as after a restart with the log. What a crash loses is time (the
// writes since the last memtable flush are read again from Kafka), never
// data. Close flushes the memtables, so a clean restart reads nothing
// again.
func WithoutWAL() Option {
	return func(c *config) { c.withoutWAL = true }
}

// WithWriteBuffer sets the size of the write buffer of a storage opened
// WithoutWAL (default DefaultWriteBufferBytes; 0 turns it off). Without
// WithoutWAL it has no effect: with the log on, every write is meant to
// survive a process restart as soon as Set returns.
//
// After MarkRecovered, such a storage keeps its writes in memory, the
// latest per key, and writes them to Pebble in one batch, together with
// the latest offset passed to SetOffset, when their estimated memtable
// footprint reaches bytes, when the writes since the last flush reach four
// times bytes, when an iterator is created, and on Close. A key a processor
// rewrites within that window (a return moving through its states, a
// product's co-occurrence row, an active user's profile) reaches Pebble
// once, and the per-message SetOffset costs no Pebble write. Reads see the
// buffered writes (Get returns a copy). A flush larger than half the
// memtable is not copied into it: Pebble queues the batch itself to be
// written as an L0 table.
//
// bytes is memory: a table whose partitions each rewrite a working set
// that fits the buffer writes almost nothing to Pebble (the recommendations
// users table gives its partitions 32 MiB through WithTopicOptions), while
// a working set larger than the buffer is flushed every bytes of distinct
// keys, as with a small buffer. The bound on writes since the last flush
// keeps what a crash makes goka read again from the changelog at most four
// buffers (plus the memtables), however well the working set fits.
//
// The buffer keeps the slice passed to Set, without copying it, until the
// flush: the caller must not modify it afterwards. goka never does (it
// hands the same bytes to its producer, and a view stores the consumed
// message's value); copying every value cost the returns processors ~5%
// of their CPU.
//
// A crash loses what is buffered together with the offset covering it, so
// the database still holds a prefix of the writes with an offset that does
// not run ahead of them, and goka reads the rest again from the changelog,
// as WithoutWAL describes.
func WithWriteBuffer(bytes int) Option {
	return func(c *config) { c.writeBufferBytes = bytes }
}

// WithTopicOptions applies opts to the partition databases of topic, after
// the builder's other options: one builder (one shared block cache) can
// give a table whose rows are large and rewritten often a larger write
// buffer or memtable than the rest. It only affects NewBuilder (Open opens
// one database, not a topic's). The combined options of each topic are
// validated by NewBuilder.
func WithTopicOptions(topic string, opts ...Option) Option {
	return func(c *config) {
		if c.topicOpts == nil {
			c.topicOpts = map[string][]Option{}
		}
		c.topicOpts[topic] = append(c.topicOpts[topic], opts...)
	}
}

// forTopic is the configuration of the databases of topic: c with the
// topic's options applied (WithTopicOptions).
func (c config) forTopic(topic string) config {
	opts := c.topicOpts[topic]
	if len(opts) == 0 {
		return c
	}
	c.pebbleOpts = append([]func(*pebble.Options){}, c.pebbleOpts...)
	c.topicOpts = nil // shared with the builder's config; not the topic's
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// WithLogger sets the logger Pebble uses for its informational and error
// messages. The default is pebble.DefaultLogger (the standard log package).
func WithLogger(l pebble.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithPebbleOptions registers a function that may adjust the pebble.Options
// of each partition database just before it is opened, after this package's
// own settings have been applied. Options that break the package's
// guarantees (DisableWAL, ReadOnly) are rejected with ErrInvalidConfig.
// Unless it sets Experimental.CompactionScheduler, every database shares
// the package's compaction scheduler (one periodic granter per process
// instead of Pebble's 100 ms ticker per database).
func WithPebbleOptions(f func(*pebble.Options)) Option {
	return func(c *config) {
		if f != nil {
			c.pebbleOpts = append(c.pebbleOpts, f)
		}
	}
}
