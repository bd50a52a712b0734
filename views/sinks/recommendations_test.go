package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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
// recommender's ingress, records one interaction through the
// record_interaction command and asks for recommendations: user_interactions
// gets one row per recorded interaction with the weight the user processor
// gave it (commands included), recommendation_cache the generated list with
// its expiry, product_similarities the neighbour lists the service publishes.
func TestRecommendationFlowFillsTheTables(t *testing.T) {
	pool := migrated(t)
	svc := startRecommendations(t)
	ctx := context.Background()
	user, other := cluster.Unique("user"), cluster.Unique("user")
	prod := func(i int) string { return fmt.Sprintf("%s-prod-%d", user, i) }
	p := cluster.Producer(t)
	send := func(topic, userID, product string) {
		env, err := topics.NewEnvelope(topic, time.Now(), map[string]any{"user_id": userID, "product_id": product,
			"session_id": "s1", "source": "web", "quantity": 1})
		require.NoError(t, err)
		b, err := env.Encode()
		require.NoError(t, err)
		require.NoError(t, p.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(userID), Value: b}).FirstErr())
	}
	// Both users look at the same products; user also puts one in the cart
	// and, through the command, buys two of another.
	for i := range 3 {
		send(topics.ProductViewed, user, prod(i))
		send(topics.ProductViewed, other, prod(i))
	}
	send(topics.ProductViewed, other, prod(9))
	send(topics.CartItemAdded, user, prod(1))
	res := submit(t, topics.RecommendationsCommands, user, recommendations.TypeRecordInteraction,
		recommendations.RecordInteraction{UserID: user, ProductID: prod(5), InteractionType: recommendations.Purchase, Quantity: 2},
		topics.Actor{ID: user, Type: topics.ActorCustomer})
	require.True(t, resultOf[recommendations.RecordResult](t, res).Recorded)
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		prof, err := svc.Profile(user)
		return err == nil && prof != nil && prof.Version >= 5
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
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var n int
		return pool.QueryRow(ctx, "SELECT count(*) FROM user_interactions WHERE user_id = $1", user).Scan(&n) == nil && n == 5
	})

	t.Run("every recorded interaction with its weight", func(t *testing.T) {
		rows, err := pool.Query(ctx, "SELECT event_id, interaction_type, product_id, weight, metadata FROM user_interactions WHERE user_id = $1", user)
		require.NoError(t, err)
		got := map[string]float64{}
		var purchaseEvent string
		var purchaseMeta map[string]any
		for rows.Next() {
			var id, typ, product string
			var weight float64
			var meta map[string]any
			require.NoError(t, rows.Scan(&id, &typ, &product, &weight, &meta))
			got[typ+":"+product] = weight
			if typ == string(recommendations.Purchase) {
				purchaseEvent, purchaseMeta = id, meta
			}
		}
		require.NoError(t, rows.Err())
		w := recommendations.DefaultWeights
		require.Equal(t, map[string]float64{"view:" + prod(0): w.View, "view:" + prod(1): w.View, "view:" + prod(2): w.View,
			"cart_add:" + prod(1): w.CartAdd, "purchase:" + prod(5): w.Purchase * (1 + math.Log(2))}, got)
		require.Equal(t, res.CommandID, purchaseEvent, "a command's interaction is identified by its command ID")
		require.Equal(t, float64(2), purchaseMeta["quantity"])
	})

	t.Run("the generated list with its expiry", func(t *testing.T) {
		var strategy string
		var version int64
		var list []byte
		var expires *time.Time
		var created time.Time
		require.NoError(t, pool.QueryRow(ctx, "SELECT strategy, version, recommendations, expires_at, created_at FROM recommendation_cache WHERE user_id = $1", user).
			Scan(&strategy, &version, &list, &expires, &created))
		require.Equal(t, string(recommendations.Hybrid), strategy)
		require.Equal(t, recs.Version, version, "the profile version the list was computed from")
		require.NotNil(t, expires)
		require.WithinDuration(t, recs.ExpiresAt, *expires, time.Microsecond)
		require.WithinDuration(t, created.Add(time.Hour), *expires, time.Second, "the default cache TTL")
		var items []recommendations.Ranked
		require.NoError(t, json.Unmarshal(list, &items))
		// The cached list is the ranking to the cache depth; the response
		// was its first Limit entries.
		require.GreaterOrEqual(t, len(items), len(recs.Results))
		for i, it := range items {
			require.Equal(t, i+1, it.Position)
			if i < len(recs.Results) {
				require.Equal(t, recs.Results[i].ProductID, it.ProductID)
			}
		}
	})

	t.Run("product similarities from the published neighbour lists", func(t *testing.T) {
		// prod-0 was seen with prod-1 and prod-2 by both users, with prod-5
		// and prod-9 by one each.
		want := map[string]bool{prod(1): true, prod(2): true, prod(5): true, prod(9): true}
		var got map[string]float64
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			rows, err := pool.Query(ctx, `SELECT similar_product_id, similarity_score FROM product_similarities
				WHERE product_id = $1 AND similarity_type = 'cosine'`, prod(0))
			if err != nil {
				return false
			}
			got = map[string]float64{}
			for rows.Next() {
				var id string
				var score float64
				if rows.Scan(&id, &score) != nil {
					return false
				}
				got[id] = score
			}
			return rows.Err() == nil && len(got) == len(want)
		}, "similarities of %s", prod(0))
		for id, score := range got {
			require.True(t, want[id], "unexpected neighbour %s", id)
			require.Greater(t, score, 0.0)
			require.LessOrEqual(t, score, 1.0)
		}
		require.Greater(t, got[prod(1)], got[prod(9)], "two shared users weigh more than one")
	})
	require.Zero(t, s.Stats().DeadLetters.Load())
}

