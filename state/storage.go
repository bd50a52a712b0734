package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// Key-space tags; see the package documentation.
const (
	metaPrefix byte = 0x00
	dataPrefix byte = 0x01
)

// metaOffsetKey holds goka's local offset (8-byte big-endian int64).
var metaOffsetKey = []byte{metaPrefix, 'o', 'f', 'f', 's', 'e', 't'}

// store implements storage.Storage on one Pebble database.
type store struct {
	path  string
	cfg   config
	db    *pebble.DB
	cache *sharedCache // released on Close; nil if the DB owns its cache

	// mu guards closed and batch. Readers and post-recovery writes (which go
	// straight to the concurrency-safe Pebble DB) hold it shared; anything
	// touching the recovery batch, MarkRecovered and Close hold it
	// exclusively.
	mu     sync.RWMutex
	closed bool
	// batch collects writes until MarkRecovered; nil afterwards.
	batch *pebble.Batch
	// offsetPending is set when offset has not been written to the batch yet.
	offsetPending bool
	// batchFootprint estimates the memtable space the batch will take;
	// the batch is committed before it reaches maxBatchFootprint.
	batchFootprint    uint64
	maxBatchFootprint uint64

	// offset and hasOffset mirror the latest SetOffset (or the stored offset
	// at open), so GetOffset never reads the database. Written by the single
	// writer only.
	offset    atomic.Int64
	hasOffset atomic.Bool

	// events counts the Pebble events an operator acts on (storeEvents).
	events *storeEvents

	// wb buffers the writes after recovery of a storage without
	// write-ahead log (WithWriteBuffer); nil otherwise.
	wb *writeBuffer

	// itersMu guards iters, the iterators to release on Close. It is never
	// held while acquiring an iterator's mutex.
	itersMu sync.Mutex
	iters   map[*iterator]struct{}
}

var _ storage.Storage = (*store)(nil)

// Open opens (creating it if necessary) the Pebble database in directory
// path and returns it as a goka storage. The database is locked until the
// storage is closed.
func Open(path string, opts ...Option) (storage.Storage, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return open(path, cfg, nil)
}

// open opens the database in path. With a non-nil cache, the database uses
// the shared cache, and the store releases it when closed.
func open(path string, cfg config, cache *sharedCache) (_ *store, err error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrInvalidConfig)
	}
	var pc *pebble.Cache
	if cache != nil {
		pc = cache.acquire()
		defer func() {
			if err != nil {
				cache.release()
			}
		}()
	}
	po := cfg.pebbleOptions(pc)
	events := newStoreEvents(path, cfg.logger)
	var other pebble.EventListener
	if po.EventListener != nil {
		other = *po.EventListener
	}
	listener := events.listener(other)
	po.EventListener = &listener
	if po.Experimental.CompactionScheduler == nil {
		// One periodic granter for all databases instead of a 100 ms ticker
		// each (compactionScheduler).
		sched := compactions.newDB()
		po.Experimental.CompactionScheduler = sched
		defer func() {
			if err != nil {
				sched.abandon()
			}
		}()
	}
	// pebble.Open creates the directory (on the configured vfs.FS).
	db, err := pebble.Open(path, po)
	if err != nil {
		return nil, opErr("open", path, "", err)
	}
	s := &store{
		path:              path,
		cfg:               cfg,
		db:                db,
		cache:             cache,
		iters:             make(map[*iterator]struct{}),
		maxBatchFootprint: maxBatchFootprint(cfg.memTableSize),
		events:            events,
	}
	off, ok, err := s.readOffset()
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if ok {
		s.offset.Store(off)
		s.hasOffset.Store(true)
	}
	if cfg.withoutWAL && cfg.writeBufferBytes > 0 {
		s.wb = newWriteBuffer(uint64(cfg.writeBufferBytes))
	}
	// The first recovery batch starts small and grows with what recovery
	// writes: most stores of a processor recover little or nothing, and a
	// full-size buffer per store (4 MiB by default) made the start of a
	// process with many partitions allocate hundreds of megabytes at once.
	// A recovery that fills it gets full-size batches from then on.
	s.batch = s.db.NewIndexedBatch()
	openStores.Store(s, struct{}{})
	return s, nil
}

