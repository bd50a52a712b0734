package recommendations

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// itemBytes is an items table row in itemFormat5 (or 2 to 4) as the item processor
// holds it: the processor applies an increment to the encoded row
// (applyRaw) instead of decoding every pair count into a map and encoding
// the map again, which was most of the processor's CPU per increment.
type itemBytes struct{ b []byte }

// rawItemCodec is the item processor's table codec. It reads and writes the
// same bytes as itemCodec (the service's views decode them with itemCodec):
// a JSON or itemFormat1 row written by an earlier version is converted to
// itemFormat5 when it is read, so its first change rewrites it in that
// form; an itemFormat2 to 4 row is passed on as it is (applyRaw and
// applyBatchRaw rewrite it).
type rawItemCodec struct{}

// Encode implements goka.Codec.
func (rawItemCodec) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *itemBytes:
		if v != nil && len(v.b) > 0 && v.b[0] >= itemFormat2 && v.b[0] <= itemFormat5 {
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
	if len(data) > 0 && data[0] >= itemFormat2 && data[0] <= itemFormat5 {
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
	sources    []SourcePosition
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
	if format >= itemFormat5 {
		n := r.uvarint()
		if n > uint64(len(r.b))/3 { // a position takes at least three bytes
			r.fail()
			return
		}
		if n > 0 {
			h.sources = make([]SourcePosition, n)
		}
		for i := range h.sources {
			h.sources[i] = r.sourcePosition()
			if r.err != nil || (i > 0 && !sourceBefore(h.sources[i-1], h.sources[i])) {
				r.fail()
				return
			}
		}
	}
}

// append appends the format byte (itemFormat5) and the header.
func (h *itemHeader) append(b []byte) []byte {
	b = append(b, itemFormat5)
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
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(h.last.Partition)+1)
		b = binary.AppendVarint(b, h.last.Offset)
	}
	b = binary.AppendUvarint(b, uint64(len(h.sources)))
	for _, s := range h.sources {
		b = appendSourcePosition(b, s)
	}
	return b
}

// applyRaw returns row (itemFormat2 to 5, or empty for a new item) with
// inc, read at pos on the increments topic (nil: unknown), applied: the
// bytes itemCodec would write for Item.Apply on the decoded row, byte for
// byte. An increment at or before the last one the row applied is a
// redelivery: applyRaw returns row itself and applied false.
//
// On an itemFormat4 or 5 row it merges the increment's partners into each
// sorted count section in one pass (mergeCounts), without building a map,
// copying unchanged entries in runs and the part of a section after the
// last partner without reading it, and trims a section past its threshold
// on the encoded form too (trimSection); it writes itemFormat5. A row of an
// earlier format takes the decoded path once, which rewrites it in
// itemFormat5.
func applyRaw(row []byte, inc *Increment, pos *IncrementPosition, cfg *config) (_ []byte, applied bool, _ error) {
	h, rest, err := readRow(row)
	if err != nil {
		return nil, false, err
	}
	if h.last.applied(pos) {
		return row, false, nil
	}
	if pos != nil {
		h.last = pos
	}
	if len(row) > 0 && row[0] < itemFormat4 {
		out, err := applyDecoded(row, []*Increment{inc}, &h, cfg)
		return out, err == nil, err
	}
	h.apply(inc, cfg)
	out, err := rewriteRow(&h, rest, len(row), inc.With, inc.Basket, cfg)
	return out, err == nil, err
}

// applyBatchRaw returns row with the entries of batch that it has not
// applied yet (their increment set is after the position the row records
// for its source: Item.Sources) applied together (Item.ApplyAll), and how
// many it applied; with none it returns row itself. An entry that
// continues its set (BatchEntry.Continues: a further increment of the
// previous entry's set record) is applied or skipped with that entry; a
// set emitted again has the position of the first, and is skipped even
// right after it in one batch.
func applyBatchRaw(row []byte, batch *IncrementBatch, cfg *config) (_ []byte, applied int, _ error) {
	h, rest, err := readRow(row)
	if err != nil {
		return nil, 0, err
	}
	var buf [16]*Increment
	incs := buf[:0]
	nWith, nBasket := 0, 0
	skip := false // whether the set of the entry is skipped
	for i := range batch.Entries {
		e := &batch.Entries[i]
		if i == 0 || !e.Continues {
			if skip = sourceApplied(h.sources, e.Source); !skip {
				h.sources = advanceSource(h.sources, e.Source)
			}
		}
		if skip {
			continue
		}
		incs = append(incs, &e.Increment)
		nWith += len(e.Increment.With)
		nBasket += len(e.Increment.Basket)
	}
	if len(incs) == 0 {
		return row, 0, nil
	}
	if len(row) > 0 && row[0] < itemFormat4 {
		out, err := applyDecoded(row, incs, &h, cfg)
		return out, len(incs), err
	}
	with, basket := make([]string, 0, nWith), make([]string, 0, nBasket)
	for _, inc := range incs {
		h.apply(inc, cfg)
		with = append(with, inc.With...)
		basket = append(basket, inc.Basket...)
	}
	out, err := rewriteRow(&h, rest, len(row), with, basket, cfg)
	return out, len(incs), err
}

