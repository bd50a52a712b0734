package recommendations

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Reason says why a product was recommended.
type Reason string

// The reasons of a result.
const (
	ReasonCollaborative  = Reason("collaborative")
	ReasonBoughtTogether = Reason("frequently_bought_together")
	ReasonSimilar        = Reason("similar_attributes")
	ReasonPopular        = Reason("popular")
)

// ScorePlaces is how many decimal places an API score has.
const ScorePlaces = 4

// Result is one recommended product (the seed's RecommendationResult).
type Result struct {
	ProductID string `json:"product_id"`
	// Score is the confidence in [0, 1], rounded to ScorePlaces places.
	Score    decimal.Decimal `json:"score"`
	Reason   Reason          `json:"reason"`
	Metadata map[string]any  `json:"metadata,omitempty"`
}

// ToMap is the seed's to_h.
func (r Result) ToMap() map[string]any {
	return map[string]any{"product_id": r.ProductID, "score": r.Score, "reason": string(r.Reason), "metadata": r.Metadata}
}

// Recommendations is one computed (or cached) list for one user.
type Recommendations struct {
	// RecommendationID identifies the list; clicks refer to it.
	RecommendationID string   `json:"recommendation_id"`
	UserID           string   `json:"user_id"`
	Strategy         Strategy `json:"strategy"`
	ExcludePurchased bool     `json:"exclude_purchased"`
	// Version is the profile version the list was computed from.
	Version int64    `json:"version"`
	Results []Result `json:"results"`
	// Cached is true when the list came from the cache.
	Cached bool `json:"cached"`
	// Fallback is true when the user had no history and the list is the
	// popularity fallback.
	Fallback bool `json:"fallback,omitempty"`
	// ExpiresAt is when the service stops serving the list from its cache
	// (set by the service; zero from the in-memory Model).
	ExpiresAt time.Time `json:"expires_at"`
}

// Request is what get_recommendations takes.
type Request struct {
	// Limit is the number of results, 1..MaxLimit.
	Limit int
	// Strategy is collaborative, content_based or hybrid.
	Strategy Strategy
	// ExcludePurchased leaves out products the user bought.
	ExcludePurchased bool
}

// DefaultRequest is the seed's default: 10 results, hybrid, purchased
// products excluded.
func DefaultRequest() Request {
	return Request{Limit: DefaultLimit, Strategy: Hybrid, ExcludePurchased: true}
}

// Validate checks the limit and the strategy.
func (r Request) Validate() error {
	if r.Limit < 1 || r.Limit > MaxLimit {
		return ErrInvalidLimit.Withf("limit %d is not between 1 and %d", r.Limit, MaxLimit).With("limit", r.Limit)
	}
	_, err := ParseStrategy(string(r.Strategy))
	return err
}

// Store is what the engine reads: profiles, items and a catalog snapshot.
// The in-memory Model and the goka views of Service implement it.
type Store interface {
	// Profile returns the user's profile, nil when the user is unknown.
	Profile(userID string) (*Profile, error)
	// Item returns the product's co-occurrence state, nil when unknown.
	Item(productID string) (*Item, error)
	// Index returns the current catalog and popularity snapshot.
	Index() *CatalogIndex
}

// ErrNilStore is returned by NewEngine without a store.
var ErrNilStore = errors.New("recommendations: nil store")

// Engine computes recommendations from a Store (the seed's
// RecommendationEngine, for every user at once).
type Engine struct {
	cfg   config
	store Store
	newID func() string
}

// NewEngine returns an engine reading store.
func NewEngine(store Store, opts ...Option) (*Engine, error) {
	if store == nil {
		return nil, ErrNilStore
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, store: store, newID: topics.NewID}, nil
}

// CacheDepth is how many results a computed list holds.
func (e *Engine) CacheDepth() int { return e.cfg.cacheDepth }

// ValidateUser returns ErrInvalidUser for a blank user ID.
func ValidateUser(userID string) error {
	if strings.TrimSpace(userID) == "" {
		return ErrInvalidUser.Withf("user ID is blank")
	}
	return nil
}

