package state

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// Benchmarks comparing this package with goka's LevelDB storage (default
// goleveldb options, as goka's storage.DefaultBuilder uses them). Run with
//
//	go test -run '^$' -bench . -benchtime=... ./state/
//
// See docs/state-benchmarks.md for measured figures.

const (
	benchValueSize = 128
	// benchRecoveryKeys is the size of the recovery-style bulk load.
	benchRecoveryKeys = 1_000_000
	// benchKeySpace is the number of distinct keys for Set and Get.
	benchKeySpace = 100_000
)

type benchImpl struct {
	name string
	open func(b *testing.B, dir string) storage.Storage
}

func benchPebble(name string, opts ...Option) benchImpl {
	return benchImpl{name, func(b *testing.B, dir string) storage.Storage {
		b.Helper()
		st, err := Open(dir, append(append([]Option(nil), testOpts...), opts...)...)
		require.NoError(b, err)
		return st
	}}
}

func benchLevelDB(name string, o *opt.Options) benchImpl {
	return benchImpl{name, func(b *testing.B, dir string) storage.Storage {
		b.Helper()
		db, err := leveldb.OpenFile(dir, o)
		require.NoError(b, err)
		st, err := storage.New(db)
		require.NoError(b, err)
		return st
	}}
}

// benchImpls compares both storages with their default configuration:
// Pebble with this package's defaults, LevelDB as goka's DefaultBuilder
// opens it (goleveldb defaults: 8 MiB block cache, 4 MiB write buffer).
func benchImpls() []benchImpl {
	return []benchImpl{benchPebble("pebble"), benchLevelDB("leveldb", nil)}
}

// readBenchImpls adds LevelDB with a block cache as large as Pebble's
// default, so that reads can be compared at equal cache size too.
func readBenchImpls() []benchImpl {
	return append(benchImpls(), benchLevelDB("leveldb-cache256MiB",
		&opt.Options{BlockCacheCapacity: int(DefaultCacheSize)}))
}

// benchKey returns the i-th key of a keyspace of n keys in a scattered (not
// sorted) order, like keys of a hash-partitioned, compacted Kafka topic.
func benchKey(i, n int) string {
	const prime = 1_000_003 // > n and coprime with it
	return fmt.Sprintf("user-%012d", (uint64(i)*prime)%uint64(n)*7919)
}

// benchValues returns incompressible values of benchValueSize bytes.
func benchValues(n int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	vals := make([][]byte, n)
	for i := range vals {
		v := make([]byte, benchValueSize)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		vals[i] = v
	}
	return vals
}

// loadRecovery writes n keys as goka's recovery does (Set, then SetOffset
// with the message offset) and marks the storage recovered.
func loadRecovery(b *testing.B, st storage.Storage, keys []string, vals [][]byte) {
	b.Helper()
	for i, k := range keys {
		if err := st.Set(k, vals[i%len(vals)]); err != nil {
			b.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		b.Fatal(err)
	}
}

func makeKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = benchKey(i, n)
	}
	return keys
}

