package recommendations

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	sjson "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func testConfig(t *testing.T, opts ...Option) config {
	t.Helper()
	c, err := newConfig(opts)
	require.NoError(t, err)
	return c
}

func batch(user string, at time.Time, items ...Interaction) *Batch {
	return &Batch{UserID: user, OccurredAt: at, Items: items}
}

func ia(id, product string, typ InteractionType) Interaction {
	return Interaction{EventID: id, ProductID: product, Type: typ}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		want string
	}{
		{"defaults are valid", nil, ""},
		{"zero view weight", []Option{WithWeights(Weights{View: 0, Wishlist: 2, CartAdd: 3, Purchase: 5})}, "view weight"},
		{"purchase not strongest", []Option{WithWeights(Weights{View: 1, Wishlist: 2, CartAdd: 5, Purchase: 4})}, "ordered"},
		{"wishlist below view", []Option{WithWeights(Weights{View: 2, Wishlist: 1, CartAdd: 3, Purchase: 5})}, "ordered"},
		{"custom ordered weights", []Option{WithWeights(Weights{View: 0.5, Wishlist: 1, CartAdd: 4, Purchase: 10})}, ""},
		{"zero half-life", []Option{WithHalfLife(0)}, "half-life"},
		{"zero history", []Option{WithHistorySize(0)}, "history size"},
		{"zero fan-out", []Option{WithFanOut(0)}, "fan-out"},
		{"zero basket size", []Option{WithBasketSize(0)}, "basket size"},
		{"neighbours above candidates", []Option{WithNeighbours(300), WithCandidates(100)}, "cannot exceed"},
		{"negative hybrid weight", []Option{WithHybridWeights(HybridWeights{Collaborative: -1, Content: 1})}, "hybrid"},
		{"all-zero hybrid weights", []Option{WithHybridWeights(HybridWeights{})}, "hybrid"},
		{"unknown similarity", []Option{WithSimilarity("pearson")}, "similarity"},
		{"cache depth above max limit", []Option{WithCacheDepth(MaxLimit + 1)}, "cache depth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewModel(tc.opts...)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNewEngineNeedsStore(t *testing.T) {
	_, err := NewEngine(nil)
	require.ErrorIs(t, err, ErrNilStore)
}

func TestBlankUserIsTypedError(t *testing.T) {
	m, err := NewModel()
	require.NoError(t, err)
	eng, err := NewEngine(m)
	require.NoError(t, err)
	for _, id := range []string{"", "   "} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			_, err := m.ForUser(id, eng)
			require.ErrorIs(t, err, ErrInvalidUser)
			_, err = eng.Recommend(id, DefaultRequest())
			require.ErrorIs(t, err, ErrInvalidUser)
			require.Equal(t, CodeInvalidUser, topics.AsError(err).Code)
			_, err = m.InvalidateCache(id)
			require.ErrorIs(t, err, ErrInvalidUser)
		})
	}
}