// Cached returns the user's valid cached list for req, if there is one
// holding at least req.Limit results (or every result there was).
func (e *Engine) Cached(userID string, req Request) (*Recommendations, bool, error) {
	if err := ValidateUser(userID); err != nil {
		return nil, false, err
	}
	if err := req.Validate(); err != nil {
		return nil, false, err
	}
	req.Strategy, _ = ParseStrategy(string(req.Strategy))
	p, err := e.store.Profile(userID)
	if err != nil || p == nil {
		return nil, false, err
	}
	c, ok := p.Cached(req.Strategy, req.ExcludePurchased)
	if !ok || (len(c.Results) < req.Limit && len(c.Results) >= e.cfg.cacheDepth) {
		return nil, false, nil
	}
	res := c.Results
	if len(res) > req.Limit {
		res = res[:req.Limit]
	}
	return &Recommendations{RecommendationID: c.RecommendationID, UserID: userID, Strategy: c.Strategy,
		ExcludePurchased: c.ExcludePurchased, Version: c.Version, Results: res, Cached: true}, true, nil
}

// Compute computes a fresh list for req, holding max(req.Limit, cache depth)
// results: the caller caches it and returns the first req.Limit.
func (e *Engine) Compute(userID string, req Request) (*Recommendations, error) {
	if err := ValidateUser(userID); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Strategy, _ = ParseStrategy(string(req.Strategy))
	p, err := e.store.Profile(userID)
	if err != nil {
		return nil, err
	}
	return e.ComputeFor(userID, p, req)
}

// ComputeFor is Compute for a profile the caller already read (nil for an
// unknown user). req must be valid.
func (e *Engine) ComputeFor(userID string, p *Profile, req Request) (*Recommendations, error) {
	req.Strategy, _ = ParseStrategy(string(req.Strategy))
	if p == nil {
		p = &Profile{UserID: userID}
	}
	var err error
	ix := e.store.Index()
	depth := max(req.Limit, e.cfg.cacheDepth)
	recs := &Recommendations{RecommendationID: e.newID(), UserID: userID, Strategy: req.Strategy,
		ExcludePurchased: req.ExcludePurchased, Version: p.Version}
	excluded := func(id string) bool {
		return !ix.Recommendable(id) || (req.ExcludePurchased && p.HasPurchased(id))
	}
	seeds := e.seeds(p)
	var ranked []scored
	if len(seeds) > 0 {
		switch req.Strategy {
		case Collaborative:
			ranked, err = e.collaborative(seeds, ix, excluded)
		case ContentBased:
			ranked = e.contentBased(seeds, ix, excluded)
		default:
			ranked, err = e.hybrid(seeds, ix, excluded)
		}
		if err != nil {
			return nil, err
		}
	} else {
		recs.Fallback = true
	}
	recs.Results = finish(ranked, ix, excluded, depth)
	return recs, nil
}

// Recommend returns the cached list when it is valid, else a fresh one.
func (e *Engine) Recommend(userID string, req Request) (*Recommendations, error) {
	if r, ok, err := e.Cached(userID, req); err != nil || ok {
		return r, err
	}
	r, err := e.Compute(userID, req)
	if err != nil {
		return nil, err
	}
	out := *r
	if len(out.Results) > req.Limit {
		out.Results = out.Results[:req.Limit]
	}
	return &out, nil
}

// FrequentlyBoughtTogether returns the products most often in the same
// order as productID, scored by the share of its orders that held them.
func (e *Engine) FrequentlyBoughtTogether(productID string, limit int) ([]Result, error) {
	if err := validateProductQuery(productID, limit); err != nil {
		return nil, err
	}
	it, err := e.store.Item(productID)
	if err != nil || it == nil {
		return []Result{}, err
	}
	ix := e.store.Index()
	var out []scored
	for _, ps := range it.BoughtTogether(e.cfg.candidates) {
		if !ix.Recommendable(ps.ProductID) {
			continue
		}
		out = append(out, scored{id: ps.ProductID, score: ps.Score, reason: ReasonBoughtTogether,
			best: piece{reason: ReasonBoughtTogether, from: productID, count: it.Bought[ps.ProductID], orders: it.Orders}})
	}
	return finish(out, nil, nil, limit), nil
}

