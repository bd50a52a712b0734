package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb"
)

// factory opens (or reopens) a storage in dir, calls its Open method as goka
// does, and registers cleanup for the test.
type factory func(t *testing.T, dir string) storage.Storage

// implementation is a storage under test together with the documented ways
// in which goka's LevelDB storage differs from the contract this package
// implements. Cases that depend on such a difference are skipped, with the
// reason, for the implementation lacking it.
type implementation struct {
	name string
	open factory
	// idempotent: a second Close or MarkRecovered returns nil (goka's LevelDB
	// storage panics with "close of closed channel").
	idempotent bool
	// separateMeta: the offset lives outside the user key space (goka's
	// LevelDB storage stores it under the user key "__offset").
	separateMeta bool
	// closedErr, if set, is matched by errors.Is on every operation after
	// Close. goka's LevelDB storage formats errors with %v, and GetOffset,
	// SetOffset and Iterator do not fail after Close at all.
	closedErr error
}

func implementations() []implementation {
	return []implementation{
		{
			name:         "pebble",
			open:         openPebble,
			idempotent:   true,
			separateMeta: true,
			closedErr:    ErrClosed,
		},
		{
			name:         "pebble-without-wal",
			open:         openPebbleWithoutWAL,
			idempotent:   true,
			separateMeta: true,
			closedErr:    ErrClosed,
		},
		{
			// a write buffer so small that writes reach Pebble every few
			// operations, in the middle of each case
			name:         "pebble-without-wal-small-write-buffer",
			open:         openPebbleSmallWriteBuffer,
			idempotent:   true,
			separateMeta: true,
			closedErr:    ErrClosed,
		},
		{
			name: "leveldb",
			open: openLevelDB,
		},
	}
}

func openPebble(t *testing.T, dir string) storage.Storage {
	t.Helper()
	st := openTest(t, dir)
	require.NoError(t, st.Open())
	return st
}

func openPebbleWithoutWAL(t *testing.T, dir string) storage.Storage {
	t.Helper()
	st := openTest(t, dir, WithoutWAL())
	require.NoError(t, st.Open())
	return st
}

func openPebbleSmallWriteBuffer(t *testing.T, dir string) storage.Storage {
	t.Helper()
	st := openTest(t, dir, WithoutWAL(), WithWriteBuffer(1<<10))
	require.NoError(t, st.Open())
	return st
}

func openLevelDB(t *testing.T, dir string) storage.Storage {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	require.NoError(t, err)
	st, err := storage.New(db)
	require.NoError(t, err)
	require.NoError(t, st.Open())
	// goka's storage.Close panics when called twice, but the underlying
	// goleveldb DB.Close is idempotent, so clean up through it.
	t.Cleanup(func() { _ = db.Close() })
	return st
}

type conformanceCase struct {
	name string
	run  func(t *testing.T, impl implementation, dir string)
}

// TestConformance runs every case against the Pebble storage and goka's
// LevelDB storage.
func TestConformance(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range conformanceCases() {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, impl, t.TempDir())
				})
			}
		})
	}
}

