package recommendations

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// HistoryEntry is one remembered interaction of a user. Which event it was
// is not kept (Profile.Seen recognises redeliveries): the history is most
// of a user row, and the row is rewritten on every interaction.
type HistoryEntry struct {
	ProductID string          `json:"product_id"`
	Type      InteractionType `json:"type"`
	At        time.Time       `json:"at"`
}

// Affinity is a user's time-decayed interest in one product: Score as of
// time At. Its value at a later time t is Score * 2^(-(t-At)/halfLife).
type Affinity struct {
	Score float64   `json:"score"`
	At    time.Time `json:"at"`
	// Count is how many interactions built it.
	Count int `json:"count"`
}

// decay returns the factor by which an affinity shrinks over d.
func decay(d, halfLife time.Duration) float64 {
	if d <= 0 {
		return 1
	}
	return math.Exp2(-float64(d) / float64(halfLife))
}

// ValueAt returns the affinity's value at t (event time).
func (a Affinity) ValueAt(t time.Time, halfLife time.Duration) float64 {
	return a.Score * decay(t.Sub(a.At), halfLife)
}

// add adds weight w observed at t. An interaction older than At (events
// arrive out of order across topics) is decayed to At instead of moving At
// back.
func (a *Affinity) add(w float64, t time.Time, halfLife time.Duration) {
	a.Count++
	if a.At.IsZero() {
		a.Score, a.At = w, t
		return
	}
	if t.Before(a.At) {
		a.Score += w * decay(a.At.Sub(t), halfLife)
		return
	}
	a.Score = a.Score*decay(t.Sub(a.At), halfLife) + w
	a.At = t
}

// CachedList is a cached recommendation list of one strategy. It is valid
// while the profile's Version equals Version.
type CachedList struct {
	RecommendationID string    `json:"recommendation_id"`
	Version          int64     `json:"version"`
	Strategy         Strategy  `json:"strategy"`
	ExcludePurchased bool      `json:"exclude_purchased"`
	Results          []Result  `json:"results"`
	GeneratedAt      time.Time `json:"generated_at"`
	// ExpiresAt is when the service stops serving the list (zero: never;
	// lists cached before expiries existed, and the in-memory Model's).
	ExpiresAt time.Time `json:"expires_at"`
}

// Expired reports whether the list has expired at now.
func (c CachedList) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// CacheKey is the cache slot of a strategy and exclude_purchased flag.
func CacheKey(s Strategy, excludePurchased bool) string {
	if excludePurchased {
		return string(s) + ":exclude_purchased"
	}
	return string(s)
}

// Profile is everything the user processor keeps for one user.
type Profile struct {
	UserID string `json:"user_id"`
	// Version grows with every recorded interaction and every explicit
	// invalidation; a cached list is valid only for the version it was
	// computed from.
	Version int64 `json:"version"`
	// History is the capped list of recent interactions, oldest first.
	History []HistoryEntry `json:"history,omitempty"`
	// Affinity per product, capped (the weakest is forgotten first).
	Affinity map[string]Affinity `json:"affinity,omitempty"`
	// Purchased maps a purchased product to the time of its last purchase.
	Purchased map[string]time.Time `json:"purchased,omitempty"`
	// Seen holds recent events, oldest first, to ignore redeliveries.
	Seen SeenEvents `json:"seen,omitempty"`
	// LastAt is the time of the latest interaction: the "now" affinities
	// are valued at, so that the same profile always ranks the same way.
	LastAt time.Time `json:"last_at"`
	// Cache holds the cached lists by CacheKey.
	Cache map[string]CachedList `json:"cache,omitempty"`
	// Interactions counts every interaction recorded.
	Interactions int64 `json:"interactions"`
}

// Increment is what the user processor tells the item processor about one
// product, keyed by that product.
type Increment struct {
	ProductID string `json:"product_id"`
	// Weight adds to the product's popularity, observed at At.
	Weight float64   `json:"weight"`
	At     time.Time `json:"at"`
	// NewUser is true when the product is new to this user: the product's
	// user count grows by one.
	NewUser bool `json:"new_user,omitempty"`
	// With are products this user also interacted with: each pair's
	// co-occurrence count grows by one.
	With []string `json:"with,omitempty"`
	// Order is true for a product of an order's basket: its basket count grows.
	Order bool `json:"order,omitempty"`
	// Basket are the other products of that order.
	Basket []string `json:"basket,omitempty"`
}

