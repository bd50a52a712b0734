package recommendations

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

var (
	cluster   *kafkatest.Cluster
	svc       *Service
	commander *topics.Commander
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	cluster, err = kafkatest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cluster.Close()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := cat.Ensure(ctx, cluster.Admin, 1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	svc, err = New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), WithIndexRefresh(100*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	if commander, err = topics.NewCommander(ctx, cluster.Clients); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = commander.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !svc.Ready() {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "recommendations service did not become ready")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := m.Run()
	cancel()
	<-done
	return code
}

// produce writes an inbound event under a key that is deliberately not the
// user (a foreign producer's hint only).
func produce(t testing.TB, topic, key string, env *topics.Envelope) {
	t.Helper()
	b, err := env.Encode()
	require.NoError(t, err)
	require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr())
}

var (
	prodOnce sync.Once
	prod     *kgo.Client
)

func producer(t testing.TB) *kgo.Client {
	prodOnce.Do(func() {
		var err error
		prod, err = kgo.NewClient(cluster.Clients.Kgo()...)
		require.NoError(t, err)
	})
	return prod
}

func inbound(t testing.TB, typ string, at time.Time, data any) *topics.Envelope {
	t.Helper()
	env, err := topics.NewEnvelope(typ, at, data, topics.WithActor(topics.Actor{ID: "x", Type: topics.ActorCustomer}))
	require.NoError(t, err)
	return env
}

func view(t testing.TB, user, product string, at time.Time) {
	t.Helper()
	produce(t, topics.ProductViewed, "foreign-"+product, inbound(t, topics.ProductViewed, at,
		map[string]any{"user_id": user, "product_id": product, "session_id": "s", "source": "search"}))
}

func order(t testing.TB, user, id string, at time.Time, products ...string) {
	t.Helper()
	var lines []map[string]any
	for i, p := range products {
		lines = append(lines, map[string]any{"line_item_id": fmt.Sprint("li", i), "product_id": p, "quantity": 1, "unit_price": "10.00"})
	}
	produce(t, topics.OrderCompleted, id, inbound(t, topics.OrderCompleted, at,
		map[string]any{"order_id": id, "user_id": user, "currency": "USD", "line_items": lines, "total": "10.00"}))
}

func publishProduct(t testing.TB, id, brand string, active bool, cats []string, attrs map[string]string) {
	t.Helper()
	produce(t, topics.ProductUpdated, id, inbound(t, topics.ProductUpdated, time.Now(),
		map[string]any{"product_id": id, "brand": brand, "categories": cats, "attributes": attrs, "price": "9.99", "currency": "USD", "active": active}))
}

func waitProfile(t testing.TB, user string, cond func(p *Profile) bool) *Profile {
	t.Helper()
	var last *Profile
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		p, err := svc.Profile(user)
		require.NoError(t, err)
		last = p
		return p != nil && cond(p)
	}, "profile of %s", user)
	return last
}

func waitItem(t testing.TB, product string, cond func(it *Item) bool) {
	t.Helper()
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		it, err := svc.engine.store.Item(product)
		require.NoError(t, err)
		return it != nil && cond(it)
	}, "item %s", product)
}

// consume reads topic from the start until match returns true.
func consume(t testing.TB, topic string, match func(r *kgo.Record) bool) {
	t.Helper()
	c, err := kgo.NewClient(cluster.Clients.Kgo(kgo.ConsumeTopics(topic))...)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		fs := c.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "no matching record on %s", topic)
		found := false
		fs.EachRecord(func(r *kgo.Record) {
			if !found && match(r) {
				found = true
			}
		})
		if found {
			return
		}
	}
}

func submit(t testing.TB, env *topics.Envelope, user string) *topics.CommandResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := commander.Submit(ctx, topics.RecommendationsCommands, user, env)
	require.NoError(t, err)
	return res
}

func recordCmd(t testing.TB, user, product string, typ InteractionType, id string) *topics.Envelope {
	t.Helper()
	env, err := NewRecordInteraction(RecordInteraction{UserID: user, ProductID: product, InteractionType: typ}, id, time.Now(),
		topics.Actor{ID: user, Type: topics.ActorCustomer})
	require.NoError(t, err)
	return env
}