// readRow reads the header of row (itemFormat2 to 5, or empty for a new
// item) and returns it with what follows it.
func readRow(row []byte) (h itemHeader, rest []byte, _ error) {
	if len(row) == 0 {
		return h, nil, nil
	}
	if row[0] < itemFormat2 || row[0] > itemFormat5 {
		return h, nil, errItemRow
	}
	r := itemReader{b: row[1:]}
	h.read(&r, row[0])
	return h, r.b, r.err
}

// rewriteRow returns the itemFormat5 row of h (its increments counted
// already) with the count sections in rest (of an itemFormat4 or 5 row of
// rowLen bytes; none when rowLen is 0) with the partners with and basket
// added (rewriteSection).
func rewriteRow(h *itemHeader, rest []byte, rowLen int, with, basket []string, cfg *config) ([]byte, error) {
	if rowLen == 0 {
		rest = []byte{0, 0, 0, 0} // two empty count sections
	}
	limit := cfg.candidates + cfg.candidates/trimSlack
	out := make([]byte, 0, rowLen+2*binary.MaxVarintLen64+2*sectionGap+64+len(h.productID)+(len(with)+len(basket))*24+
		len(h.sources)*(1+2*binary.MaxVarintLen32))
	out = h.append(out)
	var ok bool
	if out, rest, ok = rewriteSection(out, rest, with, h.productID, cfg.candidates, limit); !ok {
		return nil, errItemRow
	}
	if out, rest, ok = rewriteSection(out, rest, basket, h.productID, cfg.candidates, limit); !ok || len(rest) != 0 {
		return nil, errItemRow
	}
	return out, nil
}

// applyDecoded is applyRaw and applyBatchRaw through the decoded Item:
// incs applied together (Item.ApplyAll), then the row records the
// positions of h.
func applyDecoded(row []byte, incs []*Increment, h *itemHeader, cfg *config) ([]byte, error) {
	it := &Item{}
	if len(row) > 0 {
		v, err := itemCodec{}.Decode(row)
		if err != nil {
			return nil, err
		}
		it = v.(*Item)
	}
	it.ApplyAll(incs, cfg)
	it.Last, it.Sources = h.last, h.sources
	return itemCodec{}.Encode(it)
}

// tally is a partner of an increment and how often it occurs in it.
type tally struct {
	id string
	n  int64
}

// tallies returns ids other than self sorted, each once with its number of
// occurrences, in buf's array when it fits.
func tallies(buf []tally, ids []string, self string) []tally {
	out := buf[:0]
	for _, q := range ids {
		if q != self {
			out = append(out, tally{q, 1})
		}
	}
	if len(out) > 16 {
		slices.SortFunc(out, func(a, b tally) int { return strings.Compare(a.id, b.id) })
	} else {
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && out[j].id < out[j-1].id; j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
	}
	k := 0
	for _, t := range out {
		if k > 0 && out[k-1].id == t.id {
			out[k-1].n++
		} else {
			out[k] = t
			k++
		}
	}
	return out[:k]
}

// rewriteSection appends to out the itemFormat4 count section at the start
// of src with each of ids but self counted once more per occurrence,
// trimmed to max entries when it holds more than limit (and ids is not
// empty: Item.Apply trims a map it adds to). It returns what follows the
// section in src; ok is false when src is not a well-formed section.
func rewriteSection(out, src []byte, ids []string, self string, max, limit int) (_ []byte, rest []byte, ok bool) {
	var count, size uint64
	i := 0
	if count, i = uvarintAt(src, 0); i > 0 {
		size, i = uvarintAt(src, i)
	}
	if i < 0 || size > uint64(len(src)-i) || count > size {
		return out, nil, false
	}
	body, rest := src[i:i+int(size)], src[i+int(size):]
	if len(ids) == 0 {
		return append(out, src[:i+int(size)]...), rest, true
	}
	var buf [24]tally
	add := tallies(buf[:], ids, self)
	at := len(out)
	out = append(out, make([]byte, sectionGap)...)
	out, n, ok := mergeCounts(out, body, int(count), add)
	if !ok {
		return out, nil, false
	}
	if n > limit {
		entries := at + sectionGap
		trimmed, m, ok := trimSection(make([]byte, 0, len(out)-entries), out[entries:], n, max)
		if !ok {
			return out, nil, false
		}
		out, n = append(out[:entries], trimmed...), m
	}
	return closeSection(out, at, n), rest, true
}

