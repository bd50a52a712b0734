package topics

import (
	"fmt"
	"sync"

	sjson "github.com/segmentio/encoding/json"
)

// BytesCodec is goka's codec for raw record values. Processors read their
// inputs with it and decode inside the callback, because a goka codec that
// fails to decode stops the processor, whereas a callback can dead-letter the
// record and go on.
type BytesCodec struct{}

// Encode implements goka.Codec.
func (BytesCodec) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case []byte:
		return v, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("topics: BytesCodec cannot encode %T", value)
	}
}

// Decode implements goka.Codec.
func (BytesCodec) Decode(data []byte) (any, error) { return data, nil }

// EnvelopeCodec is goka's codec for an *Envelope, for emitting.
type EnvelopeCodec struct{}

// Encode implements goka.Codec.
func (EnvelopeCodec) Encode(value any) ([]byte, error) {
	e, ok := value.(*Envelope)
	if !ok {
		return nil, fmt.Errorf("topics: EnvelopeCodec cannot encode %T", value)
	}
	return e.Encode()
}

// Decode implements goka.Codec; it validates the envelope.
func (EnvelopeCodec) Decode(data []byte) (any, error) { return DecodeEnvelope(data) }

// JSONCodec is goka's codec for a table or topic holding *T as JSON.
// Decoding a value that is not JSON for T is an error: a table written only
// by our own processor never holds one.
//
// It encodes and decodes with github.com/segmentio/encoding/json, a drop-in
// for encoding/json (same tags, Marshaler/Unmarshaler, RawMessage, output
// encoding/json reads) that is several times faster on our state values: a
// table value is decoded and re-encoded whole on every message, and was
// the largest CPU cost of the gift card and returns processors. Encoding
// trusts json.RawMessage fields (no re-validation and compaction): ours are
// always produced by a JSON encoder or decoder.
type JSONCodec[T any] struct{}

// jsonEncodeFlags match encoding/json's Marshal (sorted map keys), except
// that json.RawMessage values are copied as they are and <, > and & are not
// escaped as \u003c, \u003e and \u0026: nothing reads these records as
// HTML, and with HTML escaping every raw message (an envelope's payload, a
// result) would be scanned and re-escaped on each encode (~4% of the gift
// card benchmark's CPU). The HTTP edge encodes its responses itself.
const jsonEncodeFlags = sjson.SortMapKeys | sjson.TrustRawMessage

var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// marshalJSON encodes v into a pooled buffer and returns a copy of exactly
// the encoded size.
func marshalJSON(v any) ([]byte, error) {
	bp := jsonBuffers.Get().(*[]byte)
	b, err := sjson.Append((*bp)[:0], v, jsonEncodeFlags)
	var out []byte
	if err == nil {
		out = append([]byte(nil), b...)
	}
	if cap(b) <= 1<<20 { // do not keep huge buffers
		*bp = b
		jsonBuffers.Put(bp)
	}
	return out, err
}

// Encode implements goka.Codec; it accepts T or *T.
func (JSONCodec[T]) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *T:
		return marshalJSON(v)
	case T:
		return marshalJSON(&v)
	default:
		return nil, fmt.Errorf("topics: JSONCodec[%T] cannot encode %T", *new(T), value)
	}
}

// Decode implements goka.Codec; it returns *T, or nil for an empty value
// (a tombstone).
func (JSONCodec[T]) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	v := new(T)
	if err := sjson.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("topics: decoding %T: %w", *v, err)
	}
	return v, nil
}