// SimilarProducts returns the active products most similar to productID by
// categories, attributes and brand. An unknown product is not_found.
func (e *Engine) SimilarProducts(productID string, limit int) ([]Result, error) {
	if err := validateProductQuery(productID, limit); err != nil {
		return nil, err
	}
	ix := e.store.Index()
	if ix.Product(productID) == nil {
		return nil, topics.ErrNotFound.Withf("product %s is not in the catalog", productID).With("product_id", productID)
	}
	sim, ev := ix.Similar(productID, limit)
	out := make([]scored, 0, len(sim))
	for _, s := range sim {
		out = append(out, scored{id: s.ProductID, score: s.Score, reason: ReasonSimilar,
			best: piece{reason: ReasonSimilar, from: productID, match: ev[s.ProductID]}})
	}
	return finish(out, nil, nil, limit), nil
}

func validateProductQuery(productID string, limit int) error {
	if strings.TrimSpace(productID) == "" {
		return ErrInvalidProduct.Withf("product ID is blank")
	}
	if limit < 1 || limit > MaxLimit {
		return ErrInvalidLimit.Withf("limit %d is not between 1 and %d", limit, MaxLimit).With("limit", limit)
	}
	return nil
}

// scored is a candidate before rounding. Its metadata is built (metadata)
// only for the candidates that make the list.
type scored struct {
	id     string
	score  float64
	reason Reason
	// meta is the metadata when it is known up front (popular fill).
	meta map[string]any
	// best is the strongest piece of evidence; from lists every seed that
	// contributed (evidence_from, when more than one).
	best piece
	from []string
	// components are the hybrid strategy's parts, when hybrid.
	components *[3]float64
}

// piece is one piece of evidence for a candidate: the seed it came from and
// what made it (co-occurrence or basket counts, or a content match).
type piece struct {
	reason Reason
	from   string
	sim    Similarity
	count  int64
	orders int64
	match  ContentMatch
}

func (p piece) metadata(extra int) map[string]any {
	switch p.reason {
	case ReasonCollaborative:
		m := make(map[string]any, 3+extra)
		m["because_of"], m["similarity"], m["co_occurrences"] = p.from, string(p.sim), p.count
		return m
	case ReasonBoughtTogether:
		m := make(map[string]any, 3+extra)
		m["bought_with"], m["orders_together"], m["orders"] = p.from, p.count, p.orders
		return m
	case ReasonSimilar:
		return contentMeta(p.from, p.match)
	}
	return make(map[string]any, extra)
}

// metadata is the result's evidence: the strongest piece's details, plus the
// hybrid components, or every contributing seed (evidence_from) when more
// than one pointed at the candidate.
func (s *scored) metadata() map[string]any {
	if s.meta != nil {
		return s.meta
	}
	m := s.best.metadata(1)
	if s.components != nil {
		c := s.components
		m["components"] = map[string]float64{"collaborative": round(c[0]), "content": round(c[1]), "popularity": round(c[2])}
	} else if len(s.from) > 1 {
		// a seed can point at a candidate more than once (two lists): it is
		// named once
		from := slices.Clone(s.from)
		sort.Strings(from)
		if from = slices.Compact(from); len(from) > 1 {
			m["evidence_from"] = from
		}
	}
	return m
}

// seeds are the user's strongest affinities, normalized so the strongest is 1.
func (e *Engine) seeds(p *Profile) []ProductScore {
	s := p.TopAffinities(e.cfg.seeds, e.cfg.halfLife)
	if len(s) == 0 || s[0].Score <= 0 {
		return nil
	}
	top := s[0].Score
	for i := range s {
		s[i].Score /= top
	}
	return s
}

