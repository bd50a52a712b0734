package topics

import (
	"encoding/json"
	"fmt"
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
type JSONCodec[T any] struct{}

// Encode implements goka.Codec; it accepts T or *T.
func (JSONCodec[T]) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *T:
		return json.Marshal(v)
	case T:
		return json.Marshal(&v)
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
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("topics: decoding %T: %w", *v, err)
	}
	return v, nil
}