func TestIntegrationViewsAreConsumedAndRekeyedByUser(t *testing.T) {
	t.Parallel()
	user, p1, p2 := cluster.Unique("u"), cluster.Unique("p"), cluster.Unique("p")
	view(t, user, p1, time.Now())
	view(t, user, p2, time.Now())
	p := waitProfile(t, user, func(p *Profile) bool { return len(p.History) == 2 })
	require.Equal(t, View, p.History[0].Type)
	waitItem(t, p2, func(it *Item) bool { return it.Co[p1] == 1 })
}

func TestIntegrationEveryInteractionTypeIsRecorded(t *testing.T) {
	t.Parallel()
	user := cluster.Unique("u")
	at := time.Now()
	pv, pc, pw, pp := cluster.Unique("v"), cluster.Unique("c"), cluster.Unique("w"), cluster.Unique("b")
	view(t, user, pv, at)
	produce(t, topics.CartItemAdded, "k", inbound(t, topics.CartItemAdded, at, map[string]any{"user_id": user, "product_id": pc, "quantity": 1, "cart_id": "c1"}))
	produce(t, topics.WishlistItemAdded, "k", inbound(t, topics.WishlistItemAdded, at, map[string]any{"user_id": user, "product_id": pw, "wishlist_id": "w1"}))
	order(t, user, cluster.Unique("o"), at, pp)
	p := waitProfile(t, user, func(p *Profile) bool { return len(p.History) == 4 })
	top := p.TopAffinities(4, 14*24*time.Hour)
	require.Equal(t, []string{pp, pc, pw, pv}, []string{top[0].ProductID, top[1].ProductID, top[2].ProductID, top[3].ProductID})
	require.True(t, p.HasPurchased(pp))
}

func TestIntegrationRedeliveredEventCountsOnce(t *testing.T) {
	t.Parallel()
	user, prod := cluster.Unique("u"), cluster.Unique("p")
	env := inbound(t, topics.ProductViewed, time.Now(), map[string]any{"user_id": user, "product_id": prod})
	produce(t, topics.ProductViewed, "a", env)
	produce(t, topics.ProductViewed, "b", env)
	view(t, user, cluster.Unique("p"), time.Now())
	waitProfile(t, user, func(p *Profile) bool { return p.Interactions >= 2 })
	time.Sleep(200 * time.Millisecond) // a third count, if the duplicate were applied, would land by now
	p := waitProfile(t, user, func(*Profile) bool { return true })
	require.Equal(t, int64(2), p.Interactions)
}

func TestIntegrationInvalidEventsGoToTheDLQ(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, topic string
		value       []byte
		code        string
	}{
		{"not json", topics.ProductViewed, []byte("{nope"), ""},
		{"view without user", topics.ProductViewed, nil, CodeInvalidUser},
		{"cart with bad type of quantity", topics.CartItemAdded, nil, CodeInvalidEvent},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := cluster.Unique("bad")
			v := tc.value
			switch i {
			case 0:
				v = []byte("{nope" + marker)
			case 1:
				b, _ := inbound(t, topics.ProductViewed, time.Now(), map[string]any{"product_id": marker}).Encode()
				v = b
			case 2:
				b, _ := inbound(t, topics.CartItemAdded, time.Now(), map[string]any{"user_id": "u", "product_id": marker, "quantity": "two"}).Encode()
				v = b
			}
			require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: tc.topic, Key: []byte(marker), Value: v}).FirstErr())
			consume(t, topics.DLQ(string(IngressGroup)), func(r *kgo.Record) bool {
				var dl topics.DeadLetter
				if json.Unmarshal(r.Value, &dl) != nil || string(dl.Key) != marker {
					return false
				}
				require.Equal(t, tc.topic, dl.Topic)
				require.NotEmpty(t, dl.Reason)
				require.Equal(t, tc.code, dl.Code)
				return true
			})
		})
	}
}