// evidence accumulates one candidate's score as a noisy-or of independent
// pieces of evidence: 1 - prod(1 - w_i), which stays in [0, 1] and grows with
// each seed that points at the candidate.
type evidence struct {
	miss float64
	best float64
	top  piece
	from []string
}

func (ev *evidence) add(w float64, p piece) {
	w = math.Max(0, math.Min(1, w))
	ev.miss *= 1 - w
	ev.from = append(ev.from, p.from)
	if w > ev.best || (w == ev.best && p.from < ev.top.from) || ev.top.reason == "" {
		ev.best, ev.top = w, p
	}
}

func collect(m map[string]*evidence, id string) *evidence {
	ev := m[id]
	if ev == nil {
		ev = &evidence{miss: 1}
		m[id] = ev
	}
	return ev
}

func (e *Engine) collaborativeEvidence(seeds []ProductScore, ix *CatalogIndex, excluded func(string) bool) (map[string]*evidence, error) {
	out := make(map[string]*evidence)
	for _, s := range seeds {
		it, err := e.store.Item(s.ProductID)
		if err != nil {
			return nil, err
		}
		if it == nil {
			continue
		}
		for _, n := range it.Neighbours(ix, e.cfg.similarity, e.cfg.neighbours) {
			if n.ProductID == s.ProductID || excluded(n.ProductID) {
				continue
			}
			collect(out, n.ProductID).add(s.Score*n.Score,
				piece{reason: ReasonCollaborative, from: s.ProductID, sim: e.cfg.similarity, count: it.Co[n.ProductID]})
		}
		for _, b := range it.BoughtTogether(e.cfg.neighbours) {
			if b.ProductID == s.ProductID || excluded(b.ProductID) {
				continue
			}
			collect(out, b.ProductID).add(s.Score*b.Score,
				piece{reason: ReasonBoughtTogether, from: s.ProductID, count: it.Bought[b.ProductID], orders: it.Orders})
		}
	}
	return out, nil
}

func (e *Engine) contentEvidence(seeds []ProductScore, ix *CatalogIndex, excluded func(string) bool) map[string]*evidence {
	out := make(map[string]*evidence)
	for _, s := range seeds {
		sim, ev := ix.Similar(s.ProductID, e.cfg.neighbours)
		for _, n := range sim {
			if excluded(n.ProductID) {
				continue
			}
			collect(out, n.ProductID).add(s.Score*n.Score, piece{reason: ReasonSimilar, from: s.ProductID, match: ev[n.ProductID]})
		}
	}
	return out
}

func contentMeta(from string, m ContentMatch) map[string]any {
	meta := make(map[string]any, 5)
	meta["similar_to"] = from
	if len(m.SharedCategories) > 0 {
		meta["shared_categories"] = m.SharedCategories
	}
	if len(m.SharedAttributes) > 0 {
		meta["shared_attributes"] = m.SharedAttributes
	}
	if m.SameBrand {
		meta["same_brand"] = true
	}
	return meta
}

func fromEvidence(m map[string]*evidence) []scored {
	out := make([]scored, 0, len(m))
	for id, ev := range m {
		out = append(out, scored{id: id, score: 1 - ev.miss, reason: ev.top.reason, best: ev.top, from: ev.from})
	}
	return out
}

func (e *Engine) collaborative(seeds []ProductScore, ix *CatalogIndex, excluded func(string) bool) ([]scored, error) {
	ev, err := e.collaborativeEvidence(seeds, ix, excluded)
	if err != nil {
		return nil, err
	}
	return fromEvidence(ev), nil
}

func (e *Engine) contentBased(seeds []ProductScore, ix *CatalogIndex, excluded func(string) bool) []scored {
	return fromEvidence(e.contentEvidence(seeds, ix, excluded))
}