// Effects is what applying one batch to a profile produced.
type Effects struct {
	// Recorded counts the interactions recorded (repeats are not).
	Recorded int
	// Increments to send to the item processor, one per product.
	Increments []Increment
	// Interactions are the interactions recorded, each with its Weight.
	Interactions []Interaction
}

// Apply records batch into the profile, returning the co-occurrence
// increments for the item processor. Interactions whose event ID was seen
// before are ignored. The batch must be valid (Batch.Validate).
func (p *Profile) Apply(b *Batch, cfg *config) Effects {
	if p.UserID == "" {
		p.UserID = b.UserID
	}
	if p.Affinity == nil {
		p.Affinity = make(map[string]Affinity)
	}
	incs := make(map[string]*Increment)
	inc := func(id string) *Increment {
		if i, ok := incs[id]; ok {
			return i
		}
		i := &Increment{ProductID: id, At: b.OccurredAt}
		incs[id] = i
		return i
	}
	var eff Effects
	var purchased []string
	for _, it := range b.Items {
		id := EventHash(it.EventID)
		if slices.Contains(p.Seen, id) {
			continue
		}
		p.remember(id, cfg.seenSize)
		eff.Recorded++
		w := cfg.weights.Of(it.Type)
		if it.Quantity > 1 && (it.Type == Purchase || it.Type == CartAdd) {
			// More units are a stronger signal, but with diminishing returns.
			w *= 1 + math.Log(float64(it.Quantity))
		}
		rec := it
		rec.Weight = w
		eff.Interactions = append(eff.Interactions, rec)
		_, known := p.Affinity[it.ProductID]
		a := p.Affinity[it.ProductID]
		a.add(w, b.OccurredAt, cfg.halfLife)
		p.Affinity[it.ProductID] = a
		i := inc(it.ProductID)
		i.Weight += w
		if !known {
			i.NewUser = true
			for _, q := range p.recentDistinct(it.ProductID, cfg.fanOut) {
				i.With = append(i.With, q)
				inc(q).With = append(inc(q).With, it.ProductID)
			}
		}
		p.History = append(p.History, HistoryEntry{ProductID: it.ProductID, Type: it.Type, At: b.OccurredAt})
		if it.Type == Purchase {
			if p.Purchased == nil {
				p.Purchased = make(map[string]time.Time)
			}
			if last, ok := p.Purchased[it.ProductID]; !ok || b.OccurredAt.After(last) {
				p.Purchased[it.ProductID] = b.OccurredAt
			}
			if !slices.Contains(purchased, it.ProductID) {
				purchased = append(purchased, it.ProductID)
			}
		}
		if b.OccurredAt.After(p.LastAt) {
			p.LastAt = b.OccurredAt
		}
		p.Interactions++
	}
	if eff.Recorded == 0 {
		return eff
	}
	if over := len(p.History) - cfg.historySize; over > 0 {
		// in place: a full history is trimmed on every event
		n := copy(p.History, p.History[over:])
		clear(p.History[n:])
		p.History = p.History[:n]
	}
	p.capAffinity(cfg)
	if b.OrderID != "" && len(purchased) > 1 {
		if len(purchased) > cfg.basketSize+1 {
			purchased = purchased[:cfg.basketSize+1]
		}
		for _, a := range purchased {
			i := inc(a)
			i.Order = true
			for _, o := range purchased {
				if o != a {
					i.Basket = append(i.Basket, o)
				}
			}
		}
	} else if b.OrderID != "" && len(purchased) == 1 {
		inc(purchased[0]).Order = true
	}
	// Any interaction changes what this user should be shown.
	p.Version++
	p.Cache = nil
	ids := make([]string, 0, len(incs))
	for id := range incs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		eff.Increments = append(eff.Increments, *incs[id])
	}
	return eff
}

func (p *Profile) remember(id uint64, max int) {
	p.Seen = append(p.Seen, id)
	if over := len(p.Seen) - max; over > 0 {
		p.Seen = p.Seen[:copy(p.Seen, p.Seen[over:])] // in place, as the history
	}
}