func TestIntegrationCollaborativeEndToEnd(t *testing.T) {
	t.Parallel()
	a, b, c := cluster.Unique("a"), cluster.Unique("b"), cluster.Unique("c")
	at := time.Now()
	for range 3 {
		u := cluster.Unique("u")
		view(t, u, a, at)
		view(t, u, b, at)
	}
	u := cluster.Unique("u")
	view(t, u, a, at)
	view(t, u, c, at)
	waitItem(t, a, func(it *Item) bool { return it.Co[b] == 3 && it.Co[c] == 1 })
	me := cluster.Unique("me")
	view(t, me, a, at)
	waitProfile(t, me, func(p *Profile) bool { return len(p.History) == 1 })
	r, err := svc.Recommend(context.Background(), me, Request{Limit: 2, Strategy: Collaborative})
	require.NoError(t, err)
	require.Equal(t, []string{b, c}, ids(r.Results))
	require.Equal(t, ReasonCollaborative, r.Results[0].Reason)
	require.False(t, r.Cached)
}

func TestIntegrationFrequentlyBoughtTogether(t *testing.T) {
	t.Parallel()
	tent, stakes, lamp := cluster.Unique("tent"), cluster.Unique("stakes"), cluster.Unique("lamp")
	at := time.Now()
	order(t, cluster.Unique("u"), cluster.Unique("o"), at, tent, stakes, lamp)
	order(t, cluster.Unique("u"), cluster.Unique("o"), at, tent, stakes)
	waitItem(t, tent, func(it *Item) bool { return it.Orders == 2 })
	rs, err := svc.FrequentlyBoughtTogether(tent, 5)
	require.NoError(t, err)
	require.Equal(t, []string{stakes, lamp}, ids(rs))
	require.Equal(t, "1", rs[0].Score.String())
	require.Equal(t, "0.5", rs[1].Score.String())
}

func TestIntegrationCatalogSimilarAndInactive(t *testing.T) {
	t.Parallel()
	// The brand is unique too: the catalog is shared by every test (and by
	// every -count iteration), and a product of the same brand and colour
	// is similar (0.15 + 0.35) even without a shared category.
	cat, brand := cluster.Unique("cat"), cluster.Unique("Acme")
	shirt, shirt2, gone := cluster.Unique("shirt"), cluster.Unique("shirt2"), cluster.Unique("gone")
	publishProduct(t, shirt, brand, true, []string{cat}, map[string]string{"color": "red"})
	publishProduct(t, shirt2, brand, true, []string{cat}, map[string]string{"color": "red"})
	publishProduct(t, gone, brand, false, []string{cat}, map[string]string{"color": "red"})
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		rs, err := svc.SimilarProducts(shirt, 10)
		return err == nil && len(rs) == 1
	})
	rs, err := svc.SimilarProducts(shirt, 10)
	require.NoError(t, err)
	require.Equal(t, []string{shirt2}, ids(rs), "the inactive product is never recommended")
	require.Equal(t, ReasonSimilar, rs[0].Reason)

	me := cluster.Unique("me")
	view(t, me, shirt, time.Now())
	waitProfile(t, me, func(p *Profile) bool { return len(p.History) == 1 })
	r, err := svc.Recommend(context.Background(), me, Request{Limit: 5, Strategy: ContentBased})
	require.NoError(t, err)
	require.Equal(t, shirt2, r.Results[0].ProductID)
	require.NotContains(t, ids(r.Results), gone)
}