func TestMapSimilarities(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	event := func(t *testing.T, u recommendations.SimilaritiesUpdated) *topics.Envelope {
		t.Helper()
		env, err := topics.NewEnvelope(recommendations.TypeSimilaritiesUpdated, at, u)
		require.NoError(t, err)
		return env
	}
	cases := []struct {
		name    string
		u       recommendations.SimilaritiesUpdated
		want    [][]any
		wantErr bool
	}{
		{"neighbours and bought together", recommendations.SimilaritiesUpdated{ProductID: "a", Version: 7, Similarity: recommendations.Cosine,
			Neighbours:     []recommendations.Neighbour{{ProductID: "b", Score: 0.8, Count: 4}, {ProductID: "c", Score: 0.5, Count: 2}},
			BoughtTogether: []recommendations.Neighbour{{ProductID: "b", Score: 1, Count: 3}}},
			[][]any{{"product_similarity_lists", "a", "cosine", at},
				{"product_similarities", "a", "b", "cosine", 0.8, at}, {"product_similarities", "a", "c", "cosine", 0.5, at},
				{"product_similarity_lists", "a", SimilarityBoughtTogether, at},
				{"product_similarities", "a", "b", SimilarityBoughtTogether, 1.0, at}}, false},
		{"no neighbours yet: two empty lists", recommendations.SimilaritiesUpdated{ProductID: "a", Version: 1, Similarity: recommendations.Jaccard},
			[][]any{{"product_similarity_lists", "a", "jaccard", at}, {"product_similarity_lists", "a", SimilarityBoughtTogether, at}}, false},
		{"bought together as the similarity", recommendations.SimilaritiesUpdated{ProductID: "a", Similarity: SimilarityBoughtTogether}, nil, true},
		{"no product", recommendations.SimilaritiesUpdated{Similarity: recommendations.Cosine}, nil, true},
		{"a score above 1", recommendations.SimilaritiesUpdated{ProductID: "a", Similarity: recommendations.Cosine,
			Neighbours: []recommendations.Neighbour{{ProductID: "b", Score: 1.5}}}, nil, true},
		{"the product as its own neighbour", recommendations.SimilaritiesUpdated{ProductID: "a", Similarity: recommendations.Cosine,
			Neighbours: []recommendations.Neighbour{{ProductID: "a", Score: 1}}}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := event(t, tc.u)
			rows, err := mapRecommendations(env, nil)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrMalformedEvent)
				return
			}
			require.NoError(t, err)
			got := make([][]any, 0, len(rows))
			for _, r := range rows {
				require.Contains(t, []*Table{ProductSimilarityListsTable, ProductSimilaritiesTable}, r.Table)
				require.Equal(t, Order{Version: tc.u.Version, OccurredAt: at, EventID: env.ID}, r.Order)
				got = append(got, append([]any{r.Table.Name}, r.Values...))
			}
			require.Equal(t, tc.want, got)
			require.NoError(t, checkSets(rows))
		})
	}
}

func TestMapInteractionWeights(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	batch := recommendations.Batch{UserID: "u", OccurredAt: at, Items: []recommendations.Interaction{
		{EventID: "e1", ProductID: "p", Type: recommendations.CartAdd, Weight: 7.5}}}
	cases := []struct {
		name string
		typ  string
		want float64
	}{
		{"a recorded interaction keeps its weight", recommendations.TypeInteractionRecorded, 7.5},
		{"an interaction batch of the older type gets the default", recommendations.TypeInteraction, recommendations.DefaultWeights.CartAdd},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := topics.NewEnvelope(tc.typ, at, batch)
			require.NoError(t, err)
			rows, err := mapRecommendations(env, nil)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, tc.want, rows[0].Values[4])
		})
	}
}
