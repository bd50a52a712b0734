package recommendations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kgo"
)

// IncrementSet is what the user processor emits on IncrementSetsStream for
// one recorded batch, keyed by user: the batch's increments (one per
// product it touches) and the position of the input message the batch came
// in (Source), which the increments keep through the combiner to the item
// rows. A message the user processor handles again after a crash (its set
// emitted, its user row's write lost) yields its set again with the same
// Source: the item rows skip it.
type IncrementSet struct {
	// Source is the input message's position; Input SourceSetRecord (the
	// zero value) when the set carries none (then the combiner gives its
	// increments the set record's own position).
	Source     SourcePosition
	Increments []Increment
}

// incrementSetFormat1 is the first byte of an increment set record. After
// it: the source (a uvarint SourceInput; unless it is SourceSetRecord, the
// partition as a uvarint and the offset as a varint), a uvarint increment
// count, then each increment as a uvarint length and its incrementFormat1
// encoding without the format byte (appendIncrement). The combiner splits
// a set by reading only the source, the lengths and each increment's
// product ID (splitIncrementSet), without decoding the increments.
const incrementSetFormat1 = 0x01

// incrementSetCodec is IncrementSetsStream's codec: it encodes an
// *IncrementSet, and decodes into one (tests and tools; the combiner splits
// the bytes instead).
type incrementSetCodec struct{}

// Encode implements goka.Codec.
func (incrementSetCodec) Encode(value any) ([]byte, error) {
	set, ok := value.(*IncrementSet)
	if !ok || set == nil {
		return nil, fmt.Errorf("recommendations: increment set codec cannot encode %T", value)
	}
	if set.Source.Input > maxSourceInput {
		return nil, fmt.Errorf("recommendations: increment set source %d is not an input", set.Source.Input)
	}
	incs := set.Increments
	n := 2 + 3*binary.MaxVarintLen64
	for i := range incs {
		n += binary.MaxVarintLen32 + incrementSize(&incs[i])
	}
	b := make([]byte, 0, n)
	b = append(b, incrementSetFormat1)
	if set.Source.Input == SourceSetRecord {
		b = binary.AppendUvarint(b, uint64(SourceSetRecord))
	} else {
		b = appendSourcePosition(b, set.Source)
	}
	b = binary.AppendUvarint(b, uint64(len(incs)))
	for i := range incs {
		b = appendSized(b, func(b []byte) []byte { return appendIncrement(b, &incs[i]) })
	}
	return b, nil
}

