package recommendations

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopstream/streams/topics"
)

// Model is the whole recommender in memory: profiles, items and catalog,
// updated by the same pure functions as the processors. It is the seed's
// BehaviorProcessor (ProcessEvents, BuildCooccurrenceMatrix), a Store for
// the Engine, and what tests and benchmarks load data into. It is safe for
// concurrent use.
type Model struct {
	cfg config

	mu       sync.RWMutex
	profiles map[string]*Profile
	items    map[string]*Item
	products map[string]*Product
	log      []Batch
	index    *CatalogIndex
	// prev is the last index built: the next one shares its content part
	// (and memo of similar products) while the catalog is unchanged.
	prev *CatalogIndex
}

// NewModel returns an empty model.
func NewModel(opts ...Option) (*Model, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Model{cfg: cfg, profiles: make(map[string]*Profile), items: make(map[string]*Item),
		products: make(map[string]*Product)}, nil
}

// Record applies one interaction batch: the user's profile, then the
// increments on the items. It returns how many interactions were recorded
// (redeliveries are not).
func (m *Model) Record(b *Batch) (int, error) {
	if err := b.Validate(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recordLocked(b), nil
}

func (m *Model) recordLocked(b *Batch) int {
	p := m.profiles[b.UserID]
	if p == nil {
		p = &Profile{UserID: b.UserID}
		m.profiles[b.UserID] = p
	}
	eff := p.Apply(b, &m.cfg)
	if eff.Recorded == 0 {
		return 0
	}
	m.log = append(m.log, *b)
	applyIncrements(m.items, eff.Increments, &m.cfg)
	m.index = nil
	return eff.Recorded
}

func applyIncrements(items map[string]*Item, incs []Increment, cfg *config) {
	for i := range incs {
		it := items[incs[i].ProductID]
		if it == nil {
			it = &Item{ProductID: incs[i].ProductID}
			items[incs[i].ProductID] = it
		}
		it.Apply(&incs[i], cfg)
	}
}

// UpsertProduct stores a catalog entry unless a newer one is stored.
func (m *Model) UpsertProduct(p *Product) error {
	if err := p.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.Newer(m.products[p.ProductID]) {
		m.products[p.ProductID] = p
		m.index = nil
	}
	return nil
}

// ProcessEvents processes a batch of inbound behaviour and catalog events
// (the seed's process_events) and returns how many were processed; invalid
// events and redeliveries are skipped.
func (m *Model) ProcessEvents(events []*topics.Envelope) int {
	n := 0
	for _, env := range events {
		if env == nil || env.Validate() != nil {
			continue
		}
		in, err := Translate(env)
		if err != nil {
			continue
		}
		switch {
		case in.Product != nil:
			if m.UpsertProduct(in.Product) == nil {
				n++
			}
		case in.Batch != nil:
			if rec, err := m.Record(in.Batch); err == nil && rec > 0 {
				n++
			}
		}
	}
	return n
}

// RecordInteraction records one interaction (the seed's record_interaction)
// and reports whether it was recorded. eventID makes it idempotent; an empty
// one is generated.
func (m *Model) RecordInteraction(userID, productID string, typ InteractionType, metadata map[string]string, eventID string, at time.Time) (bool, error) {
	if err := ValidateUser(userID); err != nil {
		return false, err
	}
	if eventID == "" {
		eventID = topics.NewID()
	}
	n, err := m.Record(&Batch{UserID: userID, OccurredAt: at, Items: []Interaction{{EventID: eventID,
		ProductID: productID, Type: typ, Metadata: metadata}}})
	return n > 0, err
}

// InvalidateCache drops the user's cached recommendations (the seed's
// invalidate_cache!). It reports true: after it, no stale list is served.
func (m *Model) InvalidateCache(userID string) (bool, error) {
	if err := ValidateUser(userID); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.profiles[userID]; p != nil {
		p.Invalidate()
	}
	return true, nil
}

// StoreCache caches a computed list in the user's profile if the profile
// has not changed since it was computed.
func (m *Model) StoreCache(r *Recommendations, at time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.profiles[r.UserID]
	if p == nil {
		p = &Profile{UserID: r.UserID}
		m.profiles[r.UserID] = p
	}
	return p.StoreCache(CachedList{RecommendationID: r.RecommendationID, Version: r.Version, Strategy: r.Strategy,
		ExcludePurchased: r.ExcludePurchased, Results: r.Results, GeneratedAt: at})
}

// Profile implements Store; it returns a copy.
func (m *Model) Profile(userID string) (*Profile, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.profiles[userID]
	if p == nil {
		return nil, nil
	}
	c := *p
	c.History = slices.Clone(p.History)
	c.Affinity = maps.Clone(p.Affinity)
	c.Purchased = maps.Clone(p.Purchased)
	c.Cache = maps.Clone(p.Cache)
	c.Seen = nil
	return &c, nil
}

// Item implements Store; it returns a copy.
func (m *Model) Item(productID string) (*Item, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	it := m.items[productID]
	if it == nil {
		return nil, nil
	}
	c := *it
	c.Co = maps.Clone(it.Co)
	c.Bought = maps.Clone(it.Bought)
	return &c, nil
}

// Index implements Store: a snapshot, rebuilt after changes.
func (m *Model) Index() *CatalogIndex {
	m.mu.RLock()
	ix := m.index
	m.mu.RUnlock()
	if ix != nil {
		return ix
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.index == nil {
		m.index = m.buildIndexLocked()
		m.prev = m.index
	}
	return m.index
}

func (m *Model) buildIndexLocked() *CatalogIndex {
	products := make([]*Product, 0, len(m.products))
	for _, p := range m.products {
		products = append(products, p)
	}
	items := make([]*Item, 0, len(m.items))
	var at time.Time
	for _, it := range m.items {
		items = append(items, it)
		if it.Popularity.At.After(at) {
			at = it.Popularity.At
		}
	}
	return NextCatalogIndex(m.prev, products, items, at, m.cfg.halfLife, int64(len(m.profiles)))
}

// CooccurrenceMatrix is what BuildCooccurrenceMatrix returns: per product,
// its top-K neighbours with co-occurrence counts and similarity, and the
// products bought with it.
type CooccurrenceMatrix struct {
	// From and To bound the interactions' event times.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Interactions counts the interactions replayed; Users the users.
	Interactions int               `json:"interactions"`
	Users        int64             `json:"users"`
	Similarity   Similarity        `json:"similarity"`
	Neighbours   map[string][]Pair `json:"neighbours"`
	Bought       map[string][]Pair `json:"bought"`
}

// BuildCooccurrenceMatrix rebuilds the co-occurrence state from the
// interactions of the last window (the seed's build_cooccurrence_matrix and
// CooccurrenceUpdateJob), measured back from the latest event time, replaces
// the model's items with it and returns the matrix. A window <= 0 means 720
// hours (30 days).
func (m *Model) BuildCooccurrenceMatrix(window time.Duration) *CooccurrenceMatrix {
	if window <= 0 {
		window = 720 * time.Hour
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var to time.Time
	for i := range m.log {
		if m.log[i].OccurredAt.After(to) {
			to = m.log[i].OccurredAt
		}
	}
	from := to.Add(-window)
	kept := make([]Batch, 0, len(m.log))
	for _, b := range m.log {
		if !b.OccurredAt.Before(from) {
			kept = append(kept, b)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].OccurredAt.Before(kept[j].OccurredAt) })
	profiles := make(map[string]*Profile)
	items := make(map[string]*Item)
	mx := &CooccurrenceMatrix{From: from, To: to, Similarity: m.cfg.similarity,
		Neighbours: make(map[string][]Pair), Bought: make(map[string][]Pair)}
	for i := range kept {
		b := &kept[i]
		p := profiles[b.UserID]
		if p == nil {
			p = &Profile{UserID: b.UserID}
			profiles[b.UserID] = p
		}
		eff := p.Apply(b, &m.cfg)
		mx.Interactions += eff.Recorded
		applyIncrements(items, eff.Increments, &m.cfg)
	}
	m.log = kept
	m.items = items
	m.index = nil
	mx.Users = int64(len(profiles))
	deg := mapDegrees{items: items, total: mx.Users}
	for id, it := range items {
		for _, n := range it.Neighbours(deg, m.cfg.similarity, m.cfg.neighbours) {
			mx.Neighbours[id] = append(mx.Neighbours[id], Pair{ProductID: n.ProductID, Count: it.Co[n.ProductID], Score: n.Score})
		}
		for _, b := range it.BoughtTogether(m.cfg.neighbours) {
			mx.Bought[id] = append(mx.Bought[id], Pair{ProductID: b.ProductID, Count: it.Bought[b.ProductID], Score: b.Score})
		}
		sortPairs(mx.Neighbours[id])
		sortPairs(mx.Bought[id])
	}
	return mx
}

type mapDegrees struct {
	items map[string]*Item
	total int64
}

func (d mapDegrees) Users(id string) int64 {
	if it := d.items[id]; it != nil {
		return it.Users
	}
	return 0
}

func (d mapDegrees) TotalUsers() int64 { return d.total }

// User is the seed's RecommendationEngine bound to one user: what
// RecommendationEngine.new(user_id:) returns.
type User struct {
	id    string
	model *Model
	eng   *Engine
}

// ForUser binds the engine to userID; a blank ID is ErrInvalidUser.
func (m *Model) ForUser(userID string, eng *Engine) (*User, error) {
	if err := ValidateUser(userID); err != nil {
		return nil, err
	}
	if eng == nil {
		return nil, ErrNilStore
	}
	return &User{id: strings.TrimSpace(userID), model: m, eng: eng}, nil
}

// GetRecommendations returns the cached list or computes and caches one.
func (u *User) GetRecommendations(req Request, at time.Time) (*Recommendations, error) {
	if r, ok, err := u.eng.Cached(u.id, req); err != nil || ok {
		return r, err
	}
	r, err := u.eng.Compute(u.id, req)
	if err != nil {
		return nil, err
	}
	u.model.StoreCache(r, at)
	out := *r
	out.Results = out.Results[:min(len(out.Results), req.Limit)]
	return &out, nil
}

// FrequentlyBoughtTogether is the seed's frequently_bought_together.
func (u *User) FrequentlyBoughtTogether(productID string, limit int) ([]Result, error) {
	return u.eng.FrequentlyBoughtTogether(productID, limit)
}

// SimilarProducts is the seed's similar_products.
func (u *User) SimilarProducts(productID string, limit int) ([]Result, error) {
	return u.eng.SimilarProducts(productID, limit)
}

// RecordInteraction is the seed's record_interaction.
func (u *User) RecordInteraction(productID string, typ InteractionType, metadata map[string]string, at time.Time) (bool, error) {
	return u.model.RecordInteraction(u.id, productID, typ, metadata, "", at)
}

// InvalidateCache is the seed's invalidate_cache!.
func (u *User) InvalidateCache() (bool, error) { return u.model.InvalidateCache(u.id) }

// Each calls the functions with every profile, item and product of the
// model (under its read lock; do not call the model from them). Loaders use
// it to write a model's state into the processors' tables.
func (m *Model) Each(profile func(*Profile), item func(*Item), product func(*Product)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, p := range m.profiles {
		profile(p)
	}
	for _, it := range m.items {
		item(it)
	}
	for _, p := range m.products {
		product(p)
	}
}