// mergeCounts appends to out the entries of body (a section's n front-coded
// entries) with add (sorted, distinct) merged in: the count of an entry in
// add raised, the others inserted in ID order. It returns the new entry
// count; ok is false when the entries read are malformed or out of order.
//
// Entries are copied as they are, in runs, unless their count changes or a
// new entry is inserted just before them (their shared prefix is relative
// to the previous entry); once every partner is merged the rest of body is
// copied without being read. The comparisons use the front coding: with m
// the length of the prefix the next partner shares with the last entry
// read (which sorts before it), an entry sharing more than m with that one
// sorts before the partner and one sharing less after it, so only entries
// sharing exactly m have their rest compared.
func mergeCounts(out, body []byte, n int, add []tally) (_ []byte, count int, ok bool) {
	var idBuf [64]byte
	prev := idBuf[:0] // the ID of the last entry read
	i, run := 0, 0    // the read position; the start of the entries read but not yet copied
	next, m := 0, 0   // the first partner not yet merged; the length of the prefix it shares with prev
	// Whether the last entry written is an inserted partner, which, and
	// the length of the prefix it shares with the entry read after it.
	inserted, lastNew, newShared := false, "", 0
	count = n
	e := 0
	for ; e < n; e++ {
		if next == len(add) { // (inserted is false here: see the end of the loop)
			if n-e > (len(body)-i)/3 { // an entry takes at least three bytes
				return out, 0, false
			}
			out = append(out, body[run:]...)
			return out, count, true
		}
		// Entries sharing more than m with the previous ID sort before
		// the next partner: those whose varints take one byte each (the
		// usual case) are only checked and followed here.
		for e < n && i+2 < len(body) {
			s, rl := int(body[i]), int(body[i+1])
			j := i + 2
			if s <= m || s > len(prev) || (s|rl) >= 0x80 || rl == 0 || j+rl >= len(body) || body[j+rl] >= 0x80 ||
				(s < len(prev) && body[j] <= prev[s]) || s+rl > cap(prev) {
				break
			}
			prev = prev[:s+rl]
			for k, b := range body[j : j+rl] {
				prev[s+k] = b
			}
			i = j + rl + 1
			e++
		}
		if e == n {
			break
		}
		// The three varints of an entry are read inline when they take
		// one byte (the usual case).
		start := i
		var s, rl, u uint64
		if i < len(body) && body[i] < 0x80 {
			s, i = uint64(body[i]), i+1
		} else if s, i = uvarintSlow(body, i); i < 0 {
			return out, 0, false
		}
		if i < len(body) && body[i] < 0x80 {
			rl, i = uint64(body[i]), i+1
		} else if rl, i = uvarintSlow(body, i); i < 0 {
			return out, 0, false
		}
		if s > uint64(len(prev)) || rl > uint64(len(body)-i) {
			return out, 0, false
		}
		suffix := body[i : i+int(rl)]
		i += int(rl)
		if e > 0 && (rl == 0 || (s < uint64(len(prev)) && suffix[0] <= prev[s])) {
			return out, 0, false // not after the previous ID
		}
		if i < len(body) && body[i] < 0x80 {
			u, i = uint64(body[i]), i+1
		} else if u, i = uvarintSlow(body, i); i < 0 {
			return out, 0, false
		}
		c := int64(u >> 1)
		if u&1 != 0 {
			c = ^c
		}
		shared := int(s)
		changed := false
		for next < len(add) {
			t := add[next].id
			var common, order int // the prefix t shares with this entry; t's order relative to it
			switch {
			case shared > m:
				common, order = m, 1
			case shared < m:
				common, order = shared, -1
			default:
				x := commonPrefix(t[m:], suffix)
				common = m + x
				switch {
				case x == len(suffix) && common == len(t):
					order = 0
				case common == len(t):
					order = -1
				case x == len(suffix):
					order = 1
				case t[common] < suffix[x]:
					order = -1
				default:
					order = 1
				}
			}
			if order > 0 {
				m = common
				break
			}
			if order == 0 {
				c += add[next].n
				changed = true
				if next++; next < len(add) {
					m = commonPrefix(add[next].id, t)
				}
				break
			}
			// t goes before this entry.
			out = append(out, body[run:start]...)
			run = start
			if inserted {
				out = appendFrontCoded(out, lastNew, t)
			} else {
				out = appendShared(out, m, t)
			}
			out = binary.AppendVarint(out, add[next].n)
			inserted, lastNew, newShared, changed = true, t, common, true
			count++
			if next++; next < len(add) {
				m = min(m, commonPrefix(t, add[next].id))
			}
		}
		if end := shared + len(suffix); end <= cap(prev) {
			prev = prev[:end]
			for j, b := range suffix { // shorter than a call to memmove
				prev[shared+j] = b
			}
		} else {
			prev = append(prev[:shared], suffix...)
		}
		if changed {
			out = append(out, body[run:start]...)
			if inserted {
				shared = newShared
			}
			out = appendShared(out, shared, prev)
			out = binary.AppendVarint(out, c)
			run = i
		}
		inserted = false
	}
	if i != len(body) {
		return out, 0, false
	}
	out = append(out, body[run:]...)
	for ; next < len(add); next++ {
		if inserted {
			out = appendFrontCoded(out, lastNew, add[next].id)
		} else {
			out = appendFrontCoded(out, prev, add[next].id)
		}
		out = binary.AppendVarint(out, add[next].n)
		inserted, lastNew = true, add[next].id
		count++
	}
	return out, count, true
}