// newBatch returns an empty recovery batch, its buffer sized for the
// expected commit point (a batch's encoding is smaller than its footprint).
func (s *store) newBatch() *pebble.Batch {
	size := min(uint64(s.cfg.recoveryBatchBytes), s.maxBatchFootprint)
	return s.db.NewIndexedBatchWithSize(int(size))
}

func (s *store) readOffset() (int64, bool, error) {
	v, closer, err := s.db.Get(metaOffsetKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, opErr("read-offset", s.path, "", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, opErr("read-offset", s.path, "",
			fmt.Errorf("%w: %d bytes, want 8", ErrCorruptOffset, len(v)))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// memTableEntryOverhead approximates what Pebble adds to key and value when
// it sizes a batch for its memtable (arenaskl.MaxNodeSize: a node with a full
// 20-level tower, the 8-byte key trailer and alignment padding).
const memTableEntryOverhead = 200

func memTableEntrySize(keyLen, valueLen int) uint64 {
	return uint64(keyLen + valueLen + memTableEntryOverhead)
}

// maxBatchFootprint keeps recovery batches well below Pebble's large-batch
// threshold (half the memtable size, by the same estimate). Larger batches
// are not inserted into the memtable but queued as their own flushable,
// which forces a memtable rotation and an L0 table per batch; with small
// values the 4 MiB default batch would cross a 16 MiB memtable's threshold.
func maxBatchFootprint(memTableSize uint64) uint64 {
	return memTableSize * 3 / 8
}

func encodeOffset(off int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(off))
}

func dataKey(key string) []byte {
	k := make([]byte, 1+len(key))
	k[0] = dataPrefix
	copy(k[1:], key)
	return k
}

// Open implements storage.Storage. The database is already open once Open
// (the package function) or the builder returned, so this only reports
// ErrClosed for a closed storage.
func (s *store) Open() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return opErr("open", s.path, "", ErrClosed)
	}
	return nil
}

// Has implements storage.Storage.
func (s *store) Has(key string) (bool, error) {
	v, err := s.get("has", key, false)
	return v != nil, err
}

// Get implements storage.Storage. It returns nil, nil for a missing key; the
// returned slice is a copy owned by the caller.
func (s *store) Get(key string) ([]byte, error) {
	return s.get("get", key, true)
}

// get returns the value (a non-nil empty slice for an empty value) or nil if
// the key does not exist. Without copyValue, the returned slice is only a
// presence marker.
func (s *store) get(op, key string, copyValue bool) ([]byte, error) {
	k := dataKey(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, opErr(op, s.path, key, ErrClosed)
	}
	if s.wb != nil {
		if e, ok := s.wb.lookup(key); ok {
			switch {
			case e.del:
				return nil, nil
			case copyValue:
				return append(make([]byte, 0, len(e.value)), e.value...), nil
			default:
				return present, nil
			}
		}
	}
	var (
		v      []byte
		closer interface{ Close() error }
		err    error
	)
	if s.batch != nil {
		v, closer, err = s.batch.Get(k)
	} else {
		v, closer, err = s.db.Get(k)
	}
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, opErr(op, s.path, key, err)
	}
	var out []byte
	if copyValue {
		out = append(make([]byte, 0, len(v)), v...)
	} else {
		out = present
	}
	if err := closer.Close(); err != nil {
		return nil, opErr(op, s.path, key, err)
	}
	return out, nil
}

var present = []byte{}

// Set implements storage.Storage. A nil value is stored as an empty value.
func (s *store) Set(key string, value []byte) error {
	return s.write("set", key, value, false)
}

