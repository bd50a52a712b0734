package state

import (
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// writeBuffer holds the writes of a storage without write-ahead log made
// after recovery, the latest per key, until they are written to Pebble in
// one batch together with the latest offset (WithWriteBuffer). A key
// rewritten while buffered costs one map update instead of a memtable
// insert, and one SetOffset per message costs nothing until the flush.
//
// It flushes when the footprint of what it holds reaches limit, or when
// what was written to it since the last flush reaches replayLimit: a
// working set that fits the buffer would otherwise never be flushed, and
// the stored offset would fall ever further behind, so that a crash would
// make goka read an unbounded part of the changelog again.
//
// Readers see buffered writes first, then the ones being flushed, then the
// database, so a read always returns the latest write. Flushes are
// serialized and swap the buffer out under mu, taking the offset with it:
// goka calls SetOffset only after the write it covers, so the offset of a
// flush never runs ahead of its data, and a crash leaves a prefix of the
// writes with an offset that covers no more than that prefix.
type writeBuffer struct {
	limit       uint64 // footprint at which the writer flushes
	replayLimit uint64 // footprint written since the last flush at which the writer flushes

	// flushMu serializes flushes, so batches reach Pebble in write order.
	flushMu sync.Mutex

	mu        sync.RWMutex
	dirty     map[string]bufferedWrite
	flushing  map[string]bufferedWrite // being committed; nil otherwise
	footprint uint64                   // memtable estimate of dirty
	written   uint64                   // memtable estimate of the writes since the last flush
	// offset is the latest SetOffset not yet flushed (hasOffset false:
	// none since the last flush).
	offset    int64
	hasOffset bool

	// commit applies a flush's batch; nil means b.Commit(pebble.NoSync).
	// Tests set it to make a commit fail, which Pebble offers no way to do.
	commit func(b *pebble.Batch) error
}

// bufferedWrite is a pending Set or Delete. value is the slice passed to
// Set, kept without a copy (WithWriteBuffer: callers do not modify it).
type bufferedWrite struct {
	value []byte
	del   bool
}

// writeBufferReplayFactor bounds what a crash makes goka read again: at
// most this many buffer sizes of writes since the last flush (plus the
// memtables Pebble had not flushed, as without the buffer).
const writeBufferReplayFactor = 4

func newWriteBuffer(limit uint64) *writeBuffer {
	return &writeBuffer{limit: limit, replayLimit: writeBufferReplayFactor * limit, dirty: make(map[string]bufferedWrite)}
}

// lookup returns the buffered write of key, if any.
func (w *writeBuffer) lookup(key string) (bufferedWrite, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if e, ok := w.dirty[key]; ok {
		return e, true
	}
	e, ok := w.flushing[key]
	return e, ok
}

// put buffers a write and reports whether the buffer is due for a flush.
func (w *writeBuffer) put(key string, value []byte, del bool) (full bool) {
	e := bufferedWrite{del: del}
	if !del {
		e.value = value
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.dirty[key]; ok {
		w.footprint -= memTableEntrySize(1+len(key), len(old.value))
	}
	size := memTableEntrySize(1+len(key), len(e.value))
	w.dirty[key] = e
	w.footprint += size
	w.written += size
	return w.footprint >= w.limit || w.written >= w.replayLimit
}

// setOffset records the latest offset, written with the next flush.
func (w *writeBuffer) setOffset(off int64) {
	w.mu.Lock()
	w.offset, w.hasOffset = off, true
	w.mu.Unlock()
}

// flush writes the buffered writes and the latest offset to db in one
// batch. The caller keeps the database open (holds store.mu).
func (w *writeBuffer) flush(db *pebble.DB) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	writes, off, hasOff := w.dirty, w.offset, w.hasOffset
	if len(writes) == 0 && !hasOff {
		w.mu.Unlock()
		return nil
	}
	w.flushing = writes
	w.dirty = make(map[string]bufferedWrite, len(writes))
	w.footprint, w.written, w.hasOffset = 0, 0, false
	w.mu.Unlock()

	b := db.NewBatchWithSize(batchSize(writes))
	defer b.Close()
	err := fillBatch(b, writes, off, hasOff)
	if err == nil {
		if w.commit != nil {
			err = w.commit(b)
		} else {
			err = b.Commit(pebble.NoSync)
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		// Nothing was applied: put the writes back under the newer ones,
		// so the next flush retries them.
		for k, e := range writes {
			if _, newer := w.dirty[k]; !newer {
				w.dirty[k] = e
				w.footprint += memTableEntrySize(1+len(k), len(e.value))
			}
		}
		if !w.hasOffset && hasOff {
			w.offset, w.hasOffset = off, true
		}
	}
	w.flushing = nil
	return err
}

// buffered reports the number of buffered writes and their footprint.
func (w *writeBuffer) buffered() (n int, footprint uint64) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.dirty), w.footprint
}

// fillBatch adds writes, and the offset when hasOff, to b. The data keys
// are written into the batch in place (dataKey would allocate each first).
func fillBatch(b *pebble.Batch, writes map[string]bufferedWrite, off int64, hasOff bool) error {
	for k, e := range writes {
		var op *pebble.DeferredBatchOp
		if e.del {
			op = b.DeleteDeferred(1 + len(k))
		} else {
			op = b.SetDeferred(1+len(k), len(e.value))
			copy(op.Value, e.value)
		}
		op.Key[0] = dataPrefix
		copy(op.Key[1:], k)
		if err := op.Finish(); err != nil {
			return err
		}
	}
	if hasOff {
		return b.Set(metaOffsetKey, encodeOffset(off), nil)
	}
	return nil
}

// batchSize is an upper bound of the encoded size of a batch holding writes
// and the offset: the batch header, and per entry a kind byte, two varint
// lengths (at most 5 bytes each while values stay below 4 GiB), the data
// key and the value. Sizing the batch up front spares the copies of its
// doubling growth: a flushed batch is larger than the megabyte that
// Pebble's batch pool keeps.
func batchSize(writes map[string]bufferedWrite) int {
	n := batchHeaderLen + 11 + len(metaOffsetKey) + 8
	for k, e := range writes {
		n += 11 + 1 + len(k) + len(e.value)
	}
	return n
}

// batchHeaderLen is the size of a Pebble batch's header (sequence number
// and count).
const batchHeaderLen = 12
