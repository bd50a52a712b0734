package recommendations

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Product is a catalog entry, from product.updated.
type Product struct {
	ProductID  string            `json:"product_id"`
	Name       string            `json:"name,omitempty"`
	Brand      string            `json:"brand,omitempty"`
	Categories []string          `json:"categories,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Price      decimal.Decimal   `json:"price"`
	Currency   string            `json:"currency,omitempty"`
	// Active is false for a product that is no longer sold: it is never
	// recommended.
	Active bool `json:"active"`
	// UpdatedAt is the time of the product.updated event; an older update
	// never replaces a newer one.
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the fields a catalog entry needs.
func (p *Product) Validate() error {
	if strings.TrimSpace(p.ProductID) == "" {
		return ErrInvalidProduct.Withf("product.updated has no product_id")
	}
	if p.Price.IsNegative() {
		return ErrInvalidEvent.Withf("product %s has a negative price", p.ProductID)
	}
	for _, c := range p.Categories {
		if strings.TrimSpace(c) == "" {
			return ErrInvalidEvent.Withf("product %s has a blank category", p.ProductID)
		}
	}
	return nil
}

// Newer reports whether p should replace old (nil, or updated earlier).
func (p *Product) Newer(old *Product) bool {
	return old == nil || !p.UpdatedAt.Before(old.UpdatedAt)
}

// Content similarity weights: shared categories weigh most, then matching
// attributes, then the brand.
const (
	categoryWeight  = 0.5
	attributeWeight = 0.35
	brandWeight     = 0.15
)

// ContentMatch is the content similarity of two products and its evidence.
type ContentMatch struct {
	Score            float64  `json:"score"`
	SharedCategories []string `json:"shared_categories,omitempty"`
	SharedAttributes []string `json:"shared_attributes,omitempty"`
	SameBrand        bool     `json:"same_brand,omitempty"`
}

// ContentSimilarity compares two products: the Jaccard index of their
// categories, the share of attribute keys with equal values among the keys
// either has, and the brand, weighted 0.5/0.35/0.15. The score is in [0, 1].
func ContentSimilarity(a, b *Product) ContentMatch {
	var m ContentMatch
	if a == nil || b == nil {
		return m
	}
	union := len(a.Categories)
	for _, c := range b.Categories {
		if slices.Contains(a.Categories, c) {
			m.SharedCategories = append(m.SharedCategories, c)
		} else {
			union++
		}
	}
	if union > 0 {
		m.Score += categoryWeight * float64(len(m.SharedCategories)) / float64(union)
	}
	keys := len(a.Attributes)
	for k, v := range b.Attributes {
		av, ok := a.Attributes[k]
		if !ok {
			keys++
			continue
		}
		if strings.EqualFold(av, v) {
			m.SharedAttributes = append(m.SharedAttributes, k+"="+v)
		}
	}
	if keys > 0 {
		m.Score += attributeWeight * float64(len(m.SharedAttributes)) / float64(keys)
	}
	if a.Brand != "" && strings.EqualFold(a.Brand, b.Brand) {
		m.SameBrand = true
		m.Score += brandWeight
	}
	sort.Strings(m.SharedCategories)
	sort.Strings(m.SharedAttributes)
	return m
}

// CatalogIndex is an immutable snapshot of the catalog with an inverted index
// from categories and brands to products, and of popularity: what
// content-based similarity, the popularity fallback and similarity
// normalization read.
type CatalogIndex struct {
	products   map[string]*Product
	byFacet    map[string][]string
	users      map[string]int64
	totalUsers int64
	popular    []ProductScore
	popScore   map[string]float64
}

// NewCatalogIndex indexes products and items. Items supply popularity
// (valued at at) and user counts.
func NewCatalogIndex(products []*Product, items []*Item, at time.Time, halfLife time.Duration, totalUsers int64) *CatalogIndex {
	ix := &CatalogIndex{products: make(map[string]*Product, len(products)), byFacet: make(map[string][]string),
		users: make(map[string]int64, len(items)), totalUsers: totalUsers}
	for _, p := range products {
		ix.products[p.ProductID] = p
		if !p.Active {
			continue
		}
		for _, c := range p.Categories {
			ix.byFacet["c:"+c] = append(ix.byFacet["c:"+c], p.ProductID)
		}
		if p.Brand != "" {
			b := "b:" + strings.ToLower(p.Brand)
			ix.byFacet[b] = append(ix.byFacet[b], p.ProductID)
		}
	}
	for _, ids := range ix.byFacet {
		sort.Strings(ids)
	}
	var sum int64
	for _, it := range items {
		ix.users[it.ProductID] = it.Users
		sum += it.Users
		if p := it.PopularityAt(at, halfLife); p > 0 && ix.Recommendable(it.ProductID) {
			ix.popular = append(ix.popular, ProductScore{ProductID: it.ProductID, Score: p})
		}
	}
	if ix.totalUsers == 0 {
		ix.totalUsers = sum // an upper bound when the real count is not known
	}
	sortScores(ix.popular)
	ix.popScore = make(map[string]float64, len(ix.popular))
	for _, p := range ix.popular {
		ix.popScore[p.ProductID] = p.Score / ix.popular[0].Score
	}
	return ix
}

// Product returns the catalog entry of id, or nil.
func (ix *CatalogIndex) Product(id string) *Product { return ix.products[id] }

// Recommendable reports whether id may be recommended: it is not a product
// the catalog marked inactive. A product the catalog has not described yet
// may be recommended (the catalog stream can lag behind behaviour).
func (ix *CatalogIndex) Recommendable(id string) bool {
	p, ok := ix.products[id]
	return !ok || p.Active
}

// Users implements Degrees.
func (ix *CatalogIndex) Users(id string) int64 { return ix.users[id] }

// TotalUsers implements Degrees.
func (ix *CatalogIndex) TotalUsers() int64 { return ix.totalUsers }

// Popular returns the most popular recommendable products, most popular
// first, with scores relative to the most popular (which scores 1).
func (ix *CatalogIndex) Popular(n int) []ProductScore {
	n = min(n, len(ix.popular))
	out := make([]ProductScore, n)
	for i := range n {
		out[i] = ProductScore{ProductID: ix.popular[i].ProductID, Score: ix.popular[i].Score / ix.popular[0].Score}
	}
	return out
}

// PopularityOf returns id's popularity relative to the most popular product.
func (ix *CatalogIndex) PopularityOf(id string) float64 {
	return ix.popScore[id]
}

// Similar returns up to k active products most similar to id by content,
// highest first, ties by product ID, with the evidence.
func (ix *CatalogIndex) Similar(id string, k int) ([]ProductScore, map[string]ContentMatch) {
	p := ix.products[id]
	if p == nil {
		return nil, nil
	}
	seen := map[string]bool{id: true}
	var cands []string
	facets := make([]string, 0, len(p.Categories)+1)
	for _, c := range p.Categories {
		facets = append(facets, "c:"+c)
	}
	if p.Brand != "" {
		facets = append(facets, "b:"+strings.ToLower(p.Brand))
	}
	for _, f := range facets {
		for _, q := range ix.byFacet[f] {
			if !seen[q] {
				seen[q] = true
				cands = append(cands, q)
			}
		}
	}
	out := make([]ProductScore, 0, len(cands))
	ev := make(map[string]ContentMatch, len(cands))
	for _, q := range cands {
		m := ContentSimilarity(p, ix.products[q])
		if m.Score > 0 {
			out = append(out, ProductScore{ProductID: q, Score: m.Score})
			ev[q] = m
		}
	}
	sortScores(out)
	if len(out) > k {
		for _, d := range out[k:] {
			delete(ev, d.ProductID)
		}
		out = out[:k]
	}
	return out, ev
}