func TestIntegrationGeneratedEventAndCache(t *testing.T) {
	t.Parallel()
	a, b := cluster.Unique("a"), cluster.Unique("b")
	other := cluster.Unique("u")
	view(t, other, a, time.Now())
	view(t, other, b, time.Now())
	me := cluster.Unique("me")
	view(t, me, a, time.Now())
	waitProfile(t, me, func(p *Profile) bool { return len(p.History) == 1 })
	waitItem(t, a, func(it *Item) bool { return it.Co[b] == 1 })
	req := Request{Limit: 3, Strategy: Hybrid, ExcludePurchased: true}
	first, err := svc.Recommend(context.Background(), me, req)
	require.NoError(t, err)
	require.False(t, first.Cached)

	t.Run("recommendations.generated carries the list with positions", func(t *testing.T) {
		consume(t, topics.RecommendationsGenerated, func(r *kgo.Record) bool {
			env, err := topics.DecodeEnvelope(r.Value)
			require.NoError(t, err)
			g, err := topics.DecodeData[Generated](env)
			require.NoError(t, err)
			if g.RecommendationID != first.RecommendationID {
				return false
			}
			require.Equal(t, me, string(r.Key))
			require.Equal(t, Hybrid, g.Strategy)
			require.Equal(t, 1, g.Items[0].Position)
			require.Equal(t, b, g.Items[0].ProductID)
			require.WithinDuration(t, env.OccurredAt.Add(time.Hour), g.ExpiresAt, time.Second, "the default cache TTL")
			require.Equal(t, first.ExpiresAt.UnixNano(), g.ExpiresAt.UnixNano())
			return true
		})
	})
	t.Run("the profile caches it; later requests are served from the view", func(t *testing.T) {
		waitProfile(t, me, func(p *Profile) bool { _, ok := p.Cached(Hybrid, true); return ok })
		again, err := svc.Recommend(context.Background(), me, req)
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, first.RecommendationID, again.RecommendationID)
	})
	t.Run("the next interaction invalidates", func(t *testing.T) {
		view(t, me, b, time.Now())
		waitProfile(t, me, func(p *Profile) bool { return len(p.History) == 2 })
		again, err := svc.Recommend(context.Background(), me, req)
		require.NoError(t, err)
		require.False(t, again.Cached)
		require.NotEqual(t, first.RecommendationID, again.RecommendationID)
	})
	t.Run("explicit invalidation", func(t *testing.T) {
		waitProfile(t, me, func(p *Profile) bool { _, ok := p.Cached(Hybrid, true); return ok })
		env, err := NewInvalidateCache(me, "", time.Now(), topics.Actor{ID: "ops", Type: topics.ActorStaff})
		require.NoError(t, err)
		res := submit(t, env, me)
		require.True(t, res.OK, "%+v", res.Error)
		var ir InvalidateResult
		require.NoError(t, json.Unmarshal(res.Result, &ir))
		require.True(t, ir.Cleared)
		require.True(t, ir.HadCache)
		require.NoError(t, svc.WaitVersion(context.Background(), me, ir.Version))
		again, err := svc.Recommend(context.Background(), me, req)
		require.NoError(t, err)
		require.False(t, again.Cached)
	})
}

func TestIntegrationRecordInteractionCommand(t *testing.T) {
	t.Parallel()
	user, prod := cluster.Unique("u"), cluster.Unique("p")
	env := recordCmd(t, user, prod, Wishlist, "")
	res := submit(t, env, user)
	require.True(t, res.OK)
	var rr RecordResult
	require.NoError(t, json.Unmarshal(res.Result, &rr))
	require.True(t, rr.Recorded)
	require.Equal(t, int64(1), rr.Version)
	t.Run("repeat is replayed, not recorded again", func(t *testing.T) {
		res := submit(t, env, user)
		require.True(t, res.OK)
		require.True(t, res.Replayed)
		p := waitProfile(t, user, func(*Profile) bool { return true })
		require.Equal(t, int64(1), p.Interactions)
	})
	t.Run("same ID, other payload is a conflict", func(t *testing.T) {
		other := recordCmd(t, user, prod, Purchase, env.CommandID)
		res := submit(t, other, user)
		require.False(t, res.OK)
		require.Equal(t, topics.CodeIdempotencyConflict, res.Error.Code)
	})
	t.Run("invalid interaction type fails with its code", func(t *testing.T) {
		bad, err := topics.NewEnvelope(TypeRecordInteraction, time.Now(), RecordInteraction{UserID: user, ProductID: prod, InteractionType: "like"},
			topics.WithCommandID(topics.NewID()))
		require.NoError(t, err)
		res := submit(t, bad, user)
		require.False(t, res.OK)
		require.Equal(t, CodeInvalidInteraction, res.Error.Code)
	})
	t.Run("blank user is refused at the edge", func(t *testing.T) {
		_, err := NewRecordInteraction(RecordInteraction{ProductID: prod, InteractionType: View}, "", time.Now(), topics.Actor{})
		require.ErrorIs(t, err, ErrInvalidUser)
		_, err = svc.Recommend(context.Background(), " ", DefaultRequest())
		require.ErrorIs(t, err, ErrInvalidUser)
	})
}

