package state

import (
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
)

// quietLogger drops Pebble's informational messages (one per opened WAL) so
// that test output stays readable.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) { log.Printf(format, args...) }
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

var testOpts = []Option{WithLogger(quietLogger{})}

// openTest opens a Pebble storage with test options and closes it on cleanup.
func openTest(t *testing.T, path string, opts ...Option) storage.Storage {
	t.Helper()
	st, err := Open(path, append(append([]Option(nil), testOpts...), opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestReopenSamePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	st := openTest(t, path)
	require.NoError(t, st.Set("k", []byte("v")))

	_, err := Open(path, testOpts...)
	require.Error(t, err, "the open database must hold the directory lock")
	var opErr *OpError
	require.ErrorAs(t, err, &opErr)
	require.Equal(t, "open", opErr.Op)
	require.Equal(t, path, opErr.Path)

	require.NoError(t, st.Close())
	for range 3 { // close and reopen repeatedly, as rebalances do
		st = openTest(t, path)
		requireValue(t, st, "k", "v")
		require.NoError(t, st.Close())
	}
}

func TestBuilderDistinctPartitions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created by NewBuilder
	build, err := NewBuilder(dir, testOpts...)
	require.NoError(t, err)

	type tp struct {
		topic     string
		partition int32
	}
	parts := []tp{{"orders", 0}, {"orders", 1}, {"payments", 0}, {"orders-table", 0}}
	stores := make(map[tp]storage.Storage)
	for i, p := range parts {
		st, err := build(p.topic, p.partition)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		require.NoError(t, st.Open())
		require.NoError(t, st.Set("shared-key", []byte(p.topic+fmt.Sprint(p.partition))))
		require.NoError(t, st.SetOffset(int64(10*i)))
		require.NoError(t, st.MarkRecovered())
		stores[p] = st

		info, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%s.%d", p.topic, p.partition)))
		require.NoError(t, err)
		require.True(t, info.IsDir())
		require.Equal(t, filepath.Join(dir, fmt.Sprintf("%s.%d", p.topic, p.partition)),
			PartitionPath(dir, p.topic, p.partition))
	}

	// A partition that is open cannot be built twice.
	_, err = build("orders", 0)
	require.Error(t, err)

	for i, p := range parts {
		requireValue(t, stores[p], "shared-key", p.topic+fmt.Sprint(p.partition))
		requireOffset(t, stores[p], -1, int64(10*i))
		require.NoError(t, stores[p].Close())
	}

	// Rebalance: a new builder on the same directory reopens the partitions.
	build2, err := NewBuilder(dir, testOpts...)
	require.NoError(t, err)
	for i, p := range parts {
		st, err := build2(p.topic, p.partition)
		require.NoError(t, err)
		requireValue(t, st, "shared-key", p.topic+fmt.Sprint(p.partition))
		requireOffset(t, st, -1, int64(10*i))
		require.NoError(t, st.Close())
	}
}

func TestInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		opts []Option
	}{
		{"cache-size-zero", []Option{WithCacheSize(0)}},
		{"memtable-too-small", []Option{WithMemTableSize(1024)}},
		{"memtable-too-large", []Option{WithMemTableSize(4 << 30)}},
		{"recovery-batch-bytes-zero", []Option{WithRecoveryBatchBytes(0)}},
		{"recovery-batch-ops-negative", []Option{WithRecoveryBatchOps(-1)}},
		{"write-buffer-negative", []Option{WithoutWAL(), WithWriteBuffer(-1)}},
		{"disable-wal", []Option{WithPebbleOptions(func(o *pebble.Options) { o.DisableWAL = true })}},
		{"read-only", []Option{WithPebbleOptions(func(o *pebble.Options) { o.ReadOnly = true })}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBuilder(dir, tc.opts...)
			require.ErrorIs(t, err, ErrInvalidConfig)
			_, err = Open(filepath.Join(dir, "db"), tc.opts...)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}

	t.Run("empty-paths", func(t *testing.T) {
		_, err := NewBuilder("")
		require.ErrorIs(t, err, ErrInvalidConfig)
		_, err = Open("")
		require.ErrorIs(t, err, ErrInvalidConfig)
	})

	t.Run("bad-topic-or-partition", func(t *testing.T) {
		build, err := NewBuilder(dir, testOpts...)
		require.NoError(t, err)
		for _, topic := range []string{"", ".", "..", "a/b", `a\b`, "../x", "a\x00b"} {
			_, err := build(topic, 0)
			require.ErrorIs(t, err, ErrInvalidConfig, "topic %q", topic)
		}
		_, err = build("orders", -1)
		require.ErrorIs(t, err, ErrInvalidConfig)
	})

	t.Run("valid-options", func(t *testing.T) {
		st := openTest(t, filepath.Join(dir, "ok"),
			WithCacheSize(1<<20), WithMemTableSize(1<<20),
			WithRecoveryBatchBytes(1<<10), WithRecoveryBatchOps(5),
			WithPebbleOptions(func(o *pebble.Options) { o.MaxOpenFiles = 100 }),
			nil, WithPebbleOptions(nil))
		recoverKeys(t, st, 0, 100)
		require.NoError(t, st.MarkRecovered())
		requireKeys(t, st, 0, 100)
	})
}