// trimSection appends to out the n front-coded entries of body less the
// smallest counts beyond max, as capCounts drops them (ties: the greatest
// ID first), and returns how many it kept.
func trimSection(out, body []byte, n, max int) (_ []byte, kept int, ok bool) {
	counts := make([]int64, 0, 2*n)
	i := 0
	for range n {
		var rl, u uint64
		if _, i = uvarintAt(body, i); i > 0 {
			rl, i = uvarintAt(body, i)
		}
		if i < 0 || rl > uint64(len(body)-i) {
			return out, 0, false
		}
		if u, i = uvarintAt(body, i+int(rl)); i < 0 {
			return out, 0, false
		}
		c := int64(u >> 1)
		if u&1 != 0 {
			c = ^c
		}
		counts = append(counts, c)
	}
	if i != len(body) {
		return out, 0, false
	}
	// The entries dropped: every count below the threshold and the last
	// (greatest IDs) of those equal to it.
	sorted := append(counts[n:], counts...)
	slices.Sort(sorted)
	threshold := sorted[n-max-1]
	below, _ := slices.BinarySearch(sorted, threshold)
	keepAtThreshold := 0
	for _, c := range sorted[below:] {
		if c != threshold {
			break
		}
		keepAtThreshold++
	}
	keepAtThreshold -= n - max - below
	var curBuf, keptBuf [64]byte
	cur, last := curBuf[:0], keptBuf[:0]
	i = 0
	for _, c := range counts {
		var s, rl uint64
		s, i = uvarintAt(body, i)
		rl, i = uvarintAt(body, i)
		if s > uint64(len(cur)) {
			return out, 0, false
		}
		cur = append(cur[:s], body[i:i+int(rl)]...)
		_, i = uvarintAt(body, i+int(rl))
		if c < threshold {
			continue
		}
		if c == threshold {
			if keepAtThreshold == 0 {
				continue
			}
			keepAtThreshold--
		}
		out = appendFrontCoded(out, last, cur)
		out = binary.AppendVarint(out, c)
		last = append(last[:0], cur...)
		kept++
	}
	return out, kept, true
}

// appendShared appends id front-coded after an ID it shares its first
// shared bytes with.
func appendShared[S ~string | ~[]byte](b []byte, shared int, id S) []byte {
	b = binary.AppendUvarint(b, uint64(shared))
	b = binary.AppendUvarint(b, uint64(len(id)-shared))
	return append(b, id[shared:]...)
}

// commonPrefix returns the length of the prefix a and b share.
func commonPrefix[S ~string | ~[]byte](a string, b S) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// uvarintAt reads the uvarint at b[i:], returning it and the position
// after it, or -1 when b holds none there.
func uvarintAt(b []byte, i int) (uint64, int) {
	if i >= 0 && i < len(b) && b[i] < 0x80 {
		return uint64(b[i]), i + 1
	}
	return uvarintSlow(b, i)
}

func uvarintSlow(b []byte, i int) (uint64, int) {
	if i < 0 || i >= len(b) {
		return 0, -1
	}
	v, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return 0, -1
	}
	return v, i + n
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
