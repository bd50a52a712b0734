package sinks

import "context"

// withBeforeCommit makes the sink call f after a batch's rows and offsets
// are written and before the transaction commits; an error aborts the
// batch as a crash would.
func withBeforeCommit(f func(ctx context.Context) error) Option {
	return func(c *config) { c.beforeCommit = f }
}

// withHoldAssignments makes the sink's workers wait until hold is closed
// before they load the offsets of their assigned partitions: the group
// settles without anything being fetched.
func withHoldAssignments(hold <-chan struct{}) Option {
	return func(c *config) { c.holdAssignments = hold }
}

// settled reports whether every worker of s owns at least one partition,
// assigned or loaded, and together they own n.
func settled(s *Sink, n int) bool {
	total := 0
	for _, w := range s.workers {
		w.mu.Lock()
		k := len(w.pos) + len(w.pending)
		w.mu.Unlock()
		if k == 0 {
			return false
		}
		total += k
	}
	return total == n
}
