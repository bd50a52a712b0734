package recommendations

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// catalogOf builds n products over 7 categories, 3 brands and a colour.
func catalogOf(n int) []*Product {
	out := make([]*Product, n)
	for i := range n {
		out[i] = &Product{ProductID: fmt.Sprintf("p%03d", i), Brand: []string{"Acme", "Globex", "Hooli"}[i%3],
			Categories: []string{fmt.Sprint("c", i%7)}, Attributes: map[string]string{"color": fmt.Sprint(i % 4)},
			Active: i%11 != 0, UpdatedAt: t0}
	}
	return out
}

// similarByBruteForce is Similar's contract computed naively: every other
// active product that shares a category or the brand, scored by
// ContentSimilarity, positive scores only.
func similarByBruteForce(products []*Product, id string, k int) []ProductScore {
	var p *Product
	for _, q := range products {
		if q.ProductID == id {
			p = q
		}
	}
	var out []ProductScore
	for _, q := range products {
		if q.ProductID == id || !q.Active {
			continue
		}
		if m := ContentSimilarity(p, q); len(m.SharedCategories) == 0 && !m.SameBrand {
			continue
		}
		if m := ContentSimilarity(p, q); m.Score > 0 {
			out = append(out, ProductScore{ProductID: q.ProductID, Score: m.Score})
		}
	}
	sortScores(out)
	return out[:min(k, len(out))]
}

func TestCatalogIndexSimilarMemo(t *testing.T) {
	products := catalogOf(200)
	ix := NewCatalogIndex(products, nil, t0, time.Hour, 0)
	cases := []struct {
		name string
		id   string
		k    []int // asked in this order
	}{
		{"one depth", "p001", []int{10}},
		{"deeper after shallower recomputes", "p002", []int{3, 40}},
		{"shallower after deeper is a prefix", "p003", []int{40, 5}},
		{"deeper than there are similar products", "p004", []int{500, 1000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range tc.k {
				got, ev := ix.Similar(tc.id, k)
				require.Equal(t, similarByBruteForce(products, tc.id, k), got, "k=%d", k)
				for _, g := range got {
					require.Equal(t, ContentSimilarity(ix.Product(tc.id), ix.Product(g.ProductID)), ev[g.ProductID])
				}
			}
		})
	}
	t.Run("unknown product and k below one", func(t *testing.T) {
		got, _ := ix.Similar("nothing", 10)
		require.Empty(t, got)
		got, _ = ix.Similar("p001", 0)
		require.Empty(t, got)
	})
}

func TestNextCatalogIndexSharesContentWhileCatalogUnchanged(t *testing.T) {
	products := catalogOf(50)
	prev := NewCatalogIndex(products, nil, t0, time.Hour, 0)
	prev.Similar("p001", 10) // fills the memo
	changed := func(edit func(p *Product)) []*Product {
		out := make([]*Product, len(products))
		for i, p := range products {
			c := *p
			c.Categories = append([]string(nil), p.Categories...)
			c.Attributes = map[string]string{"color": p.Attributes["color"]}
			out[i] = &c
		}
		edit(out[7])
		return out
	}
	cases := []struct {
		name  string
		next  []*Product
		share bool
	}{
		{"the same entries decoded again", changed(func(*Product) {}), true},
		{"a product deactivated", changed(func(p *Product) { p.Active = !p.Active }), false},
		{"an attribute changed at the same time", changed(func(p *Product) { p.Attributes["color"] = "x" }), false},
		{"a category changed", changed(func(p *Product) { p.Categories = []string{"other"} }), false},
		{"a newer update", changed(func(p *Product) { p.UpdatedAt = p.UpdatedAt.Add(time.Second) }), false},
		{"a product added", append(changed(func(*Product) {}), &Product{ProductID: "new", Active: true}), false},
		{"a product gone", changed(func(*Product) {})[1:], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := NextCatalogIndex(prev, tc.next, nil, t0, time.Hour, 0)
			require.Equal(t, tc.share, next.content == prev.content)
			// Whether shared or rebuilt, the answer is the new catalog's.
			got, _ := next.Similar("p001", 10)
			require.Equal(t, similarByBruteForce(tc.next, "p001", 10), got)
		})
	}
}

