package recommendations

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// itemBytes is an items table row in itemFormat1 as the item processor
// holds it: the processor applies an increment to the encoded row
// (applyRaw) instead of decoding every pair count into a map and encoding
// the map again, which was most of the processor's CPU per increment.
type itemBytes struct{ b []byte }

// rawItemCodec is the item processor's table codec. It reads and writes the
// same bytes as itemCodec (the service's views decode them with itemCodec):
// a JSON row written by an earlier version is converted to itemFormat1 when
// it is read, so its first change rewrites it in that form.
type rawItemCodec struct{}

// Encode implements goka.Codec.
func (rawItemCodec) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *itemBytes:
		if v != nil && len(v.b) > 0 && v.b[0] == itemFormat1 {
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
	if len(data) > 0 && data[0] == itemFormat1 {
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
}

func (h *itemHeader) read(r *itemReader) {
	h.productID = r.str()
	h.users = r.varint()
	h.orders = r.varint()
	h.popularity.Score = math.Float64frombits(r.uint64())
	if r.byte() == 1 {
		h.popularity.At = time.Unix(0, r.varint()).UTC()
	}
	h.popularity.Count = int(r.varint())
	h.increments = r.varint()
}

func (h *itemHeader) append(b []byte) []byte {
	b = append(b, itemFormat1)
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
	return binary.AppendVarint(b, h.increments)
}

// applyRaw returns row (itemFormat1, or empty for a new item) with inc
// applied: the bytes itemCodec would write for Item.Apply on the decoded
// row, except for the order of the pair counts (entries keep their place,
// new partners are appended). It walks each count section once, copying
// unchanged entries as they are. A section that grows past its trim
// threshold takes the decoded path (Item.Apply trims it).
func applyRaw(row []byte, inc *Increment, cfg *config) ([]byte, error) {
	var h itemHeader
	r := itemReader{}
	if len(row) > 0 {
		if row[0] != itemFormat1 {
			return nil, errItemRow
		}
		r.b = row[1:]
		h.read(&r)
		if r.err != nil {
			return nil, r.err
		}
	}
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
	with := partners(inc.With, h.productID)
	basket := partners(inc.Basket, h.productID)
	limit := cfg.candidates + cfg.candidates/trimSlack
	out := make([]byte, 0, len(row)+2*binary.MaxVarintLen64+64+len(h.productID)+(len(with)+len(basket))*24)
	out = h.append(out)
	rest := r.b
	var n int
	var ok bool
	if out, rest, n, ok = rewriteCounts(out, rest, with); !ok {
		return nil, errItemRow
	}
	over := n > limit
	if out, rest, n, ok = rewriteCounts(out, rest, basket); !ok || len(rest) != 0 {
		return nil, errItemRow
	}
	if over || n > limit {
		return applyDecoded(row, inc, cfg)
	}
	return out, nil
}

// applyDecoded is applyRaw through the decoded Item.
func applyDecoded(row []byte, inc *Increment, cfg *config) ([]byte, error) {
	it := &Item{}
	if len(row) > 0 {
		v, err := itemCodec{}.Decode(row)
		if err != nil {
			return nil, err
		}
		it = v.(*Item)
	}
	it.Apply(inc, cfg)
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

// uvarintAt reads a uvarint at b[i:], returning it and the index after it
// (0 when b is truncated or the value overflows).
func uvarintAt(b []byte, i int) (uint64, int) {
	if i < len(b) && b[i] < 0x80 {
		return uint64(b[i]), i + 1
	}
	if i > len(b) {
		return 0, 0
	}
	v, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return 0, 0
	}
	return v, i + n
}

// rewriteCounts appends to out the count section at the start of src (a
// uvarint entry count, then length-prefixed IDs with varint counts; an empty
// src is an empty section) with each of ids counted once more per
// occurrence: existing entries in place, new IDs after them in the order of
// ids. It returns what follows the section in src and the section's new
// entry count; ok is false when src is not a well-formed section.
func rewriteCounts(out, src []byte, ids []string) (_ []byte, rest []byte, n int, ok bool) {
	var count uint64
	i := 0
	if len(src) > 0 {
		if count, i = uvarintAt(src, 0); i == 0 || count > uint64(len(src)) {
			return out, nil, 0, false
		}
	}
	// The entry count is written once known: reserve the most a uvarint
	// takes and close the gap afterwards.
	at := len(out)
	out = append(out, make([]byte, binary.MaxVarintLen64)...)
	body := len(out)
	var seen []bool
	run := i // start of the entries not yet copied
	for e := uint64(0); e < count; e++ {
		l, j := uvarintAt(src, i)
		if j == 0 || l > uint64(len(src)-j) {
			return out, nil, 0, false
		}
		id := src[j : j+int(l)]
		j += int(l)
		var add int64
		for k, q := range ids {
			if string(id) == q {
				add++
				if seen == nil {
					seen = make([]bool, len(ids))
				}
				seen[k] = true
			}
		}
		c, m := binary.Varint(src[j:])
		if m <= 0 {
			return out, nil, 0, false
		}
		i = j + m
		if add > 0 {
			out = append(out, src[run:j]...)
			out = binary.AppendVarint(out, c+add)
			run = i
		}
	}
	out = append(out, src[run:i]...)
	n = int(count)
	for k, q := range ids {
		if (seen != nil && seen[k]) || !firstAt(ids, k) {
			continue
		}
		var c int64
		for _, id := range ids[k:] {
			if id == q {
				c++
			}
		}
		out = appendString(out, q)
		out = binary.AppendVarint(out, c)
		n++
	}
	var cnt [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(cnt[:], uint64(n))
	copy(out[at:], cnt[:w])
	moved := copy(out[at+w:], out[body:])
	return out[:at+w+moved], src[i:], n, true
}

// firstAt reports whether ids[j] does not occur before j.
func firstAt(ids []string, j int) bool {
	for _, q := range ids[:j] {
		if q == ids[j] {
			return false
		}
	}
	return true
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
