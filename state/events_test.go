package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// recordingLogger keeps what Pebble and the storage log, by level.
type recordingLogger struct {
	mu     sync.Mutex
	infos  []string
	errors []string
}

func (l *recordingLogger) Infof(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos = append(l.infos, fmt.Sprintf(format, args...))
}

func (l *recordingLogger) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, fmt.Sprintf(format, args...))
}

func (l *recordingLogger) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (l *recordingLogger) errorsContaining(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.errors {
		if strings.Contains(e, s) {
			n++
		}
	}
	return n
}

// TestStoreEventsAreLoggedAndCounted: the Pebble events an operator acts on
// are logged through the storage's logger, naming the database, and
// counted per table partition in the metrics.
func TestStoreEventsAreLoggedAndCounted(t *testing.T) {
	logger := &recordingLogger{}
	b, err := NewBuilder(filepath.Join(t.TempDir(), "state"), WithoutWAL(), WithLogger(logger))
	require.NoError(t, err)
	st, err := b("events-table", 2)
	require.NoError(t, err)
	defer st.Close()
	s := st.(*store)
	l := s.events.listener(pebble.EventListener{})

	tests := []struct {
		name   string
		fire   func()
		metric string
		logged string
	}{
		{"disk-slow", func() {
			l.DiskSlow(pebble.DiskSlowInfo{Path: "000042.sst", OpType: vfs.OpTypeWrite, WriteSize: 4096, Duration: 6 * time.Second})
		}, "shopstream_pebble_disk_slow_total", "disk slowness detected"},
		{"write-stall", func() {
			l.WriteStallBegin(pebble.WriteStallBeginInfo{Reason: "memtable count limit reached"})
			l.WriteStallEnd()
		}, "shopstream_pebble_write_stalls_total", "writes stalled: memtable count limit reached"},
		{"background-error", func() { l.BackgroundError(errors.New("flush failed: disk full")) },
			"shopstream_pebble_background_errors_total", "background error: flush failed: disk full"},
		{"corruption", func() {
			l.DataCorruption(pebble.DataCorruptionInfo{Path: "000007.sst", Details: errors.New("checksum mismatch")})
		},
			"shopstream_pebble_corruptions_total", "data corruption in 000007.sst: checksum mismatch"},
		{"low-disk-space", func() {
			l.LowDiskSpace(pebble.LowDiskSpaceInfo{AvailBytes: 1 << 20, TotalBytes: 1 << 30, PercentThreshold: 1})
		},
			"shopstream_pebble_low_disk_space_total", "available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, ok := metricValue(t, tc.metric, "events-table", "2")
			require.True(t, ok, "reported for every open database, zero or not")
			tc.fire()
			after, _ := metricValue(t, tc.metric, "events-table", "2")
			require.Equal(t, before+1, after)
			require.Equal(t, 1, logger.errorsContaining(tc.logged), "logged as an error: %v", logger.errors)
			require.Equal(t, 1, logger.errorsContaining(s.path+": "+tc.logged), "naming the database")
		})
	}
}

// blockingFS holds every sstable write until release is closed, so that
// flushes cannot finish and writes stall.
type blockingFS struct {
	vfs.FS
	release chan struct{}
}

func (f blockingFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, category)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return file, err
	}
	return blockingFile{File: file, release: f.release}, nil
}

type blockingFile struct {
	vfs.File
	release chan struct{}
}

func (f blockingFile) Write(p []byte) (int, error) {
	<-f.release
	return f.File.Write(p)
}

// TestStoreEventsFromPebble: the storage's listener is the one Pebble
// calls, teed with a listener set through WithPebbleOptions, which still
// hears every event. Flushes that cannot write their tables make writes
// stall; the stall is counted and logged, the caller's listener sees it
// too, and writes go on once the disk answers.
func TestStoreEventsFromPebble(t *testing.T) {
	logger := &recordingLogger{}
	release := make(chan struct{})
	var callersStalls atomic.Int64
	b, err := NewBuilder(filepath.Join(t.TempDir(), "state"), WithLogger(logger), WithoutWAL(), WithWriteBuffer(0),
		WithMemTableSize(minMemTableSize), WithPebbleOptions(func(o *pebble.Options) {
			o.FS = blockingFS{FS: vfs.NewMem(), release: release}
			o.EventListener = &pebble.EventListener{
				WriteStallBegin: func(pebble.WriteStallBeginInfo) { callersStalls.Add(1) },
			}
		}))
	require.NoError(t, err)
	st, err := b("stalled-table", 0)
	require.NoError(t, err)
	defer st.Close()
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // before Close, which flushes, whatever fails below
	require.NoError(t, st.MarkRecovered())

	written := make(chan error, 1)
	go func() {
		value := make([]byte, 1024)
		for i := range 2000 { // ~2 MiB: eight 256 KiB memtables
			if err := st.Set(fmt.Sprintf("key-%04d", i), value); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	require.Eventually(t, func() bool {
		n, _ := metricValue(t, "shopstream_pebble_write_stalls_total", "stalled-table", "0")
		return n >= 1
	}, 30*time.Second, 10*time.Millisecond, "the stall is counted")
	require.Positive(t, logger.errorsContaining("writes stalled"))
	require.Positive(t, callersStalls.Load(), "the caller's listener heard it too")
	unblock()
	select {
	case err := <-written:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("writes did not resume")
	}
}
