package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopstream/streams/topics"
)

// itemCodec is the items table's codec. The item processor decodes and
// re-encodes a whole Item on every increment, and an Item holds up to
// `candidates` pair counts: as JSON (with map keys sorted) that was the
// largest cost of ingestion. It writes a compact binary form (itemFormat1)
// and reads both it and the JSON rows earlier versions wrote.
//
// itemFormat1, after the format byte: product ID (uvarint length + bytes),
// users, orders (varints), popularity score (8 bytes, IEEE 754 big-endian),
// popularity time (varint Unix nanoseconds, preceded by a byte 0 when zero,
// 1 otherwise), popularity count, increments (varints), then the Co and
// Bought maps, each a uvarint entry count followed by (uvarint length,
// product ID, varint count) per entry, in map order.
type itemCodec struct{}

// itemFormat1 is the first byte of a binary item row; a JSON row starts
// with '{' (or is "null").
const itemFormat1 = 0x01

// errItemRow is returned for a row that is neither format.
var errItemRow = errors.New("recommendations: items table row is truncated or not an item")

// Encode implements goka.Codec.
func (itemCodec) Encode(value any) ([]byte, error) {
	it, ok := value.(*Item)
	if !ok || it == nil {
		return nil, fmt.Errorf("recommendations: item codec cannot encode %T", value)
	}
	n := 64 + len(it.ProductID)
	for q := range it.Co {
		n += len(q) + 8
	}
	for q := range it.Bought {
		n += len(q) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, itemFormat1)
	b = appendString(b, it.ProductID)
	b = binary.AppendVarint(b, it.Users)
	b = binary.AppendVarint(b, it.Orders)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(it.Popularity.Score))
	if it.Popularity.At.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, it.Popularity.At.UnixNano())
	}
	b = binary.AppendVarint(b, int64(it.Popularity.Count))
	b = binary.AppendVarint(b, it.Increments)
	b = appendCounts(b, it.Co)
	b = appendCounts(b, it.Bought)
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendCounts(b []byte, m map[string]int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for q, c := range m {
		b = appendString(b, q)
		b = binary.AppendVarint(b, c)
	}
	return b
}

// Decode implements goka.Codec.
func (itemCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 || data[0] != itemFormat1 {
		return topics.JSONCodec[Item]{}.Decode(data)
	}
	r := itemReader{b: data[1:]}
	it := &Item{ProductID: r.str()}
	it.Users = r.varint()
	it.Orders = r.varint()
	it.Popularity.Score = math.Float64frombits(r.uint64())
	if r.byte() == 1 {
		it.Popularity.At = time.Unix(0, r.varint()).UTC()
	}
	it.Popularity.Count = int(r.varint())
	it.Increments = r.varint()
	it.Co = r.counts()
	it.Bought = r.counts()
	if r.err != nil || len(r.b) != 0 {
		return nil, errItemRow
	}
	return it, nil
}

// itemReader reads itemFormat1 fields; after the first error every read
// returns a zero value and err stays set.
type itemReader struct {
	b   []byte
	err error
}

func (r *itemReader) fail() { r.err, r.b = errItemRow, nil }

func (r *itemReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *itemReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *itemReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *itemReader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *itemReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *itemReader) counts() map[string]int64 {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) { // every entry takes at least two bytes
		r.fail()
		return nil
	}
	m := make(map[string]int64, n)
	for range n {
		q := r.str()
		m[q] = r.varint()
	}
	if r.err != nil {
		return nil
	}
	return m
}