func TestRequestValidation(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		want error
	}{
		{"default", DefaultRequest(), nil},
		{"zero limit", Request{Limit: 0, Strategy: Hybrid}, ErrInvalidLimit},
		{"limit above max", Request{Limit: MaxLimit + 1, Strategy: Hybrid}, ErrInvalidLimit},
		{"unknown strategy", Request{Limit: 5, Strategy: "random"}, ErrInvalidStrategy},
		{"empty strategy is hybrid", Request{Limit: 5}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

func TestParseInteractionType(t *testing.T) {
	for _, typ := range []string{"view", "cart_add", "wishlist", "purchase"} {
		t.Run(typ, func(t *testing.T) {
			got, err := ParseInteractionType(typ)
			require.NoError(t, err)
			require.Equal(t, InteractionType(typ), got)
		})
	}
	t.Run("unknown", func(t *testing.T) {
		_, err := ParseInteractionType("like")
		require.ErrorIs(t, err, ErrInvalidInteraction)
	})
}

func TestBatchValidate(t *testing.T) {
	cases := []struct {
		name string
		b    *Batch
		want error
	}{
		{"valid", batch("u", t0, ia("e", "p", View)), nil},
		{"no user", batch("", t0, ia("e", "p", View)), ErrInvalidUser},
		{"no time", batch("u", time.Time{}, ia("e", "p", View)), ErrInvalidInteraction},
		{"empty", batch("u", t0), ErrInvalidInteraction},
		{"no product", batch("u", t0, ia("e", "", View)), ErrInvalidProduct},
		{"bad type", batch("u", t0, ia("e", "p", "like")), ErrInvalidInteraction},
		{"no event id", batch("u", t0, ia("", "p", View)), ErrInvalidInteraction},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Validate()
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// An interaction's metadata decodes as a plain map would: null and absent are
// nil, entries are kept, and a value that is not a string is refused.
func TestInteractionMetadataJSON(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    Metadata
		wantErr bool
	}{
		{"absent", `{"event_id":"e"}`, nil, false},
		{"null", `{"event_id":"e","metadata":null}`, nil, false},
		{"empty", `{"event_id":"e","metadata":{}}`, Metadata{}, false},
		{"entries", `{"event_id":"e","metadata":{"source":"direct","note":"a:b"}}`,
			Metadata{"source": "direct", "note": "a:b"}, false},
		{"escaped", `{"event_id":"e","metadata":{"q":"say \"hi\"\u00e9"}}`, Metadata{"q": `say "hi"é`}, false},
		{"number value", `{"event_id":"e","metadata":{"n":1}}`, nil, true},
		{"not an object", `{"event_id":"e","metadata":["a"]}`, nil, true},
	}
	decoders := map[string]func([]byte, any) error{"segmentio": sjson.Unmarshal, "encoding/json": json.Unmarshal}
	for _, tc := range cases {
		for name, unmarshal := range decoders {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				var it Interaction
				err := unmarshal([]byte(tc.in), &it)
				if tc.wantErr {
					require.Error(t, err)
					return
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, it.Metadata)
			})
		}
	}
}

// Every interaction type is recorded with its weight, and the ordering of
// weights shows in the affinities.
func TestRecordEveryInteractionType(t *testing.T) {
	cfg := testConfig(t)
	for _, typ := range InteractionTypes {
		t.Run(string(typ), func(t *testing.T) {
			p := &Profile{}
			eff := p.Apply(batch("u1", t0, ia("e1", "p1", typ)), &cfg)
			require.Equal(t, 1, eff.Recorded)
			require.InDelta(t, DefaultWeights.Of(typ), p.Affinity["p1"].Score, 1e-9)
			require.Len(t, p.History, 1)
			require.Equal(t, typ, p.History[0].Type)
			require.Equal(t, typ == Purchase, p.HasPurchased("p1"))
			require.Equal(t, int64(1), p.Version)
		})
	}
	t.Run("weights rank purchase over cart over wishlist over view", func(t *testing.T) {
		p := &Profile{}
		for i, typ := range InteractionTypes {
			p.Apply(batch("u1", t0, ia(fmt.Sprint("e", i), string(typ), typ)), &cfg)
		}
		top := p.TopAffinities(4, cfg.halfLife)
		require.Equal(t, []string{"purchase", "cart_add", "wishlist", "view"},
			[]string{top[0].ProductID, top[1].ProductID, top[2].ProductID, top[3].ProductID})
	})
}

func TestAffinityDecay(t *testing.T) {
	cfg := testConfig(t, WithHalfLife(24*time.Hour))
	cases := []struct {
		name    string
		events  []time.Time
		valueAt time.Time
		want    float64
	}{
		{"one half-life halves", []time.Time{t0}, t0.Add(24 * time.Hour), 0.5},
		{"two half-lives quarter", []time.Time{t0}, t0.Add(48 * time.Hour), 0.25},
		{"old plus new", []time.Time{t0, t0.Add(24 * time.Hour)}, t0.Add(24 * time.Hour), 1.5},
		{"out of order decays to the later time", []time.Time{t0.Add(24 * time.Hour), t0}, t0.Add(24 * time.Hour), 1.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Profile{}
			for i, at := range tc.events {
				p.Apply(batch("u", at, ia(fmt.Sprint("e", i), "p", View)), &cfg)
			}
			require.InDelta(t, tc.want, p.Affinity["p"].ValueAt(tc.valueAt, cfg.halfLife), 1e-9)
		})
	}
	t.Run("decay uses event time, so a fresh interest beats a stale stronger one", func(t *testing.T) {
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "old", Purchase)), &cfg)
		p.Apply(batch("u", t0.Add(5*24*time.Hour), ia("e2", "new", View)), &cfg)
		top := p.TopAffinities(2, cfg.halfLife)
		require.Equal(t, "new", top[0].ProductID)
	})
}

func TestProfileCapsAndDedup(t *testing.T) {
	t.Run("redelivered event is not counted twice", func(t *testing.T) {
		cfg := testConfig(t)
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "p", CartAdd)), &cfg)
		eff := p.Apply(batch("u", t0, ia("e1", "p", CartAdd)), &cfg)
		require.Zero(t, eff.Recorded)
		require.Empty(t, eff.Increments)
		require.InDelta(t, DefaultWeights.CartAdd, p.Affinity["p"].Score, 1e-9)
		require.Equal(t, int64(1), p.Version)
	})
	t.Run("history is capped, newest kept", func(t *testing.T) {
		cfg := testConfig(t, WithHistorySize(3))
		p := &Profile{}
		for i := range 5 {
			p.Apply(batch("u", t0.Add(time.Duration(i)*time.Minute), ia(fmt.Sprint("e", i), fmt.Sprint("p", i), View)), &cfg)
		}
		require.Len(t, p.History, 3)
		require.Equal(t, "p2", p.History[0].ProductID)
		require.Equal(t, "p4", p.History[2].ProductID)
	})
	t.Run("affinities are capped, weakest forgotten", func(t *testing.T) {
		cfg := testConfig(t, WithAffinityCap(2))
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "weak", View)), &cfg)
		p.Apply(batch("u", t0, ia("e2", "strong", Purchase)), &cfg)
		p.Apply(batch("u", t0, ia("e3", "mid", CartAdd)), &cfg)
		require.Len(t, p.Affinity, 2)
		require.NotContains(t, p.Affinity, "weak")
	})
	t.Run("fan-out is capped so a heavy user cannot flood the item processor", func(t *testing.T) {
		cfg := testConfig(t, WithFanOut(3))
		p := &Profile{}
		for i := range 50 {
			p.Apply(batch("u", t0, ia(fmt.Sprint("e", i), fmt.Sprint("p", i), View)), &cfg)
		}
		eff := p.Apply(batch("u", t0, ia("last", "new", View)), &cfg)
		require.Len(t, eff.Increments, 4, "the new product plus three partners")
		for _, inc := range eff.Increments {
			if inc.ProductID == "new" {
				require.Equal(t, []string{"p49", "p48", "p47"}, inc.With)
				require.True(t, inc.NewUser)
			} else {
				require.Equal(t, []string{"new"}, inc.With)
			}
		}
	})
	t.Run("a basket is paired up to the basket size, not the fan-out", func(t *testing.T) {
		cfg := testConfig(t, WithFanOut(1), WithBasketSize(3))
		p := &Profile{}
		var items []Interaction
		for i := range 6 {
			items = append(items, ia(fmt.Sprint("e", i), fmt.Sprint("b", i), Purchase))
		}
		b := batch("u", t0, items...)
		b.OrderID = "o1"
		eff := p.Apply(b, &cfg)
		baskets := map[string][]string{}
		for _, inc := range eff.Increments {
			if inc.Order {
				baskets[inc.ProductID] = inc.Basket
			}
		}
		require.Equal(t, map[string][]string{"b0": {"b1", "b2", "b3"}, "b1": {"b0", "b2", "b3"},
			"b2": {"b0", "b1", "b3"}, "b3": {"b0", "b1", "b2"}}, baskets, "the first four products")
	})
	t.Run("a known product adds popularity but no pairs", func(t *testing.T) {
		cfg := testConfig(t)
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "a", View)), &cfg)
		p.Apply(batch("u", t0, ia("e2", "b", View)), &cfg)
		eff := p.Apply(batch("u", t0, ia("e3", "a", CartAdd)), &cfg)
		require.Equal(t, []Increment{{ProductID: "a", Weight: DefaultWeights.CartAdd, At: t0}}, eff.Increments)
	})
}

