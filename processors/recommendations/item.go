package recommendations

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Similarity names an item-item similarity computed from co-occurrence
// counts: c users interacted with both A and B, nA with A, nB with B, out
// of total users.
type Similarity string

// The similarities. docs/recommendations.md compares them on planted data.
const (
	// Jaccard is c / (nA + nB - c): needs no total, bounded in [0, 1].
	Jaccard Similarity = "jaccard"
	// Cosine (Ochiai) is c / sqrt(nA * nB).
	Cosine Similarity = "cosine"
	// LogLikelihood is Dunning's log-likelihood ratio G² for a positive
	// association, mapped to [0, 1) by G²/(G²+10). It needs the total
	// number of users.
	LogLikelihood Similarity = "llr"
)

// Score returns the similarity in [0, 1]. nA and nB are raised to c when
// they are lower (a partner's count may lag the pair count).
func (s Similarity) Score(c, nA, nB, total int64) float64 {
	if c <= 0 {
		return 0
	}
	nA, nB = max(nA, c), max(nB, c)
	switch s {
	case Cosine:
		return math.Min(1, float64(c)/math.Sqrt(float64(nA)*float64(nB)))
	case LogLikelihood:
		total = max(total, nA+nB-c)
		k11, k12, k21 := float64(c), float64(nA-c), float64(nB-c)
		k22 := float64(total) - k11 - k12 - k21
		g2 := llr(k11, k12, k21, k22)
		// Only positive association counts.
		if k11*float64(total) <= float64(nA)*float64(nB) {
			return 0
		}
		return g2 / (g2 + llrScale)
	default:
		return float64(c) / float64(nA+nB-c)
	}
}

// llrScale is the G² that maps to 0.5 (G² = 10.83 is p = 0.001).
const llrScale = 10

func xlogx(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return x * math.Log(x)
}

func entropy(xs ...float64) float64 {
	var sum, parts float64
	for _, x := range xs {
		sum += x
		parts += xlogx(x)
	}
	return xlogx(sum) - parts
}

// llr is Dunning's G² of a 2x2 contingency table (Mahout's formulation).
func llr(k11, k12, k21, k22 float64) float64 {
	row := entropy(k11+k12, k21+k22)
	col := entropy(k11+k21, k12+k22)
	mat := entropy(k11, k12, k21, k22)
	if row+col < mat {
		return 0
	}
	return 2 * (row + col - mat)
}

// Item is everything the item processor keeps for one product.
type Item struct {
	ProductID string `json:"product_id"`
	// Users counts users for whom the product was new.
	Users int64 `json:"users"`
	// Orders counts orders that contained the product.
	Orders int64 `json:"orders"`
	// Popularity is the time-decayed sum of interaction weights.
	Popularity Affinity `json:"popularity"`
	// Co counts, per other product, the users who interacted with both
	// (capped: the least frequent is dropped first).
	Co map[string]int64 `json:"co,omitempty"`
	// Bought counts, per other product, the orders that contained both.
	Bought map[string]int64 `json:"bought,omitempty"`
	// Increments counts the increments applied.
	Increments int64 `json:"increments"`
	// Last is where the last increment applied came from on the
	// increments topic (nil when unknown: a row of an earlier version, or
	// increments applied outside the item processor). The item processor
	// skips an increment at or before it: a redelivery.
	Last *IncrementPosition `json:"last,omitempty"`
	// Sources are, per source of increment sets (an input topic of the
	// user processor and its partition: SourcePosition), the position of
	// the last input message whose increment to this product was applied
	// (through the combiner's batches), sorted by input then partition.
	// The item processor skips a batch entry at or before the position of
	// its source: a set the combiner produced again after a restart, or
	// one the user processor emitted again after a crash (applyBatchRaw;
	// the increments of one set to this product are applied or skipped
	// together).
	Sources []SourcePosition `json:"sources,omitempty"`
}