// Delete implements storage.Storage. Deleting a missing key is not an error.
func (s *store) Delete(key string) error {
	return s.write("delete", key, nil, true)
}

func (s *store) write(op, key string, value []byte, del bool) error {
	k := dataKey(key)

	// Fast path after recovery: write through to the database, which is safe
	// for concurrent use; the shared lock only keeps Close out.
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return opErr(op, s.path, key, ErrClosed)
	}
	if s.batch == nil {
		defer s.mu.RUnlock()
		if s.wb != nil {
			if s.wb.put(key, value, del) {
				return opErr(op, s.path, key, s.wb.flush(s.db))
			}
			return nil
		}
		var err error
		if del {
			err = s.db.Delete(k, pebble.NoSync)
		} else {
			err = s.db.Set(k, value, pebble.NoSync)
		}
		return opErr(op, s.path, key, err)
	}
	s.mu.RUnlock()

	// Recovery: append to the batch under the exclusive lock so that
	// concurrent readers of the indexed batch never race with this write.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return opErr(op, s.path, key, ErrClosed)
	}
	if s.batch == nil { // MarkRecovered ran in between.
		var err error
		if del {
			err = s.db.Delete(k, pebble.NoSync)
		} else {
			err = s.db.Set(k, value, pebble.NoSync)
		}
		return opErr(op, s.path, key, err)
	}
	var err error
	if del {
		err = s.batch.Delete(k, nil)
	} else {
		err = s.batch.Set(k, value, nil)
	}
	if err != nil {
		return opErr(op, s.path, key, err)
	}
	s.batchFootprint += memTableEntrySize(len(k), len(value))
	if s.batch.Len() >= s.cfg.recoveryBatchBytes ||
		int(s.batch.Count()) >= s.cfg.recoveryBatchOps ||
		s.batchFootprint >= s.maxBatchFootprint {
		return s.commitLocked(op, pebble.NoSync, true)
	}
	return nil
}

// commitLocked commits the recovery batch, adding the pending offset to it
// first so that data and the offset covering it are applied atomically. With
// renew a fresh batch replaces the committed one; otherwise batch becomes nil.
// With sync the write-ahead log is synced even if the batch is empty.
// Requires s.mu held exclusively and s.batch != nil.
func (s *store) commitLocked(op string, wo *pebble.WriteOptions, renew bool) error {
	b := s.batch
	if s.offsetPending {
		if err := b.Set(metaOffsetKey, encodeOffset(s.offset.Load()), nil); err != nil {
			return opErr(op, s.path, "", err)
		}
		s.offsetPending = false
	}
	var err error
	switch {
	case !b.Empty():
		err = b.Commit(s.writeOptions(wo))
	case wo.Sync && !s.cfg.withoutWAL:
		err = s.db.LogData(nil, pebble.Sync)
	}
	if err != nil {
		// The batch is left in place: it has not been applied.
		return opErr(op, s.path, "", err)
	}
	_ = b.Close() // Only fails for a batch closed twice.
	s.batch = nil
	s.batchFootprint = 0
	if renew {
		s.batch = s.newBatch()
	}
	return nil
}

// writeOptions returns wo, or pebble.NoSync when the database has no
// write-ahead log to sync.
func (s *store) writeOptions(wo *pebble.WriteOptions) *pebble.WriteOptions {
	if s.cfg.withoutWAL {
		return pebble.NoSync
	}
	return wo
}

// GetOffset implements storage.Storage. It returns def only if no offset has
// ever been stored; before MarkRecovered it reflects the latest SetOffset
// even if that has not been committed yet.
func (s *store) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, opErr("get-offset", s.path, "", ErrClosed)
	}
	if !s.hasOffset.Load() {
		return def, nil
	}
	return s.offset.Load(), nil
}

