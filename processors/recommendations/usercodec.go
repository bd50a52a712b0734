package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/state/binrow"
	"github.com/shopstream/streams/topics"
)

// userRowCodec is the users table's codec. The user processor decodes and
// re-encodes a whole UserRow on every interaction: as JSON that was most of
// its own CPU. It writes a compact binary form (userFormat2) and reads it,
// userFormat1 and the JSON rows earlier versions wrote (an older row is
// rewritten in the current form by its next change).
//
// userFormat2, after the format byte: user ID, version, interactions,
// last-at; the products of the history, each once in order of appearance
// (count, IDs); the history (count, then per entry the product's position
// in that list, the type, and the time as a delta: appendTimeDelta); the
// affinities (count, then product, score, time, count); the purchased set
// (count, then product, time), their times relative to last-at
// (appendTimeFrom); the seen events (count, then each EventHash
// as 8 bytes big-endian); then the cache and the command ledger, each as
// length-prefixed JSON (length 0 when empty: an interaction drops the
// cache, and only commands touch the ledger). A product of an affinity or
// a purchase is its position in the history's list + 1, or 0 and its ID.
// Strings are a uvarint length and the bytes, integers varints, scores 8
// bytes IEEE 754 big-endian, times a byte 0 for the zero time or 1 and
// varint Unix nanoseconds (UTC), a type a byte (its index in
// InteractionTypes, or 0xff and the type as a string). A user with a full
// history (100 of 100 distinct products, 100 seen events) takes ~5 KB;
// in userFormat1, with UUID event IDs, ~13 KB.
//
// userFormat1 has no product list: an event ID (a string) and the product
// ID before each history entry's type, absolute times, product IDs inline,
// and the seen events as a count and their IDs (strings). Reading it drops
// the history's IDs and hashes the seen ones.
type userRowCodec struct{}

// userFormat1 and userFormat2 are the first byte of a binary user row; a
// JSON row starts with '{' (or is "null").
const (
	userFormat1 = 0x01
	userFormat2 = 0x02
)

// otherType marks an interaction type outside InteractionTypes, written as
// a string after it.
const otherType = 0xff

// errUserRow is returned for a binary user row that is truncated or malformed.
var errUserRow = errors.New("recommendations: users table row is truncated or not a user row")

// Encode implements goka.Codec; it accepts UserRow or *UserRow.
func (userRowCodec) Encode(value any) ([]byte, error) {
	var r *UserRow
	switch v := value.(type) {
	case *UserRow:
		r = v
	case UserRow:
		r = &v
	}
	if r == nil {
		return nil, fmt.Errorf("recommendations: user row codec cannot encode %T", value)
	}
	// at its exact size: the row's bytes are kept by the table's write
	// buffer and cache until the user's next event
	return binrow.Encode(r, appendUserRow)
}

// appendUserRow appends r's binary form to b.
func appendUserRow(b []byte, r *UserRow) ([]byte, error) {
	p := &r.Profile
	d := userRowScratches.Get().(*userRowScratch)
	defer d.release()
	b = append(b, userFormat2)
	b = appendString(b, p.UserID)
	b = binary.AppendVarint(b, p.Version)
	b = binary.AppendVarint(b, p.Interactions)
	b = appendTime(b, p.LastAt)
	// The products of the history, once each, in order of appearance: the
	// history, the affinities and the purchases refer to them by position.
	dict := d.index
	for _, h := range p.History {
		if _, ok := dict[h.ProductID]; !ok {
			dict[h.ProductID] = uint64(len(d.products))
			d.products = append(d.products, h.ProductID)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(d.products)))
	for _, id := range d.products {
		b = appendString(b, id)
	}
	b = binary.AppendUvarint(b, uint64(len(p.History)))
	var prev int64
	for _, h := range p.History {
		b = binary.AppendUvarint(b, dict[h.ProductID])
		b = appendType(b, h.Type)
		b = appendTimeDelta(b, h.At, &prev)
	}
	// affinities and purchases are timed relative to the last interaction
	base := unixNanos(p.LastAt)
	b = binary.AppendUvarint(b, uint64(len(p.Affinity)))
	for id, a := range p.Affinity {
		b = appendProduct(b, id, dict)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(a.Score))
		b = appendTimeFrom(b, a.At, base)
		b = binary.AppendVarint(b, int64(a.Count))
	}
	b = binary.AppendUvarint(b, uint64(len(p.Purchased)))
	for id, at := range p.Purchased {
		b = appendProduct(b, id, dict)
		b = appendTimeFrom(b, at, base)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Seen)))
	for _, h := range p.Seen {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	var err error
	if b, err = appendJSON(b, len(p.Cache) > 0, &p.Cache); err != nil {
		return nil, err
	}
	return appendJSON(b, len(r.Commands.Entries) > 0, &r.Commands)
}

// userRowScratch is what encoding a user row uses and drops: the index of
// the history's products. Every interaction encodes a row, and a fresh map
// of ~100 entries per encode was a third of the encoder's time; they are
// reused through userRowScratches.
type userRowScratch struct {
	index    map[string]uint64
	products []string
}

