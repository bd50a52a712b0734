package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
)

// inPebble reports whether key has reached the database itself, past the
// write buffer.
func inPebble(t *testing.T, st storage.Storage, key string) bool {
	t.Helper()
	_, closer, err := st.(*store).db.Get(dataKey(key))
	if err == pebble.ErrNotFound {
		return false
	}
	require.NoError(t, err)
	require.NoError(t, closer.Close())
	return true
}

// TestWriteBufferHoldsWritesUntilFlush: after recovery, a storage without
// write-ahead log keeps writes in memory, answers reads from them, and
// writes them to Pebble with the offset when an iterator needs them, when
// the buffer is full and on Close.
func TestWriteBufferHoldsWritesUntilFlush(t *testing.T) {
	path := t.TempDir()
	st := openTest(t, path, WithoutWAL())
	recoverKeys(t, st, 0, 10)
	require.NoError(t, st.MarkRecovered())
	require.True(t, inPebble(t, st, recoveryKey(9)), "recovery writes are committed by MarkRecovered")

	for round := range 5 {
		require.NoError(t, st.Set("rewritten", fmt.Appendf(nil, "round-%d", round)))
		require.NoError(t, st.SetOffset(int64(10+round)))
	}
	require.NoError(t, st.Delete(recoveryKey(3)))
	require.NoError(t, st.Set("new", []byte("n")))
	require.NoError(t, st.SetOffset(15))

	t.Run("reads-see-buffered-writes", func(t *testing.T) {
		requireValue(t, st, "rewritten", "round-4")
		requireValue(t, st, "new", "n")
		v, err := st.Get(recoveryKey(3))
		require.NoError(t, err)
		require.Nil(t, v, "deleted while buffered")
		has, err := st.Has(recoveryKey(3))
		require.NoError(t, err)
		require.False(t, has)
		has, err = st.Has("new")
		require.NoError(t, err)
		require.True(t, has)
		requireOffset(t, st, -1, 15)
	})
	t.Run("nothing-reached-pebble", func(t *testing.T) {
		require.False(t, inPebble(t, st, "rewritten"))
		require.False(t, inPebble(t, st, "new"))
		require.True(t, inPebble(t, st, recoveryKey(3)), "the delete is buffered too")
		n, _ := st.(*store).wb.buffered()
		require.Equal(t, 3, n, "one entry per key, however often it was written")
	})
	t.Run("a-returned-value-is-the-callers", func(t *testing.T) {
		v, err := st.Get("new")
		require.NoError(t, err)
		v[0] = 'X'
		requireValue(t, st, "new", "n")
	})
	t.Run("iterator-flushes", func(t *testing.T) {
		it, err := st.Iterator()
		require.NoError(t, err)
		got := drain(t, it)
		it.Release()
		require.Contains(t, got, "rewritten=round-4")
		require.Contains(t, got, "new=n")
		require.NotContains(t, got, recoveryKey(3)+"="+recoveryValue(3))
		require.True(t, inPebble(t, st, "rewritten"))
		require.False(t, inPebble(t, st, recoveryKey(3)))
		n, _ := st.(*store).wb.buffered()
		require.Zero(t, n)
	})
	t.Run("close-flushes-with-offset", func(t *testing.T) {
		require.NoError(t, st.Set("last", []byte("l")))
		require.NoError(t, st.SetOffset(16))
		require.NoError(t, st.Close())
		st = openTest(t, path, WithoutWAL())
		requireValue(t, st, "last", "l")
		requireValue(t, st, "rewritten", "round-4")
		requireOffset(t, st, -1, 16)
	})
}

// TestWriteBufferFlushesWhenFull: the buffer is written to Pebble when its
// footprint reaches the limit, and a write arriving while it is flushed
// lands in the next flush.
func TestWriteBufferFlushesWhenFull(t *testing.T) {
	st := openTest(t, t.TempDir(), WithoutWAL(), WithWriteBuffer(8<<10))
	require.NoError(t, st.MarkRecovered())
	// ~1.2 KiB of footprint per big key: the 8 KiB buffer holds a few.
	recoverBigKeys(t, st, 0, 50)
	require.True(t, inPebble(t, st, recoveryKey(0)))
	n, footprint := st.(*store).wb.buffered()
	require.Less(t, n, 8)
	require.Less(t, footprint, uint64(8<<10))
	requireBigKeys(t, st, 0, 50)
	requireOffset(t, st, -1, 49)
}