func TestOffsetZeroIsStored(t *testing.T) {
	// goka's LevelDB storage treats a local offset of 0 as "not set"; here 0
	// is an offset like any other.
	path := t.TempDir()
	st := openTest(t, path)
	require.NoError(t, st.SetOffset(0))
	requireOffset(t, st, -1, 0)
	require.NoError(t, st.Close())
	st = openTest(t, path)
	requireOffset(t, st, -1, 0)
	require.NoError(t, st.MarkRecovered())
	require.NoError(t, st.SetOffset(-5))
	requireOffset(t, st, -1, -5)
}

func TestCloseReleasesIterators(t *testing.T) {
	st := openTest(t, t.TempDir())
	setKeys(t, st, "a", "b")
	it, err := st.Iterator()
	require.NoError(t, err)
	require.True(t, it.Next())
	require.NoError(t, st.Close())

	require.False(t, it.Next())
	require.Nil(t, it.Key())
	require.ErrorIs(t, it.Err(), ErrClosed)
	it.Release()
	it.Release()
	require.ErrorIs(t, it.Err(), ErrClosed)
}

func TestIteratorReleasedErr(t *testing.T) {
	st := openTest(t, t.TempDir())
	it, err := st.IteratorWithRange([]byte("b"), []byte("a")) // empty range
	require.NoError(t, err)
	require.False(t, it.Next())
	it.Release()
	require.ErrorIs(t, it.Err(), ErrIteratorReleased)

	it, err = st.Iterator()
	require.NoError(t, err)
	it.Release()
	require.ErrorIs(t, it.Err(), ErrIteratorReleased)
	require.NoError(t, st.Close())
}

func TestCorruptOffset(t *testing.T) {
	path := t.TempDir()
	db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{}})
	require.NoError(t, err)
	require.NoError(t, db.Set(metaOffsetKey, []byte("12"), pebble.Sync))
	require.NoError(t, db.Close())

	_, err = Open(path, testOpts...)
	require.ErrorIs(t, err, ErrCorruptOffset)
	var opErr *OpError
	require.ErrorAs(t, err, &opErr)
	require.Equal(t, path, opErr.Path)

	// The failed open must not leave the database locked.
	db, err = pebble.Open(path, &pebble.Options{Logger: quietLogger{}})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestOpErrorFormat(t *testing.T) {
	err := error(&OpError{Op: "get", Path: "/d", Key: "k", Err: ErrClosed})
	require.Equal(t, `state: get "k" in /d: state: storage closed`, err.Error())
	require.ErrorIs(t, err, ErrClosed)
	err = &OpError{Op: "close", Path: "/d", Err: errors.New("boom")}
	require.Equal(t, "state: close /d: boom", err.Error())
}

// crashClone simulates a process crash of the database on mem: it opens a
// crash-consistent copy of the file system (keeping the given percentage of
// unsynced writes) and returns the recovered storage.
func crashClone(t *testing.T, mem *vfs.MemFS, unsyncedPercent int, rng *rand.Rand) storage.Storage {
	t.Helper()
	clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsyncedPercent, RNG: rng})
	return openTest(t, "/db", WithPebbleOptions(func(o *pebble.Options) { o.FS = clone }))
}

// bigValue makes crash tests fill Pebble's 32 KiB WAL blocks quickly: the
// WAL writer hands unsynced records to the OS only block-wise, so a crash
// loses at most the last partial block (and Kafka replays it).
func bigValue(i int) []byte {
	return fmt.Appendf(nil, "%s-%01000d", recoveryValue(i), i)
}

func recoverBigKeys(t *testing.T, st storage.Storage, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, st.Set(recoveryKey(i), bigValue(i)))
		require.NoError(t, st.SetOffset(int64(i)))
	}
}

func requireBigKeys(t *testing.T, st storage.Storage, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		v, err := st.Get(recoveryKey(i))
		require.NoError(t, err)
		require.Equal(t, string(bigValue(i)), string(v), "key %d", i)
	}
}

