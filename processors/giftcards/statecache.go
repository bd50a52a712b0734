package giftcards

import (
	"bytes"
	"sync"

	"github.com/lovoo/goka/storage"

	"github.com/shopstream/streams/topics"
)

// DefaultStateCacheBytes is four times the bound of each card table
// partition's cache of stored state bytes (WithStateCacheBytes).
const DefaultStateCacheBytes = 64 << 20

// DefaultDecodedStateCacheBytes bounds the card processor's cache of
// decoded card states (WithDecodedStateCacheBytes): off, because the GC
// marking of the cached objects cost more latency than the decodes saved.
const DefaultDecodedStateCacheBytes = 0

// stateCodec is the card table's codec: topics.JSONCodec[CardState] with a
// cache of the last state encoded for each card. goka reads a card's state
// by decoding the bytes it stored (ctx.Value), and the card processor
// stored those bytes itself a moment earlier (ctx.SetValue) in the common
// case; the cache hands back the value that was encoded instead of
// decoding it again.
//
// The cache is addressed by content: a decode returns the cached value only
// when the bytes to decode are exactly the bytes that value encoded to, so
// a value can never be stale, whatever happened to the table meanwhile
// (a rebalance that moved the partition away and back, a recovery from the
// changelog, another instance writing the key). The price is one
// comparison of the bytes, far cheaper than decoding them.
//
// Cached values are shared: the card processor treats a decoded state as
// immutable (operations clone the card before changing it, and the
// command ledger is copied before an entry is added).
type stateCodec struct {
	inner topics.JSONCodec[CardState]
	max   int

	mu    sync.Mutex
	size  int
	cards map[string]cachedState // by card key
}

type cachedState struct {
	raw   []byte
	value *CardState
}

func newStateCodec(maxBytes int) *stateCodec {
	return &stateCodec{max: maxBytes, cards: map[string]cachedState{}}
}

// Encode implements goka.Codec.
func (c *stateCodec) Encode(value any) ([]byte, error) {
	raw, err := c.inner.Encode(value)
	if err != nil || c.max <= 0 {
		return raw, err
	}
	if st, ok := value.(*CardState); ok && st.Card != nil {
		c.put(st.Card.Key, cachedState{raw: raw, value: st})
	}
	return raw, nil
}

// Decode implements goka.Codec.
func (c *stateCodec) Decode(data []byte) (any, error) {
	if key, ok := stateKey(data); ok && c.max > 0 {
		c.mu.Lock()
		e, hit := c.cards[string(key)]
		c.mu.Unlock()
		if hit && bytes.Equal(e.raw, data) {
			return e.value, nil
		}
	}
	return c.inner.Decode(data)
}

func (c *stateCodec) put(key string, e cachedState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.cards[key]; ok {
		c.size -= len(old.raw)
	}
	c.cards[key] = e
	c.size += len(e.raw)
	// Over the bound, drop entries in map order (pseudo-random): the cache
	// only saves work, a miss decodes.
	for k, old := range c.cards {
		if c.size <= c.max {
			break
		}
		if k != key {
			delete(c.cards, k)
			c.size -= len(old.raw)
		}
	}
}

// statePrefix is how every encoded card state begins: Card is CardState's
// first field and Key the card's.
const statePrefix = `{"card":{"key":"`

// stateKey reads the card key from an encoded state without decoding it.
func stateKey(data []byte) ([]byte, bool) {
	const keyLen = 64
	if len(data) < len(statePrefix)+keyLen+1 || !bytes.HasPrefix(data, []byte(statePrefix)) ||
		data[len(statePrefix)+keyLen] != '"' {
		return nil, false
	}
	return data[len(statePrefix) : len(statePrefix)+keyLen], true
}

// cachedStorage keeps, in front of a card table partition's storage, the
// bytes last written for each key, so that the read of the next command
// for the same card does not go to Pebble. It is write-through: every
// write and delete of the partition goes through it (goka owns the storage
// and nothing else writes to it), so a cached value is always the stored
// one. Writes during recovery only invalidate (the cache fills with what
// the processor writes afterwards). The cached slice is the one the codec
// encoded, so the codec's own cache recognizes it at once.
type cachedStorage struct {
	storage.Storage
	max int

	mu        sync.Mutex
	recovered bool
	size      int
	values    map[string][]byte
}

// cachedStorageBuilder wraps sb's storages in a cachedStorage of at most
// maxBytes each (0: sb unchanged).
func cachedStorageBuilder(sb storage.Builder, maxBytes int) storage.Builder {
	if maxBytes <= 0 {
		return sb
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := sb(topic, partition)
		if err != nil {
			return nil, err
		}
		return &cachedStorage{Storage: st, max: maxBytes, values: map[string][]byte{}}, nil
	}
}

// Get implements storage.Storage.
func (s *cachedStorage) Get(key string) ([]byte, error) {
	s.mu.Lock()
	v, ok := s.values[key]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	return s.Storage.Get(key)
}

// Set implements storage.Storage.
func (s *cachedStorage) Set(key string, value []byte) error {
	s.forget(key)
	if err := s.Storage.Set(key, value); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovered || len(value) > s.max {
		return nil
	}
	s.values[key] = value
	s.size += len(value)
	for k, old := range s.values { // over the bound: drop in map order
		if s.size <= s.max {
			break
		}
		if k != key {
			delete(s.values, k)
			s.size -= len(old)
		}
	}
	return nil
}

// Delete implements storage.Storage.
func (s *cachedStorage) Delete(key string) error {
	s.forget(key)
	return s.Storage.Delete(key)
}

// MarkRecovered implements storage.Storage.
func (s *cachedStorage) MarkRecovered() error {
	s.mu.Lock()
	s.recovered = true
	s.mu.Unlock()
	return s.Storage.MarkRecovered()
}

// Close implements storage.Storage.
func (s *cachedStorage) Close() error {
	s.mu.Lock()
	s.values, s.size = map[string][]byte{}, 0
	s.mu.Unlock()
	return s.Storage.Close()
}

func (s *cachedStorage) forget(key string) {
	s.mu.Lock()
	if old, ok := s.values[key]; ok {
		delete(s.values, key)
		s.size -= len(old)
	}
	s.mu.Unlock()
}
