package recommendations

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// planted is generated behaviour with a known structure: noise from a
// skewed popularity distribution, plus pairs (A_i, B_i) where buyers of A_i
// also buy B_i in the same order with probability pBoth.
type planted struct {
	pairs [][2]string
}

func plantData(t testing.TB, m *Model, users, products, pairs int, pBoth float64, seed uint64) planted {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	zipf := rand.NewZipf(rng, 1.2, 2, uint64(products-1))
	var pl planted
	for i := range pairs {
		pl.pairs = append(pl.pairs, [2]string{fmt.Sprintf("A%02d", i), fmt.Sprintf("B%02d", i)})
	}
	at := t0.Add(-10 * 24 * time.Hour)
	orders := 0
	for u := range users {
		user := fmt.Sprintf("user%05d", u)
		for range 8 + rng.IntN(8) {
			at = at.Add(time.Second)
			p := fmt.Sprintf("p%04d", zipf.Uint64())
			typ := InteractionTypes[rng.IntN(3)] // views, wishlists, cart adds
			_, err := m.RecordInteraction(user, p, typ, nil, "", at)
			require.NoError(t, err)
		}
		if rng.Float64() < 0.5 { // half the users buy one planted A with noise
			pair := pl.pairs[rng.IntN(pairs)]
			basket := []string{pair[0], fmt.Sprintf("p%04d", zipf.Uint64())}
			if rng.Float64() < pBoth {
				basket = append(basket, pair[1])
			}
			orders++
			b := &Batch{UserID: user, OccurredAt: at, OrderID: fmt.Sprint("o", orders)}
			for _, p := range basket {
				b.Items = append(b.Items, Interaction{EventID: b.OrderID + p, ProductID: p, Type: Purchase})
			}
			_, err := m.Record(b)
			require.NoError(t, err)
		}
	}
	return pl
}

// TestPlantedCoPurchaseIsFound plants co-purchases in generated noise and
// checks that frequently-bought-together, the collaborative neighbours and
// a user's recommendations find the planted partner.
func TestPlantedCoPurchaseIsFound(t *testing.T) {
	m, err := NewModel()
	require.NoError(t, err)
	eng, err := NewEngine(m)
	require.NoError(t, err)
	pl := plantData(t, m, 3000, 500, 20, 0.4, 42)

	t.Run("frequently bought together ranks the partner first", func(t *testing.T) {
		for _, p := range pl.pairs {
			rs, err := eng.FrequentlyBoughtTogether(p[0], 5)
			require.NoError(t, err)
			require.NotEmpty(t, rs)
			require.Equal(t, p[1], rs[0].ProductID, "for %s", p[0])
		}
	})
	t.Run("a new buyer of A is recommended B", func(t *testing.T) {
		for i, p := range pl.pairs {
			u := fmt.Sprint("probe", i)
			_, err := m.Record(&Batch{UserID: u, OccurredAt: t0, OrderID: "probe" + u,
				Items: []Interaction{{EventID: u, ProductID: p[0], Type: Purchase}}})
			require.NoError(t, err)
			for _, s := range []Strategy{Collaborative, Hybrid} {
				r, err := eng.Recommend(u, Request{Limit: 3, Strategy: s, ExcludePurchased: true})
				require.NoError(t, err)
				require.Contains(t, ids(r.Results), p[1], "%s for buyer of %s", s, p[0])
			}
		}
	})
}

// TestSimilarityOnPlantedData measures each similarity on planted data: the
// share of planted partners among an A's top-5 co-occurrence neighbours
// (hit rate) and their mean reciprocal rank. docs/recommendations.md
// records the figures (run with -v).
func TestSimilarityOnPlantedData(t *testing.T) {
	for _, tc := range []struct {
		sim     Similarity
		pBoth   float64
		minRate float64
	}{
		{Jaccard, 0.1, 0.5}, {Cosine, 0.1, 0.5}, {LogLikelihood, 0.1, 0.5},
		{Jaccard, 0.03, 0.2}, {Cosine, 0.03, 0.2}, {LogLikelihood, 0.03, 0.2},
	} {
		sim := tc.sim
		t.Run(fmt.Sprintf("%s p=%.2f", sim, tc.pBoth), func(t *testing.T) {
			m, err := NewModel()
			require.NoError(t, err)
			pl := plantData(t, m, 3000, 500, 20, tc.pBoth, 7)
			deg := mapDegrees{items: m.items, total: int64(len(m.profiles))}
			var hits int
			var mrr float64
			for _, p := range pl.pairs {
				ns := m.items[p[0]].Neighbours(deg, sim, 5)
				if i := slices.IndexFunc(ns, func(n ProductScore) bool { return n.ProductID == p[1] }); i >= 0 {
					hits++
					mrr += 1 / float64(i+1)
				}
			}
			rate := float64(hits) / float64(len(pl.pairs))
			t.Logf("%s p=%.2f: hit rate@5 %.2f, MRR %.3f", sim, tc.pBoth, rate, mrr/float64(len(pl.pairs)))
			require.GreaterOrEqual(t, rate, tc.minRate)
		})
	}
}