func TestBasketIncrements(t *testing.T) {
	cfg := testConfig(t)
	p := &Profile{}
	b := batch("u", t0, ia("l1", "a", Purchase), ia("l2", "b", Purchase), ia("l3", "c", Purchase))
	b.OrderID = "o1"
	eff := p.Apply(b, &cfg)
	require.Equal(t, 3, eff.Recorded)
	got := map[string][]string{}
	for _, inc := range eff.Increments {
		require.True(t, inc.Order)
		got[inc.ProductID] = inc.Basket
	}
	require.Equal(t, map[string][]string{"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}}, got)
}

func TestCacheInvalidation(t *testing.T) {
	cfg := testConfig(t)
	list := func(p *Profile) CachedList {
		return CachedList{RecommendationID: "r", Version: p.Version, Strategy: Hybrid, ExcludePurchased: true,
			Results: []Result{{ProductID: "x", Score: decimal.RequireFromString("0.5"), Reason: ReasonPopular}}}
	}
	t.Run("stored list is served for its version", func(t *testing.T) {
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "a", View)), &cfg)
		require.True(t, p.StoreCache(list(p)))
		_, ok := p.Cached(Hybrid, true)
		require.True(t, ok)
		_, ok = p.Cached(Hybrid, false)
		require.False(t, ok, "another slot")
		_, ok = p.Cached(Collaborative, true)
		require.False(t, ok, "another strategy")
	})
	t.Run("next interaction invalidates", func(t *testing.T) {
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "a", View)), &cfg)
		p.StoreCache(list(p))
		p.Apply(batch("u", t0, ia("e2", "b", View)), &cfg)
		_, ok := p.Cached(Hybrid, true)
		require.False(t, ok)
	})
	t.Run("redelivered interaction does not invalidate", func(t *testing.T) {
		p := &Profile{}
		p.Apply(batch("u", t0, ia("e1", "a", View)), &cfg)
		p.StoreCache(list(p))
		p.Apply(batch("u", t0, ia("e1", "a", View)), &cfg)
		_, ok := p.Cached(Hybrid, true)
		require.True(t, ok)
	})
	t.Run("explicit invalidation", func(t *testing.T) {
		p := &Profile{}
		p.StoreCache(list(p))
		require.True(t, p.Invalidate())
		_, ok := p.Cached(Hybrid, true)
		require.False(t, ok)
		require.False(t, p.Invalidate(), "nothing left to drop")
	})
	t.Run("list computed before an interaction is not cached", func(t *testing.T) {
		p := &Profile{}
		stale := list(p)
		p.Apply(batch("u", t0, ia("e1", "a", View)), &cfg)
		require.False(t, p.StoreCache(stale))
		require.Empty(t, p.Cache)
	})
	t.Run("list computed before an explicit invalidation is not cached", func(t *testing.T) {
		p := &Profile{}
		stale := list(p)
		p.Invalidate()
		require.False(t, p.StoreCache(stale))
	})
}

func TestItemApply(t *testing.T) {
	cfg := testConfig(t, WithCandidates(2), WithNeighbours(2))
	it := &Item{}
	it.Apply(&Increment{ProductID: "a", Weight: 1, At: t0, NewUser: true, With: []string{"b", "c"}}, &cfg)
	it.Apply(&Increment{ProductID: "a", Weight: 1, At: t0, NewUser: true, With: []string{"b", "d"}}, &cfg)
	it.Apply(&Increment{ProductID: "a", Order: true, Basket: []string{"b"}}, &cfg)
	t.Run("counts users, orders and popularity", func(t *testing.T) {
		require.Equal(t, int64(2), it.Users)
		require.Equal(t, int64(1), it.Orders)
		require.InDelta(t, 2, it.Popularity.Score, 1e-9)
	})
	t.Run("candidates capped, least frequent dropped", func(t *testing.T) {
		require.Len(t, it.Co, 2)
		require.Equal(t, int64(2), it.Co["b"])
		require.Contains(t, it.Co, "c", "ties drop the greatest ID")
	})
	t.Run("bought together by confidence", func(t *testing.T) {
		require.Equal(t, []ProductScore{{ProductID: "b", Score: 1}}, it.BoughtTogether(5))
	})
}

