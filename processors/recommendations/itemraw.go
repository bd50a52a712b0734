package recommendations

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// itemBytes is an items table row in itemFormat3 (or 2) as the item processor
// holds it: the processor applies an increment to the encoded row
// (applyRaw) instead of decoding every pair count into a map and encoding
// the map again, which was most of the processor's CPU per increment.
type itemBytes struct{ b []byte }

// rawItemCodec is the item processor's table codec. It reads and writes the
// same bytes as itemCodec (the service's views decode them with itemCodec):
// a JSON or itemFormat1 row written by an earlier version is converted to
// itemFormat2 when it is read, so its first change rewrites it in that form.
type rawItemCodec struct{}

// Encode implements goka.Codec.
func (rawItemCodec) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *itemBytes:
		if v != nil && len(v.b) > 0 && (v.b[0] == itemFormat2 || v.b[0] == itemFormat3) {
			return v.b, nil
		}
	case *Item:
		return itemCodec{}.Encode(v)
	}
	return nil, fmt.Errorf("recommendations: raw item codec cannot encode %T", value)
}

// Decode implements goka.Codec. The returned row refers to data, which it
// never modifies.
func (rawItemCodec) Decode(data []byte) (any, error) {
	if len(data) > 0 && (data[0] == itemFormat2 || data[0] == itemFormat3) {
		return &itemBytes{b: data}, nil // applyRaw validates it
	}
	v, err := itemCodec{}.Decode(data)
	if err != nil {
		return nil, err
	}
	it, _ := v.(*Item)
	if it == nil {
		it = &Item{}
	}
	b, err := itemCodec{}.Encode(it)
	if err != nil {
		return nil, err
	}
	return &itemBytes{b: b}, nil
}

// itemHeader is an itemFormat1 row's fixed part.
type itemHeader struct {
	productID  string
	users      int64
	orders     int64
	popularity Affinity
	increments int64
	last       *IncrementPosition
}

// apply counts inc in the header: everything an increment changes but the
// pair counts. Item.Apply and applyRaw both go through it.
func (h *itemHeader) apply(inc *Increment, cfg *config) {
	if h.productID == "" {
		h.productID = inc.ProductID
	}
	h.increments++
	if inc.Weight > 0 {
		h.popularity.add(inc.Weight, inc.At, cfg.halfLife)
	}
	if inc.NewUser {
		h.users++
	}
	if inc.Order {
		h.orders++
	}
}

// read reads the header of a row in format.
func (h *itemHeader) read(r *itemReader, format byte) {
	h.productID = r.str()
	h.users = r.varint()
	h.orders = r.varint()
	h.popularity.Score = math.Float64frombits(r.uint64())
	if r.byte() == 1 {
		h.popularity.At = time.Unix(0, r.varint()).UTC()
	}
	h.popularity.Count = int(r.varint())
	h.increments = r.varint()
	if format >= itemFormat3 {
		if p := r.uvarint(); p > 0 && p <= math.MaxInt32+1 {
			h.last = &IncrementPosition{Partition: int32(p - 1), Offset: r.varint()}
		} else if p > 0 {
			r.fail()
		}
	}
}

// append appends the format byte (itemFormat3) and the header.
func (h *itemHeader) append(b []byte) []byte {
	b = append(b, itemFormat3)
	b = appendString(b, h.productID)
	b = binary.AppendVarint(b, h.users)
	b = binary.AppendVarint(b, h.orders)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(h.popularity.Score))
	if h.popularity.At.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, h.popularity.At.UnixNano())
	}
	b = binary.AppendVarint(b, int64(h.popularity.Count))
	b = binary.AppendVarint(b, h.increments)
	if h.last == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(h.last.Partition)+1)
	return binary.AppendVarint(b, h.last.Offset)
}

// applyRaw returns row (itemFormat2 or 3, or empty for a new item) with
// inc, read at pos on the increments topic (nil: unknown), applied: the
// bytes itemCodec would write for Item.Apply on the decoded row, byte for
// byte. An increment at or before the last one the row applied is a
// redelivery: applyRaw returns row itself and applied false. It merges the increment's partners into each sorted
// count section in one pass, without building a map, copying unchanged
// entries in runs. A section that grows past its trim
// threshold takes the decoded path (Item.Apply trims it).
func applyRaw(row []byte, inc *Increment, pos *IncrementPosition, cfg *config) (_ []byte, applied bool, _ error) {
	var h itemHeader
	r := itemReader{}
	if len(row) > 0 {
		if row[0] != itemFormat2 && row[0] != itemFormat3 {
			return nil, false, errItemRow
		}
		r.b = row[1:]
		h.read(&r, row[0])
		if r.err != nil {
			return nil, false, r.err
		}
	}
	if h.last.applied(pos) {
		return row, false, nil
	}
	h.apply(inc, cfg)
	if pos != nil {
		h.last = pos
	}
	with := partners(inc.With, h.productID)
	basket := partners(inc.Basket, h.productID)
	limit := cfg.candidates + cfg.candidates/trimSlack
	out := make([]byte, 0, len(row)+2*binary.MaxVarintLen64+64+len(h.productID)+(len(with)+len(basket))*24)
	out = h.append(out)
	rest := r.b
	var n int
	var ok bool
	if out, rest, n, ok = rewriteCounts(out, rest, with); !ok {
		return nil, false, errItemRow
	}
	over := n > limit
	if out, rest, n, ok = rewriteCounts(out, rest, basket); !ok || len(rest) != 0 {
		return nil, false, errItemRow
	}
	if over || n > limit {
		out, err := applyDecoded(row, inc, h.last, cfg)
		return out, err == nil, err
	}
	return out, true, nil
}