func conformanceCases() []conformanceCase {
	return []conformanceCase{
		{"get-missing", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			v, err := st.Get("missing")
			require.NoError(t, err)
			require.Nil(t, v)
			has, err := st.Has("missing")
			require.NoError(t, err)
			require.False(t, has)
		}},
		{"set-get-has-delete", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.MarkRecovered())
			requireSetGet(t, st)
		}},
		{"set-get-has-delete-before-recovery", func(t *testing.T, impl implementation, dir string) {
			requireSetGet(t, impl.open(t, dir))
		}},
		{"empty-value-is-present", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.Set("empty", []byte{}))
			v, err := st.Get("empty")
			require.NoError(t, err)
			require.NotNil(t, v)
			require.Empty(t, v)
			has, err := st.Has("empty")
			require.NoError(t, err)
			require.True(t, has)
		}},
		{"get-returns-independent-copy", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			in := []byte("value")
			require.NoError(t, st.Set("k", in))
			in[0] = 'X'
			v, err := st.Get("k")
			require.NoError(t, err)
			require.Equal(t, "value", string(v))
			v[0] = 'Y'
			requireValue(t, st, "k", "value")
		}},
		{"offset-default", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			requireOffset(t, st, -2, -2)
			require.NoError(t, st.MarkRecovered())
			requireOffset(t, st, -2, -2)
		}},
		{"offset-before-recovery", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.SetOffset(10))
			requireOffset(t, st, -1, 10)
			require.NoError(t, st.SetOffset(11))
			requireOffset(t, st, -1, 11)
		}},
		{"offset-after-recovery", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.SetOffset(5))
			require.NoError(t, st.MarkRecovered())
			requireOffset(t, st, -1, 5)
			require.NoError(t, st.SetOffset(6))
			requireOffset(t, st, -1, 6)
		}},
		{"offset-before-recovery-survives-reopen", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.SetOffset(100))
			require.NoError(t, st.Close())
			requireOffset(t, impl.open(t, dir), -1, 100)
		}},
		{"offset-after-recovery-survives-reopen", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.SetOffset(100))
			require.NoError(t, st.MarkRecovered())
			require.NoError(t, st.SetOffset(101))
			require.NoError(t, st.Close())
			requireOffset(t, impl.open(t, dir), -1, 101)
		}},
		{"recovered-data-and-offset-survive-reopen", func(t *testing.T, impl implementation, dir string) {
			const n = 2000
			st := impl.open(t, dir)
			recoverKeys(t, st, 0, n)
			require.NoError(t, st.MarkRecovered())
			require.NoError(t, st.Close())

			st = impl.open(t, dir)
			requireOffset(t, st, -1, n-1)
			requireKeys(t, st, 0, n)
		}},
		{"unrecovered-data-and-offset-survive-reopen", func(t *testing.T, impl implementation, dir string) {
			const n = 2000
			st := impl.open(t, dir)
			recoverKeys(t, st, 0, n)
			// Rebalance before recovery finished: Close without MarkRecovered.
			require.NoError(t, st.Close())

			st = impl.open(t, dir)
			requireOffset(t, st, -1, n-1)
			requireKeys(t, st, 0, n)
			// Recovery resumes after the stored offset.
			recoverKeys(t, st, n, n+10)
			require.NoError(t, st.MarkRecovered())
			requireOffset(t, st, -1, n+9)
			requireKeys(t, st, 0, n+10)
		}},
		{"reads-see-writes-during-and-after-recovery", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			recoverKeys(t, st, 0, 100)
			requireKeys(t, st, 0, 100)
			require.NoError(t, st.Delete(recoveryKey(7)))
			requireValue(t, st, recoveryKey(7), "")
			require.NoError(t, st.MarkRecovered())
			requireValue(t, st, recoveryKey(7), "")
			requireValue(t, st, recoveryKey(8), recoveryValue(8))
			require.NoError(t, st.Set(recoveryKey(7), []byte("again")))
			requireValue(t, st, recoveryKey(7), "again")
		}},
		{"iterator-empty-db", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			it, err := st.Iterator()
			require.NoError(t, err)
			defer it.Release()
			require.False(t, it.Next())
			require.NoError(t, it.Err())
			require.Nil(t, it.Key())
			require.False(t, it.Seek([]byte("a")))
		}},
		{"iterator-full", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "c", "a", "b2", "b1")
			require.NoError(t, st.MarkRecovered())
			it, err := st.Iterator()
			require.NoError(t, err)
			defer it.Release()
			// A fresh iterator is positioned before the first pair.
			require.Nil(t, it.Key())
			v, err := it.Value()
			require.NoError(t, err)
			require.Nil(t, v)
			require.Equal(t, []string{"a=va", "b1=vb1", "b2=vb2", "c=vc"}, drain(t, it))
			// Exhausted: stays exhausted.
			require.False(t, it.Next())
			require.Nil(t, it.Key())
			v, err = it.Value()
			require.NoError(t, err)
			require.Nil(t, v)
			require.NoError(t, it.Err())
		}},
		{"iterator-seek", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "b1", "b2", "c")
			it, err := st.Iterator()
			require.NoError(t, err)
			defer it.Release()

			// Seek positions ON the first key >= the sought key ...
			require.True(t, it.Seek([]byte("b")))
			require.Equal(t, "b1", string(it.Key()))
			v, err := it.Value()
			require.NoError(t, err)
			require.Equal(t, "vb1", string(v))
			// ... and Next moves past it.
			require.True(t, it.Next())
			require.Equal(t, "b2", string(it.Key()))

			require.True(t, it.Seek([]byte("b2")))
			require.Equal(t, "b2", string(it.Key()))

			// Nothing >= "d": not positioned, and Next does not restart.
			require.False(t, it.Seek([]byte("d")))
			require.Nil(t, it.Key())
			require.False(t, it.Next())

			// Seeking backwards works, also after exhaustion.
			require.True(t, it.Seek([]byte("a")))
			require.Equal(t, "a", string(it.Key()))
			require.Equal(t, []string{"b1=vb1", "b2=vb2", "c=vc"}, drain(t, it))
			require.True(t, it.Seek(nil))
			require.Equal(t, "a", string(it.Key()))
		}},
		{"iterator-range-with-limit", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "b1", "b2", "c")
			require.Equal(t, []string{"a=va", "b1=vb1"}, rangeKeys(t, st, nil, []byte("b2")))
			require.Equal(t, []string{"b1=vb1", "b2=vb2"}, rangeKeys(t, st, []byte("b1"), []byte("c")))
			require.Equal(t, []string{"b2=vb2", "c=vc"}, rangeKeys(t, st, []byte("b10"), []byte("d")))
			require.Empty(t, rangeKeys(t, st, []byte("c"), []byte("b")))
			require.Empty(t, rangeKeys(t, st, []byte("b"), []byte("b")))

			it, err := st.IteratorWithRange([]byte("b1"), []byte("c"))
			require.NoError(t, err)
			defer it.Release()
			// Seeking below the range lands on its first key.
			require.True(t, it.Seek([]byte("a")))
			require.Equal(t, "b1", string(it.Key()))
			// The limit is exclusive.
			require.False(t, it.Seek([]byte("c")))
		}},
		{"iterator-prefix-range", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "b", "b1", "b2", "ba", "c", "\xff", "\xff\xff", "\xff\xffx")
			all := []string{"a=va", "b=vb", "b1=vb1", "b2=vb2", "ba=vba", "c=vc",
				"\xff=v\xff", "\xff\xff=v\xff\xff", "\xff\xffx=v\xff\xffx"}
			require.Equal(t, []string{"b=vb", "b1=vb1", "b2=vb2", "ba=vba"}, rangeKeys(t, st, []byte("b"), nil))
			require.Equal(t, []string{"b1=vb1"}, rangeKeys(t, st, []byte("b1"), nil))
			require.Equal(t, []string{"b1=vb1"}, rangeKeys(t, st, []byte("b1"), []byte{}))
			require.Empty(t, rangeKeys(t, st, []byte("bb"), nil))
			require.Equal(t, []string{"\xff\xff=v\xff\xff", "\xff\xffx=v\xff\xffx"}, rangeKeys(t, st, []byte("\xff\xff"), nil))
			require.Equal(t, all, rangeKeys(t, st, nil, nil))
			require.Equal(t, all, rangeKeys(t, st, []byte{}, nil))

			it, err := st.IteratorWithRange([]byte("b"), nil)
			require.NoError(t, err)
			defer it.Release()
			require.True(t, it.Seek([]byte("b15")))
			require.Equal(t, "b2", string(it.Key()))
			require.False(t, it.Seek([]byte("bz")))
			require.True(t, it.Seek([]byte("a")))
			require.Equal(t, "b", string(it.Key()))
		}},
		{"iterator-is-a-snapshot", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "b")
			require.NoError(t, st.MarkRecovered())
			it, err := st.Iterator()
			require.NoError(t, err)
			defer it.Release()
			require.NoError(t, st.Set("aa", []byte("new")))
			require.NoError(t, st.Delete("b"))
			require.NoError(t, st.Set("a", []byte("changed")))
			require.Equal(t, []string{"a=va", "b=vb"}, drain(t, it))
		}},
		{"iterator-sees-writes-before-recovery", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "b")
			require.NoError(t, st.SetOffset(1))
			require.NoError(t, st.Delete("a"))
			require.Equal(t, []string{"b=vb"}, rangeKeys(t, st, nil, nil))
			require.NoError(t, st.Set("c", []byte("vc")))
			require.Equal(t, []string{"b=vb", "c=vc"}, rangeKeys(t, st, nil, nil))
			requireOffset(t, st, -1, 1)
		}},
		{"metadata-never-visible", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "z")
			require.NoError(t, st.SetOffset(41))
			require.Equal(t, []string{"a=va", "z=vz"}, rangeKeys(t, st, nil, nil))
			require.NoError(t, st.MarkRecovered())
			require.NoError(t, st.SetOffset(42))
			require.Equal(t, []string{"a=va", "z=vz"}, rangeKeys(t, st, nil, nil))
			require.Empty(t, rangeKeys(t, st, []byte("_"), nil))
			require.NoError(t, st.Close())

			st = impl.open(t, dir)
			requireOffset(t, st, -1, 42)
			require.Equal(t, []string{"a=va", "z=vz"}, rangeKeys(t, st, nil, nil))
		}},
		{"user-key-named-__offset-is-ordinary", func(t *testing.T, impl implementation, dir string) {
			if !impl.separateMeta {
				t.Skip("goka's LevelDB storage keeps its offset under the user key \"__offset\"")
			}
			st := impl.open(t, dir)
			require.NoError(t, st.Set("__offset", []byte("user data")))
			requireOffset(t, st, -1, -1)
			require.NoError(t, st.SetOffset(7))
			require.NoError(t, st.MarkRecovered())
			require.NoError(t, st.SetOffset(8))
			requireValue(t, st, "__offset", "user data")
			require.Equal(t, []string{"__offset=user data"}, rangeKeys(t, st, nil, nil))
			require.NoError(t, st.Delete("__offset"))
			requireOffset(t, st, -1, 8)
		}},
		{"iterator-release-idempotent", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			setKeys(t, st, "a", "b")
			it, err := st.Iterator()
			require.NoError(t, err)
			require.True(t, it.Next())
			it.Release()
			it.Release()
			require.False(t, it.Next())
			require.False(t, it.Seek([]byte("a")))
			require.Nil(t, it.Key())
			v, err := it.Value()
			require.NoError(t, err)
			require.Nil(t, v)
			require.Error(t, it.Err())
		}},
		{"mark-recovered-idempotent", func(t *testing.T, impl implementation, dir string) {
			if !impl.idempotent {
				t.Skip("goka's LevelDB storage panics on a second MarkRecovered")
			}
			st := impl.open(t, dir)
			require.NoError(t, st.SetOffset(3))
			require.NoError(t, st.MarkRecovered())
			require.NoError(t, st.MarkRecovered())
			requireOffset(t, st, -1, 3)
		}},
		{"close-idempotent", func(t *testing.T, impl implementation, dir string) {
			if !impl.idempotent {
				t.Skip("goka's LevelDB storage panics on a second Close")
			}
			st := impl.open(t, dir)
			require.NoError(t, st.Set("a", []byte("va")))
			require.NoError(t, st.Close())
			require.NoError(t, st.Close())
			requireValue(t, impl.open(t, dir), "a", "va")
		}},
		{"operations-after-close-fail", func(t *testing.T, impl implementation, dir string) {
			st := impl.open(t, dir)
			require.NoError(t, st.Set("a", []byte("va")))
			require.NoError(t, st.Close())

			errs := map[string]error{}
			_, errs["get"] = st.Get("a")
			_, errs["has"] = st.Has("a")
			errs["set"] = st.Set("b", []byte("vb"))
			errs["delete"] = st.Delete("a")
			for op, err := range errs {
				require.Error(t, err, op)
			}
			if impl.closedErr == nil {
				return
			}
			_, errs["get-offset"] = st.GetOffset(0)
			errs["set-offset"] = st.SetOffset(1)
			errs["mark-recovered"] = st.MarkRecovered()
			errs["open"] = st.Open()
			_, errs["iterator"] = st.Iterator()
			_, errs["iterator-with-range"] = st.IteratorWithRange([]byte("a"), nil)
			for op, err := range errs {
				require.ErrorIs(t, err, impl.closedErr, op)
			}
		}},
		{"concurrent-readers-one-writer", func(t *testing.T, impl implementation, dir string) {
			runConcurrentReadersOneWriter(t, impl.open(t, dir))
		}},
	}
}