func TestSimilarityScores(t *testing.T) {
	cases := []struct {
		name             string
		sim              Similarity
		c, nA, nB, total int64
		want             float64
	}{
		{"jaccard", Jaccard, 2, 4, 4, 100, 2.0 / 6},
		{"jaccard identical", Jaccard, 5, 5, 5, 100, 1},
		{"cosine", Cosine, 2, 4, 4, 100, 0.5},
		{"no co-occurrence", Jaccard, 0, 4, 4, 100, 0},
		{"partner count lagging is raised to c", Jaccard, 3, 3, 0, 100, 1},
		{"llr independent is zero", LogLikelihood, 1, 10, 10, 100, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, tc.sim.Score(tc.c, tc.nA, tc.nB, tc.total), 1e-9)
		})
	}
	t.Run("llr grows with association and stays below 1", func(t *testing.T) {
		weak := LogLikelihood.Score(3, 10, 10, 1000)
		strong := LogLikelihood.Score(9, 10, 10, 1000)
		require.Greater(t, strong, weak)
		require.Less(t, strong, 1.0)
		require.Greater(t, weak, 0.0)
	})
}

func TestContentSimilarity(t *testing.T) {
	shirt := &Product{ProductID: "a", Brand: "Acme", Categories: []string{"apparel", "apparel/tops"},
		Attributes: map[string]string{"color": "red", "material": "cotton"}, Active: true}
	cases := []struct {
		name string
		b    *Product
		want float64
	}{
		{"identical", &Product{ProductID: "b", Brand: "acme", Categories: []string{"apparel", "apparel/tops"},
			Attributes: map[string]string{"color": "red", "material": "cotton"}}, 1},
		{"nothing shared", &Product{ProductID: "c", Brand: "Other", Categories: []string{"garden"}}, 0},
		{"one category of three, one attribute of two", &Product{ProductID: "d", Categories: []string{"apparel", "apparel/pants"},
			Attributes: map[string]string{"color": "blue", "material": "cotton"}}, 0.5*1.0/3 + 0.35*0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, ContentSimilarity(shirt, tc.b).Score, 1e-9)
		})
	}
}

func envelope(t *testing.T, typ string, at time.Time, data any) *topics.Envelope {
	t.Helper()
	env, err := topics.NewEnvelope(typ, at, data, topics.WithActor(topics.Actor{ID: "u", Type: topics.ActorCustomer}))
	require.NoError(t, err)
	return env
}

func TestTranslateInbound(t *testing.T) {
	order := map[string]any{"order_id": "o1", "user_id": "u1", "currency": "USD", "line_items": []map[string]any{
		{"line_item_id": "li1", "product_id": "a", "quantity": 2, "unit_price": "19.99"},
		{"line_item_id": "li2", "product_id": "b", "quantity": 1, "unit_price": "5.00"}}}
	cases := []struct {
		name     string
		typ      string
		data     any
		wantType InteractionType
		wantN    int
		wantErr  error
	}{
		{"order.completed is purchases", topics.OrderCompleted, order, Purchase, 2, nil},
		{"product.viewed is a view", topics.ProductViewed, map[string]any{"user_id": "u1", "product_id": "a", "source": "search"}, View, 1, nil},
		{"cart.item_added is a cart add", topics.CartItemAdded, map[string]any{"user_id": "u1", "product_id": "a", "quantity": 1, "cart_id": "c"}, CartAdd, 1, nil},
		{"wishlist.item_added is a wishlist", topics.WishlistItemAdded, map[string]any{"user_id": "u1", "product_id": "a"}, Wishlist, 1, nil},
		{"click is a view", TypeClicked, Click{RecommendationID: "r", UserID: "u1", ProductID: "a", Position: 1}, View, 1, nil},
		{"view without user", topics.ProductViewed, map[string]any{"product_id": "a"}, "", 0, ErrInvalidUser},
		{"cart without product", topics.CartItemAdded, map[string]any{"user_id": "u1"}, "", 0, ErrInvalidProduct},
		{"order without id", topics.OrderCompleted, map[string]any{"user_id": "u1"}, "", 0, ErrInvalidEvent},
		{"unknown type", "order.refunded", map[string]any{"order_id": "o"}, "", 0, ErrInvalidEvent},
		{"payload of the wrong shape", topics.ProductViewed, map[string]any{"user_id": 7}, "", 0, ErrInvalidEvent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Translate(envelope(t, tc.typ, t0, tc.data))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "u1", in.Batch.UserID)
			require.Len(t, in.Batch.Items, tc.wantN)
			require.Equal(t, tc.wantType, in.Batch.Items[0].Type)
			require.Equal(t, t0, in.Batch.OccurredAt)
		})
	}
	t.Run("product.updated", func(t *testing.T) {
		in, err := Translate(envelope(t, topics.ProductUpdated, t0, map[string]any{"product_id": "p9", "brand": "Acme",
			"categories": []string{"apparel"}, "price": "19.99", "currency": "USD", "active": false}))
		require.NoError(t, err)
		require.False(t, in.Product.Active)
		require.Equal(t, "19.99", in.Product.Price.String())
	})
	t.Run("order.completed with an amount as a JSON number is refused", func(t *testing.T) {
		for _, data := range []map[string]any{
			{"order_id": "o1", "user_id": "u1", "line_items": []map[string]any{{"line_item_id": "li1", "product_id": "a", "quantity": 1, "unit_price": 19.99}}},
			{"order_id": "o1", "user_id": "u1", "total": 19.99, "line_items": []map[string]any{{"line_item_id": "li1", "product_id": "a", "quantity": 1, "unit_price": "19.99"}}},
		} {
			_, err := Translate(envelope(t, topics.OrderCompleted, t0, data))
			require.ErrorIs(t, err, ErrInvalidEvent)
			require.ErrorContains(t, err, "not a JSON number")
		}
	})
	t.Run("product.updated with a price as a JSON number is refused", func(t *testing.T) {
		_, err := Translate(envelope(t, topics.ProductUpdated, t0, map[string]any{"product_id": "p9", "brand": "Acme",
			"categories": []string{"apparel"}, "price": 19.99, "currency": "USD"}))
		require.ErrorIs(t, err, ErrInvalidEvent)
		require.ErrorContains(t, err, "not a JSON number")
	})
}