// IncrementPosition is an increment's partition and offset on the
// increments topic. A product's increments all go to one partition, in
// order, so the last one applied tells every redelivery apart.
type IncrementPosition struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// applied reports whether the increment at pos was applied already: pos is
// in the same partition at or before the last one applied.
func (p *IncrementPosition) applied(pos *IncrementPosition) bool {
	return p != nil && pos != nil && p.Partition == pos.Partition && pos.Offset <= p.Offset
}

// SourceInput names the input an increment set's position is on: the
// topic of the message the user processor recorded the set's increments
// from. The numbers are part of the increment set, increment batch and
// itemFormat5 encodings: never renumber one.
type SourceInput uint8

// The sources of increment sets.
const (
	// SourceSetRecord: the set carries no input position (a set encoded
	// without one, by a tool or a test; the user processor gives every set
	// it emits its input's). The combiner gives its entries the set
	// record's own partition and offset on IncrementSetsStream: that tells
	// the combiner's redeliveries apart, not a set emitted twice.
	SourceSetRecord SourceInput = 0
	// SourceInteractions is InteractionsStream (recommendations.interactions).
	SourceInteractions SourceInput = 1
	// SourceCommands is CommandsStream (recommendations.commands:
	// record_interaction).
	SourceCommands SourceInput = 2
	// maxSourceInput is the greatest SourceInput; a set, batch or row
	// naming a greater one is malformed.
	maxSourceInput = SourceCommands
)