func TestCatalogIndexSimilarConcurrent(t *testing.T) {
	products := catalogOf(300)
	ix := NewCatalogIndex(products, nil, t0, time.Hour, 0)
	want := make(map[string][]ProductScore)
	ids := make([]string, 0, 30)
	for i := range 30 {
		id := fmt.Sprintf("p%03d", i+1)
		ids = append(ids, id)
		want[id] = similarByBruteForce(products, id, 20)
	}
	sort.Strings(ids)
	done := make(chan map[string][]ProductScore, 8)
	for w := range 8 {
		go func() {
			got := make(map[string][]ProductScore)
			for i := range ids {
				id := ids[(i+w)%len(ids)]
				s, _ := ix.Similar(id, 5+(w%2)*15) // interleave depths 5 and 20
				if w%2 == 1 {
					got[id] = s
				}
			}
			done <- got
		}()
	}
	for range 8 {
		for id, s := range <-done {
			require.Equal(t, want[id], s, id)
		}
	}
}

func TestCachedListExpiry(t *testing.T) {
	cases := []struct {
		name    string
		expires time.Time
		now     time.Time
		want    bool
	}{
		{"no expiry (lists cached by earlier versions) never expires", time.Time{}, t0.Add(1000 * time.Hour), false},
		{"before the expiry", t0.Add(time.Hour), t0.Add(59 * time.Minute), false},
		{"at the expiry", t0.Add(time.Hour), t0.Add(time.Hour), true},
		{"after the expiry", t0.Add(time.Hour), t0.Add(2 * time.Hour), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, CachedList{ExpiresAt: tc.expires}.Expired(tc.now))
		})
	}
	t.Run("a cache TTL must be positive", func(t *testing.T) {
		_, err := newConfig([]Option{WithCacheTTL(0)})
		require.ErrorContains(t, err, "cache TTL")
	})
}

func TestUnavailableError(t *testing.T) {
	cause := fmt.Errorf("view closed: %w", context.Canceled)
	err := error(&UnavailableError{Op: "reading the users view", Err: cause})
	cases := []struct {
		name   string
		target error
	}{
		{"matches the sentinel", ErrUnavailable},
		{"matches any unavailable code", topics.NewError(topics.CodeUnavailable, "")},
		{"keeps the cause", context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, err, tc.target)
		})
	}
	t.Run("clients see the code and the operation, not the cause", func(t *testing.T) {
		e := topics.AsError(err)
		require.Equal(t, topics.CodeUnavailable, e.Code)
		require.Equal(t, "reading the users view failed", e.Message)
	})
	t.Run("logs see the cause", func(t *testing.T) {
		require.Contains(t, err.Error(), "view closed")
	})
}

func TestPreparedScoreIsContentScore(t *testing.T) {
	base := &Product{ProductID: "a", Brand: "Acme", Categories: []string{"x", "y"},
		Attributes: map[string]string{"color": "Red", "size": "M", "fit": "slim"}}
	cases := []struct {
		name string
		b    *Product
	}{
		{"identical but for case", &Product{ProductID: "b", Brand: "acme", Categories: []string{"y", "x"},
			Attributes: map[string]string{"color": "red", "size": "m", "fit": "SLIM"}}},
		{"disjoint keys", &Product{ProductID: "c", Attributes: map[string]string{"a": "1", "zz": "2"}}},
		{"some keys shared, some values differ", &Product{ProductID: "d", Brand: "Other", Categories: []string{"x", "z"},
			Attributes: map[string]string{"color": "blue", "fit": "slim", "material": "wool"}}},
		{"no attributes", &Product{ProductID: "e", Categories: []string{"x"}}},
	}
	prep := func(p *Product) []attr { return newContent([]*Product{p}).attrs[p.ProductID] }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, contentScore(base, tc.b), preparedScore(base, prep(base), tc.b, prep(tc.b)))
			require.Equal(t, contentScore(tc.b, base), preparedScore(tc.b, prep(tc.b), base, prep(base)))
		})
	}
}