// TestWriteBufferBoundsTheReplay: a working set that fits the buffer is
// still flushed, with its offset, once four buffers of writes have gone
// into it since the last flush, so that a crash re-reads a bounded part of
// the changelog.
func TestWriteBufferBoundsTheReplay(t *testing.T) {
	st := openTest(t, t.TempDir(), WithoutWAL(), WithWriteBuffer(16<<10))
	require.NoError(t, st.MarkRecovered())
	s := st.(*store)
	value := make([]byte, 1000)
	per := memTableEntrySize(1+len("hot"), len(value))
	// one key: its footprint never comes near the buffer's size
	var i int64
	for ; uint64(i+1)*per < 4*(16<<10); i++ {
		require.NoError(t, st.Set("hot", value))
		require.NoError(t, st.SetOffset(i))
	}
	require.False(t, inPebble(t, st, "hot"), "below four buffers of writes")
	require.NoError(t, st.Set("hot", value))
	require.NoError(t, st.SetOffset(i))
	require.True(t, inPebble(t, st, "hot"), "four buffers of writes since the last flush")
	off, ok, err := s.readOffset()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, i-1, off, "the offset written with the flush covers the writes before it")
	n, _ := s.wb.buffered()
	require.Zero(t, n)
}

func TestWriteBufferOnlyWithoutWAL(t *testing.T) {
	t.Run("with-log", func(t *testing.T) {
		st := openTest(t, t.TempDir(), WithWriteBuffer(1<<20))
		require.Nil(t, st.(*store).wb, "with the log on, a write is durable when Set returns")
	})
	t.Run("turned-off", func(t *testing.T) {
		st := openTest(t, t.TempDir(), WithoutWAL(), WithWriteBuffer(0))
		require.Nil(t, st.(*store).wb)
		require.NoError(t, st.MarkRecovered())
		require.NoError(t, st.Set("k", []byte("v")))
		require.True(t, inPebble(t, st, "k"))
	})
	t.Run("larger-than-pebbles-large-batch", func(t *testing.T) {
		// A flush above half the memtable is queued by Pebble as a
		// flushable of its own instead of being copied into the memtable.
		st := openTest(t, t.TempDir(), WithoutWAL(), WithMemTableSize(minMemTableSize), WithWriteBuffer(1<<20))
		require.Equal(t, uint64(1<<20), st.(*store).wb.limit, "not capped by the memtable size")
		require.NoError(t, st.MarkRecovered())
		recoverBigKeys(t, st, 0, 400) // ~480 KiB of footprint: above half the memtable
		require.False(t, inPebble(t, st, recoveryKey(0)))
		db := st.(*store).db
		flushes := db.Metrics().Flush.Count
		require.NoError(t, st.(*store).wb.flush(db))
		require.True(t, inPebble(t, st, recoveryKey(0)))
		require.Eventually(t, func() bool { return db.Metrics().Flush.Count > flushes }, 10*time.Second, 10*time.Millisecond,
			"the batch is flushed as its own L0 table, not kept in the memtable")
		requireBigKeys(t, st, 0, 400)
		off, ok, err := st.(*store).readOffset()
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, int64(399), off)
	})
}

// TestWriteBufferCrashKeepsAPrefix: keys rewritten and deleted through a
// write buffer, then simulated crashes. What survives is the state after
// some prefix of the writes, and the stored offset does not run ahead of
// that prefix: goka reads the rest again from the changelog. The large
// buffer's flushes are above half the memtable, which Pebble queues as
// flushables of their own.
func TestWriteBufferCrashKeepsAPrefix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		buffer int
		keys   int
	}{
		{"small-buffer", 4 << 10, 200},
		{"flushes-above-half-the-memtable", 256 << 10, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) { testWriteBufferCrash(t, tc.buffer, tc.keys) })
	}
}

