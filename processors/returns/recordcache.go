package returns

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/shopstream/streams/processors/command"
)

// DefaultRecordCacheSize is how many encoded return records the return
// processor's table codec keeps decoded (WithRecordCacheSize).
const DefaultRecordCacheSize = 1024

// returnTableCodec is the return processor's table codec. It writes the
// binary form of a ReturnRecord (rowcodec.go) and reads it and the JSON
// form earlier versions wrote, and it remembers the records it encoded by
// their exact bytes: a return's ~20 messages in a lifecycle each read the
// record the previous one wrote. Decode of bytes it encoded answers the
// record it encoded without parsing them.
//
// That is safe because the answer depends only on the bytes (equal bytes,
// equal record: whatever partition, instance or rebalance wrote them) and
// because what it hands out is never changed in place: Decode answers a
// fresh ReturnRecord with its own ledger slice, and the Return it points to
// is only ever replaced (Apply works on a Clone), never modified. A Return
// read from the table must not be modified in place; TestRecordCache
// checks the codec's side of this.
type returnTableCodec struct {
	cache *recordCache
}

func newReturnTableCodec(size int) *returnTableCodec {
	if size <= 0 {
		return &returnTableCodec{}
	}
	return &returnTableCodec{cache: &recordCache{seed: maphash.MakeSeed(), byRaw: make(map[uint64]cachedRecord, size),
		ring: make([]ringSlot, size)}}
}

var recordBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// recordValue is the record goka hands a codec, decoded.
func recordValue(value any) (*ReturnRecord, error) {
	switch v := value.(type) {
	case *ReturnRecord:
		if err := v.load(); err != nil {
			return nil, err
		}
		return v, nil
	case ReturnRecord:
		if err := v.load(); err != nil {
			return nil, err
		}
		return &v, nil
	}
	return nil, fmt.Errorf("returns: table codec cannot encode %T", value)
}

// Encode implements goka.Codec: the record's binary form.
func (c *returnTableCodec) Encode(value any) ([]byte, error) {
	rec, err := recordValue(value)
	if err != nil {
		return nil, err
	}
	bp := recordBuffers.Get().(*[]byte)
	b := appendReturnRecord((*bp)[:0], rec)
	out := append([]byte(nil), b...)
	if cap(b) <= 1<<20 {
		*bp = b
		recordBuffers.Put(bp)
	}
	if c.cache != nil {
		c.cache.put(out, rec.shallowCopy())
	}
	return out, nil
}

// Decode implements goka.Codec. Bytes it encoded (still in its cache)
// answer the record; other bytes are not decoded here but when a handler
// reads the record (ReturnRecord.load), so that the saga timeout visitor,
// which reads every return and needs only its status and saga, does not
// decode whole records.
func (c *returnTableCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if c.cache != nil {
		if rec, ok := c.cache.get(data); ok {
			return rec.shallowCopy(), nil
		}
	}
	return &ReturnRecord{stored: bytes.Clone(data)}, nil
}

// returnViewCodec is the codec of the views of the return table: it
// decodes both forms (and encodes the binary one).
type returnViewCodec struct{}

// Encode implements goka.Codec.
func (returnViewCodec) Encode(value any) ([]byte, error) {
	rec, err := recordValue(value)
	if err != nil {
		return nil, err
	}
	return appendReturnRecord(nil, rec), nil
}

// Decode implements goka.Codec; nil for an empty value (a tombstone).
func (returnViewCodec) Decode(data []byte) (any, error) {
	rec, err := decodeReturnRecord(data)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec, nil
}

// shallowCopy copies the record and its ledger's slice; the Return and the
// ledger's results are shared (both are replaced, never modified).
func (r *ReturnRecord) shallowCopy() *ReturnRecord {
	return &ReturnRecord{Return: r.Return, Commands: command.Ledger{Entries: slices.Clone(r.Commands.Entries)}}
}

// recordCache maps encoded records to the records, keeping the last
// len(ring) encodings (first in, first out). Encodings are found by a hash
// of their bytes and confirmed by comparing the bytes, which it keeps by
// reference: the bytes Encode returns are never modified afterwards (goka
// stores and produces them as they are).
type recordCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	byRaw map[uint64]cachedRecord
	ring  []ringSlot
	next  int
	gen   uint64
}

type cachedRecord struct {
	raw []byte
	rec *ReturnRecord
	gen uint64
}

type ringSlot struct {
	hash uint64
	gen  uint64
}

func (c *recordCache) get(data []byte) (*ReturnRecord, bool) {
	h := maphash.Bytes(c.seed, data)
	c.mu.Lock()
	e, ok := c.byRaw[h]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, data) {
		return nil, false
	}
	return e.rec, true
}

func (c *recordCache) put(data []byte, rec *ReturnRecord) {
	h := maphash.Bytes(c.seed, data)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.ring[c.next]; old.gen != 0 {
		if e, ok := c.byRaw[old.hash]; ok && e.gen == old.gen {
			delete(c.byRaw, old.hash)
		}
	}
	c.gen++
	c.byRaw[h] = cachedRecord{raw: data, rec: rec, gen: c.gen}
	c.ring[c.next] = ringSlot{hash: h, gen: c.gen}
	c.next = (c.next + 1) % len(c.ring)
}

func (c *recordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byRaw)
}