// SourcePosition is where an increment set came from: the partition and
// offset of the message the user processor recorded its increments from
// on the input Input (for SourceSetRecord: the set record's own partition
// and offset on IncrementSetsStream). The user processor handles an input
// partition's messages in offset order and emits their sets, keyed by
// user, to the one partition of IncrementSetsStream with that number (the
// topics are co-partitioned), in that order; a message handled again after
// a crash yields its set again with the same position.
type SourcePosition struct {
	Input     SourceInput `json:"input"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
}

// source reports whether p and q are positions on the same source (input
// and partition).
func (p SourcePosition) source(q SourcePosition) bool {
	return p.Input == q.Input && p.Partition == q.Partition
}

// sourceBefore orders sources by input, then partition.
func sourceBefore(p, q SourcePosition) bool {
	return p.Input < q.Input || (p.Input == q.Input && p.Partition < q.Partition)
}

// sourceApplied reports whether the increment set at pos was applied
// already according to sources (sorted by source): pos is at or before
// the position of its source.
func sourceApplied(sources []SourcePosition, pos SourcePosition) bool {
	for _, s := range sources {
		if s.source(pos) {
			return pos.Offset <= s.Offset
		}
	}
	return false
}

// advanceSource returns sources with the position of pos's source set to
// pos (inserted in order when absent).
func advanceSource(sources []SourcePosition, pos SourcePosition) []SourcePosition {
	for i, s := range sources {
		if s.source(pos) {
			sources[i] = pos
			return sources
		}
		if sourceBefore(pos, s) {
			return slices.Insert(sources, i, pos)
		}
	}
	return append(sources, pos)
}

// Apply adds one increment.
func (it *Item) Apply(inc *Increment, cfg *config) {
	it.ApplyAll([]*Increment{inc}, cfg)
}

// ApplyAll adds increments together: each counts in the header as Apply
// counts it, their partners are all added to the pair counts, and a count
// map past its trim threshold is trimmed once, after all of them. (Apply
// trims after each increment: the maps differ only when a map passes its
// threshold within incs.)
func (it *Item) ApplyAll(incs []*Increment, cfg *config) {
	h := it.header()
	for _, inc := range incs {
		h.apply(inc, cfg)
	}
	it.setHeader(h)
	var co, bought bool
	for _, inc := range incs {
		co = it.countPartners(&it.Co, inc.With) || co
		bought = it.countPartners(&it.Bought, inc.Basket) || bought
	}
	if co {
		trimCounts(it.Co, cfg.candidates)
	}
	if bought {
		trimCounts(it.Bought, cfg.candidates)
	}
}

// countPartners adds one to the count of each partner in *m (made when
// nil), the item itself excepted, and reports whether there were any.
func (it *Item) countPartners(m *map[string]int64, partners []string) bool {
	if len(partners) == 0 {
		return false
	}
	if *m == nil {
		*m = make(map[string]int64)
	}
	for _, q := range partners {
		if q != it.ProductID {
			(*m)[q]++
		}
	}
	return true
}

// header returns the item's fields other than its pair counts.
func (it *Item) header() itemHeader {
	return itemHeader{productID: it.ProductID, users: it.Users, orders: it.Orders, popularity: it.Popularity,
		increments: it.Increments, last: it.Last, sources: it.Sources}
}

// setHeader sets the item's fields other than its pair counts.
func (it *Item) setHeader(h itemHeader) {
	it.ProductID, it.Users, it.Orders, it.Popularity, it.Increments, it.Last = h.productID, h.users, h.orders, h.popularity, h.increments, h.last
	it.Sources = h.sources
}

// trimSlack is how far (a share of the cap) a count map may grow past the
// cap before it is trimmed back to the cap: trimming sorts the map, and
// doing it on every increment of a popular item was the item processor's
// largest cost.
const trimSlack = 4

// trimCounts trims m to max entries (capCounts) once it holds more than
// max + max/trimSlack.
func trimCounts(m map[string]int64, max int) {
	if len(m) > max+max/trimSlack {
		capCounts(m, max)
	}
}

// capCounts drops the smallest counts (ties: the greatest ID) beyond max, in
// one pass over the map.
func capCounts(m map[string]int64, max int) {
	over := len(m) - max
	if over <= 0 {
		return
	}
	type kv struct {
		id string
		c  int64
	}
	all := make([]kv, 0, len(m))
	for id, c := range m {
		all = append(all, kv{id, c})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].c != all[j].c {
			return all[i].c < all[j].c
		}
		return all[i].id > all[j].id
	})
	for _, e := range all[:over] {
		delete(m, e.id)
	}
}

// Degrees gives a product's user count and the total number of users, for
// the similarity of a pair whose other side lives in another partition.
type Degrees interface {
	// Users returns how many users interacted with product id (0 if unknown).
	Users(id string) int64
	// TotalUsers returns how many users have interacted with anything.
	TotalUsers() int64
}

// Neighbours returns the item's top-k neighbours by sim, highest first, ties
// by product ID. Products with a zero similarity are left out.
func (it *Item) Neighbours(deg Degrees, sim Similarity, k int) []ProductScore {
	total := deg.TotalUsers()
	out := make([]ProductScore, 0, len(it.Co))
	for q, c := range it.Co {
		if s := sim.Score(c, it.Users, deg.Users(q), total); s > 0 {
			out = append(out, ProductScore{ProductID: q, Score: s})
		}
	}
	sortScores(out)
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// BoughtTogether returns the products most often in the same order, scored
// by confidence: the share of this product's orders that contained them.
func (it *Item) BoughtTogether(k int) []ProductScore {
	out := make([]ProductScore, 0, len(it.Bought))
	for q, c := range it.Bought {
		if it.Orders > 0 {
			out = append(out, ProductScore{ProductID: q, Score: math.Min(1, float64(c)/float64(it.Orders))})
		}
	}
	sortScores(out)
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// PopularityAt is the item's popularity valued at t.
func (it *Item) PopularityAt(t time.Time, halfLife time.Duration) float64 {
	return it.Popularity.ValueAt(t, halfLife)
}

// Pair is one entry of a co-occurrence matrix.
type Pair struct {
	ProductID string  `json:"product_id"`
	Count     int64   `json:"count"`
	Score     float64 `json:"score"`
}

// sortPairs orders by score then count, highest first, ties by product ID.
func sortPairs(p []Pair) {
	sort.Slice(p, func(i, j int) bool {
		if p[i].Score != p[j].Score {
			return p[i].Score > p[j].Score
		}
		if p[i].Count != p[j].Count {
			return p[i].Count > p[j].Count
		}
		return p[i].ProductID < p[j].ProductID
	})
}
