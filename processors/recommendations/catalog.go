package recommendations

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
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
	m.Score = contentScore(a, b)
	for _, c := range b.Categories {
		if slices.Contains(a.Categories, c) {
			m.SharedCategories = append(m.SharedCategories, c)
		}
	}
	for k, v := range b.Attributes {
		if av, ok := a.Attributes[k]; ok && strings.EqualFold(av, v) {
			m.SharedAttributes = append(m.SharedAttributes, k+"="+v)
		}
	}
	m.SameBrand = a.Brand != "" && strings.EqualFold(a.Brand, b.Brand)
	sort.Strings(m.SharedCategories)
	sort.Strings(m.SharedAttributes)
	return m
}

// categoryScore is the category part of the content score: the Jaccard
// index of the two products' categories, weighted.
func categoryScore(a, b *Product) float64 {
	union, shared := len(a.Categories), 0
	for _, c := range b.Categories {
		if slices.Contains(a.Categories, c) {
			shared++
		} else {
			union++
		}
	}
	if union == 0 {
		return 0
	}
	return categoryWeight * float64(shared) / float64(union)
}

// addAttributeBrandScore adds the rest of the content score to score: the
// share of equal attributes among the keys of both products, and the
// brand (in this order, so every caller sums the same way).
func addAttributeBrandScore(score float64, a, b *Product, equal, keys int) float64 {
	if keys > 0 {
		score += attributeWeight * float64(equal) / float64(keys)
	}
	if a.Brand != "" && strings.EqualFold(a.Brand, b.Brand) {
		score += brandWeight
	}
	return score
}

// contentScore is ContentSimilarity's score without the evidence (and
// without allocating): Similar scores every candidate with it and builds
// the evidence of the top k only.
func contentScore(a, b *Product) float64 {
	score := categoryScore(a, b)
	keys, equal := len(a.Attributes), 0
	for k, v := range b.Attributes {
		av, ok := a.Attributes[k]
		if !ok {
			keys++
			continue
		}
		if strings.EqualFold(av, v) {
			equal++
		}
	}
	return addAttributeBrandScore(score, a, b, equal, keys)
}

// CatalogIndex is an immutable snapshot of the catalog with an inverted index
// from categories and brands to products, and of popularity: what
// content-based similarity, the popularity fallback and similarity
// normalization read. Its content part memoizes each product's similar
// products; NextCatalogIndex carries that part (and its memo) over to the
// next snapshot while the catalog has not changed.
type CatalogIndex struct {
	*content
	users      map[string]int64
	totalUsers int64
	popular    []ProductScore
	popScore   map[string]float64
}

// content is the catalog part of a snapshot. products and byFacet never
// change after newContent; similar is a memo, filled on first use.
type content struct {
	products map[string]*Product
	byFacet  map[string][]string
	// attrs holds each product's attributes as pairs sorted by key, which
	// Similar compares by merging instead of iterating maps.
	attrs map[string][]attr

	mu      sync.RWMutex
	similar map[string]similarMemo
}

// similarMemo is one product's most similar products, highest first. k is
// the depth asked for when it was computed: a list shorter than k is every
// similar product there is.
type similarMemo struct {
	k   int
	top []ProductScore
	ev  map[string]ContentMatch
}

// similarMemoCap bounds how many products' similar lists a snapshot keeps;
// past it the memo starts afresh.
const similarMemoCap = 100_000

// NewCatalogIndex indexes products and items. Items supply popularity
// (valued at at) and user counts.
func NewCatalogIndex(products []*Product, items []*Item, at time.Time, halfLife time.Duration, totalUsers int64) *CatalogIndex {
	return NextCatalogIndex(nil, products, items, at, halfLife, totalUsers)
}

