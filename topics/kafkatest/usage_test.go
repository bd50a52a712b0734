package kafkatest

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProcessUsageGrows(t *testing.T) {
	cpu0, faults0 := ProcessCPU(), MinorFaults()
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	fresh := make([]byte, 16<<20)
	for i := 0; i < len(fresh); i += 4096 {
		fresh[i] = 1
	}
	runtime.KeepAlive(fresh)
	require.Greater(t, ProcessCPU()-cpu0, 20*time.Millisecond, "a 50 ms busy loop")
	require.Greater(t, MinorFaults()-faults0, int64(1000), "16 MiB touched for the first time")
}
