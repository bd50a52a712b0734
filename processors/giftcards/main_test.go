package giftcards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// The integration tests share one embedded broker, one running service and
// one commander; they isolate themselves by unique card keys and orders.
var (
	cluster   *kafkatest.Cluster
	commander *topics.Commander
	// cardView is a goka view of the card table, started by the first test
	// that reads it (tableView): the benchmarks measure the service alone.
	cardView struct {
		once sync.Once
		view *goka.View
		err  error
	}
	fixtureCtx context.Context
	// viewStorage holds the views' Pebble databases.
	viewStorage func(topic string, partition int32) (storage.Storage, error)
	// stateDir holds the service's Pebble tables, as in production; a
	// restarted service reopens them.
	stateDir string
	live     struct {
		sync.Mutex
		svc    *Service
		cancel context.CancelFunc
		done   chan error
	}
)

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "giftcards integration fixture:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	var err error
	if cluster, err = kafkatest.Start(); err != nil {
		return 0, err
	}
	defer cluster.Close()
	if stateDir, err = os.MkdirTemp("", "giftcards-state-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(stateDir)
	if viewStorage, err = state.NewBuilder(filepath.Join(stateDir, "views"), state.WithoutWAL()); err != nil {
		return 0, err
	}
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fixtureCtx = ctx
	if _, err := cat.Ensure(ctx, cluster.Admin, 1); err != nil {
		return 0, err
	}
	if commander, err = topics.NewCommander(ctx, cluster.Clients); err != nil {
		return 0, err
	}
	go commander.Run(ctx) //nolint:errcheck // returns nil when ctx ends
	if err := startService(); err != nil {
		return 0, err
	}
	defer stopService()
	deadline := time.Now().Add(60 * time.Second)
	for !live.svc.Ready() {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("service not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m.Run(), nil
}

// tableView returns the view of the card table, starting it (and waiting
// for its recovery) on the first call.
func tableView(t *testing.T) *goka.View {
	t.Helper()
	cardView.once.Do(func() {
		v, err := goka.NewView(cluster.Clients.Brokers(), Table, TableCodec(), cluster.Clients.ViewOptions(viewStorage)...)
		if err != nil {
			cardView.err = err
			return
		}
		go v.Run(fixtureCtx) //nolint:errcheck // returns nil when the fixture ends
		deadline := time.Now().Add(60 * time.Second)
		for !v.Recovered() {
			if time.Now().After(deadline) {
				cardView.err = fmt.Errorf("card table view not recovered after 60s")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		cardView.view = v
	})
	require.NoError(t, cardView.err)
	return cardView.view
}

// startService starts the gift card service (table state recovers from
// the changelog, so a restart resumes where the last one stopped).
func startService() error {
	// As shopstream runs them: without Pebble's log (state.WithoutWAL).
	sb, err := state.NewBuilder(filepath.Join(stateDir, "processors"), state.WithoutWAL())
	if err != nil {
		return err
	}
	svc, err := New(cluster.Clients, sb, WithExpiryInterval(time.Hour), WithHoldTTL(30*time.Minute))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	live.Lock()
	live.svc, live.cancel, live.done = svc, cancel, done
	live.Unlock()
	return nil
}

func stopService() error {
	live.Lock()
	defer live.Unlock()
	live.cancel()
	return <-live.done
}