// fixture: a small store with known structure.
type fixture struct {
	m   *Model
	eng *Engine
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	m, err := NewModel(opts...)
	require.NoError(t, err)
	eng, err := NewEngine(m, opts...)
	require.NoError(t, err)
	return &fixture{m: m, eng: eng}
}

func (f *fixture) record(t *testing.T, user string, at time.Time, typ InteractionType, products ...string) {
	t.Helper()
	for _, p := range products {
		_, err := f.m.RecordInteraction(user, p, typ, nil, "", at)
		require.NoError(t, err)
	}
}

func (f *fixture) order(t *testing.T, user, order string, at time.Time, products ...string) {
	t.Helper()
	b := &Batch{UserID: user, OccurredAt: at, OrderID: order}
	for _, p := range products {
		b.Items = append(b.Items, Interaction{EventID: order + ":" + p, ProductID: p, Type: Purchase})
	}
	_, err := f.m.Record(b)
	require.NoError(t, err)
}

func (f *fixture) product(t *testing.T, id, brand string, active bool, cats []string, attrs map[string]string) {
	t.Helper()
	require.NoError(t, f.m.UpsertProduct(&Product{ProductID: id, Brand: brand, Categories: cats, Attributes: attrs, Active: active, UpdatedAt: t0}))
}

func ids(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ProductID
	}
	return out
}

func requireRanked(t *testing.T, rs []Result) {
	t.Helper()
	for i, r := range rs {
		require.True(t, r.Score.GreaterThanOrEqual(decimal.Zero) && r.Score.LessThanOrEqual(decimal.NewFromInt(1)), "score %s in [0,1]", r.Score)
		require.LessOrEqual(t, int32(-r.Score.Exponent()), int32(ScorePlaces), "score rounded")
		if i > 0 {
			prev := rs[i-1]
			require.True(t, prev.Score.GreaterThan(r.Score) || (prev.Score.Equal(r.Score) && prev.ProductID < r.ProductID) ||
				(prev.Reason != ReasonPopular && r.Reason == ReasonPopular), "ordered at %d: %v then %v", i, prev, r)
		}
	}
}

// Users who view a also view b; the collaborative strategy recommends b to
// a new viewer of a.
func TestCollaborativeStrategy(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.record(t, fmt.Sprint("u", i), t0, View, "a", "b")
	}
	f.record(t, "u9", t0, View, "a", "c")
	f.record(t, "me", t0, View, "a")
	r, err := f.eng.Recommend("me", Request{Limit: 2, Strategy: Collaborative})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, ids(r.Results))
	require.Equal(t, ReasonCollaborative, r.Results[0].Reason)
	require.Equal(t, "a", r.Results[0].Metadata["because_of"])
	requireRanked(t, r.Results)
	require.False(t, r.Fallback)
}

func TestContentBasedStrategy(t *testing.T) {
	f := newFixture(t)
	f.product(t, "shirt", "Acme", true, []string{"apparel"}, map[string]string{"color": "red"})
	f.product(t, "shirt2", "Acme", true, []string{"apparel"}, map[string]string{"color": "red"})
	f.product(t, "shirt3", "Other", true, []string{"apparel"}, map[string]string{"color": "blue"})
	f.product(t, "hose", "Garden", true, []string{"garden"}, nil)
	f.record(t, "me", t0, View, "shirt")
	r, err := f.eng.Recommend("me", Request{Limit: 2, Strategy: ContentBased})
	require.NoError(t, err)
	require.Equal(t, []string{"shirt2", "shirt3"}, ids(r.Results))
	require.Equal(t, ReasonSimilar, r.Results[0].Reason)
	require.Equal(t, "shirt", r.Results[0].Metadata["similar_to"])
	require.Equal(t, true, r.Results[0].Metadata["same_brand"])
	requireRanked(t, r.Results)
}

