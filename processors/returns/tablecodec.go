package returns

import (
	"fmt"

	"github.com/shopstream/streams/state/binrow"
)

// returnTableCodec is the return processor's table codec. It writes the
// binary form of a ReturnRecord (rowcodec.go) and reads it and the JSON
// form earlier versions wrote. Decode does not parse: the handlers decode
// the record when they read it (ReturnRecord.load), and the saga timeout
// visitor, which reads every return on each tick, decodes only the status
// and saga.
type returnTableCodec struct{}

// recordValue is the record goka hands a codec, decoded.
func recordValue(value any) (*ReturnRecord, error) {
	switch v := value.(type) {
	case *ReturnRecord:
		if err := v.load(); err != nil {
			return nil, err
		}
		return v, nil
	case ReturnRecord:
		if err := v.load(); err != nil {
			return nil, err
		}
		return &v, nil
	}
	return nil, fmt.Errorf("returns: table codec cannot encode %T", value)
}

// Encode implements goka.Codec: the record's binary form.
func (returnTableCodec) Encode(value any) ([]byte, error) {
	rec, err := recordValue(value)
	if err != nil {
		return nil, err
	}
	return binrow.Encode(rec, func(b []byte, rec *ReturnRecord) ([]byte, error) { return appendReturnRecord(b, rec), nil })
}

// Decode implements goka.Codec: the bytes, to be decoded when read (nil for
// an empty value, a tombstone). The record keeps data without a copy: goka
// hands the codec what the table storage returned (a copy of Pebble's
// bytes, or the bytes goka wrote, which state.CachedBuilder keeps and
// nothing modifies), and decoding copies what it keeps.
func (returnTableCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	return &ReturnRecord{stored: data}, nil
}

// returnViewCodec is the codec of the views of the return table: it
// decodes both forms (and encodes the binary one).
type returnViewCodec struct{}

// Encode implements goka.Codec.
func (returnViewCodec) Encode(value any) ([]byte, error) {
	rec, err := recordValue(value)
	if err != nil {
		return nil, err
	}
	return appendReturnRecord(nil, rec), nil
}

// Decode implements goka.Codec; nil for an empty value (a tombstone).
func (returnViewCodec) Decode(data []byte) (any, error) {
	rec, err := decodeReturnRecord(data)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec, nil
}
