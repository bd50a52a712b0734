package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

var recFlows struct {
	once sync.Once
	err  error
	svc  *recommendations.Service
}

func startRecommendations(t *testing.T) *recommendations.Service {
	t.Helper()
	startFlows(t)
	recFlows.once.Do(func() {
		svc, err := recommendations.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder())
		if err != nil {
			recFlows.err = err
			return
		}
		go svc.Run(context.Background()) //nolint:errcheck
		deadline := time.Now().Add(60 * time.Second)
		for !svc.Ready() {
			if time.Now().After(deadline) {
				recFlows.err = context.DeadlineExceeded
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		recFlows.svc = svc
	})
	require.NoError(t, recFlows.err, "starting the recommendations service")
	return recFlows.svc
}

// TestRecommendationFlowFillsTheTables sends storefront events through the
// recommender's ingress and asks for recommendations: user_interactions gets
// one row per interaction, recommendation_cache the generated list.
func TestRecommendationFlowFillsTheTables(t *testing.T) {
	pool := migrated(t)
	svc := startRecommendations(t)
	ctx := context.Background()
	user, other := cluster.Unique("user"), cluster.Unique("user")
	p := cluster.Producer(t)
	send := func(topic, userID, product string) {
		env, err := topics.NewEnvelope(topic, time.Now(), map[string]any{"user_id": userID, "product_id": product,
			"session_id": "s1", "source": "web", "quantity": 1})
		require.NoError(t, err)
		b, err := env.Encode()
		require.NoError(t, err)
		require.NoError(t, p.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(userID), Value: b}).FirstErr())
	}
	// Both users look at the same products; user also puts one in the cart.
	for i := range 3 {
		send(topics.ProductViewed, user, fmt.Sprintf("prod-%d", i))
		send(topics.ProductViewed, other, fmt.Sprintf("prod-%d", i))
	}
	send(topics.ProductViewed, other, "prod-9")
	send(topics.CartItemAdded, user, "prod-1")
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		prof, err := svc.Profile(user)
		return err == nil && prof != nil && prof.Version >= 4
	}, "the profile of %s", user)

	recs, err := svc.Recommend(ctx, user, recommendations.Request{Limit: 5, Strategy: recommendations.Hybrid})
	require.NoError(t, err)

	s, err := New(Recommendations(), pool, cluster.Clients, WithRetryBackoff(100*time.Millisecond))
	require.NoError(t, err)
	start(t, s)

	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var n int
		return pool.QueryRow(ctx, "SELECT count(*) FROM recommendation_cache WHERE user_id = $1", user).Scan(&n) == nil && n == 1
	})
	rows, err := pool.Query(ctx, "SELECT interaction_type, product_id, weight FROM user_interactions WHERE user_id = $1 ORDER BY created_at, id", user)
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var typ, product string
		var weight float64
		require.NoError(t, rows.Scan(&typ, &product, &weight))
		require.Equal(t, recommendations.DefaultWeights.Of(recommendations.InteractionType(typ)), weight)
		got = append(got, typ+":"+product)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{"view:prod-0", "view:prod-1", "view:prod-2", "cart_add:prod-1"}, got)

	var strategy string
	var version int64
	var list []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT strategy, version, recommendations FROM recommendation_cache WHERE user_id = $1", user).
		Scan(&strategy, &version, &list))
	require.Equal(t, string(recommendations.Hybrid), strategy)
	require.Equal(t, recs.Version, version, "the profile version the list was computed from")
	var items []recommendations.Ranked
	require.NoError(t, json.Unmarshal(list, &items))
	require.Len(t, items, len(recs.Results))
	for i, it := range items {
		require.Equal(t, recs.Results[i].ProductID, it.ProductID)
		require.Equal(t, i+1, it.Position)
	}
	require.Zero(t, s.Stats().DeadLetters.Load())
}