// hybrid blends the collaborative, content and popularity scores with the
// configured weights (normalized to sum to 1); the reason is the component
// that contributed most.
func (e *Engine) hybrid(seeds []ProductScore, ix *CatalogIndex, excluded func(string) bool) ([]scored, error) {
	collab, err := e.collaborativeEvidence(seeds, ix, excluded)
	if err != nil {
		return nil, err
	}
	content := e.contentEvidence(seeds, ix, excluded)
	w := e.cfg.hybrid
	sum := w.Collaborative + w.Content + w.Popularity
	ids := make(map[string]bool, len(collab)+len(content))
	for id := range collab {
		ids[id] = true
	}
	for id := range content {
		ids[id] = true
	}
	out := make([]scored, 0, len(ids))
	for id := range ids {
		var c, t float64
		var best *evidence
		if ev := collab[id]; ev != nil {
			c = 1 - ev.miss
			best = ev
		}
		if ev := content[id]; ev != nil {
			t = 1 - ev.miss
			if best == nil || w.Content*t > w.Collaborative*c {
				best = ev
			}
		}
		pop := ix.PopularityOf(id)
		s := scored{id: id, score: (w.Collaborative*c + w.Content*t + w.Popularity*pop) / sum, reason: best.top.reason,
			best: best.top, components: &[3]float64{c, t, pop}}
		if w.Popularity*pop > w.Collaborative*c && w.Popularity*pop > w.Content*t {
			s.reason = ReasonPopular
		}
		out = append(out, s)
	}
	return out, nil
}

func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// finish rounds, orders (score descending, ties by product ID), cuts to
// depth and fills what is left with popular products, scored at least one
// unit of the last place below the last personal result, so that order and
// scores agree: the whole list is ordered by score, ties by product ID.
func finish(ranked []scored, ix *CatalogIndex, excluded func(string) bool, depth int) []Result {
	out := make([]Result, 0, min(depth, len(ranked)))
	// Rank by the rounded score the API shows, computed once per candidate.
	rounded := make([]rankKey, len(ranked))
	for i := range ranked {
		rounded[i] = rankKey{score: clampScore(ranked[i].score), i: i}
	}
	sort.Slice(rounded, func(i, j int) bool {
		if c := rounded[i].score.Cmp(rounded[j].score); c != 0 {
			return c > 0
		}
		return ranked[rounded[i].i].id < ranked[rounded[j].i].id
	})
	seen := make(map[string]bool, depth)
	for _, r := range rounded {
		if len(out) == depth {
			break
		}
		s := &ranked[r.i]
		seen[s.id] = true
		out = append(out, Result{ProductID: s.id, Score: r.score, Reason: s.reason, Metadata: s.metadata()})
	}
	if len(out) >= depth || ix == nil {
		return out
	}
	ceiling, capScore := 1.0, decimal.NewFromInt(1)
	if len(out) > 0 {
		last := out[len(out)-1].Score
		ceiling = last.InexactFloat64()
		// The most popular product would score the ceiling itself, tying
		// the last personal result it is placed after.
		capScore = decimal.Max(decimal.Zero, last.Sub(scoreUnit))
	}
	personal := len(out)
	for _, p := range ix.Popular(depth + len(seen) + 64) {
		if len(out) == depth {
			break
		}
		if seen[p.ProductID] || excluded(p.ProductID) {
			continue
		}
		out = append(out, Result{ProductID: p.ProductID, Score: decimal.Min(clampScore(p.Score*ceiling), capScore),
			Reason: ReasonPopular, Metadata: map[string]any{"popularity": round(p.Score)}})
	}
	// Popularity order, rounded, can tie products out of ID order; and
	// when the last personal score is 0 the fill ties it.
	if len(out) > personal {
		sort.SliceStable(out, func(i, j int) bool {
			if c := out[i].Score.Cmp(out[j].Score); c != 0 {
				return c > 0
			}
			return out[i].ProductID < out[j].ProductID
		})
	}
	return out
}

// scoreUnit is the last place of a rounded score.
var scoreUnit = decimal.New(1, -ScorePlaces)

type rankKey struct {
	score decimal.Decimal
	i     int
}

func clampScore(f float64) decimal.Decimal {
	return decimal.NewFromFloat(math.Max(0, math.Min(1, f))).Round(ScorePlaces)
}