// TestRecoveryBatchCommitsDataWithOffset checks, through simulated crashes,
// that a recovering storage commits data and the offset covering it
// together: whatever survives, every key up to the stored offset is there,
// and only offsets at batch boundaries are ever persisted.
func TestRecoveryBatchCommitsDataWithOffset(t *testing.T) {
	const batchOps = 10
	mem := vfs.NewCrashableMem()
	st := openTest(t, "/db", WithRecoveryBatchOps(batchOps),
		WithPebbleOptions(func(o *pebble.Options) { o.FS = mem }))
	rng := rand.New(rand.NewPCG(1, 2))

	// With batchOps == 10, the 10th Set of a batch triggers the commit, and
	// at that time the latest SetOffset is for the message before it.
	isCommitPoint := func(off int64) bool { return off == -1 || off%batchOps == batchOps-2 }

	var survived []int64 // offsets recovered with all unsynced data kept
	written := 0
	for step := range 20 {
		n := 1 + rng.IntN(3*batchOps)
		recoverBigKeys(t, st, written, written+n)
		written += n
		// Reads go through the uncommitted batch.
		requireBigKeys(t, st, 0, written)
		requireOffset(t, st, -1, int64(written-1))
		for _, pct := range []int{0, 50, 100} {
			t.Run(fmt.Sprintf("step-%d-unsynced-%d", step, pct), func(t *testing.T) {
				crashed := crashClone(t, mem, pct, rng)
				off, err := crashed.GetOffset(-1)
				require.NoError(t, err)
				require.True(t, isCommitPoint(off), "offset %d is not at a batch boundary", off)
				require.Less(t, off, int64(written))
				requireBigKeys(t, crashed, 0, int(off)+1)
				require.NoError(t, crashed.Close())
				if pct == 100 {
					survived = append(survived, off)
				}
			})
		}
	}
	// Make sure the crashes above were not all trivial (nothing survived).
	require.Greater(t, survived[len(survived)-1], int64(written/2), "survived offsets %v", survived)

	// MarkRecovered syncs: a crash right after it loses nothing.
	require.NoError(t, st.MarkRecovered())
	crashed := crashClone(t, mem, 0, rng)
	requireOffset(t, crashed, -1, int64(written-1))
	requireBigKeys(t, crashed, 0, written)
	require.NoError(t, crashed.Close())

	// Writes after recovery are not synced individually, but Close syncs.
	recoverBigKeys(t, st, written, written+5)
	written += 5
	require.NoError(t, st.Close())
	crashed = crashClone(t, mem, 0, rng)
	requireOffset(t, crashed, -1, int64(written-1))
	requireBigKeys(t, crashed, 0, written)
}

func TestRecoveryInterruptedByCloseKeepsEverything(t *testing.T) {
	// Small batches so that several commits happen before Close.
	path := t.TempDir()
	st := openTest(t, path, WithRecoveryBatchOps(7), WithRecoveryBatchBytes(512))
	recoverKeys(t, st, 0, 1000)
	require.NoError(t, st.Delete(recoveryKey(999)))
	require.NoError(t, st.Close())

	st = openTest(t, path)
	requireOffset(t, st, -1, 999)
	requireKeys(t, st, 0, 999)
	requireValue(t, st, recoveryKey(999), "")
}

func TestConcurrentReadersDuringSmallBatches(t *testing.T) {
	// Frequent batch commits interleaved with concurrent reads and
	// iterators (which also commit the batch from reader goroutines).
	st := openTest(t, t.TempDir(), WithRecoveryBatchOps(3))
	runConcurrentReadersOneWriter(t, st)
}

func TestCloseConcurrentWithOperations(t *testing.T) {
	st := openTest(t, t.TempDir())
	recoverKeys(t, st, 0, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			if err := st.Set(recoveryKey(i%100), []byte("x")); err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Errorf("set: %v", err)
				}
				return
			}
			if i == 50 {
				_ = st.MarkRecovered()
			}
		}
	}()
	it, err := st.Iterator()
	require.NoError(t, err)
	iterDone := make(chan struct{})
	go func() {
		defer close(iterDone)
		for it.Next() {
			_, _ = it.Value()
		}
	}()
	require.NoError(t, st.Close())
	<-done
	<-iterDone
	it.Release()
}

func TestBuilderSharesCache(t *testing.T) {
	build, err := NewBuilder(t.TempDir(), append(testOpts, WithCacheSize(32<<20))...)
	require.NoError(t, err)
	a, err := build("t", 0)
	require.NoError(t, err)
	b, err := build("t", 1)
	require.NoError(t, err)
	shared := a.(*store).cache
	require.Same(t, shared, b.(*store).cache)
	require.NotNil(t, shared.cache)
	require.Equal(t, int64(32<<20), shared.cache.MaxSize())
	require.Equal(t, 2, shared.users)

	// A failed build does not leak a reference.
	_, err = build("t", 0)
	require.Error(t, err)
	require.Equal(t, 2, shared.users)

	require.NoError(t, a.Close())
	require.NoError(t, a.Close()) // idempotent: released once
	require.Equal(t, 1, shared.users)
	require.NoError(t, b.Close())
	require.Equal(t, 0, shared.users)
	require.Nil(t, shared.cache)

	// Building again after everything was closed creates a fresh cache.
	c, err := build("t", 0)
	require.NoError(t, err)
	require.NotNil(t, shared.cache)
	require.NoError(t, c.Close())
	require.Nil(t, shared.cache)
}

