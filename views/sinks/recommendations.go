package sinks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
)

// Recommendation read models.
var (
	// UserInteractionsTable has one row per interaction, never rewritten.
	UserInteractionsTable = &Table{Name: "user_interactions", Kind: AppendOnly,
		Columns: []string{"event_id", "user_id", "product_id", "interaction_type", "weight", "metadata", "created_at"},
	}
	// RecommendationCacheTable holds the latest list per user and strategy.
	RecommendationCacheTable = &Table{Name: "recommendation_cache", Kind: CurrentState,
		Columns: []string{"user_id", "strategy", "recommendations", "expires_at", "created_at"},
		Key:     []string{"user_id", "strategy"},
	}
	// ProductSimilarityListsTable records, per product and similarity type,
	// the neighbour list ProductSimilaritiesTable holds: its version (the
	// item's increment count), time and event.
	ProductSimilarityListsTable = &Table{Name: "product_similarity_lists", Kind: CurrentState,
		Columns: []string{"product_id", "similarity_type", "updated_at"},
		Key:     []string{"product_id", "similarity_type"},
	}
	// ProductSimilaritiesTable is the top-K neighbour list per product and
	// similarity type, from recommendations.similarities_updated: type
	// "cosine" (or the service's configured similarity) for co-occurrence
	// neighbours, "frequently_bought_together" for basket partners. It holds
	// exactly each product's latest list of each type: a newer list
	// replaces the older one's rows (a neighbour that drops out is
	// deleted), an older one changes nothing (ReplacedSet).
	ProductSimilaritiesTable = &Table{Name: "product_similarities", Kind: ReplacedSet,
		Columns: []string{"product_id", "similar_product_id", "similarity_type", "similarity_score", "updated_at"},
		Key:     []string{"product_id", "similarity_type", "similar_product_id"},
		Lists:   ProductSimilarityListsTable,
	}
)

// SimilarityBoughtTogether is the similarity_type of bought-together rows.
const SimilarityBoughtTogether = "frequently_bought_together"

// Recommendations is the recommendations sink: the interactions the user
// processor recorded (with the weight each was given) into user_interactions,
// recommendations.generated into recommendation_cache and
// recommendations.similarities_updated into product_similarities (each
// event carries both of a product's lists, so it replaces both; an empty
// list deletes the type's rows) and product_similarity_lists.
//
// It reads topics.RecommendationsRecorded, not the ingress's
// topics.RecommendationsInteractions: only the user processor sees the
// record_interaction commands, knows the weights it applied and leaves
// redeliveries out. Batches of the older interaction type are still mapped
// (with the default weights) should one be replayed.
func Recommendations() Spec {
	return Spec{
		Name: topics.SinkRecommendations,
		Topics: []string{topics.RecommendationsRecorded, topics.RecommendationsGenerated,
			topics.RecommendationsSimilarities},
		Tables: []*Table{UserInteractionsTable, RecommendationCacheTable, ProductSimilarityListsTable, ProductSimilaritiesTable},
		Map:    mapRecommendations,
	}
}

func mapRecommendations(env *topics.Envelope, _ *kgo.Record) ([]Row, error) {
	switch env.Type {
	case recommendations.TypeInteraction, recommendations.TypeInteractionRecorded:
		return mapInteractions(env)
	case recommendations.TypeGenerated:
		return mapGenerated(env)
	case recommendations.TypeSimilaritiesUpdated:
		return mapSimilarities(env)
	}
	return nil, fmt.Errorf("%w: event type %q is not one the recommendations sink maps", ErrMalformedEvent, env.Type)
}

func mapInteractions(env *topics.Envelope) ([]Row, error) {
	b, err := topics.DecodeData[recommendations.Batch](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	rows := make([]Row, 0, len(b.Items))
	for _, it := range b.Items {
		meta := map[string]any{}
		for k, v := range it.Metadata {
			meta[k] = v
		}
		if it.Quantity > 0 {
			meta["quantity"] = it.Quantity
		}
		if b.OrderID != "" {
			meta["order_id"] = b.OrderID
		}
		m, err := json.Marshal(meta)
		if err != nil {
			return nil, err
		}
		// A recorded interaction carries the weight the user processor gave
		// it; a batch of the older type does not, and gets the default.
		w := it.Weight
		if env.Type != recommendations.TypeInteractionRecorded || w <= 0 {
			w = recommendations.DefaultWeights.Of(it.Type)
		}
		rows = append(rows, Row{Table: UserInteractionsTable, Values: []any{it.EventID, b.UserID, it.ProductID,
			string(it.Type), w, string(m), b.OccurredAt}})
	}
	return rows, nil
}

func mapGenerated(env *topics.Envelope) ([]Row, error) {
	g, err := topics.DecodeData[recommendations.Generated](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if g.UserID == "" || g.Strategy == "" {
		return nil, fmt.Errorf("%w: recommendations.generated without user or strategy", ErrMalformedEvent)
	}
	items, err := json.Marshal(g.Items)
	if err != nil {
		return nil, err
	}
	var expires *time.Time // NULL for events written before expiries existed
	if !g.ExpiresAt.IsZero() {
		expires = &g.ExpiresAt
	}
	return []Row{{Table: RecommendationCacheTable,
		Values: []any{g.UserID, string(g.Strategy), string(items), expires, env.OccurredAt},
		Order:  Order{Version: g.ProfileVersion, OccurredAt: env.OccurredAt, EventID: env.ID}}}, nil
}

func mapSimilarities(env *topics.Envelope) ([]Row, error) {
	u, err := topics.DecodeData[recommendations.SimilaritiesUpdated](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if u.ProductID == "" || u.Similarity == "" || string(u.Similarity) == SimilarityBoughtTogether {
		return nil, fmt.Errorf("%w: recommendations.similarities_updated without product, or with similarity %q", ErrMalformedEvent, u.Similarity)
	}
	order := Order{Version: u.Version, OccurredAt: env.OccurredAt, EventID: env.ID}
	rows := make([]Row, 0, 2+len(u.Neighbours)+len(u.BoughtTogether))
	for _, list := range []struct {
		typ string
		ns  []recommendations.Neighbour
	}{{string(u.Similarity), u.Neighbours}, {SimilarityBoughtTogether, u.BoughtTogether}} {
		rows = append(rows, Row{Table: ProductSimilarityListsTable,
			Values: []any{u.ProductID, list.typ, env.OccurredAt}, Order: order})
		for _, n := range list.ns {
			if n.ProductID == "" || n.ProductID == u.ProductID || n.Score < 0 || n.Score > 1 {
				return nil, fmt.Errorf("%w: similarity of %s to %q scores %v", ErrMalformedEvent, u.ProductID, n.ProductID, n.Score)
			}
			rows = append(rows, Row{Table: ProductSimilaritiesTable,
				Values: []any{u.ProductID, n.ProductID, list.typ, n.Score, env.OccurredAt}, Order: order})
		}
	}
	return rows, nil
}
