package state

import (
	"bytes"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// newIterator creates an iterator over the user keys in [lower, upper)
// (both including the data tag). Pending recovery writes and buffered
// writes are committed first so that the iterator's snapshot contains
// everything written so far.
func (s *store) newIterator(op string, lower, upper []byte) (storage.Iterator, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, opErr(op, s.path, "", ErrClosed)
	}
	if s.batch == nil || (s.batch.Empty() && !s.offsetPending) {
		defer s.mu.RUnlock()
		if s.wb != nil {
			// The iterator's snapshot must hold the buffered writes.
			if err := s.wb.flush(s.db); err != nil {
				return nil, opErr(op, s.path, "", err)
			}
		}
		return s.openIterLocked(op, lower, upper)
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, opErr(op, s.path, "", ErrClosed)
	}
	if s.batch != nil {
		if err := s.commitLocked(op, pebble.NoSync, true); err != nil {
			return nil, err
		}
	}
	return s.openIterLocked(op, lower, upper)
}

// openIterLocked requires s.mu held (shared or exclusive) and s open.
func (s *store) openIterLocked(op string, lower, upper []byte) (storage.Iterator, error) {
	it := &iterator{}
	if bytes.Compare(lower, upper) >= 0 {
		// Empty range (limit <= start): nothing to iterate, like goleveldb.
		it.eoi = true
		return it, nil
	}
	pit, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, opErr(op, s.path, "", err)
	}
	it.it = pit
	it.st = s
	s.itersMu.Lock()
	s.iters[it] = struct{}{}
	s.itersMu.Unlock()
	return it, nil
}

// iterator implements storage.Iterator on a Pebble iterator with goleveldb
// positioning semantics (see the package documentation). Its mutex makes
// Close of the storage safe against concurrent use of the iterator; a single
// iterator is still meant to be used by one goroutine at a time.
type iterator struct {
	mu      sync.Mutex
	st      *store           // nil for an empty-range iterator
	it      *pebble.Iterator // nil once released or for an empty range
	started bool             // Next or Seek has been called
	eoi     bool             // exhausted: Next returns false until a Seek
	err     error            // set when released
}

// Next moves to the next pair (to the first one on a fresh iterator) and
// reports whether it exists.
func (i *iterator) Next() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil || i.eoi {
		return false
	}
	var ok bool
	if !i.started {
		i.started = true
		ok = i.it.First()
	} else {
		ok = i.it.Next()
	}
	i.eoi = !ok
	return ok
}

// Seek positions the iterator on the first pair whose key is >= key and
// reports whether it exists. Key and Value return that pair right away;
// Next moves past it.
func (i *iterator) Seek(key []byte) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return false
	}
	i.started = true
	k := make([]byte, 0, 1+len(key))
	k = append(append(k, dataPrefix), key...)
	ok := i.it.SeekGE(k)
	i.eoi = !ok
	return ok
}

func (i *iterator) positionedLocked() bool {
	return i.it != nil && i.started && !i.eoi && i.it.Valid()
}

// Key returns the current key without the key-space tag, or nil if the
// iterator is not positioned on a pair. The slice is only valid until the
// next call that moves the iterator.
func (i *iterator) Key() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.positionedLocked() {
		return nil
	}
	return i.it.Key()[1:]
}

// Value returns the current value, or nil if the iterator is not positioned
// on a pair. The slice is only valid until the next call that moves the
// iterator.
func (i *iterator) Value() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.positionedLocked() {
		return nil, nil
	}
	v, err := i.it.ValueAndErr()
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = present
	}
	return v, nil
}

// Err returns the error that stopped the iteration, ErrIteratorReleased
// after Release, or an error matching ErrClosed if the storage was closed.
func (i *iterator) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return i.err
	}
	if i.it == nil {
		return nil
	}
	return i.it.Error()
}

// Release releases the iterator; it is idempotent.
func (i *iterator) Release() {
	if i.release(ErrIteratorReleased) {
		i.st.itersMu.Lock()
		delete(i.st.iters, i)
		i.st.itersMu.Unlock()
	}
}

// release closes the Pebble iterator and records why. It reports whether the
// iterator was still registered with its storage.
func (i *iterator) release(reason error) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return false
	}
	if reason == ErrClosed {
		i.err = opErr("iterate", i.st.path, "", ErrClosed)
	} else {
		i.err = reason
	}
	if i.it == nil {
		return false
	}
	_ = i.it.Close() // Errors were reported through Err already.
	i.it = nil
	return i.st != nil
}
