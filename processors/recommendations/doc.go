// Package recommendations is ShopStream's per-event-fresh recommender.
//
// Batch recommenders (Gorse, Microsoft's SAR, Amazon Personalize) retrain
// every hour or day; this one updates its model on every interaction.
//
// The package has two halves:
//
//   - The pure domain (no goka, no Kafka): interaction types and weights
//     (interaction.go), the user profile with its capped history, time-decayed
//     affinities, purchased set and per-strategy recommendation cache
//     (profile.go), the per-product co-occurrence state and the similarity
//     measures (item.go), catalog entries and content similarity
//     (catalog.go), the translation of inbound events (inbound.go), the
//     strategies and the RecommendationEngine equivalent (engine.go), and an
//     in-memory model that is the seed's BehaviorProcessor (memory.go).
//
//   - The goka wiring: an ingress that re-keys the inbound topics by user
//     (and product.updated by product) onto internal topics, a user
//     processor keyed by user, an item processor keyed by product fed by the
//     co-occurrence increments the user processor emits (one increment set
//     per event, batched per product by the Combiner, a franz-go consumer
//     group: combiner.go, batchcodec.go), a catalog processor, and Service,
//     which runs them and answers reads from their views.
package recommendations
