package gokavisit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/gokavisit"
)

func TestGate(t *testing.T) {
	t.Run("close waits for the visit in progress", func(t *testing.T) {
		var g gokavisit.Gate
		require.True(t, g.Enter())
		closed := make(chan struct{})
		go func() { g.Close(); close(closed) }()
		select {
		case <-closed:
			t.Fatal("Close returned while a visit was in progress")
		case <-time.After(50 * time.Millisecond):
		}
		g.Leave()
		<-closed
		require.False(t, g.Enter(), "no visit starts after Close")
	})
	t.Run("the processors' context outlives ctx until the visit left", func(t *testing.T) {
		var g gokavisit.Gate
		ctx, cancel := context.WithCancel(context.Background())
		pctx, stop := g.Hold(ctx)
		defer stop()
		require.True(t, g.Enter())
		cancel()
		select {
		case <-pctx.Done():
			t.Fatal("the processors' context ended under a visit")
		case <-time.After(50 * time.Millisecond):
		}
		g.Leave()
		select {
		case <-pctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the processors' context did not end after the visit")
		}
		require.False(t, g.Enter())
	})
	t.Run("without a visit the processors stop with ctx", func(t *testing.T) {
		var g gokavisit.Gate
		ctx, cancel := context.WithCancel(context.Background())
		pctx, stop := g.Hold(ctx)
		defer stop()
		cancel()
		select {
		case <-pctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the processors' context did not end")
		}
	})
	t.Run("its cancel stops the processors and leaves the gate open", func(t *testing.T) {
		var g gokavisit.Gate
		pctx, stop := g.Hold(context.Background())
		stop()
		<-pctx.Done()
		require.True(t, g.Enter())
		g.Leave()
	})
	t.Run("visits racing a close", func(t *testing.T) {
		var g gokavisit.Gate
		var wg sync.WaitGroup
		var mu sync.Mutex
		inside, closedWhileInside := 0, false
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					if !g.Enter() {
						return
					}
					mu.Lock()
					inside++
					mu.Unlock()
					mu.Lock()
					inside--
					mu.Unlock()
					g.Leave()
				}
			}()
		}
		time.Sleep(time.Millisecond)
		g.Close()
		mu.Lock()
		closedWhileInside = inside != 0
		mu.Unlock()
		wg.Wait()
		require.False(t, closedWhileInside, "Close returned with a visit inside")
		require.ErrorIs(t, gokavisit.ErrClosed, context.Canceled)
	})
}
