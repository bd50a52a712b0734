package sinks

import (
	"encoding/json"
	"fmt"

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
	// ProductSimilaritiesTable is the top-K neighbour list per product and
	// similarity type. No sink fills it yet: the recommender publishes no
	// similarity event (see docs/sinks.md).
	ProductSimilaritiesTable = &Table{Name: "product_similarities", Kind: CurrentState,
		Columns: []string{"product_id", "similar_product_id", "similarity_type", "similarity_score", "updated_at"},
		Key:     []string{"product_id", "similarity_type", "similar_product_id"},
	}
)

// Recommendations is the recommendations sink: the interactions topic into
// user_interactions and recommendations.generated into recommendation_cache.
func Recommendations() Spec {
	return Spec{
		Name:   topics.SinkRecommendations,
		Topics: []string{topics.RecommendationsInteractions, topics.RecommendationsGenerated},
		Tables: []*Table{UserInteractionsTable, RecommendationCacheTable},
		Map:    mapRecommendations,
	}
}

func mapRecommendations(env *topics.Envelope, _ *kgo.Record) ([]Row, error) {
	switch env.Type {
	case recommendations.TypeInteraction:
		return mapInteractions(env)
	case recommendations.TypeGenerated:
		return mapGenerated(env)
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
		rows = append(rows, Row{Table: UserInteractionsTable, Values: []any{it.EventID, b.UserID, it.ProductID,
			string(it.Type), recommendations.DefaultWeights.Of(it.Type), string(m), b.OccurredAt}})
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
	return []Row{{Table: RecommendationCacheTable,
		Values: []any{g.UserID, string(g.Strategy), string(items), nil, env.OccurredAt},
		Order:  Order{Version: g.ProfileVersion, OccurredAt: env.OccurredAt, EventID: env.ID}}}, nil
}
