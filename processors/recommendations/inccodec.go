package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopstream/streams/topics"
)

// incrementCodec is the increments topic's codec. It writes a compact
// binary form (incrementFormat1) and reads both it and the JSON increments
// earlier versions wrote, so a topic holding both is consumed as it is.
//
// incrementFormat1, after the format byte: product ID (uvarint length +
// bytes), weight (8 bytes, IEEE 754 big-endian), time (a byte 0 when zero,
// else 1 and varint Unix nanoseconds), flags (bit 0 new user, bit 1 order),
// then With and Basket, each a uvarint count of length-prefixed product IDs.
type incrementCodec struct{}

// incrementFormat1 is the first byte of a binary increment; a JSON one
// starts with '{' (or is "null").
const incrementFormat1 = 0x01

const (
	incNewUser = 1 << iota
	incOrder
)

// Encode implements goka.Codec; it accepts Increment or *Increment.
func (incrementCodec) Encode(value any) ([]byte, error) {
	var inc *Increment
	switch v := value.(type) {
	case *Increment:
		inc = v
	case Increment:
		inc = &v
	}
	if inc == nil {
		return nil, fmt.Errorf("recommendations: increment codec cannot encode %T", value)
	}
	b := make([]byte, 0, 1+incrementSize(inc))
	b = append(b, incrementFormat1)
	return appendIncrement(b, inc), nil
}

// incrementSize estimates the bytes appendIncrement appends for inc.
func incrementSize(inc *Increment) int {
	n := 32 + len(inc.ProductID)
	for _, q := range inc.With {
		n += len(q) + 2
	}
	for _, q := range inc.Basket {
		n += len(q) + 2
	}
	return n
}

// appendIncrement appends inc in incrementFormat1 without the format byte.
func appendIncrement(b []byte, inc *Increment) []byte {
	b = appendString(b, inc.ProductID)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(inc.Weight))
	if inc.At.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, inc.At.UnixNano())
	}
	var flags byte
	if inc.NewUser {
		flags |= incNewUser
	}
	if inc.Order {
		flags |= incOrder
	}
	b = append(b, flags)
	b = appendStrings(b, inc.With)
	return appendStrings(b, inc.Basket)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// Decode implements goka.Codec.
func (incrementCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 || data[0] != incrementFormat1 {
		return topics.JSONCodec[Increment]{}.Decode(data)
	}
	r := itemReader{b: data[1:]}
	var inc Increment
	if !r.increment(&inc) || len(r.b) != 0 {
		return nil, errIncrement
	}
	return &inc, nil
}

// increment reads an increment appendIncrement wrote into inc; it returns
// false when it is truncated or malformed.
func (r *itemReader) increment(inc *Increment) bool {
	inc.ProductID = r.str()
	inc.Weight = math.Float64frombits(r.uint64())
	if r.byte() == 1 {
		inc.At = time.Unix(0, r.varint()).UTC()
	}
	flags := r.byte()
	inc.NewUser = flags&incNewUser != 0
	inc.Order = flags&incOrder != 0
	inc.With = r.strs()
	inc.Basket = r.strs()
	return r.err == nil && flags&^(incNewUser|incOrder) == 0
}

// errIncrement is returned for a binary increment that is truncated or malformed.
var errIncrement = errors.New("recommendations: increment is truncated or malformed")

func (r *itemReader) strs() []string {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) { // every ID takes at least one byte
		r.fail()
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}
