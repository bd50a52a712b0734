package state

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// metricValue returns the value of the gauge or counter name for the given table
// and partition, and whether the series exists.
func metricValue(t *testing.T, name, table, partition string) (float64, bool) {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["table"] == table && got["partition"] == partition {
				if c := m.GetCounter(); c != nil {
					return c.GetValue(), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestPebbleMetricsPerTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "views")
	b, err := NewBuilder(dir)
	require.NoError(t, err)
	st, err := b("metrics-table", 3)
	require.NoError(t, err)
	require.NoError(t, st.MarkRecovered())
	for i := range 1000 {
		require.NoError(t, st.Set(fmt.Sprintf("key-%d", i), make([]byte, 100)))
	}

	disk, ok := metricValue(t, "shopstream_pebble_disk_bytes", "metrics-table", "3")
	require.True(t, ok, "an open database is reported under its table and partition")
	require.Positive(t, disk)
	mem, ok := metricValue(t, "shopstream_pebble_memtable_bytes", "metrics-table", "3")
	require.True(t, ok)
	require.Greater(t, mem, float64(1000*100), "the writes sit in the memtable")
	require.Equal(t, []string{"views", "metrics-table", "3"}, storeLabels(PartitionPath(dir, "metrics-table", 3)))

	_, ok = metricValue(t, "shopstream_state_write_buffer_bytes", "metrics-table", "3")
	require.False(t, ok, "with the write-ahead log there is no write buffer")

	wb, err := NewBuilder(filepath.Join(t.TempDir(), "state"), WithoutWAL())
	require.NoError(t, err)
	buffered, err := wb("buffered-table", 0)
	require.NoError(t, err)
	defer buffered.Close()
	require.NoError(t, buffered.MarkRecovered())
	for i := range 10 {
		require.NoError(t, buffered.Set(fmt.Sprintf("key-%d", i), make([]byte, 100)))
	}
	footprint, ok := metricValue(t, "shopstream_state_write_buffer_bytes", "buffered-table", "0")
	require.True(t, ok)
	require.Equal(t, float64(10*memTableEntrySize(len("key-0")+1, 100)), footprint)

	require.NoError(t, st.Close())
	_, ok = metricValue(t, "shopstream_pebble_disk_bytes", "metrics-table", "3")
	require.False(t, ok, "a closed database is no longer reported")
}