func TestHybridStrategy(t *testing.T) {
	t.Run("blends collaborative and content", func(t *testing.T) {
		f := newFixture(t)
		f.product(t, "a", "Acme", true, []string{"x"}, nil)
		f.product(t, "b", "Zed", true, []string{"y"}, nil)  // collaborative only
		f.product(t, "c", "Acme", true, []string{"x"}, nil) // content only
		f.product(t, "d", "Acme", true, []string{"x"}, nil) // both
		for i := range 4 {
			f.record(t, fmt.Sprint("u", i), t0, View, "a", "b", "d")
		}
		f.record(t, "me", t0, View, "a")
		r, err := f.eng.Recommend("me", Request{Limit: 3, Strategy: Hybrid})
		require.NoError(t, err)
		require.Equal(t, "d", r.Results[0].ProductID, "evidence from both beats either")
		require.Contains(t, ids(r.Results), "b")
		require.Contains(t, ids(r.Results), "c")
		require.Contains(t, r.Results[0].Metadata, "components")
		requireRanked(t, r.Results)
	})
	t.Run("weights are configurable", func(t *testing.T) {
		f := newFixture(t, WithHybridWeights(HybridWeights{Content: 1}))
		f.product(t, "a", "Acme", true, []string{"x"}, nil)
		f.product(t, "b", "Zed", true, []string{"y"}, nil)
		f.product(t, "c", "Acme", true, []string{"x"}, nil)
		for i := range 4 {
			f.record(t, fmt.Sprint("u", i), t0, View, "a", "b")
		}
		f.record(t, "me", t0, View, "a")
		r, err := f.eng.Recommend("me", Request{Limit: 1, Strategy: Hybrid})
		require.NoError(t, err)
		require.Equal(t, []string{"c"}, ids(r.Results))
	})
}

func TestPopularityFallbackForColdUser(t *testing.T) {
	f := newFixture(t)
	f.record(t, "u1", t0, Purchase, "hit")
	f.record(t, "u2", t0, Purchase, "hit")
	f.record(t, "u3", t0, View, "meh")
	for _, s := range []Strategy{Collaborative, ContentBased, Hybrid} {
		t.Run(string(s), func(t *testing.T) {
			r, err := f.eng.Recommend("nobody", Request{Limit: 5, Strategy: s, ExcludePurchased: true})
			require.NoError(t, err)
			require.True(t, r.Fallback)
			require.Equal(t, []string{"hit", "meh"}, ids(r.Results))
			require.Equal(t, ReasonPopular, r.Results[0].Reason)
			require.Equal(t, "1", r.Results[0].Score.String())
		})
	}
}

func TestExclusions(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		f.order(t, fmt.Sprint("u", i), fmt.Sprint("o", i), t0, "a", "b", "gone")
	}
	f.product(t, "gone", "", false, nil, nil)
	f.order(t, "me", "mine", t0, "a")
	t.Run("purchased excluded on request", func(t *testing.T) {
		r, err := f.eng.Recommend("me", Request{Limit: 5, Strategy: Collaborative, ExcludePurchased: true})
		require.NoError(t, err)
		require.NotContains(t, ids(r.Results), "a")
		require.Contains(t, ids(r.Results), "b")
	})
	t.Run("purchased kept otherwise", func(t *testing.T) {
		r, err := f.eng.Recommend("me", Request{Limit: 5, Strategy: Collaborative, ExcludePurchased: false})
		require.NoError(t, err)
		require.Contains(t, ids(r.Results), "a")
	})
	t.Run("inactive products never recommended", func(t *testing.T) {
		for _, s := range []Strategy{Collaborative, ContentBased, Hybrid} {
			r, err := f.eng.Recommend("me", Request{Limit: 5, Strategy: s})
			require.NoError(t, err)
			require.NotContains(t, ids(r.Results), "gone")
		}
		fbt, err := f.eng.FrequentlyBoughtTogether("a", 5)
		require.NoError(t, err)
		require.Equal(t, []string{"b"}, ids(fbt))
	})
}

func TestLimitAndDeterministicTies(t *testing.T) {
	f := newFixture(t)
	// Five products each viewed with a by exactly one user: equal scores.
	for i, p := range []string{"e", "d", "c", "b", "f"} {
		f.record(t, fmt.Sprint("u", i), t0, View, "a", p)
	}
	f.record(t, "me", t0, View, "a")
	first, err := f.eng.Compute("me", Request{Limit: 3, Strategy: Collaborative})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c", "d"}, ids(first.Results)[:3], "ties broken by product ID")
	r, err := f.eng.Recommend("me", Request{Limit: 3, Strategy: Collaborative})
	require.NoError(t, err)
	require.Len(t, r.Results, 3)
	for range 5 {
		again, err := f.eng.Compute("me", Request{Limit: 3, Strategy: Collaborative})
		require.NoError(t, err)
		require.Equal(t, ids(first.Results), ids(again.Results))
	}
}

