package recommendations

import (
	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// IngressGroup re-keys the inbound topics, whose producers use foreign
// partitioners: interactions by user onto InteractionsStream, catalog
// entries by product onto CatalogStream. Invalid events go to its DLQ.
var IngressGroup goka.Group = topics.RecommendationsIngressGroup

// Streams of the recommendations domain.
var (
	InteractionsStream = goka.Stream(topics.RecommendationsInteractions)
	CommandsStream     = goka.Stream(topics.RecommendationsCommands)
	IncrementsStream   = goka.Stream(topics.RecommendationsIncrements)
	// IncrementSetsStream carries the user processor's increments, one
	// record per recorded batch (IncrementSet, with the position of the
	// input message it came in), to the combiner; it is co-partitioned
	// with InteractionsStream and CommandsStream.
	IncrementSetsStream = goka.Stream(topics.RecommendationsIncrementSets)
	// IncrementBatchesStream carries the combiner's batches to the item
	// processor.
	IncrementBatchesStream = goka.Stream(topics.RecommendationsIncrementBatches)
	CatalogStream          = goka.Stream(topics.RecommendationsCatalog)
	GeneratedStream        = goka.Stream(topics.RecommendationsGenerated)
	ClickedStream          = goka.Stream(topics.RecommendationsClicked)
	RecordedStream         = goka.Stream(topics.RecommendationsRecorded)
	SimilaritiesStream     = goka.Stream(topics.RecommendationsSimilarities)
)

// IngressInputs are the topics the ingress reads.
var IngressInputs = []string{topics.OrderCompleted, topics.ProductViewed, topics.CartItemAdded,
	topics.WishlistItemAdded, topics.RecommendationsClicked, topics.ProductUpdated}

type (
	productCodec = topics.JSONCodec[Product]
)

// IngressGraph is the ingress's group graph.
func IngressGraph() *goka.GroupGraph {
	edges := make([]goka.Edge, 0, len(IngressInputs)+3)
	for _, in := range IngressInputs {
		edges = append(edges, goka.Input(goka.Stream(in), new(topics.BytesCodec), ingest))
	}
	edges = append(edges,
		goka.Output(InteractionsStream, new(topics.EnvelopeCodec)),
		goka.Output(CatalogStream, new(productCodec)),
		goka.Output(goka.Stream(topics.DLQ(string(IngressGroup))), new(command.DeadLetterCodec)),
	)
	return goka.DefineGroup(IngressGroup, edges...)
}

// ingest translates one inbound event and re-keys it.
func ingest(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	in, err := Translate(env)
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	if in.Product != nil {
		ctx.Emit(CatalogStream, in.Product.ProductID, in.Product)
		return
	}
	out, err := topics.NewEnvelope(TypeInteraction, env.OccurredAt, in.Batch,
		topics.WithCorrelationID(env.ID), topics.WithActor(env.Actor))
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Emit(InteractionsStream, in.Batch.UserID, out)
}
