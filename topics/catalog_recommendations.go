package topics

// Topics of the recommendations domain (processors/recommendations).
const (
	// RecommendationsInteractions holds interaction batches re-keyed by user
	// by the recommendations ingress.
	RecommendationsInteractions = "recommendations.interactions"
	// RecommendationsCommands holds record_interaction and invalidate_cache
	// commands, keyed by user.
	RecommendationsCommands = "recommendations.commands"
	// RecommendationsIncrements holds the co-occurrence increments the user
	// processor emits, keyed by product.
	RecommendationsIncrements = "recommendations.increments"
	// RecommendationsIncrementSets holds, per interaction batch the user
	// processor recorded, the co-occurrence increments it produced (one
	// record for all the products it touches) and the position of the input
	// message it recorded them from, keyed by user. It must have the
	// partition count of the user processor's inputs.
	RecommendationsIncrementSets = "recommendations.increment_sets"
	// RecommendationsIncrementBatches holds the combiner's batches: the
	// increments to one product from the increment sets of a short window,
	// each with its set's source position, keyed by product.
	RecommendationsIncrementBatches = "recommendations.increment_batches"
	// RecommendationsCatalog holds product.updated re-keyed by product.
	RecommendationsCatalog = "recommendations.catalog"
	// RecommendationsGenerated is the recommendations.generated event, keyed by user.
	RecommendationsGenerated = "recommendations.generated"
	// RecommendationsClicked is the recommendations.clicked event, keyed by user.
	RecommendationsClicked = "recommendations.clicked"
	// RecommendationsRecorded holds the interactions the user processor
	// recorded (from the ingress and from record_interaction commands alike,
	// redeliveries left out), each with the weight it was given; keyed by user.
	RecommendationsRecorded = "recommendations.interactions_recorded"
	// RecommendationsSimilarities holds recommendations.similarities_updated:
	// a product's current neighbour and bought-together lists, keyed by product.
	RecommendationsSimilarities = "recommendations.similarities_updated"
)

// Goka groups of the recommendations domain.
const (
	RecommendationsIngressGroup = "recommendations-ingress"
	RecommendationsUsersGroup   = "recommendations-users"
	RecommendationsItemsGroup   = "recommendations-items"
	RecommendationsCatalogGroup = "recommendations-catalog"
	// RecommendationsCombinerGroup is the franz-go consumer group of the
	// recommendations combiner (increment sets → increment batches).
	RecommendationsCombinerGroup = "recommendations-combiner"
)

func init() {
	domainCatalogs = append(domainCatalogs, func() []Topic {
		return []Topic{
			{Name: RecommendationsInteractions, Cleanup: Delete, Key: "user ID", Message: "recommendations.interaction envelope (Batch)",
				Producers: []string{"recommendations ingress"}, Consumers: []string{RecommendationsUsersGroup}},
			{Name: RecommendationsCommands, Cleanup: Delete, Key: "user ID",
				Message:   "recommendations.record_interaction | recommendations.invalidate_cache envelope",
				Producers: []string{"HTTP API", "CLI"}, Consumers: []string{RecommendationsUsersGroup}},
			{Name: RecommendationsIncrements, Cleanup: Delete, Key: "product ID", Message: "Increment (binary or JSON, internal; written by versions before the combiner)",
				Producers: []string{RecommendationsUsersGroup}, Consumers: []string{RecommendationsItemsGroup}},
			{Name: RecommendationsIncrementSets, Cleanup: Delete, Key: "user ID", Message: "increment set (binary, internal)",
				Producers: []string{RecommendationsUsersGroup}, Consumers: []string{RecommendationsCombinerGroup}},
			{Name: RecommendationsIncrementBatches, Cleanup: Delete, Key: "product ID", Message: "IncrementBatch (binary, internal)",
				Producers: []string{RecommendationsCombinerGroup}, Consumers: []string{RecommendationsItemsGroup}},
			{Name: RecommendationsCatalog, Cleanup: Delete, Key: "product ID", Message: "Product (JSON, internal)",
				Producers: []string{"recommendations ingress"}, Consumers: []string{RecommendationsCatalogGroup}},
			{Name: RecommendationsGenerated, Cleanup: Delete, Key: "user ID", Message: "recommendations.generated envelope",
				Producers: []string{"recommendations service"}, Consumers: []string{RecommendationsUsersGroup, "sinks"}},
			{Name: RecommendationsClicked, Cleanup: Delete, Key: "user ID", Message: "recommendations.clicked envelope",
				Producers: []string{"HTTP API"}, Consumers: []string{RecommendationsIngressGroup, "sinks"}},
			{Name: RecommendationsRecorded, Cleanup: Delete, Key: "user ID", Message: "recommendations.interaction_recorded envelope (Batch with weights)",
				Producers: []string{RecommendationsUsersGroup}, Consumers: []string{"sinks"}},
			{Name: RecommendationsSimilarities, Cleanup: Delete, Key: "product ID", Message: "recommendations.similarities_updated envelope",
				Producers: []string{"recommendations service"}, Consumers: []string{"sinks"}},
			{Name: GroupTable(RecommendationsUsersGroup), Cleanup: Compact, Key: "user ID", Message: "user row (profile + command ledger)",
				Producers: []string{RecommendationsUsersGroup}, Consumers: []string{"recommendations views"}},
			{Name: GroupTable(RecommendationsItemsGroup), Cleanup: Compact, Key: "product ID", Message: "Item (co-occurrence counts)",
				Producers: []string{RecommendationsItemsGroup}, Consumers: []string{"recommendations views"}},
			{Name: GroupTable(RecommendationsCatalogGroup), Cleanup: Compact, Key: "product ID", Message: "Product",
				Producers: []string{RecommendationsCatalogGroup}, Consumers: []string{"recommendations views"}},
			recommendationsDLQ(RecommendationsIngressGroup), recommendationsDLQ(RecommendationsUsersGroup),
			recommendationsDLQ(RecommendationsItemsGroup), recommendationsDLQ(RecommendationsCatalogGroup),
			recommendationsDLQ(RecommendationsCombinerGroup),
		}
	})
}

func recommendationsDLQ(group string) Topic {
	return Topic{Name: DLQ(group), Cleanup: Delete, Key: "original key", Message: "DeadLetter",
		Producers: []string{group}, Consumers: []string{"operators"}}
}
