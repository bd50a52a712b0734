package giftcards

import (
	"encoding/json"

	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// RedemptionIndexGroup finds a redemption's card: its table maps a
// redemption ID to a RedemptionEntry.
const RedemptionIndexGroup goka.Group = topics.GiftCardRedemptionIndexGroup

// RedemptionIndexTable is the redemption index's table.
var RedemptionIndexTable = goka.GroupTable(RedemptionIndexGroup)

// OrderIndexGroup keeps, per order ID, the order's redemptions and holds,
// and turns order.refunded / order.cancelled into card commands.
const OrderIndexGroup goka.Group = topics.GiftCardOrderIndexGroup

// OrderIndexTable is the order index's table.
var OrderIndexTable = goka.GroupTable(OrderIndexGroup)

// IngressGroup re-keys inbound order events by order ID.
const IngressGroup goka.Group = topics.GiftCardIngressGroup

// RedemptionEntry is the redemption index's value.
type RedemptionEntry struct {
	RedemptionID string       `json:"redemption_id"`
	CardKey      string       `json:"card_key"`
	OrderID      string       `json:"order_id"`
	Amount       topics.Money `json:"amount"`
}

func redemptionIndexGraph() *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(goka.Stream(topics.GiftCardRedemptions), new(topics.BytesCodec), indexRedemption),
		goka.Persist(redemptionEntryCodec{}),
		goka.Output(goka.Stream(topics.GiftCardCommands), new(topics.BytesCodec)),
	}
	return goka.DefineGroup(RedemptionIndexGroup, append(edges, command.Edges(RedemptionIndexGroup)...)...)
}

// indexRedemption records redemptions, and forwards a refund by redemption
// ID to the redemption's card (same envelope, card_key filled in).
func indexRedemption(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	switch env.Type {
	case TypeRedemptionRecorded:
		rec, err := topics.DecodeData[OrderRecord](env)
		if err != nil || rec.RedemptionID != ctx.Key() || !ValidKey(rec.CardKey) {
			command.DeadLetter(ctx, msg.([]byte), &topics.DecodeError{Reason: "bad redemption record", Err: err})
			return
		}
		ctx.SetValue(&RedemptionEntry{RedemptionID: rec.RedemptionID, CardKey: rec.CardKey, OrderID: rec.OrderID, Amount: rec.Amount})
		if rec.Reply != nil {
			command.Reply(ctx, rec.Reply) // the redemption is findable from now on
		}
	case TypeRefund:
		cmd, err := topics.DecodeData[RefundCommand](env)
		if err == nil && cmd.RedemptionID != ctx.Key() {
			err = &topics.DecodeError{Reason: "redemption_id does not match the record key"}
		}
		if err != nil {
			command.DeadLetter(ctx, msg.([]byte), err)
			command.Reply(ctx, topics.Failed(env, ErrInvalidRequest.Withf("%v", err)))
			return
		}
		entry, _ := ctx.Value().(*RedemptionEntry)
		if entry == nil {
			command.Reply(ctx, topics.Failed(env, ErrRedemptionNotFound.With("redemption_id", cmd.RedemptionID)))
			return
		}
		cmd.CardKey = entry.CardKey
		fwd := *env
		if fwd.Data, err = json.Marshal(cmd); err != nil {
			ctx.Fail(err)
		}
		ctx.Emit(goka.Stream(topics.GiftCardCommands), entry.CardKey, mustEncode(ctx, &fwd))
	default:
		command.DeadLetter(ctx, msg.([]byte), &topics.DecodeError{Reason: "unexpected type " + jsonQuote(env.Type)})
	}
}

func orderIndexGraph() *goka.GroupGraph {
	return goka.DefineGroup(OrderIndexGroup,
		goka.Input(goka.Stream(topics.GiftCardOrders), new(topics.BytesCodec), indexOrder),
		goka.Persist(orderStateCodec{}),
		goka.Output(goka.Stream(topics.GiftCardCommands), new(topics.BytesCodec)),
		command.Edges(OrderIndexGroup)[0], command.Edges(OrderIndexGroup)[1],
	)
}

// indexOrder keeps an order's redemptions and holds and answers the
// order's refunds and cancellation with card commands.
func indexOrder(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	o := &OrderState{OrderID: ctx.Key()}
	if v, ok := ctx.Value().(*OrderState); ok && v != nil {
		o = v.Clone()
	}
	bad := func(err error) { command.DeadLetter(ctx, msg.([]byte), err) }
	var follow []FollowUp
	switch env.Type {
	case TypeOrderRedemption, TypeOrderHold:
		rec, err := topics.DecodeData[OrderRecord](env)
		if err != nil {
			bad(err)
			return
		}
		if env.Type == TypeOrderRedemption {
			follow = o.AddRedemption(rec)
		} else {
			follow = o.SetHold(rec)
		}
	case topics.OrderCompleted, topics.OrderRefunded, topics.OrderCancelled:
		if !o.See(env.ID) {
			return // the same event delivered again
		}
		var err error
		switch env.Type {
		case topics.OrderCompleted:
			var d OrderCompleted
			if d, err = topics.DecodeData[OrderCompleted](env); err == nil {
				err = o.Complete(d)
			}
		case topics.OrderRefunded:
			var d OrderRefunded
			if d, err = topics.DecodeData[OrderRefunded](env); err == nil {
				follow, err = o.Refund(d, env.ID)
			}
		default:
			follow = o.Cancel()
		}
		if err != nil {
			bad(err)
			return
		}
	default:
		bad(&topics.DecodeError{Reason: "unexpected type " + jsonQuote(env.Type)})
		return
	}
	ctx.SetValue(o)
	for _, f := range follow {
		correlation := env.ID
		if f.Correlation != "" {
			correlation = f.Correlation
		}
		ctx.Emit(goka.Stream(topics.GiftCardCommands), f.CardKey, mustEncode(ctx, systemEnvelope(f.Type, env.OccurredAt, f.Data, f.CommandID, correlation)))
	}
}

func ingressGraph() *goka.GroupGraph {
	return goka.DefineGroup(IngressGroup,
		goka.Input(goka.Stream(topics.OrderRefunded), new(topics.BytesCodec), rekeyByOrder),
		goka.Input(goka.Stream(topics.OrderCancelled), new(topics.BytesCodec), rekeyByOrder),
		goka.Input(goka.Stream(topics.OrderCompleted), new(topics.BytesCodec), rekeyByOrder),
		goka.Output(goka.Stream(topics.GiftCardOrders), new(topics.BytesCodec)),
		command.Edges(IngressGroup)[1],
	)
}

// rekeyByOrder moves an inbound order event, unchanged, onto GiftCardOrders
// keyed by its data.order_id: the record key was chosen by a foreign
// partitioner and is never used for routing.
func rekeyByOrder(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	d, err := topics.DecodeData[struct {
		OrderID string `json:"order_id"`
	}](env)
	if err == nil && d.OrderID == "" {
		err = &topics.DecodeError{Reason: env.Type + " has no data.order_id"}
	}
	if err == nil && env.Type != string(ctx.Topic()) {
		err = &topics.DecodeError{Reason: "type " + jsonQuote(env.Type) + " on topic " + string(ctx.Topic())}
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Emit(goka.Stream(topics.GiftCardOrders), d.OrderID, msg.([]byte))
}
