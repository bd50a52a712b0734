package command

import (
	"context"
	"fmt"
	"sync"
)

// VisitGate keeps a processor running until the table visits in progress
// have finished. goka v1.1.16's Processor.VisitAllWithStats returns early
// when its processor stops, then reads the visited count that visits
// already under way still add to: a data race (the count it returns may be
// wrong, and -race fails). A service that visits its table runs each visit
// inside Enter/Leave, with a context its shutdown does not cancel, and
// stops its processors only after Close returned.
//
// The zero value is an open gate.
type VisitGate struct {
	mu     sync.RWMutex
	closed bool
}

// Enter admits a visit; it reports false, and the visit must not start,
// once Close was called. A true Enter is paired with Leave.
func (g *VisitGate) Enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

// Leave ends a visit Enter admitted.
func (g *VisitGate) Leave() { g.mu.RUnlock() }

// Close refuses new visits and waits until the visits in progress left.
func (g *VisitGate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// ErrVisitsClosed is returned by a visit asked for after the service began
// to stop; it matches context.Canceled.
var ErrVisitsClosed = fmt.Errorf("command: the service is stopping, no more table visits: %w", context.Canceled)

// Hold returns the context to run the processors with: it is cancelled
// once ctx is done and the visits in progress have finished (Close), or by
// the returned cancel. Visits should run with it (or one derived from it),
// not with ctx, so that the shutdown does not cut them short.
func (g *VisitGate) Hold(ctx context.Context) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
			g.Close()
			cancel()
		case <-pctx.Done():
		}
	}()
	return pctx, cancel
}
