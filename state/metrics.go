package state

import (
	"path/filepath"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Every open database is reported on the default Prometheus registry with
// the labels store (the directory its builder owns: "state" for processor
// tables, "views" for views), table and partition.
var (
	openStores sync.Map // *store -> struct{}

	labels       = []string{"store", "table", "partition"}
	descDisk     = prometheus.NewDesc("shopstream_pebble_disk_bytes", "Disk space a table partition's Pebble database uses (sstables, WAL, manifests).", labels, nil)
	descMemtable = prometheus.NewDesc("shopstream_pebble_memtable_bytes", "Bytes held in the database's memtables.", labels, nil)
	descReadAmp  = prometheus.NewDesc("shopstream_pebble_read_amplification", "Sstable levels and sublevels a point read may visit.", labels, nil)
	descDebt     = prometheus.NewDesc("shopstream_pebble_compaction_debt_bytes", "Estimated bytes to compact before the LSM is stable.", labels, nil)
	descCompact  = prometheus.NewDesc("shopstream_pebble_compactions_total", "Compactions the database ran since it was opened.", labels, nil)
	descFlushes  = prometheus.NewDesc("shopstream_pebble_flushes_total", "Memtable flushes since the database was opened.", labels, nil)
	descBuffered = prometheus.NewDesc("shopstream_state_write_buffer_bytes", "Estimated memtable footprint of the writes the table partition's write buffer holds (WithWriteBuffer).", labels, nil)
	descDiskSlow = prometheus.NewDesc("shopstream_pebble_disk_slow_total", "Disk operations of the database that took longer than 5 s (Pebble's disk health checks), since it was opened.", labels, nil)
	descStalls   = prometheus.NewDesc("shopstream_pebble_write_stalls_total", "Times writes to the database stalled because flushes or compactions fell behind, since it was opened.", labels, nil)
	descBgErrors = prometheus.NewDesc("shopstream_pebble_background_errors_total", "Failed background operations (flushes, compactions) of the database, since it was opened.", labels, nil)
	descCorrupt  = prometheus.NewDesc("shopstream_pebble_corruptions_total", "Data corruption Pebble detected in the database's files, since it was opened.", labels, nil)
	descLowDisk  = prometheus.NewDesc("shopstream_pebble_low_disk_space_total", "Times the database's disk fell below one of Pebble's free-space thresholds, since it was opened.", labels, nil)
)

func init() { prometheus.MustRegister(pebbleCollector{}) }

// pebbleCollector reads the metrics of every open database at scrape time.
type pebbleCollector struct{}

func (pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDisk, descMemtable, descReadAmp, descDebt, descCompact, descFlushes, descBuffered,
		descDiskSlow, descStalls, descBgErrors, descCorrupt, descLowDisk} {
		ch <- d
	}
}

func (pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	openStores.Range(func(k, _ any) bool {
		s := k.(*store)
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			return true
		}
		m := s.db.Metrics()
		lv := storeLabels(s.path)
		ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(m.DiskSpaceUsage()), lv...)
		ch <- prometheus.MustNewConstMetric(descMemtable, prometheus.GaugeValue, float64(m.MemTable.Size), lv...)
		ch <- prometheus.MustNewConstMetric(descReadAmp, prometheus.GaugeValue, float64(m.ReadAmp()), lv...)
		ch <- prometheus.MustNewConstMetric(descDebt, prometheus.GaugeValue, float64(m.Compact.EstimatedDebt), lv...)
		ch <- prometheus.MustNewConstMetric(descCompact, prometheus.CounterValue, float64(m.Compact.Count), lv...)
		ch <- prometheus.MustNewConstMetric(descFlushes, prometheus.CounterValue, float64(m.Flush.Count), lv...)
		e := s.events
		for d, n := range map[*prometheus.Desc]int64{descDiskSlow: e.diskSlow.Load(), descStalls: e.writeStalls.Load(),
			descBgErrors: e.backgroundErrors.Load(), descCorrupt: e.corruptions.Load(), descLowDisk: e.lowDiskSpace.Load()} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), lv...)
		}
		if s.wb != nil {
			_, footprint := s.wb.buffered()
			ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(footprint), lv...)
		}
		return true
	})
}

// storeLabels splits <dir>/<topic>.<partition> into store, table and
// partition label values.
func storeLabels(path string) []string {
	base := filepath.Base(path)
	table, partition := base, ""
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		table, partition = base[:i], base[i+1:]
	}
	return []string{filepath.Base(filepath.Dir(path)), table, partition}
}