func requireSetGet(t *testing.T, st storage.Storage) {
	t.Helper()
	require.NoError(t, st.Set("k", []byte("v1")))
	requireValue(t, st, "k", "v1")
	require.NoError(t, st.Set("k", []byte("v2")))
	requireValue(t, st, "k", "v2")
	require.NoError(t, st.Delete("k"))
	requireValue(t, st, "k", "")
	require.NoError(t, st.Delete("never-written"))
	requireValue(t, st, "never-written", "")
}

// requireValue asserts the value of key; want == "" means missing.
func requireValue(t *testing.T, st storage.Storage, key, want string) {
	t.Helper()
	v, err := st.Get(key)
	require.NoError(t, err)
	has, err := st.Has(key)
	require.NoError(t, err)
	if want == "" {
		require.Nil(t, v, "key %q", key)
		require.False(t, has, "key %q", key)
		return
	}
	require.Equal(t, want, string(v), "key %q", key)
	require.True(t, has, "key %q", key)
}

func requireOffset(t *testing.T, st storage.Storage, def, want int64) {
	t.Helper()
	got, err := st.GetOffset(def)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func recoveryKey(i int) string   { return fmt.Sprintf("key-%08d", i) }
func recoveryValue(i int) string { return "value-" + strconv.Itoa(i) }

// recoverKeys writes keys [from, to) the way goka recovers a partition: a Set
// followed by SetOffset with the message offset.
func recoverKeys(t *testing.T, st storage.Storage, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, st.Set(recoveryKey(i), []byte(recoveryValue(i))))
		require.NoError(t, st.SetOffset(int64(i)))
	}
}

