package state

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// storeEvents counts the Pebble events of one database that an operator
// has to act on, and logs each of them through the storage's logger:
// a disk operation slower than five seconds (Pebble's disk health checks),
// writes stalled because flushes or compactions fall behind, a background
// error (a failed flush or compaction), data corruption, low disk space.
// Pebble reports them through its EventListener, which nothing else here
// listens to; the counts are exported with the database's other metrics
// (shopstream_pebble_*_total).
type storeEvents struct {
	path             string
	logger           pebble.Logger
	diskSlow         atomic.Int64
	writeStalls      atomic.Int64
	backgroundErrors atomic.Int64
	corruptions      atomic.Int64
	lowDiskSpace     atomic.Int64
}

func newStoreEvents(path string, logger pebble.Logger) *storeEvents {
	if logger == nil {
		logger = pebble.DefaultLogger
	}
	return &storeEvents{path: path, logger: logger}
}

// listener is the EventListener reporting to e, teed with the one the
// options already carry (WithPebbleOptions may set one).
func (e *storeEvents) listener(other pebble.EventListener) pebble.EventListener {
	own := pebble.EventListener{
		DiskSlow: func(info pebble.DiskSlowInfo) {
			e.diskSlow.Add(1)
			e.logger.Errorf("pebble %s: %s", e.path, info)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			e.writeStalls.Add(1)
			e.logger.Errorf("pebble %s: writes stalled: %s", e.path, info.Reason)
		},
		WriteStallEnd: func() {
			e.logger.Infof("pebble %s: writes resumed", e.path)
		},
		BackgroundError: func(err error) {
			e.backgroundErrors.Add(1)
			e.logger.Errorf("pebble %s: background error: %v", e.path, err)
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			e.corruptions.Add(1)
			e.logger.Errorf("pebble %s: data corruption in %s: %v", e.path, info.Path, info.Details)
		},
		LowDiskSpace: func(info pebble.LowDiskSpaceInfo) {
			e.lowDiskSpace.Add(1)
			e.logger.Errorf("pebble %s: %s", e.path, info)
		},
	}
	return pebble.TeeEventListener(own, other)
}