// NextCatalogIndex is NewCatalogIndex for the snapshot that replaces prev: when
// products are the same catalog entries prev indexed, the new snapshot
// shares prev's content part and so its memo of similar products (the
// popularity part is always rebuilt).
func NextCatalogIndex(prev *CatalogIndex, products []*Product, items []*Item, at time.Time, halfLife time.Duration, totalUsers int64) *CatalogIndex {
	var c *content
	if prev != nil && prev.content != nil && prev.sameCatalog(products) {
		c = prev.content
	} else {
		c = newContent(products)
	}
	ix := &CatalogIndex{content: c, users: make(map[string]int64, len(items)), totalUsers: totalUsers}
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

func newContent(products []*Product) *content {
	c := &content{products: make(map[string]*Product, len(products)), byFacet: make(map[string][]string),
		attrs: make(map[string][]attr, len(products)), similar: make(map[string]similarMemo)}
	for _, p := range products {
		c.products[p.ProductID] = p
	}
	for id, p := range c.products {
		as := make([]attr, 0, len(p.Attributes))
		for k, v := range p.Attributes {
			as = append(as, attr{k, v})
		}
		slices.SortFunc(as, func(a, b attr) int { return strings.Compare(a.key, b.key) })
		c.attrs[id] = as
	}
	for _, p := range c.products {
		if !p.Active {
			continue
		}
		for _, cat := range p.Categories {
			c.byFacet["c:"+cat] = append(c.byFacet["c:"+cat], p.ProductID)
		}
		if p.Brand != "" {
			b := "b:" + strings.ToLower(p.Brand)
			c.byFacet[b] = append(c.byFacet[b], p.ProductID)
		}
	}
	for _, ids := range c.byFacet {
		sort.Strings(ids)
	}
	return c
}

// sameCatalog reports whether products are exactly the entries c indexed.
func (c *content) sameCatalog(products []*Product) bool {
	if len(products) != len(c.products) {
		return false
	}
	for _, p := range products {
		if !sameProduct(p, c.products[p.ProductID]) {
			return false
		}
	}
	return true
}

// sameProduct compares what the index and content similarity read.
func sameProduct(a, b *Product) bool {
	return a != nil && b != nil && a.ProductID == b.ProductID && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.Active == b.Active && a.Brand == b.Brand && slices.Equal(a.Categories, b.Categories) &&
		maps.Equal(a.Attributes, b.Attributes) && a.Name == b.Name && a.Price.Equal(b.Price) && a.Currency == b.Currency
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
// highest first, ties by product ID, with the evidence. The returned slice
// and map are shared with the snapshot's memo: callers must not modify them.
func (ix *CatalogIndex) Similar(id string, k int) ([]ProductScore, map[string]ContentMatch) {
	if k < 1 || ix.products[id] == nil {
		return nil, nil
	}
	c := ix.content
	c.mu.RLock()
	m, ok := c.similar[id]
	c.mu.RUnlock()
	if !ok || (m.k < k && len(m.top) == m.k) {
		m = c.computeSimilar(id, k)
		c.mu.Lock()
		if len(c.similar) >= similarMemoCap {
			clear(c.similar)
		}
		if old, ok := c.similar[id]; !ok || old.k < m.k {
			c.similar[id] = m
		}
		c.mu.Unlock()
	}
	if len(m.top) <= k {
		return m.top, m.ev
	}
	return m.top[:k], m.ev
}

// computeSimilar scores every active product that shares a category or the
// brand with id (ContentSimilarity's score) and keeps the top k with their
// evidence.
func (c *content) computeSimilar(id string, k int) similarMemo {
	p, pa := c.products[id], c.attrs[id]
	facets := make([]string, 0, len(p.Categories)+1)
	for _, cat := range p.Categories {
		facets = append(facets, "c:"+cat)
	}
	if p.Brand != "" {
		facets = append(facets, "b:"+strings.ToLower(p.Brand))
	}
	n := 0
	for _, f := range facets {
		n += len(c.byFacet[f])
	}
	seen := make(map[string]struct{}, n)
	seen[id] = struct{}{}
	out := make([]ProductScore, 0, n)
	for _, f := range facets {
		for _, q := range c.byFacet[f] {
			if _, dup := seen[q]; dup {
				continue
			}
			seen[q] = struct{}{}
			if s := preparedScore(p, pa, c.products[q], c.attrs[q]); s > 0 {
				out = append(out, ProductScore{ProductID: q, Score: s})
			}
		}
	}
	sortScores(out)
	if len(out) > k {
		out = slices.Clip(out[:k])
	}
	ev := make(map[string]ContentMatch, len(out))
	for _, q := range out {
		ev[q.ProductID] = ContentSimilarity(p, c.products[q.ProductID])
	}
	return similarMemo{k: k, top: out, ev: ev}
}

// attr is one attribute of a product.
type attr struct{ key, value string }

// preparedScore is contentScore(a, b) with the attributes as sorted pairs
// (as and bs): the same counts, so the same score, without map iteration.
func preparedScore(a *Product, as []attr, b *Product, bs []attr) float64 {
	score := categoryScore(a, b)
	keys, equal := len(as), 0
	i := 0
	for _, bv := range bs {
		for i < len(as) && as[i].key < bv.key {
			i++
		}
		if i < len(as) && as[i].key == bv.key {
			if strings.EqualFold(as[i].value, bv.value) {
				equal++
			}
			continue
		}
		keys++
	}
	return addAttributeBrandScore(score, a, b, equal, keys)
}