// SetOffset implements storage.Storage. Before MarkRecovered the offset is
// committed together with the pending batch; afterwards it is written
// directly (without fsync).
func (s *store) SetOffset(offset int64) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return opErr("set-offset", s.path, "", ErrClosed)
	}
	if s.batch == nil {
		var err error
		if s.wb != nil {
			s.wb.setOffset(offset)
		} else {
			err = s.db.Set(metaOffsetKey, encodeOffset(offset), pebble.NoSync)
		}
		if err == nil {
			s.offset.Store(offset)
			s.hasOffset.Store(true)
		}
		s.mu.RUnlock()
		return opErr("set-offset", s.path, "", err)
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return opErr("set-offset", s.path, "", ErrClosed)
	}
	if s.batch == nil {
		if err := s.db.Set(metaOffsetKey, encodeOffset(offset), pebble.NoSync); err != nil {
			return opErr("set-offset", s.path, "", err)
		}
	} else {
		s.offsetPending = true
	}
	s.offset.Store(offset)
	s.hasOffset.Store(true)
	return nil
}

// MarkRecovered implements storage.Storage: it commits the pending batch
// (with the latest offset), syncs the write-ahead log and switches to
// write-through mode. Calling it again is a no-op.
func (s *store) MarkRecovered() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return opErr("mark-recovered", s.path, "", ErrClosed)
	}
	if s.batch == nil {
		return nil
	}
	return s.commitLocked("mark-recovered", pebble.Sync, false)
}

// Close implements storage.Storage. It releases outstanding iterators,
// commits the pending batch, syncs and closes the database, releasing its
// lock so the path can be opened again. Calling Close again returns nil.
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	openStores.Delete(s)

	s.itersMu.Lock()
	iters := make([]*iterator, 0, len(s.iters))
	for it := range s.iters {
		iters = append(iters, it)
	}
	clear(s.iters)
	s.itersMu.Unlock()
	for _, it := range iters {
		it.release(ErrClosed)
	}

	var errs []error
	if s.wb != nil {
		if err := s.wb.flush(s.db); err != nil {
			errs = append(errs, opErr("close", s.path, "", err))
		}
	}
	if s.batch != nil {
		if err := s.commitLocked("close", pebble.Sync, false); err != nil {
			errs = append(errs, err)
			_ = s.batch.Close()
			s.batch = nil
		}
	} else if !s.cfg.withoutWAL {
		if err := s.db.LogData(nil, pebble.Sync); err != nil {
			errs = append(errs, opErr("close", s.path, "", err))
		}
	}
	if s.cfg.withoutWAL && len(errs) == 0 {
		// Without a log, only flushed memtables survive: flush them so a
		// clean restart does not read the changelog again.
		if err := s.db.Flush(); err != nil {
			errs = append(errs, opErr("close", s.path, "", err))
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, opErr("close", s.path, "", err))
	}
	if s.cache != nil {
		s.cache.release()
	}
	return errors.Join(errs...)
}

// Iterator implements storage.Storage: it iterates over all user keys of a
// snapshot taken now.
func (s *store) Iterator() (storage.Iterator, error) {
	return s.newIterator("iterator", []byte{dataPrefix}, []byte{dataPrefix + 1})
}

// IteratorWithRange implements storage.Storage. With a non-empty limit it
// iterates over [start, limit); with an empty limit over all keys having
// start as prefix (goleveldb's util.BytesPrefix), as goka's LevelDB storage
// does. A nil start with an empty limit iterates over everything.
func (s *store) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	lower := append([]byte{dataPrefix}, start...)
	var upper []byte
	if len(limit) > 0 {
		upper = append([]byte{dataPrefix}, limit...)
	} else {
		upper = prefixEnd(lower)
	}
	return s.newIterator("iterator-with-range", lower, upper)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
// p always starts with a key-space tag < 0xff, so the result exists.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("state: prefixEnd of all-0xff key") // unreachable, see above
}