// Decode implements goka.Codec.
func (incrementSetCodec) Decode(data []byte) (any, error) {
	set := &IncrementSet{}
	src, err := splitIncrementSet(data, func(_ string, raw []byte) error {
		r := itemReader{b: raw}
		var inc Increment
		if !r.increment(&inc) || len(r.b) != 0 {
			return errIncrement
		}
		set.Increments = append(set.Increments, inc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	set.Source = src
	return set, nil
}

// appendSourcePosition appends pos: its input (uvarint), partition
// (uvarint) and offset (varint).
func appendSourcePosition(b []byte, pos SourcePosition) []byte {
	b = binary.AppendUvarint(b, uint64(pos.Input))
	b = binary.AppendUvarint(b, uint64(pos.Partition))
	return binary.AppendVarint(b, pos.Offset)
}

// sourcePosition reads what appendSourcePosition appends; an input past
// maxSourceInput or a partition past math.MaxInt32 fails r.
func (r *itemReader) sourcePosition() SourcePosition {
	return r.sourceAfter(r.uvarint())
}

// sourceAfter reads the partition and offset of a source position whose
// input in was read already.
func (r *itemReader) sourceAfter(in uint64) SourcePosition {
	p := r.uvarint()
	pos := SourcePosition{Input: SourceInput(min(in, 0xff)), Partition: int32(min(p, math.MaxInt32)), Offset: r.varint()}
	if in > uint64(maxSourceInput) || p > math.MaxInt32 {
		r.fail()
	}
	return pos
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

// splitIncrementSet returns the source of the set data and calls fn with
// the product ID and the encoded bytes (appendIncrement) of every
// increment of it, in order, without decoding the rest of the increment.
// It stops at fn's first error.
func splitIncrementSet(data []byte, fn func(product string, raw []byte) error) (SourcePosition, error) {
	if len(data) == 0 || data[0] != incrementSetFormat1 {
		return SourcePosition{}, errIncrementSet
	}
	r := itemReader{b: data[1:]}
	var src SourcePosition
	if in := r.uvarint(); in != uint64(SourceSetRecord) {
		src = r.sourceAfter(in)
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return SourcePosition{}, errIncrementSet
	}
	for range n {
		raw := r.bytes()
		if r.err != nil {
			return SourcePosition{}, errIncrementSet
		}
		p := itemReader{b: raw}
		id := p.bytes()
		if p.err != nil || len(id) == 0 {
			return SourcePosition{}, errIncrementSet
		}
		if err := fn(string(id), raw); err != nil {
			return SourcePosition{}, err
		}
	}
	if len(r.b) != 0 {
		return SourcePosition{}, errIncrementSet
	}
	return src, nil
}

// errIncrementSet is returned for an increment set that is truncated or malformed.
var errIncrementSet = errors.New("recommendations: increment set is truncated or malformed")

// IncrementBatch is what the combiner sends the item processor, keyed by
// product: the increments to that product from the increment sets it read
// in one window, in the order it read them, each with its set's source
// position.
type IncrementBatch struct {
	ProductID string
	Entries   []BatchEntry
}

// BatchEntry is one increment of an IncrementBatch.
type BatchEntry struct {
	// Source is the increment set's source position (IncrementSet.Source,
	// or for a set without one its record's position on
	// IncrementSetsStream). The entries of one source are in offset order,
	// within a batch and across the batches of one product, but for a set
	// emitted again, whose entries repeat an earlier position.
	Source SourcePosition
	// Continues is true for a further increment to the product from the
	// set record of the previous entry (the combiner appends a set's
	// increments to a product one after the other): it is applied or
	// skipped with that entry. The first entry of a batch never continues.
	Continues bool
	Increment Increment
}

// incrementBatchFormat1 is the first byte of an IncrementBatch record; after
// it: the product ID (uvarint length + bytes), a uvarint entry count, then
// per entry a byte 1 if it continues the previous entry's set (else 0),
// the source position (appendSourcePosition: input, partition, offset;
// a continuing entry repeats its set's) and the increment (uvarint length
// + appendIncrement's bytes, copied from the set).
const incrementBatchFormat1 = 0x01

// batchBuilder accumulates one product's batch record as the combiner reads
// the sets.
type batchBuilder struct {
	entries int
	body    []byte // the entries
	// last is the set record of the last entry added (by the combiner),
	// so that a further increment of that set continues it.
	last *kgo.Record
}

// add appends an entry whose increment is raw (appendIncrement's bytes).
func (bb *batchBuilder) add(pos SourcePosition, continues bool, raw []byte) {
	bb.entries++
	if continues {
		bb.body = append(bb.body, 1)
	} else {
		bb.body = append(bb.body, 0)
	}
	bb.body = appendSourcePosition(bb.body, pos)
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
		if e.Continues && (i == 0 || b.Entries[i-1].Source != e.Source) {
			return nil, fmt.Errorf("recommendations: increment batch entry %d continues no set at its position", i)
		}
		bb.add(e.Source, e.Continues, appendIncrement(nil, &e.Increment))
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
	if r.err != nil || n > uint64(len(r.b))/5 { // an entry takes at least five bytes
		return nil, errIncrementBatch
	}
	b.Entries = make([]BatchEntry, n)
	for i := range b.Entries {
		e := &b.Entries[i]
		switch r.byte() {
		case 0:
		case 1:
			e.Continues = true
		default:
			r.fail()
		}
		e.Source = r.sourcePosition()
		raw := r.bytes()
		ir := itemReader{b: raw}
		if r.err != nil || !ir.increment(&e.Increment) || len(ir.b) != 0 ||
			(e.Continues && (i == 0 || b.Entries[i-1].Source != e.Source)) {
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
