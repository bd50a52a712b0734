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

	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// The integration tests share one embedded broker, one running service and
// one commander; they isolate themselves by unique card keys and orders.
var (
	cluster   *kafkatest.Cluster
	commander *topics.Commander
	cardView  *goka.View
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
	viewStorage, err := state.NewBuilder(filepath.Join(stateDir, "views"), state.WithoutWAL())
	if err != nil {
		return 0, err
	}
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	if cardView, err = goka.NewView(cluster.Clients.Brokers(), Table, TableCodec(),
		cluster.Clients.ViewOptions(viewStorage)...); err != nil {
		return 0, err
	}
	go cardView.Run(ctx) //nolint:errcheck
	deadline := time.Now().Add(60 * time.Second)
	for !(live.svc.Ready() && cardView.Recovered()) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("service not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m.Run(), nil
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