func requireKeys(t *testing.T, st storage.Storage, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		v, err := st.Get(recoveryKey(i))
		require.NoError(t, err)
		require.Equal(t, recoveryValue(i), string(v), "key %d", i)
	}
}

// setKeys stores each key k with the value "v"+k.
func setKeys(t *testing.T, st storage.Storage, keys ...string) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, st.Set(k, []byte("v"+k)))
	}
}

// drain calls Next until it returns false and returns "key=value" pairs.
func drain(t *testing.T, it storage.Iterator) []string {
	t.Helper()
	var out []string
	for it.Next() {
		v, err := it.Value()
		require.NoError(t, err)
		out = append(out, string(it.Key())+"="+string(v))
	}
	require.NoError(t, it.Err())
	return out
}

func rangeKeys(t *testing.T, st storage.Storage, start, limit []byte) []string {
	t.Helper()
	it, err := st.IteratorWithRange(start, limit)
	require.NoError(t, err)
	defer it.Release()
	return drain(t, it)
}

// runConcurrentReadersOneWriter has one goroutine recover and then update
// keys while readers use Get, Has, GetOffset and iterators; run with -race.
func runConcurrentReadersOneWriter(t *testing.T, st storage.Storage) {
	t.Helper()
	const (
		keys    = 200
		rounds  = 20
		readers = 4
	)
	valueOf := func(key, round int) string { return fmt.Sprintf("v-%d-%d", key, round) }

	var (
		wg      sync.WaitGroup
		done    = make(chan struct{})
		errOnce sync.Once
		failure error
	)
	fail := func(err error) { errOnce.Do(func() { failure = err }) }

	wg.Add(1)
	go func() { // the single writer
		defer wg.Done()
		defer close(done)
		offset := int64(0)
		for round := range rounds {
			if round == rounds/2 {
				if err := st.MarkRecovered(); err != nil {
					fail(err)
					return
				}
			}
			for k := range keys {
				var err error
				if (k+round)%7 == 0 {
					err = st.Delete(recoveryKey(k))
				} else {
					err = st.Set(recoveryKey(k), []byte(valueOf(k, round)))
				}
				if err == nil {
					err = st.SetOffset(offset)
				}
				if err != nil {
					fail(err)
					return
				}
				offset++
			}
		}
	}()

	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			lastOffset := int64(-1)
			for {
				select {
				case <-done:
					return
				default:
				}
				k := rng.IntN(keys)
				v, err := st.Get(recoveryKey(k))
				if err != nil {
					fail(err)
					return
				}
				if v != nil && !bytes.HasPrefix(v, fmt.Appendf(nil, "v-%d-", k)) {
					fail(fmt.Errorf("key %d: unexpected value %q", k, v))
					return
				}
				if _, err := st.Has(recoveryKey(k)); err != nil {
					fail(err)
					return
				}
				off, err := st.GetOffset(-1)
				if err != nil {
					fail(err)
					return
				}
				if off < lastOffset {
					fail(fmt.Errorf("offset went backwards: %d after %d", off, lastOffset))
					return
				}
				lastOffset = off
				if rng.IntN(20) == 0 {
					if err := iterateSorted(st); err != nil {
						fail(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, failure)

	requireOffset(t, st, -1, keys*rounds-1)
	for k := range keys {
		want := valueOf(k, rounds-1)
		if (k+rounds-1)%7 == 0 {
			want = ""
		}
		requireValue(t, st, recoveryKey(k), want)
	}
}

func iterateSorted(st storage.Storage) error {
	it, err := st.Iterator()
	if err != nil {
		return err
	}
	defer it.Release()
	var keys []string
	for it.Next() {
		if _, err := it.Value(); err != nil {
			return err
		}
		keys = append(keys, string(it.Key()))
	}
	if err := it.Err(); err != nil {
		return err
	}
	if !sort.StringsAreSorted(keys) {
		return errors.New("iterator returned unsorted keys")
	}
	return nil
}