var userRowScratches = sync.Pool{New: func() any { return &userRowScratch{index: map[string]uint64{}} }}

// release empties d (its map keeps its buckets) and returns it to the pool.
func (d *userRowScratch) release() {
	clear(d.index)
	clear(d.products) // no references to the row's strings left behind
	d.products = d.products[:0]
	userRowScratches.Put(d)
}

// appendProduct appends a reference to a product of dict (its position +
// 1), or 0 and the product ID.
func appendProduct(b []byte, id string, dict map[string]uint64) []byte {
	if i, ok := dict[id]; ok {
		return binary.AppendUvarint(b, i+1)
	}
	return appendString(append(b, 0), id)
}

// appendTimeDelta appends a byte 0 for the zero time, or 1 and the varint
// nanoseconds since *prev (0 before the first), which it then sets to t: a
// history's times, minutes or days apart, take 4-6 bytes instead of 9.
func appendTimeDelta(b []byte, t time.Time, prev *int64) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	ns := t.UnixNano()
	b = binary.AppendVarint(append(b, 1), ns-*prev)
	*prev = ns
	return b
}

// appendTimeFrom appends a byte 0 for the zero time, or 1 and the varint
// nanoseconds from base to t: an affinity's time, relative to the
// profile's last interaction, takes 5-8 bytes instead of 9.
func appendTimeFrom(b []byte, t time.Time, base int64) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano()-base)
}

// unixNanos is t's Unix time in nanoseconds, 0 for the zero time (whose
// UnixNano is undefined).
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

func appendType(b []byte, t InteractionType) []byte {
	for i, k := range InteractionTypes {
		if k == t {
			return append(b, byte(i))
		}
	}
	return appendString(append(b, otherType), string(t))
}

// appendJSON appends v as length-prefixed JSON, or a zero length when !present.
func appendJSON[T any](b []byte, present bool, v *T) ([]byte, error) {
	if !present {
		return append(b, 0), nil
	}
	raw, err := topics.JSONCodec[T]{}.Encode(v)
	if err != nil {
		return nil, err
	}
	return append(binary.AppendUvarint(b, uint64(len(raw))), raw...), nil
}

// Decode implements goka.Codec.
//
// The row's bytes are copied into one string, and every string of the
// profile (IDs, the user ID) is a substring of it: one allocation instead
// of one per string (reading the user row was ~8% of the ingestion
// benchmark's CPU, most of it these allocations). History and Seen get
// room for a few more entries, which the interaction that reads the row
// appends.
func (userRowCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 || (data[0] != userFormat1 && data[0] != userFormat2) {
		return topics.JSONCodec[UserRow]{}.Decode(data)
	}
	v1 := data[0] == userFormat1
	r := userReader{itemReader: itemReader{b: data[1:]}, s: string(data), v1: v1}
	row := takeUserRow()
	p := &row.Profile
	p.UserID = r.str()
	p.Version = r.varint()
	p.Interactions = r.varint()
	p.LastAt = r.time()
	if v1 {
		r.historyV1(p)
		r.affinity(p, nil)
		r.purchased(p, nil)
	} else {
		products := make([]string, r.count(1))
		for i := range products {
			products[i] = r.str()
		}
		if n := r.count(3); n > 0 {
			p.History = sized(p.History, n)
			var prev int64
			for i := range p.History {
				h := &p.History[i]
				if k := r.uvarint(); k < uint64(len(products)) {
					h.ProductID = products[k]
				} else {
					r.fail()
				}
				h.Type = r.interactionType()
				h.At = r.timeDelta(&prev)
			}
		}
		r.affinity(p, products)
		r.purchased(p, products)
	}
	if v1 {
		if n := r.count(1); n > 0 {
			p.Seen = make(SeenEvents, n, n+appendRoom)
			for i := range p.Seen {
				p.Seen[i] = EventHash(r.str())
			}
		}
	} else if n := r.count(8); n > 0 {
		p.Seen = sized(p.Seen, n)
		for i := range p.Seen {
			p.Seen[i] = r.uint64()
		}
	}
	if raw := r.blob(); len(raw) > 0 && r.err == nil {
		c, err := topics.JSONCodec[map[string]CachedList]{}.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: cache: %w", errUserRow, err)
		}
		p.Cache = *c.(*map[string]CachedList)
	}
	if raw := r.blob(); len(raw) > 0 && r.err == nil {
		l, err := topics.JSONCodec[command.Ledger]{}.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: command ledger: %w", errUserRow, err)
		}
		row.Commands = *l.(*command.Ledger)
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errUserRow
	}
	// a released row's containers stay only where the row has entries
	if len(p.History) == 0 {
		p.History = nil
	}
	if len(p.Seen) == 0 {
		p.Seen = nil
	}
	if len(p.Affinity) == 0 {
		p.Affinity = nil
	}
	if len(p.Purchased) == 0 {
		p.Purchased = nil
	}
	return row, nil
}

