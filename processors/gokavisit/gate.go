// Package gokavisit lets a service stop its goka processors only after a
// table visit in progress has finished.
//
// It exists because goka v1.1.16's Processor.VisitAllWithStats reads its
// visited count racily when its processor stops mid-visit: it returns early
// and reads the count that the visits already under way still add to (the
// count it returns may be wrong, and -race fails). The services that visit
// their tables (gift card expiry, the returns saga's timeouts) therefore
// run their processors with the context of a Gate's Hold, which their
// shutdown does not cancel until the visits in progress have left, and run
// each visit between Enter and Leave:
//
//	pctx, stop := gate.Hold(ctx) // the processors run with pctx
//	defer stop()
//
//	if !gate.Enter() { // each visit, with pctx or a context derived from it
//		return 0, gokavisit.ErrClosed
//	}
//	defer gate.Leave()
//	return proc.VisitAllWithStats(vctx, visit, meta)
package gokavisit

import (
	"context"
	"fmt"
	"sync"
)

// Gate keeps a processor running until the table visits in progress have
// finished. goka v1.1.16's Processor.VisitAllWithStats returns early when
// its processor stops, then reads the visited count that visits already
// under way still add to: a data race (the count it returns may be wrong,
// and -race fails). A service that visits its table runs each visit inside
// Enter/Leave, with a context its shutdown does not cancel, and stops its
// processors only after Close returned.
//
// The zero value is an open gate.
type Gate struct {
	mu     sync.RWMutex
	closed bool
}

// Enter admits a visit; it reports false, and the visit must not start,
// once Close was called. A true Enter is paired with Leave.
func (g *Gate) Enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

// Leave ends a visit Enter admitted.
func (g *Gate) Leave() { g.mu.RUnlock() }

// Close refuses new visits and waits until the visits in progress left.
func (g *Gate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// ErrClosed is returned by a visit asked for after the service began to
// stop (Enter reported false); it matches context.Canceled.
var ErrClosed = fmt.Errorf("gokavisit: the service is stopping, no more table visits: %w", context.Canceled)

// Hold returns the context to run the processors with: it is cancelled
// once ctx is done and the visits in progress have finished (Close), or by
// the returned cancel. Visits should run with it (or one derived from it),
// not with ctx, so that the shutdown does not cut them short.
func (g *Gate) Hold(ctx context.Context) (context.Context, context.CancelFunc) {
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