func testWriteBufferCrash(t *testing.T, buffer, keys int) {
	mem := vfs.NewCrashableMem()
	st := openTest(t, "/db", WithoutWAL(), WithMemTableSize(minMemTableSize), WithWriteBuffer(buffer),
		WithPebbleOptions(func(o *pebble.Options) { o.FS = mem }))
	require.NoError(t, st.MarkRecovered())
	rng := rand.New(rand.NewPCG(5, 6))

	// models[n] is the state after the first n writes; write i is followed
	// by SetOffset(i), as goka stores a changelog offset after its write.
	models := []map[string]string{{}}
	written := 0
	var survived []int64
	for step := range 12 {
		for range 1 + rng.IntN(10*keys/3) {
			k := fmt.Sprintf("k%04d", rng.IntN(keys))
			m := maps.Clone(models[written])
			if rng.IntN(8) == 0 {
				require.NoError(t, st.Delete(k))
				delete(m, k)
			} else {
				v := fmt.Sprintf("%s-%d-%s", k, written, bigValue(written)[:200])
				require.NoError(t, st.Set(k, []byte(v)))
				m[k] = v
			}
			require.NoError(t, st.SetOffset(int64(written)))
			written++
			models = append(models, m)
		}
		t.Run(fmt.Sprintf("step-%d", step), func(t *testing.T) {
			crashed := crashClone(t, mem, 100, rng)
			defer crashed.Close()
			off, err := crashed.GetOffset(-1)
			require.NoError(t, err)
			require.Less(t, off, int64(written))
			got := map[string]string{}
			for i := range keys {
				k := fmt.Sprintf("k%04d", i)
				if v, err := crashed.Get(k); err == nil && v != nil {
					got[k] = string(v)
				} else {
					require.NoError(t, err)
				}
			}
			// the surviving state is that after n writes, n > off
			for n := int(off) + 1; n <= written; n++ {
				if maps.Equal(got, models[n]) {
					survived = append(survived, off)
					return
				}
			}
			t.Fatalf("the state after the crash (offset %d) is no prefix of the writes", off)
		})
	}
	require.NotEmpty(t, survived)
	require.Greater(t, survived[len(survived)-1], int64(written/2), "survived offsets %v", survived)

	require.NoError(t, st.Close())
	crashed := crashClone(t, mem, 0, rng)
	requireOffset(t, crashed, -1, int64(written-1))
	for k, v := range models[written] {
		requireValue(t, crashed, k, v)
	}
	require.NoError(t, crashed.Close())
}