// SeenEvents holds the EventHash of each of a user's recent events, oldest
// first. A hash is 8 bytes where an event ID (a UUID) is 36, and the list
// is part of the user row rewritten on every interaction. Two different
// IDs share a hash with probability 2^-64: with 256 remembered, about one
// event in 7·10^16 would be taken for a redelivery and not counted.
type SeenEvents []uint64

// EventHash is the 64-bit FNV-1a hash of an event ID, as SeenEvents keeps it.
func EventHash(id string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime
	}
	return h
}

// UnmarshalJSON reads a list of hashes, or of event IDs (strings) as user
// rows written before hashes were kept, which it hashes.
func (s *SeenEvents) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(SeenEvents, 0, len(raw))
	for _, r := range raw {
		if len(r) > 0 && r[0] == '"' {
			var id string
			if err := json.Unmarshal(r, &id); err != nil {
				return err
			}
			out = append(out, EventHash(id))
			continue
		}
		var h uint64
		if err := json.Unmarshal(r, &h); err != nil {
			return fmt.Errorf("recommendations: seen event %s: %w", r, err)
		}
		out = append(out, h)
	}
	*s = out
	return nil
}

// recentDistinct returns up to n distinct products of the history, most
// recent first, other than except.
func (p *Profile) recentDistinct(except string, n int) []string {
	var out []string
	for i := len(p.History) - 1; i >= 0 && len(out) < n; i-- {
		id := p.History[i].ProductID
		if id != except && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// capAffinity forgets the weakest affinities beyond the cap.
func (p *Profile) capAffinity(cfg *config) {
	over := len(p.Affinity) - cfg.affinityCap
	if over <= 0 {
		return
	}
	type kv struct {
		id string
		v  float64
	}
	all := make([]kv, 0, len(p.Affinity))
	for id, a := range p.Affinity {
		all = append(all, kv{id, a.ValueAt(p.LastAt, cfg.halfLife)})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v < all[j].v
		}
		return all[i].id < all[j].id
	})
	for _, e := range all[:over] {
		delete(p.Affinity, e.id)
	}
}

// TopAffinities returns up to n products by affinity valued at the
// profile's latest interaction, strongest first, ties by product ID.
func (p *Profile) TopAffinities(n int, halfLife time.Duration) []ProductScore {
	out := make([]ProductScore, 0, len(p.Affinity))
	for id, a := range p.Affinity {
		out = append(out, ProductScore{ProductID: id, Score: a.ValueAt(p.LastAt, halfLife)})
	}
	sortScores(out)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// HasPurchased reports whether the user bought product id.
func (p *Profile) HasPurchased(id string) bool {
	_, ok := p.Purchased[id]
	return ok
}

// Invalidate drops every cached list and bumps the version, so that a list
// computed from the old version is not cached afterwards. It reports
// whether a cached list was dropped.
func (p *Profile) Invalidate() bool {
	had := len(p.Cache) > 0
	p.Cache = nil
	p.Version++
	return had
}

// Cached returns the valid cached list of a strategy, if any.
func (p *Profile) Cached(s Strategy, excludePurchased bool) (CachedList, bool) {
	c, ok := p.Cache[CacheKey(s, excludePurchased)]
	if !ok || c.Version != p.Version {
		return CachedList{}, false
	}
	return c, true
}

// StoreCache caches list when it was computed from the current version; a
// list computed before the latest interaction is stale and dropped. It
// reports whether the list was cached.
func (p *Profile) StoreCache(list CachedList) bool {
	if list.Version != p.Version {
		return false
	}
	if p.Cache == nil {
		p.Cache = make(map[string]CachedList)
	}
	p.Cache[CacheKey(list.Strategy, list.ExcludePurchased)] = list
	return true
}

// ProductScore is a product with a score.
type ProductScore struct {
	ProductID string  `json:"product_id"`
	Score     float64 `json:"score"`
}

// sortScores orders by score, highest first, ties by product ID.
func sortScores(s []ProductScore) {
	slices.SortFunc(s, func(a, b ProductScore) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return strings.Compare(a.ProductID, b.ProductID)
	})
}
