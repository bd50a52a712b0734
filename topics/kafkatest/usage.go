package kafkatest

import (
	"syscall"
	"time"
)

// ProcessCPU is the user and system CPU time the process has used so far
// (0 if the system does not say). A benchmark's broker, processors and
// clients share the process, so the difference over a run, per operation,
// is the whole system's cost: steadier than a rate on a shared machine.
func ProcessCPU() time.Duration {
	ru, ok := rusage()
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MinorFaults is how many minor page faults the process has taken so far
// (0 if the system does not say): pages of memory touched for the first
// time. On some virtual machines each costs ~10 µs (docs/operations.md).
func MinorFaults() int64 {
	ru, ok := rusage()
	if !ok {
		return 0
	}
	return ru.Minflt
}

func rusage() (syscall.Rusage, bool) {
	var ru syscall.Rusage
	err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru, err == nil
}
