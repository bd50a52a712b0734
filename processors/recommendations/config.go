package recommendations

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopstream/streams/state"
)

// Strategy is how recommendations are computed.
type Strategy string

// The strategies of the seed's get_recommendations.
const (
	Collaborative Strategy = "collaborative"
	ContentBased  Strategy = "content_based"
	Hybrid        Strategy = "hybrid"
)

// ParseStrategy returns the strategy named s; an empty s is Hybrid.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case "":
		return Hybrid, nil
	case Collaborative, ContentBased, Hybrid:
		return st, nil
	}
	return "", ErrInvalidStrategy.Withf("strategy %q is not collaborative, content_based or hybrid", s).With("strategy", s)
}

// HybridWeights weigh the components of the hybrid strategy. They are
// normalized to sum to 1, so a hybrid score stays in [0, 1].
type HybridWeights struct {
	Collaborative float64 `json:"collaborative"`
	Content       float64 `json:"content"`
	Popularity    float64 `json:"popularity"`
}

// Limits of a request.
const (
	// DefaultLimit is get_recommendations' default limit.
	DefaultLimit = 10
	// MaxLimit is the largest limit a request may ask for.
	MaxLimit = 100
)

type config struct {
	weights     Weights
	halfLife    time.Duration
	historySize int
	affinityCap int
	fanOut      int
	basketSize  int
	candidates  int
	neighbours  int
	seeds       int
	hybrid      HybridWeights
	similarity  Similarity
	cacheDepth  int
	cacheTTL    time.Duration
	seenSize    int
	refresh     time.Duration
	logger      *slog.Logger
	// tableCacheBytes bounds each processor table partition's cache of
	// the bytes last written (state.CachedBuilder; 0: none).
	tableCacheBytes int
	// combineWindow and combineMax bound the combiner's windows.
	combineWindow time.Duration
	combineMax    int
	// tableReads: user profiles are read from the users processor's table
	// (WithTableReads).
	tableReads bool
}

func defaultConfig() config {
	return config{
		weights:     DefaultWeights,
		halfLife:    14 * 24 * time.Hour,
		historySize: 100,
		affinityCap: 500,
		fanOut:      5,
		basketSize:  20,
		candidates:  200,
		neighbours:  50,
		seeds:       20,
		hybrid:      HybridWeights{Collaborative: 0.6, Content: 0.3, Popularity: 0.1},
		similarity:  Cosine,
		cacheDepth:  50,
		cacheTTL:    time.Hour,
		seenSize:    256,
		refresh:     2 * time.Second,
		logger:      slog.Default(),

		combineWindow: DefaultCombineWindow,
		combineMax:    DefaultCombineMaxEntries,

		tableCacheBytes: DefaultTableCacheBytes,
	}
}

// Option configures the model, the engine and the service.
type Option func(*config)

// WithWeights sets the interaction weights (default DefaultWeights).
func WithWeights(w Weights) Option { return func(c *config) { c.weights = w } }

// WithHalfLife sets the half-life of a user's affinity for a product,
// measured in event time (default 14 days).
func WithHalfLife(d time.Duration) Option { return func(c *config) { c.halfLife = d } }

// WithHistorySize sets how many recent interactions a profile keeps
// (default 100).
func WithHistorySize(n int) Option { return func(c *config) { c.historySize = n } }

// WithAffinityCap sets how many products a profile keeps an affinity for;
// the weakest is forgotten first (default 500).
func WithAffinityCap(n int) Option { return func(c *config) { c.affinityCap = n } }

// WithFanOut caps how many of a user's recent products a new product is
// paired with, so that one heavy user cannot flood the item processor (default 5; docs/recommendations.md
// has the measurement).
func WithFanOut(n int) Option { return func(c *config) { c.fanOut = n } }

// WithBasketSize caps how many products of one order are paired as bought
// together (the first n+1 distinct purchased products; default 20).
func WithBasketSize(n int) Option { return func(c *config) { c.basketSize = n } }

// WithCandidates caps how many co-occurring products an item keeps counts
// for; the least frequent is dropped first (default 200).
func WithCandidates(n int) Option { return func(c *config) { c.candidates = n } }

// WithNeighbours sets K of an item's top-K neighbour list (default 50).
func WithNeighbours(k int) Option { return func(c *config) { c.neighbours = k } }

// WithSeeds sets how many of a user's strongest affinities seed a
// recommendation (default 20).
func WithSeeds(n int) Option { return func(c *config) { c.seeds = n } }

// WithHybridWeights sets the weights of the hybrid strategy's components
// (default 0.6 collaborative, 0.3 content, 0.1 popularity).
func WithHybridWeights(w HybridWeights) Option { return func(c *config) { c.hybrid = w } }

// WithSimilarity sets the item-item similarity computed from co-occurrence
// counts (default Cosine; see docs/recommendations.md for the measurement).
func WithSimilarity(s Similarity) Option { return func(c *config) { c.similarity = s } }

// WithCacheDepth sets how many recommendations are computed and cached per
// strategy; a request for more computes afresh (default 50).
func WithCacheDepth(n int) Option { return func(c *config) { c.cacheDepth = n } }

// WithCacheTTL sets how long the service serves a cached list: besides
// being invalidated by the user's next interaction, a list expires this long
// after it was generated (default 1 h; recommendations.generated carries the
// expiry).
func WithCacheTTL(d time.Duration) Option { return func(c *config) { c.cacheTTL = d } }

// WithIndexRefresh sets how often the service rebuilds its catalog and
// popularity snapshot from the views (default 2 s).
func WithIndexRefresh(d time.Duration) Option { return func(c *config) { c.refresh = d } }

