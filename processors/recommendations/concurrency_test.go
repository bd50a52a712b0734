package recommendations

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// Concurrent record_interaction commands for one user are serialized by
// the user's partition: every one is recorded exactly once.
func TestConcurrentRecordingForOneUser(t *testing.T) {
	t.Parallel()
	user := cluster.Unique("u")
	const n = 40
	var wg sync.WaitGroup
	versions := make(chan int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := submit(t, recordCmd(t, user, fmt.Sprint(user, "-p", i%7), InteractionTypes[i%4], ""), user)
			require.True(t, res.OK)
			var rr RecordResult
			require.NoError(t, json.Unmarshal(res.Result, &rr))
			require.True(t, rr.Recorded)
			versions <- rr.Version
		}()
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		require.False(t, seen[v], "version %d handed out twice", v)
		seen[v] = true
	}
	p := waitProfile(t, user, func(p *Profile) bool { return p.Interactions == n })
	require.Equal(t, int64(n), p.Version)
	require.Len(t, p.Affinity, 7)
}

// Concurrent inbound events for one user from several producers are all
// counted once, whatever key the foreign producers used.
func TestConcurrentInboundEventsForOneUser(t *testing.T) {
	t.Parallel()
	user := cluster.Unique("u")
	const workers, per = 4, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				view(t, user, fmt.Sprintf("%s-w%d-%d", user, w, i), time.Now())
			}
		}()
	}
	wg.Wait()
	p := waitProfile(t, user, func(p *Profile) bool { return p.Interactions == workers*per })
	require.Len(t, p.History, workers*per)
}

// A stampede of concurrent uncached requests for one user computes once.
func TestStampedeComputesOnce(t *testing.T) {
	// Not parallel: Computes counts the whole service's computations, and
	// the parallel tests compute lists of their own meanwhile.
	user, a, b := cluster.Unique("u"), cluster.Unique("a"), cluster.Unique("b")
	view(t, cluster.Unique("o"), a, time.Now())
	view(t, user, b, time.Now())
	waitProfile(t, user, func(p *Profile) bool { return len(p.History) == 1 })
	// Hold the first computation until every request is waiting on it.
	const n = 50
	before := svc.Computes()
	var wg sync.WaitGroup
	start := make(chan struct{})
	ids := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := svc.Recommend(context.Background(), user, Request{Limit: 5, Strategy: ContentBased})
			require.NoError(t, err)
			ids <- r.RecommendationID
		}()
	}
	close(start)
	wg.Wait()
	close(ids)
	distinct := map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	require.Len(t, distinct, 1, "every request got the one computed list")
	require.Equal(t, int64(1), svc.Computes()-before)
}

// Concurrent requests for many users all succeed and agree with a
// sequential request for the same user and version.
func TestConcurrentRequestsForManyUsers(t *testing.T) {
	t.Parallel()
	users := make([]string, 8)
	a, b := cluster.Unique("a"), cluster.Unique("b")
	for i := range users {
		users[i] = cluster.Unique("u")
		view(t, users[i], a, time.Now())
		view(t, users[i], b, time.Now())
	}
	for _, u := range users {
		waitProfile(t, u, func(p *Profile) bool { return len(p.History) == 2 })
	}
	var wg sync.WaitGroup
	results := make([][]string, len(users)*5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := svc.Recommend(context.Background(), users[i%len(users)], Request{Limit: 5, Strategy: Hybrid, ExcludePurchased: true})
			require.NoError(t, err)
			results[i] = ids(r.Results)
		}()
	}
	wg.Wait()
	for i := range results {
		require.Equal(t, results[i%len(users)], results[i], "same user, same list")
	}
}

// Reads during concurrent writes for one user never fail and never serve
// a list cached for an older version.
func TestConcurrentReadsAndWritesForOneUser(t *testing.T) {
	t.Parallel()
	user := cluster.Unique("u")
	view(t, user, cluster.Unique("p"), time.Now())
	waitProfile(t, user, func(p *Profile) bool { return p.Version >= 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p, err := svc.Profile(user)
				require.NoError(t, err)
				r, err := svc.Recommend(ctx, user, Request{Limit: 3, Strategy: Collaborative})
				require.NoError(t, err)
				if r.Cached {
					require.GreaterOrEqual(t, r.Version, p.Version, "a cached list is never older than the profile read before it")
				}
			}
		}()
	}
	const n = 15
	for i := range n {
		res := submit(t, recordCmd(t, user, fmt.Sprint(user, i), View, ""), user)
		require.True(t, res.OK)
	}
	env, err := NewInvalidateCache(user, "", time.Now(), topics.Actor{ID: "ops", Type: topics.ActorStaff})
	require.NoError(t, err)
	require.True(t, submit(t, env, user).OK)
	cancel()
	wg.Wait()
	// The view follows the processor a moment behind: wait for the last
	// change (the invalidation bumps only the version), then check nothing
	// was applied twice.
	p := waitProfile(t, user, func(p *Profile) bool { return p.Interactions == n+1 && p.Version >= n+2 })
	require.Equal(t, int64(n+2), p.Version)
}
