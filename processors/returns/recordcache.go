package returns

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	json "github.com/segmentio/encoding/json"

	"github.com/shopstream/streams/processors/command"
)

// DefaultRecordCacheSize is how many encoded return records the return
// processor's table codec keeps decoded (WithRecordCacheSize).
const DefaultRecordCacheSize = 1024

// returnTableCodec is the return processor's table codec. It encodes and
// decodes like returnRecordCodec, and remembers the records it encoded by
// their exact bytes: a return's ~20 messages in a lifecycle each read the
// record the previous one wrote, and decoding it was the processor's
// largest cost. Decode of bytes it encoded answers the record it encoded
// without parsing them.
//
// That is safe because the answer depends only on the bytes (equal bytes,
// equal record: whatever partition, instance or rebalance wrote them) and
// because what it hands out is never changed in place: Decode answers a
// fresh ReturnRecord with its own ledger slice, and the Return it points to
// is only ever replaced (Apply works on a Clone), never modified. A Return
// read from the table must not be modified in place; TestRecordCache
// checks the codec's side of this.
type returnTableCodec struct {
	returnRecordCodec
	cache *recordCache
}

func newReturnTableCodec(size int) *returnTableCodec {
	if size <= 0 {
		return &returnTableCodec{}
	}
	return &returnTableCodec{cache: &recordCache{seed: maphash.MakeSeed(), byRaw: make(map[uint64]cachedRecord, size),
		ring: make([]ringSlot, size)}}
}

// recordEncodeFlags: like topics.JSONCodec but without HTML escaping, so
// that the ledger's results and the audit's metadata (json.RawMessage,
// most of a record's bytes) are copied rather than scanned. The table is
// read only by our own decoders; "<", ">" and "&" in strings stay as
// they are, which any JSON decoder reads the same.
const recordEncodeFlags = json.SortMapKeys | json.TrustRawMessage

var recordBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// Encode implements goka.Codec.
func (c *returnTableCodec) Encode(value any) ([]byte, error) {
	var rec *ReturnRecord
	switch v := value.(type) {
	case *ReturnRecord:
		rec = v
	case ReturnRecord:
		rec = &v
	default:
		return nil, fmt.Errorf("returns: table codec cannot encode %T", value)
	}
	bp, ap := recordBuffers.Get().(*[]byte), recordBuffers.Get().(*[]byte)
	w := recordWire{Commands: rec.Commands}
	if rec.Return != nil {
		*ap = appendAuditTrail((*ap)[:0], rec.Return.Audit)
		r := rec.Return
		w.Return = &returnWire{returnBody: returnBody(*r), Audit: *ap,
			EstimatedRefund: r.EstimatedRefund.sealed(), ActualRefund: r.ActualRefund.sealed()}
	}
	b, err := json.Append((*bp)[:0], &w, recordEncodeFlags)
	var out []byte
	if err == nil {
		out = append([]byte(nil), b...)
	}
	*bp = b
	for _, p := range [2]*[]byte{bp, ap} {
		if cap(*p) <= 1<<20 {
			recordBuffers.Put(p)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("returns: encoding a return record: %w", err)
	}
	if c.cache != nil {
		c.cache.put(out, rec.shallowCopy())
	}
	return out, nil
}

// recordWire is how the codec encodes a ReturnRecord: the same JSON as
// the record (keys in another order), with the return's audit trail and
// refund breakdowns spliced in from their kept encodings (Return.seal).
type recordWire struct {
	Return   *returnWire    `json:"return"`
	Commands command.Ledger `json:"commands"`
}

// returnBody is Return without its methods; returnWire's fields replace
// the embedded ones of the same name (the outer field wins).
type returnBody Return

type returnWire struct {
	returnBody
	EstimatedRefund json.RawMessage `json:"estimated_refund,omitempty"`
	ActualRefund    json.RawMessage `json:"actual_refund,omitempty"`
	Audit           json.RawMessage `json:"audit"`
}

// Decode implements goka.Codec. Bytes it encoded (still in its cache)
// answer the record; other bytes are not decoded here but when a handler
// reads the record (ReturnRecord.load), so that the saga timeout visitor,
// which reads every return and needs only its status and saga, does not
// decode whole records.
func (c *returnTableCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return c.returnRecordCodec.Decode(data)
	}
	if c.cache != nil {
		if rec, ok := c.cache.get(data); ok {
			return rec.shallowCopy(), nil
		}
	}
	return &ReturnRecord{stored: bytes.Clone(data)}, nil
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
