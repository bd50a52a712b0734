// Package binrow is the binary encoding of table rows: the primitives a
// processor's table codec writes its values with when JSON costs too much
// (a row is decoded and re-encoded on every message for its key, and every
// byte of it goes through Pebble, the changelog topic and every reader).
//
// A row is a sequence of fields in an order the codec fixes; nothing is
// self-describing, so a codec starts its rows with a format byte of its own
// (one that cannot begin a JSON document, so that rows stored as JSON by
// earlier versions are still told apart) and adds fields only at the end
// of a version. Append functions extend a byte slice; a Reader consumes one
// and keeps the first error, so a codec reads every field and checks Err
// once at the end.
//
// Every value reads back exactly: strings byte for byte, decimals with their
// coefficient and exponent (decimal.Decimal's JSON form keeps neither
// trailing zeros nor the exponent), times to the nanosecond with their UTC
// offset (as their RFC 3339 form keeps it; the location's name and the
// monotonic reading are not kept).
package binrow

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"
)

// ErrCorrupt is wrapped by every error a Reader returns: the bytes are not
// what the codec wrote.
var ErrCorrupt = errors.New("binrow: corrupt row")

// AppendUvarint appends v as an unsigned varint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendVarint appends v as a zig-zag varint.
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendBool appends v as one byte.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendBytes appends v with its length.
func AppendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// AppendString appends s with its length.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ID forms (the first byte of an ID).
const (
	idRaw  = 0 // length and bytes
	idUUID = 1 // 16 bytes of a canonical lower-case UUID
	idHex  = 2 // length and bytes of an even-length lower-case hex string
)

// AppendID appends an identifier, in half its size or less when it is a
// canonical lower-case UUID (16 bytes) or a lower-case hex string (a
// digest, an HMAC), as it is otherwise. Any string reads back unchanged.
func AppendID(b []byte, s string) []byte {
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		n := len(b)
		b = append(b, idUUID)
		ok := true
		for i := 0; i < 36 && ok; i += 2 {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				i++ // the dash
			}
			var c byte
			c, ok = hexByte(s[i], s[i+1])
			b = append(b, c)
		}
		if ok {
			return b
		}
		b = b[:n]
	} else if len(s) >= 2 && len(s)%2 == 0 {
		n := len(b)
		b = append(b, idHex)
		b = binary.AppendUvarint(b, uint64(len(s)/2))
		ok := true
		for i := 0; i < len(s) && ok; i += 2 {
			var c byte
			c, ok = hexByte(s[i], s[i+1])
			b = append(b, c)
		}
		if ok {
			return b
		}
		b = b[:n]
	}
	b = append(b, idRaw)
	return AppendString(b, s)
}

// AppendIDs appends a list of identifiers (AppendID each).
func AppendIDs(b []byte, ids []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = AppendID(b, id)
	}
	return b
}

// hexValue maps a lower-case hex digit to its value and anything else to
// 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// hexByte decodes two lower-case hex digits.
func hexByte(hi, lo byte) (byte, bool) {
	h, l := hexValue[hi], hexValue[lo]
	return h<<4 | l, h < 16 && l < 16
}

// Decimal forms (the first byte of a decimal).
const (
	decSmall = 0 // exponent, coefficient as a varint
	decBig   = 1 // exponent, sign, coefficient's magnitude as bytes
)

// AppendDecimal appends d exactly: its exponent and coefficient.
func AppendDecimal(b []byte, d decimal.Decimal) []byte {
	if d.NumDigits() <= 18 {
		b = append(b, decSmall)
		b = binary.AppendVarint(b, int64(d.Exponent()))
		return binary.AppendVarint(b, d.CoefficientInt64())
	}
	c := d.Coefficient()
	b = append(b, decBig)
	b = binary.AppendVarint(b, int64(d.Exponent()))
	b = AppendBool(b, c.Sign() < 0)
	return AppendBytes(b, c.Bytes())
}

// AppendTime appends t: seconds and nanoseconds since the Unix epoch and
// the offset from UTC in seconds.
func AppendTime(b []byte, t time.Time) []byte {
	_, off := t.Zone()
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(off))
}

// Reader reads the fields of a row in the order they were appended. After
// the first error every read returns a zero value and Err reports it.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader reads b (which the Reader does not copy: strings and IDs it
// returns are copies, Bytes are not).
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first error a read met, wrapping ErrCorrupt.
func (r *Reader) Err() error { return r.err }