// TestWriteBufferConcurrency: goka's single writer, SetOffset from the
// producer's callback goroutine, readers and iterators (which flush) at
// the same time; run with -race. Readers never see a value older than one
// they saw before.
func TestWriteBufferConcurrency(t *testing.T) {
	t.Run("readers-one-writer", func(t *testing.T) {
		st := openTest(t, t.TempDir(), WithoutWAL(), WithWriteBuffer(2<<10))
		runConcurrentReadersOneWriter(t, st)
	})
	t.Run("offsets-from-another-goroutine", func(t *testing.T) {
		st := openTest(t, t.TempDir(), WithoutWAL(), WithWriteBuffer(4<<10))
		require.NoError(t, st.MarkRecovered())
		const writes = 3000
		offsets := make(chan int64, 64)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { // goka's callback: the offset after the write is produced
			defer wg.Done()
			for off := range offsets {
				if err := st.SetOffset(off); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() { // a view serving reads, iterating now and then
			defer wg.Done()
			last := -1
			for last < writes-1 {
				v, err := st.Get("counter")
				if err != nil {
					t.Error(err)
					return
				}
				if v != nil {
					var n int
					_, _ = fmt.Sscan(string(v), &n)
					if n < last {
						t.Errorf("read %d after %d", n, last)
						return
					}
					last = n
				}
				if n := rand.IntN(50); n == 0 {
					it, err := st.Iterator()
					if err != nil {
						t.Error(err)
						return
					}
					for it.Next() {
					}
					it.Release()
				}
			}
		}()
		go func() { // the processor
			defer wg.Done()
			defer close(offsets)
			for i := range writes {
				if err := st.Set("counter", fmt.Append(nil, i)); err != nil {
					t.Error(err)
					return
				}
				if err := st.Set(fmt.Sprintf("k%d", i%100), bigValue(i)); err != nil {
					t.Error(err)
					return
				}
				offsets <- int64(i)
			}
		}()
		wg.Wait()
		requireValue(t, st, "counter", fmt.Sprint(writes-1))
		requireOffset(t, st, -1, writes-1)
	})
}

// TestFillBatchFitsBatchSize: a flush sizes its batch with batchSize up
// front, so the encoded batch must never outgrow it (it would grow by
// copying), and what it holds must read back unchanged.
func TestFillBatchFitsBatchSize(t *testing.T) {
	long := string(make([]byte, 300)) // two-byte key length
	tests := []struct {
		name   string
		writes map[string]bufferedWrite
		hasOff bool
	}{
		{"offset only", map[string]bufferedWrite{}, true},
		{"small sets", map[string]bufferedWrite{"a": {value: []byte("1")}, "b": {value: []byte("22")}}, true},
		{"deletes", map[string]bufferedWrite{"gone": {del: true}, "kept": {value: []byte("v")}}, false},
		{"empty value", map[string]bufferedWrite{"e": {value: []byte{}}}, true},
		{"long key", map[string]bufferedWrite{long: {value: []byte("x")}}, true},
		{"large values", map[string]bufferedWrite{
			"k1": {value: make([]byte, 200<<10)}, // three-byte value length
			"k2": {value: make([]byte, 3<<20)},   // four-byte value length
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openTest(t, t.TempDir(), WithoutWAL())
			require.NoError(t, st.MarkRecovered())
			db := st.(*store).db
			size := batchSize(tc.writes)
			b := db.NewBatchWithSize(size)
			defer b.Close()
			require.NoError(t, fillBatch(b, tc.writes, 42, tc.hasOff))
			require.LessOrEqual(t, len(b.Repr()), size)
			require.NoError(t, b.Commit(pebble.NoSync))
			for k, e := range tc.writes {
				v, err := st.Get(k)
				require.NoError(t, err)
				if e.del {
					require.Nil(t, v, k)
				} else {
					require.Equal(t, e.value, v, k)
				}
			}
			if tc.hasOff {
				off, ok, err := st.(*store).readOffset()
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, int64(42), off)
			}
		})
	}
}

// TestOpenDefersTheRecoveryBuffer: opening a store does not allocate a
// full-size recovery batch (4 MiB by default); a process opens one store
// per partition of every table, most of which recover little.
func TestOpenDefersTheRecoveryBuffer(t *testing.T) {
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st := openTest(t, dir)
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(DefaultRecoveryBatchBytes)/2,
		"bytes allocated by Open")
	// Recovery still works: a write before MarkRecovered is readable and
	// lands with the offset.
	require.NoError(t, st.Set("k", []byte("v")))
	require.NoError(t, st.SetOffset(7))
	require.NoError(t, st.MarkRecovered())
	v, err := st.Get("k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

// TestWriteBufferFailedFlushKeepsWrites: a flush whose commit fails applies
// nothing and loses nothing: its writes and offset go back into the buffer
// under any newer ones, reads keep seeing the latest, and the next flush
// writes them.
func TestWriteBufferFailedFlushKeepsWrites(t *testing.T) {
	st := openTest(t, t.TempDir(), WithoutWAL())
	require.NoError(t, st.MarkRecovered())
	s := st.(*store)
	require.NoError(t, st.Set("a", []byte("a1")))
	require.NoError(t, st.Set("b", []byte("b1")))
	require.NoError(t, st.Delete("gone"))
	require.NoError(t, st.SetOffset(5))

	errCommit := fmt.Errorf("disk on fire")
	s.wb.commit = func(*pebble.Batch) error { return errCommit }
	require.ErrorIs(t, s.wb.flush(s.db), errCommit)
	require.False(t, inPebble(t, st, "a"))
	n, footprint := s.wb.buffered()
	require.Equal(t, 3, n, "every write is back in the buffer")
	require.Equal(t, memTableEntrySize(2, 2)*2+memTableEntrySize(5, 0), footprint)

	// Newer writes and offsets win over the restored ones.
	require.NoError(t, st.Set("a", []byte("a2")))
	v, err := st.Get("a")
	require.NoError(t, err)
	require.Equal(t, []byte("a2"), v)
	v, err = st.Get("b")
	require.NoError(t, err)
	require.Equal(t, []byte("b1"), v)

	s.wb.commit = nil
	require.NoError(t, s.wb.flush(s.db))
	for key, want := range map[string]string{"a": "a2", "b": "b1"} {
		require.True(t, inPebble(t, st, key), key)
		v, err := st.Get(key)
		require.NoError(t, err)
		require.Equal(t, []byte(want), v, key)
	}
	off, ok, err := s.readOffset()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(5), off, "the failed flush's offset is written by the next")

	// A write and an offset that arrive while the failing commit runs are
	// newer than what it restores.
	require.NoError(t, st.Set("a", []byte("a3")))
	require.NoError(t, st.SetOffset(6))
	s.wb.commit = func(*pebble.Batch) error {
		require.NoError(t, st.Set("a", []byte("a4")))
		require.NoError(t, st.SetOffset(7))
		return errCommit
	}
	require.ErrorIs(t, s.wb.flush(s.db), errCommit)
	s.wb.commit = nil
	require.NoError(t, s.wb.flush(s.db))
	off, _, err = s.readOffset()
	require.NoError(t, err)
	require.Equal(t, int64(7), off)
	_, closer, err := s.db.Get(dataKey("a"))
	require.NoError(t, err)
	require.NoError(t, closer.Close())
	v, err = st.Get("a")
	require.NoError(t, err)
	require.Equal(t, []byte("a4"), v)
}
