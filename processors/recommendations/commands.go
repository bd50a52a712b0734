package recommendations

import (
	"strings"
	"time"

	"github.com/shopstream/streams/topics"
)

// Command types on topics.RecommendationsCommands.
const (
	// TypeRecordInteraction records one interaction (the seed's
	// record_interaction); its command ID is the interaction's event ID.
	TypeRecordInteraction = "recommendations.record_interaction"
	// TypeInvalidateCache drops a user's cached recommendations (the seed's
	// invalidate_cache!).
	TypeInvalidateCache = "recommendations.invalidate_cache"
)

// RecordInteraction is the payload of TypeRecordInteraction.
type RecordInteraction struct {
	UserID          string            `json:"user_id"`
	ProductID       string            `json:"product_id"`
	InteractionType InteractionType   `json:"interaction_type"`
	Quantity        int               `json:"quantity,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// RecordResult is the result of TypeRecordInteraction.
type RecordResult struct {
	// Recorded is false when the interaction had been recorded before.
	Recorded        bool            `json:"recorded"`
	UserID          string          `json:"user_id"`
	ProductID       string          `json:"product_id"`
	InteractionType InteractionType `json:"interaction_type"`
	// Version is the profile version after the interaction.
	Version int64 `json:"version"`
}

// InvalidateCache is the payload of TypeInvalidateCache.
type InvalidateCache struct {
	UserID string `json:"user_id"`
}

// InvalidateResult is the result of TypeInvalidateCache.
type InvalidateResult struct {
	// Cleared is always true: after the command no earlier list is served.
	Cleared bool   `json:"cleared"`
	UserID  string `json:"user_id"`
	// HadCache says whether a cached list was dropped.
	HadCache bool `json:"had_cache"`
	// Version is the profile version after the invalidation.
	Version int64 `json:"version"`
}

// Validate checks the command.
func (c *RecordInteraction) Validate() error {
	if err := ValidateUser(c.UserID); err != nil {
		return err
	}
	if strings.TrimSpace(c.ProductID) == "" {
		return ErrInvalidProduct.Withf("interaction has no product_id")
	}
	if _, err := ParseInteractionType(string(c.InteractionType)); err != nil {
		return err
	}
	if c.Quantity < 0 {
		return ErrInvalidInteraction.Withf("quantity %d is negative", c.Quantity)
	}
	return nil
}

// Batch returns the command as an interaction batch; eventID is the command ID.
func (c *RecordInteraction) Batch(eventID string, at time.Time) *Batch {
	return &Batch{UserID: c.UserID, OccurredAt: at, Items: []Interaction{{EventID: eventID, ProductID: c.ProductID,
		Type: c.InteractionType, Quantity: c.Quantity, Metadata: c.Metadata}}}
}

// NewRecordInteraction builds a validated record_interaction command.
func NewRecordInteraction(cmd RecordInteraction, commandID string, at time.Time, actor topics.Actor) (*topics.Envelope, error) {
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	if commandID == "" {
		commandID = topics.NewID()
	}
	return topics.NewEnvelope(TypeRecordInteraction, at, cmd, topics.WithCommandID(commandID), topics.WithActor(actor))
}

// NewInvalidateCache builds a validated invalidate_cache command.
func NewInvalidateCache(userID, commandID string, at time.Time, actor topics.Actor) (*topics.Envelope, error) {
	if err := ValidateUser(userID); err != nil {
		return nil, err
	}
	if commandID == "" {
		commandID = topics.NewID()
	}
	return topics.NewEnvelope(TypeInvalidateCache, at, InvalidateCache{UserID: userID}, topics.WithCommandID(commandID), topics.WithActor(actor))
}

// NewClick builds a validated recommendations.clicked event.
func NewClick(c Click, at time.Time, actor topics.Actor) (*topics.Envelope, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return topics.NewEnvelope(TypeClicked, at, c, topics.WithActor(actor), topics.WithCorrelationID(c.RecommendationID))
}

// Ranked is one entry of a recommendations.generated list.
type Ranked struct {
	Position int `json:"position"`
	Result
}

// Generated is the payload of recommendations.generated.
type Generated struct {
	RecommendationID string   `json:"recommendation_id"`
	UserID           string   `json:"user_id"`
	Strategy         Strategy `json:"strategy"`
	ExcludePurchased bool     `json:"exclude_purchased"`
	// ProfileVersion is the profile version the list was computed from.
	ProfileVersion int64    `json:"profile_version"`
	Fallback       bool     `json:"fallback,omitempty"`
	Items          []Ranked `json:"items"`
	// ExpiresAt is when the cached list stops being served (absent from
	// events of earlier versions: never).
	ExpiresAt time.Time `json:"expires_at"`
}

// NewGenerated builds the recommendations.generated event of r.
func NewGenerated(r *Recommendations, at time.Time) (*topics.Envelope, error) {
	g := Generated{RecommendationID: r.RecommendationID, UserID: r.UserID, Strategy: r.Strategy,
		ExcludePurchased: r.ExcludePurchased, ProfileVersion: r.Version, Fallback: r.Fallback, Items: make([]Ranked, len(r.Results)),
		ExpiresAt: r.ExpiresAt}
	for i, res := range r.Results {
		g.Items[i] = Ranked{Position: i + 1, Result: res}
	}
	return topics.NewEnvelope(TypeGenerated, at, g, topics.WithCorrelationID(r.RecommendationID))
}

// CachedList returns the list the generated event caches.
func (g *Generated) CachedList(at time.Time) CachedList {
	res := make([]Result, len(g.Items))
	for i, it := range g.Items {
		res[i] = it.Result
	}
	return CachedList{RecommendationID: g.RecommendationID, Version: g.ProfileVersion, Strategy: g.Strategy,
		ExcludePurchased: g.ExcludePurchased, Results: res, GeneratedAt: at, ExpiresAt: g.ExpiresAt}
}

// SimilaritiesUpdated is the payload of recommendations.similarities_updated:
// one product's current top-K neighbours (co-occurrence similarity) and
// bought-together partners, inactive products left out.
type SimilaritiesUpdated struct {
	ProductID string `json:"product_id"`
	// Version is the item's increment count the lists were computed at; it
	// grows with every change of the product's counts.
	Version int64 `json:"version"`
	// Similarity names the similarity of Neighbours (cosine by default).
	Similarity Similarity `json:"similarity"`
	// Neighbours are ranked by similarity, highest first; Count is the
	// number of users who interacted with both.
	Neighbours []Neighbour `json:"neighbours"`
	// BoughtTogether are ranked by confidence (the share of this product's
	// orders that held the partner); Count is the orders with both.
	BoughtTogether []Neighbour `json:"bought_together"`
}

// Neighbour is one entry of a similarity list.
type Neighbour struct {
	ProductID string  `json:"product_id"`
	Score     float64 `json:"score"`
	Count     int64   `json:"count"`
}

// NewSimilaritiesUpdated builds the similarities_updated event of item,
// ranking its neighbours with the snapshot ix (the partners' user counts)
// and leaving out products ix does not recommend.
func NewSimilaritiesUpdated(it *Item, ix *CatalogIndex, sim Similarity, k int, at time.Time) (*topics.Envelope, error) {
	u := SimilaritiesUpdated{ProductID: it.ProductID, Version: it.Increments, Similarity: sim,
		Neighbours: []Neighbour{}, BoughtTogether: []Neighbour{}}
	for _, n := range it.Neighbours(ix, sim, k) {
		if ix.Recommendable(n.ProductID) {
			u.Neighbours = append(u.Neighbours, Neighbour{ProductID: n.ProductID, Score: n.Score, Count: it.Co[n.ProductID]})
		}
	}
	for _, b := range it.BoughtTogether(k) {
		if ix.Recommendable(b.ProductID) {
			u.BoughtTogether = append(u.BoughtTogether, Neighbour{ProductID: b.ProductID, Score: b.Score, Count: it.Bought[b.ProductID]})
		}
	}
	return topics.NewEnvelope(TypeSimilaritiesUpdated, at, u)
}