// Len is how many bytes are left to read.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Done checks that the whole row was read: trailing bytes are an error.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d bytes after the last field", len(r.b)-r.off)
	}
	return r.err
}

// Failf fails the read with a reason of the codec's own (a field that
// reads but does not make sense), unless an earlier error is already there.
func (r *Reader) Failf(format string, args ...any) { r.fail(format, args...) }

func (r *Reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, fmt.Sprintf(format, args...), r.off)
	}
	r.off = len(r.b)
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// Bool reads a bool.
func (r *Reader) Bool() bool {
	switch r.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("not a bool")
	return false
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

// Varint reads a zig-zag varint.
func (r *Reader) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// Count reads a length or a count that must fit in what is left of the
// row, each element taking at least minSize bytes: a corrupt count fails
// here instead of making the codec allocate for it.
func (r *Reader) Count(minSize int) int {
	n := r.Uvarint()
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(r.Len()/minSize) {
		r.fail("count %d exceeds the row", n)
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte slice, not copied: it aliases the row.
func (r *Reader) Bytes() []byte {
	n := r.Count(1)
	if r.err != nil {
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

// String reads a length-prefixed string.
func (r *Reader) String() string { return string(r.Bytes()) }

// Intern reads a length-prefixed string, without allocating when it is one
// of known (an enumeration's values: a status, a type, a currency).
func (r *Reader) Intern(known ...string) string {
	b := r.Bytes()
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// ID reads what AppendID wrote.
func (r *Reader) ID() string {
	switch form := r.Byte(); form {
	case idRaw:
		return r.String()
	case idUUID:
		if r.Len() < 16 {
			r.fail("short UUID")
			return ""
		}
		u := r.b[r.off : r.off+16]
		r.off += 16
		s := make([]byte, 36)
		hex.Encode(s[0:8], u[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], u[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], u[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], u[8:10])
		s[23] = '-'
		hex.Encode(s[24:], u[10:])
		return unsafe.String(&s[0], len(s)) // s is never written again
	case idHex:
		v := r.Bytes()
		if len(v) == 0 {
			if r.err == nil {
				r.fail("empty hex ID")
			}
			return ""
		}
		s := make([]byte, 2*len(v))
		hex.Encode(s, v)
		return unsafe.String(&s[0], len(s)) // s is never written again
	default:
		if r.err == nil {
			r.fail("unknown ID form %d", form)
		}
		return ""
	}
}

// SkipID reads past what AppendID wrote, failing where ID would, without
// building the string.
func (r *Reader) SkipID() {
	switch form := r.Byte(); form {
	case idRaw:
		r.Bytes()
	case idUUID:
		if r.Len() < 16 {
			r.fail("short UUID")
			return
		}
		r.off += 16
	case idHex:
		if v := r.Bytes(); len(v) == 0 && r.err == nil {
			r.fail("empty hex ID")
		}
	default:
		if r.err == nil {
			r.fail("unknown ID form %d", form)
		}
	}
}

// IDs reads what AppendIDs wrote (nil for an empty list).
func (r *Reader) IDs() []string {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = r.ID()
	}
	return ids
}

// Decimal reads what AppendDecimal wrote.
func (r *Reader) Decimal() decimal.Decimal {
	form := r.Byte()
	exp := r.Varint()
	if r.err == nil && (exp < math.MinInt32 || exp > math.MaxInt32) {
		r.fail("decimal exponent %d out of range", exp)
	}
	switch form {
	case decSmall:
		c := r.Varint()
		if r.err != nil {
			return decimal.Decimal{}
		}
		return decimal.New(c, int32(exp))
	case decBig:
		neg := r.Bool()
		mag := r.Bytes()
		if r.err != nil {
			return decimal.Decimal{}
		}
		c := new(big.Int).SetBytes(mag)
		if neg {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(exp))
	}
	if r.err == nil {
		r.fail("unknown decimal form %d", form)
	}
	return decimal.Decimal{}
}

// Time reads what AppendTime wrote: in UTC when its offset was 0, in a
// fixed zone of that offset otherwise.
func (r *Reader) Time() time.Time {
	sec := r.Varint()
	nsec := r.Uvarint()
	off := r.Varint()
	if r.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 || off <= -86400 || off >= 86400 {
		r.fail("bad time")
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}