// historyV1 reads a userFormat1 history: an event ID (dropped) before each
// entry's product ID, absolute times.
func (r *userReader) historyV1(p *Profile) {
	if n := r.count(3); n > 0 {
		p.History = make([]HistoryEntry, n, n+appendRoom)
		for i := range p.History {
			h := &p.History[i]
			r.str() // the event ID
			h.ProductID = r.str()
			h.Type = r.interactionType()
			h.At = r.time()
		}
	}
}

// affinity reads the affinities; with products (userFormat2) each names its
// product as a reference (product).
func (r *userReader) affinity(p *Profile, products []string) {
	base := unixNanos(p.LastAt)
	if n := r.count(10); n > 0 {
		if p.Affinity == nil {
			p.Affinity = make(map[string]Affinity, n)
		}
		for range n {
			id := r.product(products)
			var a Affinity
			a.Score = math.Float64frombits(r.uint64())
			a.At = r.timeFrom(base)
			a.Count = int(r.varint())
			p.Affinity[id] = a
		}
	}
}

func (r *userReader) purchased(p *Profile, products []string) {
	base := unixNanos(p.LastAt)
	if n := r.count(2); n > 0 {
		if p.Purchased == nil {
			p.Purchased = make(map[string]time.Time, n)
		}
		for range n {
			id := r.product(products)
			p.Purchased[id] = r.timeFrom(base)
		}
	}
}

// product reads a product ID: inline in userFormat1, else a reference to
// products (position + 1) or 0 and the ID (appendProduct).
func (r *userReader) product(products []string) string {
	if r.v1 {
		return r.str()
	}
	k := r.uvarint()
	switch {
	case k == 0:
		return r.str()
	case k <= uint64(len(products)):
		return products[k-1]
	default:
		r.fail()
		return ""
	}
}

// timeFrom reads a time: absolute in userFormat1, else what appendTimeFrom
// wrote.
func (r *userReader) timeFrom(base int64) time.Time {
	if r.v1 {
		return r.time()
	}
	if r.byte() != 1 {
		return time.Time{}
	}
	return time.Unix(0, base+r.varint()).UTC()
}

// timeDelta reads what appendTimeDelta wrote.
func (r *itemReader) timeDelta(prev *int64) time.Time {
	if r.byte() != 1 {
		return time.Time{}
	}
	*prev += r.varint()
	return time.Unix(0, *prev).UTC()
}

// userRows holds the rows the user processor has written and drops
// (releaseUserRow): decoding the next row reuses their history and seen
// slices and their affinity and purchase maps. Decoding a full row
// allocated ~24 KB, most of it these, on every interaction.
var userRows sync.Pool

// takeUserRow returns an empty row, with the containers of a released one
// when there is one: empty maps or nil, slices of length 0 or nil.
func takeUserRow() *UserRow {
	if r, ok := userRows.Get().(*UserRow); ok {
		return r
	}
	return &UserRow{}
}

// releaseUserRow gives r's containers to the next decode. The caller must
// not use r, or anything it holds, afterwards: the user processor calls it
// once the row is encoded (SetValue) and its effects are emitted, all of
// which copy what they keep.
func releaseUserRow(r *UserRow) {
	p := &r.Profile
	clear(p.History) // no references to the old row's strings
	h, seen := p.History[:0], p.Seen[:0]
	clear(p.Affinity)
	clear(p.Purchased)
	*r = UserRow{Profile: Profile{History: h, Seen: seen, Affinity: p.Affinity, Purchased: p.Purchased}}
	userRows.Put(r)
}

// sized returns s with length n and room for appendRoom more, reusing its
// array when it has the room.
func sized[S ~[]E, E any](s S, n int) S {
	if cap(s) >= n+appendRoom {
		return s[:n]
	}
	return make(S, n, n+appendRoom)
}

// appendRoom is the spare capacity a decoded row's History and Seen get:
// an event appends one entry to each (an order one per line).
const appendRoom = 4

// userReader reads a binary user row; s is the whole row as a string
// (r.b is always a suffix of it), which str slices instead of copying.
type userReader struct {
	itemReader
	s string
	// v1 is set for a userFormat1 row.
	v1 bool
}

func (r *userReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	off := len(r.s) - len(r.b)
	r.b = r.b[n:]
	return r.s[off : off+int(n)]
}

// count reads an entry count, each entry taking at least min bytes.
func (r *itemReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail()
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *itemReader) time() time.Time {
	if r.byte() != 1 {
		return time.Time{}
	}
	return time.Unix(0, r.varint()).UTC()
}

func (r *itemReader) interactionType() InteractionType {
	k := r.byte()
	if int(k) < len(InteractionTypes) {
		return InteractionTypes[k]
	}
	if k != otherType {
		r.fail()
		return ""
	}
	return InteractionType(r.str())
}

// blob reads length-prefixed bytes without copying them.
func (r *itemReader) blob() []byte { return r.bytes() }
