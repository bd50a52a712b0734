package recommendations

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// ItemsGroup is the item processor, keyed by product: it applies the
// co-occurrence increments the user processor emits.
var ItemsGroup goka.Group = topics.RecommendationsItemsGroup

// ItemsTable is the item processor's table of Item.
var ItemsTable = goka.GroupTable(ItemsGroup)

// ItemsGraph is the item processor's group graph.
func ItemsGraph(opts ...Option) (*goka.GroupGraph, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return goka.DefineGroup(ItemsGroup,
		goka.Input(IncrementsStream, new(topics.BytesCodec), func(ctx goka.Context, msg any) {
			raw, _ := msg.([]byte)
			var inc Increment
			v, err := incrementCodec{}.Decode(raw)
			if p, ok := v.(*Increment); ok && p != nil {
				inc = *p
			} else if err == nil {
				err = errors.New("null increment")
			}
			if err != nil || inc.ProductID != ctx.Key() {
				if err == nil {
					err = ErrInvalidEvent.Withf("increment for %q arrived under key %q", inc.ProductID, ctx.Key())
				}
				command.DeadLetter(ctx, raw, &topics.DecodeError{Reason: "not an increment", Err: err})
				return
			}
			var row []byte
			if it, _ := ctx.Value().(*itemBytes); it != nil {
				row = it.b
			}
			// A redelivered increment (the processor restarted after
			// applying it, before its offset was committed) is skipped.
			pos := &IncrementPosition{Partition: ctx.Partition(), Offset: ctx.Offset()}
			out, applied, err := applyRaw(row, &inc, pos, &cfg)
			if err != nil {
				ctx.Fail(fmt.Errorf("recommendations: items table row of %q: %w", ctx.Key(), err))
			}
			if applied {
				ctx.SetValue(&itemBytes{b: out})
			}
		}),
		goka.Input(IncrementBatchesStream, new(topics.BytesCodec), func(ctx goka.Context, msg any) {
			raw, _ := msg.([]byte)
			v, err := incrementBatchCodec{}.Decode(raw)
			b, _ := v.(*IncrementBatch)
			if err == nil && b.ProductID != ctx.Key() {
				err = ErrInvalidEvent.Withf("increment batch for %q arrived under key %q", b.ProductID, ctx.Key())
			}
			if err != nil {
				command.DeadLetter(ctx, raw, &topics.DecodeError{Reason: "not an increment batch", Err: err})
				return
			}
			var row []byte
			if it, _ := ctx.Value().(*itemBytes); it != nil {
				row = it.b
			}
			// Entries applied already (the combiner produced them again
			// after a restart) are skipped.
			out, applied, err := applyBatchRaw(row, b, &cfg)
			if err != nil {
				ctx.Fail(fmt.Errorf("recommendations: items table row of %q: %w", ctx.Key(), err))
			}
			if applied > 0 {
				ctx.SetValue(&itemBytes{b: out})
			}
		}),
		goka.Persist(new(rawItemCodec)),
		goka.Output(goka.Stream(topics.DLQ(string(ItemsGroup))), new(command.DeadLetterCodec)),
	), nil
}

// CatalogGroup is the catalog processor, keyed by product: the latest
// catalog entry of each product.
var CatalogGroup goka.Group = topics.RecommendationsCatalogGroup

// CatalogTable is the catalog processor's table of Product.
var CatalogTable = goka.GroupTable(CatalogGroup)

// CatalogGraph is the catalog processor's group graph.
func CatalogGraph() *goka.GroupGraph {
	return goka.DefineGroup(CatalogGroup,
		goka.Input(CatalogStream, new(topics.BytesCodec), func(ctx goka.Context, msg any) {
			raw, _ := msg.([]byte)
			var p Product
			err := json.Unmarshal(raw, &p)
			if err == nil {
				err = p.Validate()
			}
			if err == nil && p.ProductID != ctx.Key() {
				err = ErrInvalidEvent.Withf("product %q arrived under key %q", p.ProductID, ctx.Key())
			}
			if err != nil {
				command.DeadLetter(ctx, raw, err)
				return
			}
			old, _ := ctx.Value().(*Product)
			if p.Newer(old) {
				ctx.SetValue(&p)
			}
		}),
		goka.Persist(new(productCodec)),
		goka.Output(goka.Stream(topics.DLQ(string(CatalogGroup))), new(command.DeadLetterCodec)),
	)
}
