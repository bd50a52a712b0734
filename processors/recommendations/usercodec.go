package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// userRowCodec is the users table's codec. The user processor decodes and
// re-encodes a whole UserRow on every interaction: as JSON that was most of
// its own CPU. It writes a compact binary form (userFormat1) and reads both
// it and the JSON rows earlier versions wrote (a JSON row is rewritten in
// the binary form by its next change).
//
// userFormat1, after the format byte: user ID, version, interactions,
// last-at; the history (count, then event ID, product ID, type, time per
// entry); the affinities (count, then product ID, score, time, count); the
// purchased set (count, then product ID, time); the seen event IDs (count,
// IDs); then the cache and the command ledger, each as length-prefixed JSON
// (length 0 when empty: an interaction drops the cache, and only commands
// touch the ledger). Strings are a uvarint length and the bytes, integers
// varints, scores 8 bytes IEEE 754 big-endian, times a byte 0 for the zero
// time or 1 and varint Unix nanoseconds (UTC), a type a byte (its index in
// InteractionTypes, or 0xff and the type as a string).
type userRowCodec struct{}

// userFormat1 is the first byte of a binary user row; a JSON row starts
// with '{' (or is "null").
const userFormat1 = 0x01

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
	p := &r.Profile
	n := 64 + len(p.UserID) + len(p.History)*64 + len(p.Affinity)*48 + len(p.Purchased)*32 + len(p.Seen)*40
	b := make([]byte, 0, n)
	b = append(b, userFormat1)
	b = appendString(b, p.UserID)
	b = binary.AppendVarint(b, p.Version)
	b = binary.AppendVarint(b, p.Interactions)
	b = appendTime(b, p.LastAt)
	b = binary.AppendUvarint(b, uint64(len(p.History)))
	for _, h := range p.History {
		b = appendString(b, h.EventID)
		b = appendString(b, h.ProductID)
		b = appendType(b, h.Type)
		b = appendTime(b, h.At)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Affinity)))
	for id, a := range p.Affinity {
		b = appendString(b, id)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(a.Score))
		b = appendTime(b, a.At)
		b = binary.AppendVarint(b, int64(a.Count))
	}
	b = binary.AppendUvarint(b, uint64(len(p.Purchased)))
	for id, at := range p.Purchased {
		b = appendString(b, id)
		b = appendTime(b, at)
	}
	b = appendStrings(b, p.Seen)
	var err error
	if b, err = appendJSON(b, len(p.Cache) > 0, &p.Cache); err != nil {
		return nil, err
	}
	return appendJSON(b, len(r.Commands.Entries) > 0, &r.Commands)
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
	if len(data) == 0 || data[0] != userFormat1 {
		return topics.JSONCodec[UserRow]{}.Decode(data)
	}
	r := userReader{itemReader: itemReader{b: data[1:]}, s: string(data)}
	row := &UserRow{}
	p := &row.Profile
	p.UserID = r.str()
	p.Version = r.varint()
	p.Interactions = r.varint()
	p.LastAt = r.time()
	if n := r.count(3); n > 0 {
		p.History = make([]HistoryEntry, n, n+appendRoom)
		for i := range p.History {
			h := &p.History[i]
			h.EventID = r.str()
			h.ProductID = r.str()
			h.Type = r.interactionType()
			h.At = r.time()
		}
	}
	if n := r.count(10); n > 0 {
		p.Affinity = make(map[string]Affinity, n)
		for range n {
			id := r.str()
			var a Affinity
			a.Score = math.Float64frombits(r.uint64())
			a.At = r.time()
			a.Count = int(r.varint())
			p.Affinity[id] = a
		}
	}
	if n := r.count(2); n > 0 {
		p.Purchased = make(map[string]time.Time, n)
		for range n {
			id := r.str()
			p.Purchased[id] = r.time()
		}
	}
	if n := r.count(1); n > 0 {
		p.Seen = make([]string, n, n+appendRoom)
		for i := range p.Seen {
			p.Seen[i] = r.str()
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
	return row, nil
}

// appendRoom is the spare capacity a decoded row's History and Seen get:
// an event appends one entry to each (an order one per line).
const appendRoom = 4

// userReader reads a binary user row; s is the whole row as a string
// (r.b is always a suffix of it), which str slices instead of copying.
type userReader struct {
	itemReader
	s string
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