// BenchmarkRecoveryBulkLoad measures a recovery of 1,000,000 messages: Set +
// SetOffset per message before MarkRecovered, then MarkRecovered (which
// syncs). Closing the storage is not timed.
func BenchmarkRecoveryBulkLoad(b *testing.B) {
	keys := makeKeys(benchRecoveryKeys)
	vals := benchValues(1024)
	for _, impl := range benchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				st := impl.open(b, b.TempDir())
				require.NoError(b, st.Open())
				b.StartTimer()
				loadRecovery(b, st, keys, vals)
				b.StopTimer()
				require.NoError(b, st.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

// BenchmarkRecoveryBulkLoadTuning runs the bulk load of
// BenchmarkRecoveryBulkLoad for Pebble with other settings; it documents how
// the defaults were chosen. Besides keys/s it reports Pebble's memtable
// flushes and the bytes written by flushes and compactions finished by the
// time MarkRecovered returned.
func BenchmarkRecoveryBulkLoadTuning(b *testing.B) {
	keys := makeKeys(benchRecoveryKeys)
	vals := benchValues(1024)
	type variant struct {
		name  string
		opts  []Option
		noCap bool // disable the batch footprint cap (commit on bytes/ops only)
	}
	variants := []variant{{name: "default"}}
	for _, mt := range []uint64{4 << 20, 32 << 20, 64 << 20} {
		variants = append(variants, variant{name: fmt.Sprintf("memtable-%dMiB", mt>>20), opts: []Option{WithMemTableSize(mt)}})
	}
	variants = append(variants,
		variant{name: "batch-1MiB", opts: []Option{WithRecoveryBatchBytes(1 << 20)}},
		variant{name: "no-footprint-cap", noCap: true},
		variant{name: "L0CompactionThreshold-2", opts: []Option{
			WithPebbleOptions(func(o *pebble.Options) { o.L0CompactionThreshold = 2 }),
		}},
	)
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			var flushes, written int64
			for range b.N {
				b.StopTimer()
				st, err := Open(b.TempDir(), append(append([]Option(nil), testOpts...), v.opts...)...)
				require.NoError(b, err)
				if v.noCap {
					st.(*store).maxBatchFootprint = math.MaxUint64
				}
				b.StartTimer()
				loadRecovery(b, st, keys, vals)
				b.StopTimer()
				m := st.(*store).db.Metrics()
				flushes += m.Flush.Count
				for _, l := range m.Levels {
					written += int64(l.TableBytesFlushed + l.TableBytesCompacted)
				}
				require.NoError(b, st.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "keys/s")
			b.ReportMetric(float64(flushes)/float64(b.N), "flushes/op")
			b.ReportMetric(float64(written)/float64(b.N)/(1<<20), "MiB-written/op")
		})
	}
}

// BenchmarkSet measures Set after MarkRecovered over a key space of 100,000
// keys (updates after the first round).
func BenchmarkSet(b *testing.B) {
	keys := makeKeys(benchKeySpace)
	vals := benchValues(1024)
	for _, impl := range benchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			st := impl.open(b, b.TempDir())
			require.NoError(b, st.Open())
			require.NoError(b, st.MarkRecovered())
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := st.Set(keys[i%len(keys)], vals[i%len(vals)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			require.NoError(b, st.Close())
		})
	}
}

// BenchmarkGet measures Get of random existing keys out of 100,000 loaded by
// a recovery and read after reopening the storage (so reads hit on-disk
// tables, not only the memtable).
func BenchmarkGet(b *testing.B) {
	keys := makeKeys(benchKeySpace)
	vals := benchValues(1024)
	for _, impl := range readBenchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			dir := b.TempDir()
			st := impl.open(b, dir)
			require.NoError(b, st.Open())
			loadRecovery(b, st, keys, vals)
			require.NoError(b, st.Close())
			st = impl.open(b, dir)
			require.NoError(b, st.Open())
			require.NoError(b, st.MarkRecovered())

			rng := rand.New(rand.NewPCG(7, 7))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				v, err := st.Get(keys[rng.IntN(len(keys))])
				if err != nil || v == nil {
					b.Fatalf("get: %v, %v", v, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			require.NoError(b, st.Close())
		})
	}
}

// BenchmarkGetMissing measures Get of keys that do not exist (a goka
// processor's first event for a key), where Pebble's bloom filters help.
func BenchmarkGetMissing(b *testing.B) {
	keys := makeKeys(benchKeySpace)
	vals := benchValues(1024)
	for _, impl := range readBenchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			dir := b.TempDir()
			st := impl.open(b, dir)
			require.NoError(b, st.Open())
			loadRecovery(b, st, keys, vals)
			require.NoError(b, st.Close())
			st = impl.open(b, dir)
			require.NoError(b, st.Open())
			require.NoError(b, st.MarkRecovered())

			rng := rand.New(rand.NewPCG(7, 7))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				v, err := st.Get(keys[rng.IntN(len(keys))] + "-missing")
				if err != nil || v != nil {
					b.Fatalf("get: %v, %v", v, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			require.NoError(b, st.Close())
		})
	}
}
