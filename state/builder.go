package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// NewBuilder returns a goka storage.Builder that opens one Pebble database
// per topic partition in the directory <dir>/<topic>.<partition>, the layout
// of goka's storage.DefaultBuilder. dir is created if it does not exist. The
// options are validated once, here; each built storage must be closed by its
// user (goka does so on rebalance and shutdown), after which the same
// partition can be built again, also by another Builder on the same dir.
func NewBuilder(dir string, opts ...Option) (storage.Builder, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: empty directory", ErrInvalidConfig)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, opErr("new-builder", dir, "", err)
	}
	for topic := range cfg.topicOpts {
		tc := cfg.forTopic(topic)
		if err := tc.validate(); err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		if tc.cacheSize != cfg.cacheSize {
			return nil, fmt.Errorf("%w: topic %s: the block cache is the builder's, shared by every topic", ErrInvalidConfig, topic)
		}
	}
	cache := &sharedCache{size: cfg.cacheSize}
	return func(topic string, partition int32) (storage.Storage, error) {
		if err := validateTopic(topic); err != nil {
			return nil, err
		}
		if partition < 0 {
			return nil, fmt.Errorf("%w: negative partition %d", ErrInvalidConfig, partition)
		}
		return open(PartitionPath(dir, topic, partition), cfg.forTopic(topic), cache)
	}, nil
}

// PartitionPath returns the directory NewBuilder uses for the database of a
// topic partition: <dir>/<topic>.<partition>.
func PartitionPath(dir, topic string, partition int32) string {
	return filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition))
}

// validateTopic rejects topic names that would escape the builder's
// directory. Kafka itself only allows [a-zA-Z0-9._-] and neither "." nor "..".
func validateTopic(topic string) error {
	if topic == "" || topic == "." || topic == ".." ||
		strings.ContainsAny(topic, "/\\\x00") {
		return fmt.Errorf("%w: invalid topic name %q", ErrInvalidConfig, topic)
	}
	return nil
}

// sharedCache is the Pebble block cache shared by the partitions a Builder
// has open. It is created on first use and released when the last partition
// using it is closed (each open database holds its own reference as well).
type sharedCache struct {
	size  int64
	mu    sync.Mutex
	cache *pebble.Cache
	users int
}

func (c *sharedCache) acquire() *pebble.Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = pebble.NewCache(c.size)
	}
	c.users++
	return c.cache
}

func (c *sharedCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users--
	if c.users == 0 {
		c.cache.Unref()
		c.cache = nil
	}
}