func TestIntegrationClickBecomesInteraction(t *testing.T) {
	t.Parallel()
	user, prod, rec := cluster.Unique("u"), cluster.Unique("p"), cluster.Unique("r")
	env, err := NewClick(Click{RecommendationID: rec, UserID: user, ProductID: prod, Position: 2}, time.Now(), topics.Actor{ID: user, Type: topics.ActorCustomer})
	require.NoError(t, err)
	require.NoError(t, commander.Produce(context.Background(), topics.RecommendationsClicked, user, env))
	p := waitProfile(t, user, func(p *Profile) bool { return len(p.History) == 1 })
	require.Equal(t, prod, p.History[0].ProductID)
	require.Equal(t, View, p.History[0].Type)
}

func TestIntegrationColdUserGetsPopular(t *testing.T) {
	t.Parallel()
	hit := cluster.Unique("hit")
	for range 3 {
		order(t, cluster.Unique("u"), cluster.Unique("o"), time.Now(), hit)
	}
	waitItem(t, hit, func(it *Item) bool { return it.Orders == 3 })
	kafkatest.Eventually(t, 10*time.Second, func() bool { return svc.index.Load().PopularityOf(hit) > 0 })
	r, err := svc.Recommend(context.Background(), cluster.Unique("cold"), Request{Limit: MaxLimit, Strategy: Hybrid})
	require.NoError(t, err)
	require.True(t, r.Fallback)
	require.Contains(t, ids(r.Results), hit)
	require.Equal(t, ReasonPopular, r.Results[0].Reason)
}

func TestIntegrationBadIncrementGoesToItemsDLQ(t *testing.T) {
	t.Parallel()
	key := cluster.Unique("p")
	require.NoError(t, producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topics.RecommendationsIncrements,
		Key: []byte(key), Value: []byte(`{"product_id":"someone-else"}`)}).FirstErr())
	consume(t, topics.DLQ(string(ItemsGroup)), func(r *kgo.Record) bool {
		var dl topics.DeadLetter
		return json.Unmarshal(r.Value, &dl) == nil && string(dl.Key) == key
	})
}

// decodeRecorded decodes a record of topics.RecommendationsRecorded.
func decodeRecorded(t testing.TB, r *kgo.Record) Batch {
	t.Helper()
	env, err := topics.DecodeEnvelope(r.Value)
	require.NoError(t, err)
	require.Equal(t, TypeInteractionRecorded, env.Type)
	b, err := topics.DecodeData[Batch](env)
	require.NoError(t, err)
	require.Equal(t, b.UserID, string(r.Key), "keyed by user")
	return b
}

func TestIntegrationRecordedInteractionsCarryTheirWeight(t *testing.T) {
	t.Parallel()
	user, prod, viewed := cluster.Unique("u"), cluster.Unique("p"), cluster.Unique("p")
	cmd := recordCmd(t, user, prod, Purchase, "")
	require.True(t, submit(t, cmd, user).OK)
	view(t, user, viewed, time.Now())
	cases := []struct {
		name    string
		eventID func(Interaction) bool
		typ     InteractionType
		weight  float64
	}{
		{"a record_interaction command", func(it Interaction) bool { return it.EventID == cmd.CommandID }, Purchase, DefaultWeights.Purchase},
		{"an inbound product.viewed", func(it Interaction) bool { return it.ProductID == viewed }, View, DefaultWeights.View},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			consume(t, topics.RecommendationsRecorded, func(r *kgo.Record) bool {
				if string(r.Key) != user {
					return false
				}
				b := decodeRecorded(t, r)
				for _, it := range b.Items {
					if tc.eventID(it) {
						require.Equal(t, tc.typ, it.Type)
						require.Equal(t, tc.weight, it.Weight)
						return true
					}
				}
				return false
			})
		})
	}
	t.Run("a repeated command records nothing more", func(t *testing.T) {
		res := submit(t, cmd, user)
		require.True(t, res.Replayed)
		// A later interaction marks the end: the user's records are in order
		// on one partition, so a duplicate would come before it.
		marker := cluster.Unique("p")
		view(t, user, marker, time.Now())
		var seen []string
		consume(t, topics.RecommendationsRecorded, func(r *kgo.Record) bool {
			if string(r.Key) != user {
				return false
			}
			for _, it := range decodeRecorded(t, r).Items {
				seen = append(seen, it.ProductID)
			}
			return slices.Contains(seen, marker)
		})
		require.ElementsMatch(t, []string{prod, viewed, marker}, seen)
	})
}