// DefaultCombineWindow is how long the combiner collects increments before
// it sends their batches (WithCombineWindow).
const DefaultCombineWindow = 50 * time.Millisecond

// DefaultCombineMaxEntries is how many increments a combiner window holds
// at most (WithCombineMaxEntries).
const DefaultCombineMaxEntries = 100_000

// WithCombineWindow sets how long the combiner collects increments before
// it sends one batch per product (default DefaultCombineWindow, at most
// 10 s): every increment reaches the item processor up to that much later,
// and the longer the window, the more increments of a product share one
// rewrite of its item row.
func WithCombineWindow(d time.Duration) Option { return func(c *config) { c.combineWindow = d } }

// WithCombineMaxEntries sets how many increments the combiner collects at
// most before it sends their batches, even if the window is not over
// (default DefaultCombineMaxEntries): it bounds the combiner's memory.
func WithCombineMaxEntries(n int) Option { return func(c *config) { c.combineMax = n } }

// DefaultTableCacheBytes bounds each processor table partition's cache of
// the bytes last written (WithTableCacheBytes).
const DefaultTableCacheBytes = 16 << 20

// WithTableCacheBytes gives each partition of the processors' tables (users,
// items, catalog) a write-through cache of the bytes last written, of at
// most n bytes (default DefaultTableCacheBytes; 0 turns it off), so that
// the next event of an active user or product reads its row without
// Pebble (state.CachedBuilder). The memory is at most n per partition of
// each table this instance owns.
func WithTableCacheBytes(n int) Option { return func(c *config) { c.tableCacheBytes = n } }

// UsersWriteBufferBytes is the state write buffer of each partition of the
// users table, in the processor's storage and in the view's
// (StorageOptions).
const UsersWriteBufferBytes = 32 << 20

// StorageOptions are the options the state builders holding this
// service's tables need, the processors' and the views': each partition of
// the users table gets a write buffer of UsersWriteBufferBytes
// (state.WithWriteBuffer) instead of the default 4 MiB. A user row is
// 3-5 KB at a full history and is rewritten whole on every interaction;
// while a partition's active users fit the buffer, their rows reach Pebble
// once per flush (every four buffers of writes) instead of once per event,
// which took Pebble's flushes and compactions out of the loaded ingestion
// benchmark (docs/recommendations-benchmarks.md). The memory is at most
// that per partition, in each storage; a crash re-reads at most four
// buffers of the changelog per partition.
func StorageOptions() []state.Option {
	return []state.Option{state.WithTopicOptions(string(UsersTable), state.WithWriteBuffer(UsersWriteBufferBytes))}
}

// WithTableReads makes the service read users' profiles (recommendations,
// Profile) from the users processor's own table instead of a view of it.
// The processor's table holds only the partitions this instance owns, so
// this is for a deployment of one instance (shopstream dev): there it
// drops the second copy of the users table and the consumption of its
// changelog, one row of 3-5 KB per interaction (a fifth of the CPU per
// event of the loaded ingestion benchmark, docs/recommendations-benchmarks.md), and
// a profile is read as the processor last wrote it. With several instances
// a read of a user another instance owns fails as unavailable. The items
// and catalog stay views: the index refresher iterates them, which a goka
// processor's table does not offer.
func WithTableReads() Option { return func(c *config) { c.tableReads = true } }

// WithLogger sets the service's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

func (c *config) validate() error {
	if c.refresh <= 0 {
		return fmt.Errorf("recommendations: index refresh %v must be positive", c.refresh)
	}
	if c.cacheTTL <= 0 {
		return fmt.Errorf("recommendations: cache TTL %v must be positive", c.cacheTTL)
	}
	if c.logger == nil {
		return errors.New("recommendations: nil logger")
	}
	if c.combineWindow <= 0 || c.combineWindow > 10*time.Second {
		return fmt.Errorf("recommendations: combine window %v must be positive and at most 10s", c.combineWindow)
	}
	if c.tableCacheBytes < 0 {
		return fmt.Errorf("recommendations: table cache bytes must not be negative, got %d", c.tableCacheBytes)
	}
	if c.combineMax < 1 {
		return fmt.Errorf("recommendations: combine max entries must be at least 1, got %d", c.combineMax)
	}
	if err := c.weights.validate(); err != nil {
		return err
	}
	if c.halfLife <= 0 {
		return fmt.Errorf("recommendations: half-life %v must be positive", c.halfLife)
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"history size", c.historySize}, {"affinity cap", c.affinityCap}, {"fan-out", c.fanOut}, {"basket size", c.basketSize},
		{"candidates", c.candidates}, {"neighbours", c.neighbours}, {"seeds", c.seeds},
		{"cache depth", c.cacheDepth}, {"seen size", c.seenSize}} {
		if v.n < 1 {
			return fmt.Errorf("recommendations: %s must be at least 1, got %d", v.name, v.n)
		}
	}
	if c.neighbours > c.candidates {
		return fmt.Errorf("recommendations: neighbours (%d) cannot exceed candidates (%d)", c.neighbours, c.candidates)
	}
	h := c.hybrid
	if h.Collaborative < 0 || h.Content < 0 || h.Popularity < 0 || h.Collaborative+h.Content+h.Popularity == 0 {
		return fmt.Errorf("recommendations: hybrid weights must be non-negative with a positive sum, got %+v", h)
	}
	if c.cacheDepth > MaxLimit {
		return fmt.Errorf("recommendations: cache depth %d exceeds the maximum limit %d", c.cacheDepth, MaxLimit)
	}
	switch c.similarity {
	case Jaccard, Cosine, LogLikelihood:
	default:
		return errors.New("recommendations: unknown similarity " + string(c.similarity))
	}
	return nil
}

func newConfig(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	return c, c.validate()
}
