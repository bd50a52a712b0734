package giftcards

import (
	"bytes"
	"sync"

	"github.com/shopstream/streams/topics"
)

// DefaultStateCacheBytes bounds the card processor's cache of decoded
// card states (WithStateCacheBytes).
const DefaultStateCacheBytes = 64 << 20

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
