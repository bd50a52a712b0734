package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// An increment set is what the user processor emits on IncrementSetsStream
// for one recorded batch, keyed by user: the batch's increments (one per
// product it touches). Its binary form (incrementSetFormat1), after the
// format byte: a uvarint count, then each increment as a uvarint length and
// its incrementFormat1 encoding without the format byte (appendIncrement).
// The combiner splits a set by reading only the lengths and each
// increment's product ID (splitIncrementSet), without decoding it.
const incrementSetFormat1 = 0x01

// incrementSetCodec is IncrementSetsStream's codec: it encodes a
// []Increment, and decodes into one (tests and tools; the combiner splits
// the bytes instead).
type incrementSetCodec struct{}

// Encode implements goka.Codec.
func (incrementSetCodec) Encode(value any) ([]byte, error) {
	incs, ok := value.([]Increment)
	if !ok {
		return nil, fmt.Errorf("recommendations: increment set codec cannot encode %T", value)
	}
	n := 1 + binary.MaxVarintLen32
	for i := range incs {
		n += binary.MaxVarintLen32 + incrementSize(&incs[i])
	}
	b := make([]byte, 0, n)
	b = append(b, incrementSetFormat1)
	b = binary.AppendUvarint(b, uint64(len(incs)))
	for i := range incs {
		b = appendSized(b, func(b []byte) []byte { return appendIncrement(b, &incs[i]) })
	}
	return b, nil
}

// Decode implements goka.Codec.
func (incrementSetCodec) Decode(data []byte) (any, error) {
	var out []Increment
	err := splitIncrementSet(data, func(_ string, raw []byte) error {
		r := itemReader{b: raw}
		var inc Increment
		if !r.increment(&inc) || len(r.b) != 0 {
			return errIncrement
		}
		out = append(out, inc)
		return nil
	})
	return out, err
}

// appendSized appends what add appends, preceded by its length as a uvarint
// (reserving one byte and moving the bytes when the length takes more).
func appendSized(b []byte, add func([]byte) []byte) []byte {
	at := len(b)
	b = add(append(b, 0))
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	var hdr [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(hdr[:], uint64(n))
	b = append(b, hdr[:w-1]...)
	copy(b[at+w:], b[at+1:at+1+n])
	copy(b[at:], hdr[:w])
	return b
}

// splitIncrementSet calls fn with the product ID and the encoded bytes
// (appendIncrement) of every increment of the set data, in order, without
// decoding the rest of the increment. It stops at fn's first error.
func splitIncrementSet(data []byte, fn func(product string, raw []byte) error) error {
	if len(data) == 0 || data[0] != incrementSetFormat1 {
		return errIncrementSet
	}
	r := itemReader{b: data[1:]}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return errIncrementSet
	}
	for range n {
		raw := r.bytes()
		if r.err != nil {
			return errIncrementSet
		}
		p := itemReader{b: raw}
		id := p.bytes()
		if p.err != nil || len(id) == 0 {
			return errIncrementSet
		}
		if err := fn(string(id), raw); err != nil {
			return err
		}
	}
	if len(r.b) != 0 {
		return errIncrementSet
	}
	return nil
}

// errIncrementSet is returned for an increment set that is truncated or malformed.
var errIncrementSet = errors.New("recommendations: increment set is truncated or malformed")

// IncrementBatch is what the combiner sends the item processor, keyed by
// product: the increments to that product from the increment sets it read
// in one window, in the order it read them, each with its set's position.
type IncrementBatch struct {
	ProductID string
	Entries   []BatchEntry
}

// BatchEntry is one increment of an IncrementBatch.
type BatchEntry struct {
	// Source is the increment set's partition and offset on
	// IncrementSetsStream. The entries of one partition are in offset
	// order, within a batch and across the batches of one product.
	Source    IncrementPosition
	Increment Increment
}

// incrementBatchFormat1 is the first byte of an IncrementBatch record; after
// it: the product ID (uvarint length + bytes), a uvarint entry count, then
// per entry the source partition (uvarint), offset (varint) and increment
// (uvarint length + appendIncrement's bytes, copied from the set).
const incrementBatchFormat1 = 0x01

// batchBuilder accumulates one product's batch record as the combiner reads
// the sets.
type batchBuilder struct {
	entries int
	body    []byte // the entries
}

// add appends an entry whose increment is raw (appendIncrement's bytes).
func (bb *batchBuilder) add(pos IncrementPosition, raw []byte) {
	bb.entries++
	bb.body = binary.AppendUvarint(bb.body, uint64(pos.Partition))
	bb.body = binary.AppendVarint(bb.body, pos.Offset)
	bb.body = binary.AppendUvarint(bb.body, uint64(len(raw)))
	bb.body = append(bb.body, raw...)
}

// record returns the batch record of product.
func (bb *batchBuilder) record(product string) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen32+len(product)+len(bb.body))
	b = append(b, incrementBatchFormat1)
	b = appendString(b, product)
	b = binary.AppendUvarint(b, uint64(bb.entries))
	return append(b, bb.body...)
}

// incrementBatchCodec is IncrementBatchesStream's codec (*IncrementBatch).
type incrementBatchCodec struct{}

// Encode implements goka.Codec.
func (incrementBatchCodec) Encode(value any) ([]byte, error) {
	b, ok := value.(*IncrementBatch)
	if !ok || b == nil {
		return nil, fmt.Errorf("recommendations: increment batch codec cannot encode %T", value)
	}
	var bb batchBuilder
	for i := range b.Entries {
		e := &b.Entries[i]
		bb.add(e.Source, appendIncrement(nil, &e.Increment))
	}
	return bb.record(b.ProductID), nil
}

// Decode implements goka.Codec.
func (incrementBatchCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 || data[0] != incrementBatchFormat1 {
		return nil, errIncrementBatch
	}
	r := itemReader{b: data[1:]}
	b := &IncrementBatch{ProductID: r.str()}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b))/3 { // an entry takes at least three bytes
		return nil, errIncrementBatch
	}
	b.Entries = make([]BatchEntry, n)
	for i := range b.Entries {
		e := &b.Entries[i]
		p := r.uvarint()
		e.Source = IncrementPosition{Partition: int32(p), Offset: r.varint()}
		raw := r.bytes()
		ir := itemReader{b: raw}
		if r.err != nil || p > math.MaxInt32 || !ir.increment(&e.Increment) || len(ir.b) != 0 {
			return nil, errIncrementBatch
		}
	}
	if len(r.b) != 0 {
		return nil, errIncrementBatch
	}
	return b, nil
}

// errIncrementBatch is returned for an increment batch that is truncated or malformed.
var errIncrementBatch = errors.New("recommendations: increment batch is truncated or malformed")