// applyDecoded is applyRaw through the decoded Item; last is the position
// the row records afterwards.
func applyDecoded(row []byte, inc *Increment, last *IncrementPosition, cfg *config) ([]byte, error) {
	it := &Item{}
	if len(row) > 0 {
		v, err := itemCodec{}.Decode(row)
		if err != nil {
			return nil, err
		}
		it = v.(*Item)
	}
	it.Apply(inc, cfg)
	it.Last = last
	return itemCodec{}.Encode(it)
}

// partners returns ids without self (an item is not its own partner).
func partners(ids []string, self string) []string {
	for i, q := range ids {
		if q == self {
			out := append([]string(nil), ids[:i]...)
			for _, q := range ids[i+1:] {
				if q != self {
					out = append(out, q)
				}
			}
			return out
		}
	}
	return ids
}

// tally is a partner of an increment and how often it occurs in it.
type tally struct {
	id string
	n  int64
}

// tallies returns ids sorted, each once with its number of occurrences.
func tallies(ids []string) []tally {
	if len(ids) == 0 {
		return nil
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	out := make([]tally, 0, len(sorted))
	for _, q := range sorted {
		if k := len(out) - 1; k >= 0 && out[k].id == q {
			out[k].n++
		} else {
			out = append(out, tally{q, 1})
		}
	}
	return out
}

// rewriteCounts appends to out the itemFormat2 count section at the start
// of src (an empty src is an empty section) with each of ids counted once
// more per occurrence, merged in ID order. It returns what follows the
// section in src and the section's new entry count; ok is false when src is
// not a well-formed sorted section.
func rewriteCounts(out, src []byte, ids []string) (_ []byte, rest []byte, n int, ok bool) {
	r := itemReader{b: src, frontCoded: true}
	var count uint64
	if len(src) > 0 {
		if count = r.uvarint(); r.err != nil || count > uint64(len(r.b)) {
			return out, nil, 0, false
		}
	}
	add := tallies(ids)
	// The entry count is written once known: reserve the most a uvarint
	// takes and close the gap afterwards.
	at := len(out)
	out = append(out, make([]byte, binary.MaxVarintLen64)...)
	body := len(out)
	// Entries are copied as they are (in runs) unless their count changes
	// or a new entry was inserted just before them (their shared prefix
	// is relative to the previous entry).
	pos := func() int { return len(src) - len(r.b) }
	run := pos()       // start of the entries read but not yet copied
	var last []byte    // the last ID read
	var inserted bool  // whether the last entry written was a new one
	var lastNew string // that new entry's ID
	next := 0          // the first tally not yet merged
	for e := uint64(0); e < count; e++ {
		start := pos()
		if next == len(add) && !inserted {
			// Every partner is merged: the rest of the section is copied
			// as it is, its entries only skipped over.
			if !r.skipFrontCoded(count - e) {
				return out, nil, 0, false
			}
			n += int(count - e)
			break
		}
		id := r.frontCodedID()
		c := r.varint()
		if r.err != nil {
			return out, nil, 0, false
		}
		prevID := last
		for next < len(add) && add[next].id < string(id) {
			out = append(out, src[run:start]...)
			run = start
			if inserted {
				out = appendFrontCoded(out, lastNew, add[next].id)
			} else {
				out = appendFrontCoded(out, prevID, add[next].id)
			}
			out = binary.AppendVarint(out, add[next].n)
			inserted, lastNew = true, add[next].id
			next++
			n++
		}
		changed := inserted
		if next < len(add) && add[next].id == string(id) {
			c += add[next].n
			next++
			changed = true
		}
		if changed {
			out = append(out, src[run:start]...)
			if inserted {
				out = appendFrontCoded(out, lastNew, id)
			} else {
				out = appendFrontCoded(out, prevID, id)
			}
			out = binary.AppendVarint(out, c)
			run = pos()
		}
		inserted = false
		last = append(last[:0], id...)
		n++
	}
	out = append(out, src[run:pos()]...)
	for ; next < len(add); next++ {
		if inserted {
			out = appendFrontCoded(out, lastNew, add[next].id)
		} else {
			out = appendFrontCoded(out, last, add[next].id)
		}
		out = binary.AppendVarint(out, add[next].n)
		inserted, lastNew = true, add[next].id
		n++
	}
	var cnt [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(cnt[:], uint64(n))
	copy(out[at:], cnt[:w])
	moved := copy(out[at+w:], out[body:])
	return out[:at+w+moved], r.b, n, true
}

// bytes reads a length-prefixed string without copying it.
func (r *itemReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// skipFrontCoded skips n front-coded entries (ID and count), checking only
// their framing.
func (r *itemReader) skipFrontCoded(n uint64) bool {
	for ; n > 0 && r.err == nil; n-- {
		r.uvarint()
		rest := r.uvarint()
		if rest > uint64(len(r.b)) {
			r.fail()
			break
		}
		r.b = r.b[rest:]
		r.varint()
	}
	return r.err == nil
}
