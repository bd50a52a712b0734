package state

import (
	"sync"

	"github.com/lovoo/goka/storage"
)

// cachedStorage keeps, in front of a table partition's storage, the bytes
// last written for each key, so that the read of the next message for the
// same key does not go to Pebble (a processor reads a key's value on every
// message for it, and usually wrote it a moment earlier). It is write-through: every
// write and delete of the partition goes through it (goka owns the storage
// and nothing else writes to it), so a cached value is always the stored
// one. Writes during recovery only invalidate (the cache fills with what
// the processor writes afterwards).
type cachedStorage struct {
	storage.Storage
	max int

	mu        sync.Mutex
	recovered bool
	size      int
	values    map[string][]byte
}

// CachedBuilder wraps the storages sb builds in a write-through cache of
// the bytes last written per key, of at most maxBytes per storage (one
// storage is one table partition; 0 or less: sb unchanged). A processor's
// table is the place for it: goka owns the storage and every write goes
// through the cache, so a cached value is always the stored one. Values
// are the slices goka wrote (never modified by goka or its codecs), so
// they cost the GC nothing to mark.
func CachedBuilder(sb storage.Builder, maxBytes int) storage.Builder {
	if maxBytes <= 0 {
		return sb
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := sb(topic, partition)
		if err != nil {
			return nil, err
		}
		return &cachedStorage{Storage: st, max: maxBytes, values: map[string][]byte{}}, nil
	}
}

// Get implements storage.Storage.
func (s *cachedStorage) Get(key string) ([]byte, error) {
	s.mu.Lock()
	v, ok := s.values[key]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	return s.Storage.Get(key)
}

// Set implements storage.Storage.
func (s *cachedStorage) Set(key string, value []byte) error {
	s.forget(key)
	if err := s.Storage.Set(key, value); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovered || len(value) > s.max {
		return nil
	}
	s.values[key] = value
	s.size += len(value)
	for k, old := range s.values { // over the bound: drop in map order
		if s.size <= s.max {
			break
		}
		if k != key {
			delete(s.values, k)
			s.size -= len(old)
		}
	}
	return nil
}

// Delete implements storage.Storage.
func (s *cachedStorage) Delete(key string) error {
	s.forget(key)
	return s.Storage.Delete(key)
}

// MarkRecovered implements storage.Storage.
func (s *cachedStorage) MarkRecovered() error {
	s.mu.Lock()
	s.recovered = true
	s.mu.Unlock()
	return s.Storage.MarkRecovered()
}

// Close implements storage.Storage.
func (s *cachedStorage) Close() error {
	s.mu.Lock()
	s.values, s.size = map[string][]byte{}, 0
	s.mu.Unlock()
	return s.Storage.Close()
}

func (s *cachedStorage) forget(key string) {
	s.mu.Lock()
	if old, ok := s.values[key]; ok {
		delete(s.values, key)
		s.size -= len(old)
	}
	s.mu.Unlock()
}
