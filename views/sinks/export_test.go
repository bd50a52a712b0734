package sinks

import "context"

// withBeforeCommit makes the sink call f after a batch's rows and offsets
// are written and before the transaction commits; an error aborts the
// batch as a crash would.
func withBeforeCommit(f func(ctx context.Context) error) Option {
	return func(c *config) { c.beforeCommit = f }
}