func TestScoreCalculation(t *testing.T) {
	f := newFixture(t, WithSimilarity(Jaccard))
	// a's neighbours: b (3 of 4 users), c (1 of 4 users).
	for i := range 3 {
		f.record(t, fmt.Sprint("u", i), t0, View, "a", "b")
	}
	f.record(t, "u3", t0, View, "a", "c")
	f.record(t, "me", t0, View, "a")
	r, err := f.eng.Compute("me", Request{Limit: 2, Strategy: Collaborative})
	require.NoError(t, err)
	// Jaccard(a,b) = 3 / (5 + 3 - 3) = 0.6 (a has 5 users incl. me); seed weight 1.
	require.Equal(t, "0.6", r.Results[0].Score.String())
	require.Equal(t, "0.2", r.Results[1].Score.String())
	t.Run("cosine, the default, on the same counts", func(t *testing.T) {
		eng, err := NewEngine(f.m)
		require.NoError(t, err)
		r, err := eng.Compute("me", Request{Limit: 2, Strategy: Collaborative})
		require.NoError(t, err)
		// 3 / sqrt(5 * 3) and 1 / sqrt(5 * 1).
		require.Equal(t, "0.7746", r.Results[0].Score.String())
		require.Equal(t, "0.4472", r.Results[1].Score.String())
	})
	t.Run("evidence from two seeds combines by noisy-or", func(t *testing.T) {
		f.record(t, "u4", t0, View, "b", "c")
		f.record(t, "me", t0, View, "b")
		r, err := f.eng.Compute("me", Request{Limit: 5, Strategy: Collaborative})
		require.NoError(t, err)
		found := false
		for _, res := range r.Results {
			if res.ProductID == "c" {
				found = true
				require.Equal(t, []string{"a", "b"}, res.Metadata["evidence_from"])
				require.True(t, res.Score.GreaterThan(decimal.RequireFromString("0.2")), "more evidence, higher score: %s", res.Score)
			}
		}
		require.True(t, found)
		requireRanked(t, r.Results)
	})
	t.Run("score serializes as a decimal string in JSON", func(t *testing.T) {
		b, err := json.Marshal(r.Results[0])
		require.NoError(t, err)
		require.Contains(t, string(b), `"score":"0.6"`)
	})
}

func TestRecommendCachesAndInvalidates(t *testing.T) {
	f := newFixture(t)
	f.record(t, "u1", t0, View, "a", "b")
	f.record(t, "me", t0, View, "a")
	u, err := f.m.ForUser("me", f.eng)
	require.NoError(t, err)
	req := Request{Limit: 5, Strategy: Collaborative, ExcludePurchased: true}
	first, err := u.GetRecommendations(req, t0)
	require.NoError(t, err)
	require.False(t, first.Cached)
	t.Run("second call is cached with the same ID", func(t *testing.T) {
		again, err := u.GetRecommendations(req, t0)
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, first.RecommendationID, again.RecommendationID)
	})
	t.Run("smaller limit served from cache", func(t *testing.T) {
		again, err := u.GetRecommendations(Request{Limit: 1, Strategy: Collaborative, ExcludePurchased: true}, t0)
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Len(t, again.Results, 1)
	})
	t.Run("interaction invalidates", func(t *testing.T) {
		ok, err := u.RecordInteraction("b", CartAdd, map[string]string{"source": "test"}, t0)
		require.NoError(t, err)
		require.True(t, ok)
		again, err := u.GetRecommendations(req, t0)
		require.NoError(t, err)
		require.False(t, again.Cached)
		require.NotEqual(t, first.RecommendationID, again.RecommendationID)
	})
	t.Run("explicit invalidation", func(t *testing.T) {
		_, err := u.GetRecommendations(req, t0)
		require.NoError(t, err)
		ok, err := u.InvalidateCache()
		require.NoError(t, err)
		require.True(t, ok)
		again, err := u.GetRecommendations(req, t0)
		require.NoError(t, err)
		require.False(t, again.Cached)
	})
}

func TestFrequentlyBoughtTogetherAndSimilar(t *testing.T) {
	f := newFixture(t)
	f.order(t, "u1", "o1", t0, "tent", "stakes", "lamp")
	f.order(t, "u2", "o2", t0, "tent", "stakes")
	f.order(t, "u3", "o3", t0, "tent", "stove")
	f.product(t, "tent", "Acme", true, []string{"camping"}, map[string]string{"size": "2p"})
	f.product(t, "tent3", "Acme", true, []string{"camping"}, map[string]string{"size": "3p"})
	t.Run("fbt by confidence", func(t *testing.T) {
		rs, err := f.eng.FrequentlyBoughtTogether("tent", 5)
		require.NoError(t, err)
		require.Equal(t, []string{"stakes", "lamp", "stove"}, ids(rs))
		require.Equal(t, "0.6667", rs[0].Score.String())
		require.Equal(t, ReasonBoughtTogether, rs[0].Reason)
		require.Equal(t, int64(2), rs[0].Metadata["orders_together"])
	})
	t.Run("fbt limit", func(t *testing.T) {
		rs, err := f.eng.FrequentlyBoughtTogether("tent", 1)
		require.NoError(t, err)
		require.Len(t, rs, 1)
	})
	t.Run("fbt unknown product is empty", func(t *testing.T) {
		rs, err := f.eng.FrequentlyBoughtTogether("nothing", 5)
		require.NoError(t, err)
		require.Empty(t, rs)
	})
	t.Run("fbt blank product", func(t *testing.T) {
		_, err := f.eng.FrequentlyBoughtTogether(" ", 5)
		require.ErrorIs(t, err, ErrInvalidProduct)
	})
	t.Run("similar products", func(t *testing.T) {
		rs, err := f.eng.SimilarProducts("tent", 10)
		require.NoError(t, err)
		require.Equal(t, []string{"tent3"}, ids(rs))
		require.Equal(t, ReasonSimilar, rs[0].Reason)
		require.Equal(t, []string{"camping"}, rs[0].Metadata["shared_categories"])
	})
	t.Run("similar unknown product is not found", func(t *testing.T) {
		_, err := f.eng.SimilarProducts("nothing", 10)
		require.ErrorIs(t, err, topics.ErrNotFound)
	})
}

