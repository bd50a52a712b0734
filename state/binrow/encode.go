package binrow

import (
	"bytes"
	"sync"
)

// Encode returns the row appendRow appends for v, built in a pooled buffer
// and copied out at its exact size. A table's write buffer and cache keep
// the bytes a codec returns until the key's next write, so a buffer sized
// by an estimate would keep its spare capacity that long; building in a
// reused buffer costs one copy instead. Buffers over 1 MiB (a rare huge
// row) are not kept.
func Encode[T any](v T, appendRow func(b []byte, v T) ([]byte, error)) ([]byte, error) {
	bp := rowBuffers.Get().(*[]byte)
	b, err := appendRow((*bp)[:0], v)
	var out []byte
	if err == nil {
		out = bytes.Clone(b)
	}
	if cap(b) <= 1<<20 {
		*bp = b[:0]
		rowBuffers.Put(bp)
	}
	return out, err
}

var rowBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}