func TestIntegrationSimilaritiesUpdatedIsPublished(t *testing.T) {
	t.Parallel()
	a, b, c := cluster.Unique("a"), cluster.Unique("b"), cluster.Unique("c")
	at := time.Now()
	for range 2 {
		u := cluster.Unique("u")
		view(t, u, a, at)
		view(t, u, b, at)
	}
	// The buyer of a and c is a third user with both: one co-occurrence.
	order(t, cluster.Unique("u"), cluster.Unique("o"), at, a, c)
	waitItem(t, a, func(it *Item) bool { return it.Co[b] == 2 && it.Co[c] == 1 && it.Orders == 1 })
	var got SimilaritiesUpdated
	consume(t, topics.RecommendationsSimilarities, func(r *kgo.Record) bool {
		if string(r.Key) != a {
			return false
		}
		env, err := topics.DecodeEnvelope(r.Value)
		require.NoError(t, err)
		require.Equal(t, TypeSimilaritiesUpdated, env.Type)
		got, err = topics.DecodeData[SimilaritiesUpdated](env)
		require.NoError(t, err)
		// Earlier publications may show the counts part way.
		return len(got.Neighbours) == 2 && len(got.BoughtTogether) == 1 && got.Neighbours[0].Count == 2
	})
	require.Equal(t, a, got.ProductID)
	require.Equal(t, Cosine, got.Similarity)
	require.Equal(t, b, got.Neighbours[0].ProductID)
	require.Equal(t, c, got.Neighbours[1].ProductID)
	require.Greater(t, got.Neighbours[0].Score, got.Neighbours[1].Score)
	require.Equal(t, []Neighbour{{ProductID: c, Score: 1, Count: 1}}, got.BoughtTogether)
	require.Positive(t, got.Version)
}

func TestIntegrationRebuildFromKafkaReadsTheWindow(t *testing.T) {
	t.Parallel()
	a, b, c := cluster.Unique("a"), cluster.Unique("b"), cluster.Unique("c")
	now := time.Now()
	// recorded produces a recorded-interaction batch of a new user who saw
	// both products, as if the user processor had written it at `at`.
	recorded := func(at time.Time, x, y string) {
		user := cluster.Unique("u")
		batch := Batch{UserID: user, OccurredAt: at, Items: []Interaction{
			{EventID: cluster.Unique("e"), ProductID: x, Type: View, Weight: 1},
			{EventID: cluster.Unique("e"), ProductID: y, Type: View, Weight: 1}}}
		env, err := topics.NewEnvelope(TypeInteractionRecorded, at, batch)
		require.NoError(t, err)
		raw, err := env.Encode()
		require.NoError(t, err)
		require.NoError(t, producer(t).ProduceSync(context.Background(),
			&kgo.Record{Topic: topics.RecommendationsRecorded, Key: []byte(user), Value: raw, Timestamp: at}).FirstErr())
	}
	recorded(now.Add(-3*time.Hour), a, c)
	recorded(now.Add(-time.Minute), a, b)
	// Not a recorded batch: counted and skipped.
	require.NoError(t, producer(t).ProduceSync(context.Background(),
		&kgo.Record{Topic: topics.RecommendationsRecorded, Key: []byte("x"), Value: []byte("{}"), Timestamp: now}).FirstErr())
	cases := []struct {
		name   string
		window time.Duration
		want   []string
	}{
		{"the last hour holds only the recent pair", time.Hour, []string{b}},
		{"five hours hold both", 5 * time.Hour, []string{b, c}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			mx, stats, err := RebuildFromKafka(ctx, cluster.Clients, tc.window, now.Add(time.Second))
			require.NoError(t, err)
			require.Positive(t, stats.Skipped)
			var got []string
			for _, p := range mx.Neighbours[a] {
				got = append(got, p.ProductID)
			}
			require.ElementsMatch(t, tc.want, got)
			// Measured back from the latest event time: other tests' events
			// may be a little later than now.
			require.WithinDuration(t, now.Add(-tc.window), mx.From, time.Minute)
		})
	}
	t.Run("without clients", func(t *testing.T) {
		_, _, err := RebuildFromKafka(context.Background(), nil, time.Hour, now)
		require.ErrorIs(t, err, ErrNoClients)
	})
}