func TestProcessEvents(t *testing.T) {
	m, err := NewModel()
	require.NoError(t, err)
	view := envelope(t, topics.ProductViewed, t0, map[string]any{"user_id": "u1", "product_id": "a"})
	events := []*topics.Envelope{
		view,
		envelope(t, topics.CartItemAdded, t0, map[string]any{"user_id": "u1", "product_id": "b", "quantity": 2}),
		envelope(t, topics.WishlistItemAdded, t0, map[string]any{"user_id": "u2", "product_id": "a"}),
		envelope(t, topics.ProductUpdated, t0, map[string]any{"product_id": "a", "categories": []string{"x"}}),
		envelope(t, topics.ProductViewed, t0, map[string]any{"product_id": "a"}), // no user: skipped
		view, // redelivery: skipped
		nil,
	}
	require.Equal(t, 4, m.ProcessEvents(events))
	p, err := m.Profile("u1")
	require.NoError(t, err)
	require.Len(t, p.History, 2)
}

func TestBuildCooccurrenceMatrixWindow(t *testing.T) {
	f := newFixture(t)
	old := t0.Add(-40 * 24 * time.Hour)
	for i := range 3 {
		f.record(t, fmt.Sprint("old", i), old, View, "a", "stale")
		f.record(t, fmt.Sprint("new", i), t0, View, "a", "fresh")
	}
	t.Run("30-day window drops old pairs", func(t *testing.T) {
		mx := f.m.BuildCooccurrenceMatrix(720 * time.Hour)
		require.Equal(t, 6, mx.Interactions)
		require.Equal(t, int64(3), mx.Users)
		require.Equal(t, []Pair{{ProductID: "fresh", Count: 3, Score: 1}}, mx.Neighbours["a"])
		it, err := f.m.Item("stale")
		require.NoError(t, err)
		require.Nil(t, it, "the model's items are replaced by the rebuild")
	})
}

func TestRoundTripResultJSON(t *testing.T) {
	r := Result{ProductID: "p", Score: decimal.RequireFromString("0.1235"), Reason: ReasonCollaborative, Metadata: map[string]any{"because_of": "a"}}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var back Result
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, r.Score.Equal(back.Score))
	require.Equal(t, r.ToMap()["product_id"], "p")
	require.False(t, math.IsNaN(back.Score.InexactFloat64()))
	require.True(t, errors.Is(ErrInvalidUser.Withf("x"), ErrInvalidUser))
}

// TestFinishFillsBelowTheLastPersonalResult: the popular products that
// fill a short list score strictly below the last personal result, and the
// whole list is ordered by its rounded score, ties by product ID — also
// when popularity rounds two fillers to one score out of ID order.
func TestFinishFillsBelowTheLastPersonalResult(t *testing.T) {
	items := func(pops map[string]float64) []*Item {
		var out []*Item
		for id, p := range pops {
			out = append(out, &Item{ProductID: id, Popularity: Affinity{Score: p, At: t0}})
		}
		return out
	}
	none := func(string) bool { return false }
	tests := []struct {
		name     string
		personal []scored
		pops     map[string]float64
		want     []string // product ID:score
	}{
		{"most popular ties the last personal score",
			[]scored{{id: "p9", score: 0.866, reason: ReasonCollaborative}},
			map[string]float64{"p1": 10, "p2": 5},
			[]string{"p9:0.866", "p1:0.8659", "p2:0.433"}},
		{"fillers rounding to one score are in ID order",
			[]scored{{id: "p9", score: 1, reason: ReasonCollaborative}},
			map[string]float64{"top": 100, "zb": 50.004, "za": 50.001},
			[]string{"p9:1", "top:0.9999", "za:0.5", "zb:0.5"}},
		{"last personal score 0: fillers tie it, in ID order",
			[]scored{{id: "p5", score: 0.00001, reason: ReasonCollaborative}},
			map[string]float64{"p1": 10, "p7": 5},
			[]string{"p1:0", "p5:0", "p7:0"}},
		{"no personal results: popularity itself",
			nil,
			map[string]float64{"p1": 10, "p2": 5},
			[]string{"p1:1", "p2:0.5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := NewCatalogIndex(nil, items(tc.pops), t0, time.Hour, 0)
			got := finish(tc.personal, ix, none, 10)
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ProductID+":"+r.Score.String())
			}
			require.Equal(t, tc.want, ids)
		})
	}
}

// A seed that points at a candidate from two lists is named once in
// evidence_from, and one seed alone is no list.
func TestEvidenceFromNamesEachSeedOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		from []string
		want any
	}{
		{"two seeds, one twice", []string{"p3", "p2", "p2"}, []string{"p2", "p3"}},
		{"one seed twice", []string{"p2", "p2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scored{id: "c", reason: ReasonCollaborative, from: tc.from,
				best: piece{reason: ReasonCollaborative, from: "p2", sim: Cosine, count: 3}}
			got, ok := s.metadata()["evidence_from"]
			if tc.want == nil {
				require.False(t, ok, "%v", got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}