func TestRecoveryBatchStaysBelowLargeBatchThreshold(t *testing.T) {
	const memTable = 1 << 20
	st := openTest(t, t.TempDir(), WithMemTableSize(memTable))
	s := st.(*store)
	require.Equal(t, uint64(memTable*3/8), s.maxBatchFootprint)
	// ~1.2 KiB footprint per entry: the 384 KiB cap is reached long before
	// the 4 MiB / 100,000 operation thresholds.
	recoverBigKeys(t, st, 0, 1000)
	s.mu.RLock()
	count, footprint := int(s.batch.Count()), s.batchFootprint
	s.mu.RUnlock()
	require.Less(t, count, 400)
	require.Less(t, footprint, s.maxBatchFootprint)
	requireBigKeys(t, st, 0, 1000)
	requireOffset(t, st, -1, 999)
}

// TestWithoutWALCrashKeepsAPrefix checks, through simulated crashes, what
// WithoutWAL promises goka: whatever survives a crash is a prefix of the
// writes, so every key written before the stored offset is there with its
// value, and Close loses nothing.
func TestWithoutWALCrashKeepsAPrefix(t *testing.T) {
	mem := vfs.NewCrashableMem()
	// The smallest memtable, so that the writes below flush many times, and
	// no write buffer, which would hold them all (its own crash test is
	// TestWriteBufferCrashKeepsAPrefix).
	st := openTest(t, "/db", WithoutWAL(), WithMemTableSize(minMemTableSize), WithWriteBuffer(0),
		WithPebbleOptions(func(o *pebble.Options) { o.FS = mem }))
	rng := rand.New(rand.NewPCG(3, 4))

	// A recovery, then goka's order after it: the value, then its offset.
	recoverBigKeys(t, st, 0, 100)
	require.NoError(t, st.MarkRecovered())
	written := 100
	var survived []int64
	for step := range 15 {
		n := 1 + rng.IntN(400)
		recoverBigKeys(t, st, written, written+n)
		written += n
		t.Run(fmt.Sprintf("step-%d", step), func(t *testing.T) {
			crashed := crashClone(t, mem, 100, rng)
			off, err := crashed.GetOffset(-1)
			require.NoError(t, err)
			require.Less(t, off, int64(written))
			requireBigKeys(t, crashed, 0, int(off)+1)
			require.NoError(t, crashed.Close())
			survived = append(survived, off)
		})
	}
	// The crashes above kept flushed data (they were not all trivial).
	require.Greater(t, survived[len(survived)-1], int64(written/2), "survived offsets %v", survived)

	// Close flushes: a crash right after it loses nothing.
	require.NoError(t, st.Close())
	crashed := crashClone(t, mem, 0, rng)
	requireOffset(t, crashed, -1, int64(written-1))
	requireBigKeys(t, crashed, 0, written)
}

// TestBuilderTopicOptions: WithTopicOptions changes the databases of one
// topic only, they still share the builder's cache, and their combined
// options are validated when the builder is made.
func TestBuilderTopicOptions(t *testing.T) {
	t.Run("applies-to-its-topic", func(t *testing.T) {
		build, err := NewBuilder(t.TempDir(), WithoutWAL(),
			WithTopicOptions("users-table", WithWriteBuffer(32<<20), WithMemTableSize(1<<20)))
		require.NoError(t, err)
		big, err := build("users-table", 0)
		require.NoError(t, err)
		defer big.Close()
		other, err := build("items-table", 0)
		require.NoError(t, err)
		defer other.Close()
		require.Equal(t, uint64(32<<20), big.(*store).wb.limit)
		require.Equal(t, uint64(1<<20), big.(*store).cfg.memTableSize)
		require.Equal(t, uint64(DefaultWriteBufferBytes), other.(*store).wb.limit)
		require.Equal(t, DefaultMemTableSize, other.(*store).cfg.memTableSize)
		require.Same(t, big.(*store).cache, other.(*store).cache, "one block cache for the builder")
	})
	t.Run("validated", func(t *testing.T) {
		for name, opt := range map[string]Option{
			"write-buffer-negative": WithTopicOptions("t", WithWriteBuffer(-1)),
			"memtable-too-small":    WithTopicOptions("t", WithMemTableSize(1024)),
			"own-cache":             WithTopicOptions("t", WithCacheSize(1<<20)),
		} {
			_, err := NewBuilder(t.TempDir(), WithoutWAL(), opt)
			require.ErrorIs(t, err, ErrInvalidConfig, name)
		}
	})
}
