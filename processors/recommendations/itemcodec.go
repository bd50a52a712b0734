package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/shopstream/streams/topics"
)

// itemCodec is the items table's codec. The item processor rewrites a
// whole Item on every increment, and an Item holds up to `candidates` pair
// counts: as JSON (with map keys sorted) that was the largest cost of
// ingestion. It writes a compact binary form (itemFormat5) and reads it,
// the earlier binary formats and the JSON rows earlier versions wrote.
//
// itemFormat1, after the format byte: product ID (uvarint length + bytes),
// users, orders (varints), popularity score (8 bytes, IEEE 754 big-endian),
// popularity time (varint Unix nanoseconds, preceded by a byte 0 when zero,
// 1 otherwise), popularity count, increments (varints), then the Co and
// Bought maps, each a uvarint entry count followed by (uvarint length,
// product ID, varint count) per entry, in map order.
//
// itemFormat2 is itemFormat1 with the entries of each map sorted by product
// ID and front-coded: (uvarint length of the prefix shared with the
// previous entry's ID, uvarint length of the rest, the rest, varint count).
// Partner IDs of one catalog share long prefixes, so a row is several
// times smaller, and so is every changelog record, compression and fetch
// that carries it.
//
// itemFormat3 (written from 2026-12-01 until itemFormat4) is itemFormat2 with, after the
// increments count, the position of the last increment applied (Item.Last):
// a uvarint 0 when unknown, else the partition + 1 and a varint offset.
//
// itemFormat4 (written on 2026-12-01 until itemFormat5) is itemFormat3 with
// each count section's entry count followed by the byte length of its
// entries (uvarint), so that the item processor (applyRaw) copies the part
// of a section after the last partner of an increment, and a section the
// increment does not touch, without reading its entries.
//
// itemFormat5 (written since 2026-12-01, with the combiner) is itemFormat4
// with, after the position of the last increment, the source positions of
// the increment sets applied through the combiner's batches (Item.Sources):
// a uvarint count, then per position, in increasing order of input then
// partition, the input (uvarint SourceInput), partition (uvarint) and
// offset (varint). (Before it was released, on 2026-12-01, the positions
// were the sets' partitions and offsets, without an input.)
type itemCodec struct{}

// itemFormat1 to itemFormat5 are the first byte of a binary item row; a
// JSON row starts with '{' (or is "null"). Encode writes itemFormat5.
const (
	itemFormat1 = 0x01
	itemFormat2 = 0x02
	itemFormat3 = 0x03
	itemFormat4 = 0x04
	itemFormat5 = 0x05
)

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
	h := it.header()
	b := h.append(make([]byte, 0, n))
	b = appendSortedCounts(b, it.Co)
	b = appendSortedCounts(b, it.Bought)
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendSortedCounts appends m as an itemFormat4 count section.
func appendSortedCounts(b []byte, m map[string]int64) []byte {
	ids := make([]string, 0, len(m))
	for q := range m {
		ids = append(ids, q)
	}
	slices.Sort(ids)
	at := len(b)
	b = append(b, make([]byte, sectionGap)...)
	prev := ""
	for _, q := range ids {
		b = appendFrontCoded(b, prev, q)
		b = binary.AppendVarint(b, m[q])
		prev = q
	}
	return closeSection(b, at, len(ids))
}

// sectionGap is the room reserved for a count section's entry count and
// byte length while its entries are written after it (closeSection).
const sectionGap = 2 * binary.MaxVarintLen64

// closeSection writes the entry count n and the byte length of the entries
// that follow the sectionGap bytes reserved at b[at:], and moves the
// entries to follow them.
func closeSection(b []byte, at, n int) []byte {
	body := at + sectionGap
	var hdr [sectionGap]byte
	w := binary.PutUvarint(hdr[:], uint64(n))
	w += binary.PutUvarint(hdr[w:], uint64(len(b)-body))
	copy(b[at:], hdr[:w])
	moved := copy(b[at+w:], b[body:])
	return b[:at+w+moved]
}

// appendFrontCoded appends id as the length of the prefix it shares with
// prev, the length of the rest and the rest.
func appendFrontCoded[S ~string | ~[]byte, T ~string | ~[]byte](b []byte, prev S, id T) []byte {
	shared := 0
	for shared < len(prev) && shared < len(id) && prev[shared] == id[shared] {
		shared++
	}
	b = binary.AppendUvarint(b, uint64(shared))
	b = binary.AppendUvarint(b, uint64(len(id)-shared))
	return append(b, id[shared:]...)
}

// Decode implements goka.Codec.
func (itemCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 || data[0] < itemFormat1 || data[0] > itemFormat5 {
		return topics.JSONCodec[Item]{}.Decode(data)
	}
	r := itemReader{b: data[1:], frontCoded: data[0] >= itemFormat2, sized: data[0] >= itemFormat4}
	var h itemHeader
	h.read(&r, data[0])
	it := &Item{}
	it.setHeader(h)
	it.Co = r.counts()
	it.Bought = r.counts()
	if r.err != nil || len(r.b) != 0 {
		return nil, errItemRow
	}
	return it, nil
}

// itemReader reads the binary rows' fields; after the first error every read
// returns a zero value and err stays set.
type itemReader struct {
	b   []byte
	err error
	// frontCoded is set for itemFormat2 and later count sections, sized
	// for itemFormat4 ones (their entries' byte length follows the count).
	frontCoded, sized bool
	prev              []byte // the previous front-coded ID
	started           bool   // whether prev holds one (the next ID must sort after it)
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
	end := 0 // len(r.b) after the section (sized)
	if r.sized {
		size := r.uvarint()
		if size > uint64(len(r.b)) {
			r.fail()
			return nil
		}
		end = len(r.b) - int(size)
	}
	if n == 0 || r.err != nil {
		if r.sized && len(r.b) != end {
			r.fail()
		}
		return nil
	}
	if n > uint64(len(r.b)) { // every entry takes at least two bytes
		r.fail()
		return nil
	}
	m := make(map[string]int64, n)
	r.prev, r.started = r.prev[:0], false
	for range n {
		var q string
		if r.frontCoded {
			q = string(r.frontCodedID())
		} else {
			q = r.str()
		}
		m[q] = r.varint()
	}
	if r.err != nil || (r.sized && len(r.b) != end) {
		r.fail()
		return nil
	}
	return m
}

// frontCodedID reads a front-coded ID (appendFrontCoded) following r.prev,
// which it becomes. IDs of a section must be in strictly increasing order
// (checked in constant time from the coding). The result is valid until
// the next read.
func (r *itemReader) frontCodedID() []byte {
	shared := r.uvarint()
	rest := r.uvarint()
	if r.err != nil || shared > uint64(len(r.prev)) || rest > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	if r.started && (rest == 0 || (shared < uint64(len(r.prev)) && r.b[0] <= r.prev[shared])) {
		r.fail() // not after the previous ID
		return nil
	}
	r.started = true
	r.prev = append(r.prev[:shared], r.b[:rest]...)
	r.b = r.b[rest:]
	return r.prev
}
