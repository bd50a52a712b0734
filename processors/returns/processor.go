package returns

import (
	"strings"

	"github.com/lovoo/goka"
	json "github.com/segmentio/encoding/json"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
)

// Groups of the returns processors.
const (
	IngressGroup goka.Group = topics.ReturnsIngressGroup
	OrdersGroup  goka.Group = topics.ReturnsOrdersGroup
	ReturnsGroup goka.Group = topics.ReturnsReturnsGroup
)

// storeCreditCommandPrefix starts the command ID of every gift card create
// command the saga sends (followed by the refund key), so the ingress tells
// their results from other gift card commands'.
const storeCreditCommandPrefix = "returns-store-credit/"

// eventTopics maps the return's event types to their topics.
var eventTopics = map[string]string{
	EventInitiated: topics.ReturnInitiatedTopic,
	EventApproved:  topics.ReturnApprovedTopic,
	EventReceived:  topics.ReturnReceivedTopic,
	EventCompleted: topics.ReturnCompletedTopic,
	EventRejected:  topics.ReturnRejectedTopic,
	EventCancelled: topics.ReturnCancelledTopic,
	EventRestocked: topics.InventoryRestocked,

	EventActionRequired: topics.ReturnActionRequiredTopic,
}

// serviceTopics maps the services the saga talks to their request topics.
var serviceTopics = map[Peer]string{
	ServicePayments:      topics.PaymentsRefunds,
	ServiceInventory:     topics.InventoryRestocks,
	ServiceLabels:        topics.ShippingLabels,
	ServiceNotifications: topics.NotificationsSend,
	ServiceOrders:        topics.OrdersReplacements,
	ServiceOrderReturns:  topics.ReturnsOrders,
	ServiceGiftCards:     topics.GiftCardCommands,
}

// ingressGraph re-keys inbound order events by the order ID inside them
// (their producers use foreign partitioners), and turns the results of the
// saga's gift card commands (on the gift card reply topic the saga asks
// for: not the results topic, which holds every result of the platform)
// into replies keyed by return ID.
func ingressGraph() *goka.GroupGraph {
	return goka.DefineGroup(IngressGroup,
		goka.Input(goka.Stream(topics.OrderCompleted), new(topics.BytesCodec), rekeyByOrder),
		goka.Input(goka.Stream(topics.ShipmentDelivered), new(topics.BytesCodec), rekeyByOrder),
		goka.Input(goka.Stream(topics.GiftCardReplies), new(topics.BytesCodec), storeCreditResult),
		goka.Output(goka.Stream(topics.ReturnsOrders), new(topics.BytesCodec)),
		goka.Output(goka.Stream(topics.ReturnsReplies), new(topics.EnvelopeCodec)),
		goka.Output(goka.Stream(topics.DLQ(string(IngressGroup))), new(command.DeadLetterCodec)),
	)
}

func rekeyByOrder(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	ref, err := topics.DecodeData[struct {
		OrderID string `json:"order_id"`
	}](env)
	if err == nil && ref.OrderID == "" {
		err = topics.ErrInvalidRequest.Withf("%s has no order_id", env.Type)
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Emit(goka.Stream(topics.ReturnsOrders), ref.OrderID, msg.([]byte))
}

// storeCreditResult turns the result of a store-credit gift card command,
// which the saga asked for on the gift card reply topic, into the saga's
// reply. A result of another gift card command (some other saga's) is not
// the returns saga's to read and is skipped.
//
// Every attempt of one return's store credit is the same command (its
// command ID is the refund key, as a payment's refund key is): an attempt
// after one the saga timed out, whose card was created all the same, gets
// the gift card service's replay of that first result. The attempt it
// answers is the record's key, which the command's correlation ID names
// (the attempt's request ID).
func storeCreditResult(ctx goka.Context, msg any) {
	var res topics.CommandResult
	if err := json.Unmarshal(msg.([]byte), &res); err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	if res.Pending || !strings.HasPrefix(res.CommandID, storeCreditCommandPrefix) {
		return
	}
	requestID := ctx.Key()
	returnID, _, ok := strings.Cut(requestID, ":refund:")
	if !ok {
		command.DeadLetter(ctx, msg.([]byte), topics.ErrInvalidRequest.Withf("store credit result keyed %q names no refund attempt", requestID))
		return
	}
	rp := Reply{RequestID: requestID, ReturnID: returnID, OK: res.OK, TransactionID: res.CommandID}
	if res.Error != nil {
		rp.Error = res.Error.Error()
	}
	var card struct {
		Last4 string `json:"last4"`
	}
	if res.OK && json.Unmarshal(res.Result, &card) == nil {
		rp.GiftCardLast4 = card.Last4
	}
	env, err := topics.NewEnvelope(ReplyStoreCredit, res.CompletedAt, rp, topics.WithCorrelationID(returnID))
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	ctx.Emit(goka.Stream(topics.ReturnsReplies), returnID, env)
}

// orderGraph is the order processor: keyed by order ID, it keeps what
// order.completed and shipment.delivered said and the units each return
// claims, and accepts or refuses return.initiate.
func (s *Service) orderGraph() *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(goka.Stream(topics.ReturnsOrders), new(topics.BytesCodec), s.handleOrder),
		goka.Persist(new(orderTableCodec)),
		goka.Output(goka.Stream(topics.ReturnsCommands), new(topics.EnvelopeCodec)),
	}
	return goka.DefineGroup(OrdersGroup, append(edges, command.Edges(OrdersGroup)...)...)
}

const maxRememberedEvents = 64

func (s *Service) handleOrder(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	rec, _ := ctx.Value().(*OrderRecord)
	if rec == nil {
		rec = &OrderRecord{}
	}
	switch env.Type {
	case topics.OrderCompleted, topics.ShipmentDelivered:
		for _, id := range rec.Events {
			if id == env.ID {
				return // delivered again
			}
		}
		var err error
		if env.Type == topics.OrderCompleted {
			var o Order
			if o, err = topics.DecodeData[Order](env); err == nil {
				err = rec.RecordCompleted(o)
			}
		} else {
			var d Delivery
			if d, err = topics.DecodeData[Delivery](env); err == nil {
				err = rec.RecordDelivered(d)
			}
		}
		if err != nil {
			command.DeadLetter(ctx, msg.([]byte), err)
			return
		}
		rec.Events = append(rec.Events, env.ID)
		if over := len(rec.Events) - maxRememberedEvents; over > 0 {
			rec.Events = append([]string(nil), rec.Events[over:]...)
		}
		ctx.SetValue(rec)
	case RequestRelease:
		rel, err := topics.DecodeData[Release](env)
		if err != nil {
			command.DeadLetter(ctx, msg.([]byte), err)
			return
		}
		rec.ApplyRelease(rel)
		ctx.SetValue(rec)
	case TypeInitiate:
		s.initiate(ctx, rec, env)
	default:
		command.DeadLetter(ctx, msg.([]byte), topics.ErrInvalidRequest.Withf("the order processor does not handle %q", env.Type))
	}
}

func (s *Service) initiate(ctx goka.Context, rec *OrderRecord, env *topics.Envelope) {
	if prev, err := rec.Commands.Check(env); prev != nil || err != nil {
		if err != nil {
			prev = topics.Failed(env, err)
		}
		if returnID := handedOff(prev); returnID != "" {
			// The order only knows the hand-off; the return processor's
			// ledger has the final result: ask it to answer the repeat.
			replay, err := topics.NewEnvelope(TypeReplay, env.OccurredAt, ReplayRequest{ReturnID: returnID},
				topics.Forwarding(env), topics.WithActor(env.Actor), topics.WithCorrelationID(returnID))
			if err != nil {
				panic(err)
			}
			ctx.Emit(goka.Stream(topics.ReturnsCommands), returnID, replay)
			return
		}
		command.Reply(ctx, prev)
		return
	}
	req, err := topics.DecodeData[InitiateRequest](env)
	if err == nil && req.OrderID != "" && req.OrderID != ctx.Key() {
		err = topics.ErrInvalidRequest.Withf("order_id %q does not match the record key %q", req.OrderID, ctx.Key())
	}
	var r *Return
	if err == nil {
		req.OrderID = ctx.Key()
		r, err = rec.Initiate(req, Meta{At: env.OccurredAt, Actor: env.Actor, CommandID: env.CommandID, Policy: s.cfg.policy})
	}
	if err != nil {
		res := topics.Failed(env, err)
		if rec.Order != nil { // remember only for orders that exist: no empty records
			rec.Commands.Remember(env, res, s.cfg.ledgerSize)
			ctx.SetValue(rec)
		}
		command.Reply(ctx, res)
		return
	}
	// The return processor answers the command when it has created the
	// return; a repeat of the command finds this pending result and is
	// forwarded to the return processor, whose ledger has the final one.
	rec.Commands.Remember(env, &topics.CommandResult{CommandID: env.CommandID, Type: env.Type, OK: true, Pending: true,
		Result: mustJSON(ReplayRequest{ReturnID: r.ID}), CompletedAt: env.OccurredAt}, s.cfg.ledgerSize)
	ctx.SetValue(rec)
	hand, err := topics.NewEnvelope(TypeCreate, env.OccurredAt, r, topics.Forwarding(env),
		topics.WithActor(env.Actor), topics.WithCorrelationID(r.ID))
	if err != nil {
		panic(err)
	}
	ctx.Emit(goka.Stream(topics.ReturnsCommands), r.ID, hand)
}

// handedOff returns the return ID of a replayed initiate result that is
// still the pending hand-off, "" for any other result.
func handedOff(prev *topics.CommandResult) string {
	if !prev.Pending || !prev.OK || prev.Type != TypeInitiate {
		return ""
	}
	var ref ReplayRequest
	if json.Unmarshal(prev.Result, &ref) != nil {
		return ""
	}
	return ref.ReturnID
}

// replay answers a repeated initiate the order processor forwarded: the
// create's result in this return's ledger (the final one), replayed to the
// repeat's caller. It changes nothing.
func (s *Service) replay(ctx goka.Context, rec *ReturnRecord, env *topics.Envelope) {
	var res *topics.CommandResult
	if err := rec.resolve(env.CommandID); err != nil {
		ctx.Fail(err)
	}
	if rec != nil {
		for i := len(rec.Commands.Entries) - 1; i >= 0; i-- {
			if e := rec.Commands.Entries[i]; e.ID == env.CommandID {
				r := *e.Result
				res = &r
				break
			}
		}
	}
	if res == nil {
		// Never handed over (cannot happen: the hand-off precedes the
		// replay on the same partition) or forgotten by the ledger.
		res = &topics.CommandResult{CommandID: env.CommandID, Type: TypeInitiate, OK: true, Pending: true,
			Result: mustJSON(ReplayRequest{ReturnID: ctx.Key()}), CompletedAt: env.OccurredAt}
	}
	res.Type, res.Replayed = TypeInitiate, true
	res.Answering(env)
	command.Reply(ctx, res)
}

// succeeded is topics.Succeeded with the result encoded by the JSON
// library the processor uses for everything else (several times faster
// than encoding/json on results with decimals).
func succeeded(cmd *topics.Envelope, result any) *topics.CommandResult {
	r := &topics.CommandResult{CommandID: cmd.CommandID, Type: cmd.Type, OK: true, Result: mustJSON(result), CompletedAt: cmd.OccurredAt}
	return r.Answering(cmd)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// returnGraph is the return processor: keyed by return ID, it runs the
// state machine and the completion saga.
func (s *Service) returnGraph() *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(goka.Stream(topics.ReturnsCommands), new(topics.BytesCodec), s.handleCommand),
		goka.Input(goka.Stream(topics.ReturnsReplies), new(topics.BytesCodec), s.handleReply),
		goka.Persist(returnTableCodec{}),
		goka.Visitor(visitSagaTimeouts, s.visitTimeouts),
		// an input too: same codec, goka keeps one codec per topic
		goka.Output(goka.Stream(topics.ReturnsReplies), new(topics.BytesCodec)),
	}
	for _, t := range []string{topics.ReturnInitiatedTopic, topics.ReturnApprovedTopic, topics.ReturnReceivedTopic,
		topics.ReturnCompletedTopic, topics.ReturnRejectedTopic, topics.ReturnCancelledTopic, topics.ReturnActionRequiredTopic,
		topics.InventoryRestocked,
		topics.PaymentsRefunds, topics.InventoryRestocks, topics.ShippingLabels, topics.NotificationsSend,
		topics.OrdersReplacements, topics.ReturnsOrders, topics.GiftCardCommands} {
		edges = append(edges, goka.Output(goka.Stream(t), new(topics.EnvelopeCodec)))
	}
	return goka.DefineGroup(ReturnsGroup, append(edges, command.Edges(ReturnsGroup)...)...)
}

func (s *Service) handleCommand(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	rec, _ := ctx.Value().(*ReturnRecord)
	if err := rec.load(); err != nil {
		ctx.Fail(err)
	}
	if env.Type == TypeReplay {
		s.replay(ctx, rec, env)
		return
	}
	if env.Type == TypeCreate {
		if rec != nil && rec.Return != nil {
			return // the hand-off delivered again
		}
		r, err := topics.DecodeData[Return](env)
		if err != nil || r.ID != ctx.Key() {
			command.DeadLetter(ctx, msg.([]byte), topics.ErrInvalidRequest.Withf("bad return.create hand-off: %v", err))
			return
		}
		rec = &ReturnRecord{Return: &r}
		res := succeeded(env, r.Request())
		rec.Commands.Remember(env, res, s.cfg.ledgerSize)
		initiated := r.Publish()
		ctx.SetValue(rec)
		s.emitEvent(ctx, env, &r, Event{Type: EventInitiated, Data: initiated})
		command.Reply(ctx, res)
		return
	}
	if rec == nil || rec.Return == nil {
		command.Reply(ctx, topics.Failed(env, ErrReturnNotFound.Withf("return %q not found", ctx.Key()).With("return_id", ctx.Key())))
		return
	}
	if err := rec.resolve(env.CommandID); err != nil {
		ctx.Fail(err)
	}
	if prev, err := rec.Commands.Check(env); prev != nil || err != nil {
		if err != nil {
			prev = topics.Failed(env, err)
		}
		command.Reply(ctx, prev)
		return
	}
	c, err := decodeCommand(env)
	var next *Return
	var out Outcome
	if err == nil {
		next, out, err = Apply(rec.Return, c, Meta{At: env.OccurredAt, Actor: env.Actor, CommandID: env.CommandID, Policy: s.cfg.policy})
	}
	var res *topics.CommandResult
	if err != nil {
		res = topics.Failed(env, err)
	} else {
		res = succeeded(env, out.Result)
		res.Pending = out.Pending
		rec.Return = next
	}
	rec.Commands.Remember(env, res, s.cfg.ledgerSize)
	if err := s.finalResult(rec, env, &out); err != nil {
		ctx.Fail(err)
	}
	ctx.SetValue(rec)
	command.Reply(ctx, res)
	s.dispatch(ctx, env, rec.Return, out)
}

func (s *Service) handleReply(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	rec, _ := ctx.Value().(*ReturnRecord)
	if err := rec.load(); err != nil {
		ctx.Fail(err)
	}
	c, err := decodeReply(env)
	if err == nil && (rec == nil || rec.Return == nil) {
		err = ErrReturnNotFound.Withf("reply for unknown return %q", ctx.Key())
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	next, out, err := Apply(rec.Return, c, Meta{At: env.OccurredAt, Actor: topics.Actor{ID: "returns-saga", Type: topics.ActorSystem},
		CommandID: env.CommandID, Policy: s.cfg.policy})
	if err == ErrStaleReply {
		return
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	rec.Return = next
	if err := s.finalResult(rec, env, &out); err != nil {
		ctx.Fail(err)
	}
	ctx.SetValue(rec)
	s.dispatch(ctx, env, rec.Return, out)
}

// finalResult turns out.Final into the command's final result, replacing
// its pending result in the ledger, and leaves it in out for dispatch.
func (s *Service) finalResult(rec *ReturnRecord, cause *topics.Envelope, out *Outcome) error {
	if out.Final == nil || out.Final.CommandID == "" {
		out.Final = nil
		return nil
	}
	if err := rec.resolve(out.Final.CommandID); err != nil {
		return err
	}
	res := &topics.CommandResult{CommandID: out.Final.CommandID, Type: TypeComplete, CompletedAt: cause.OccurredAt}
	if out.Final.Err != nil {
		res.Error = topics.AsError(out.Final.Err)
	} else {
		res.OK, res.Result = true, mustJSON(out.Final.Result)
	}
	for i := range rec.Commands.Entries {
		if e := &rec.Commands.Entries[i]; e.ID == res.CommandID {
			res.Type = e.Result.Type
			e.Result = res
		}
	}
	out.Final.Result = res
	return nil
}

// dispatch emits what an action produced: events, requests to other
// services, and a final command result.
func (s *Service) dispatch(ctx goka.Context, cause *topics.Envelope, r *Return, out Outcome) {
	for _, e := range out.Events {
		s.emitEvent(ctx, cause, r, e)
	}
	for _, rq := range out.Requests {
		s.emitRequest(ctx, cause, r, rq)
	}
	if out.Final != nil {
		command.Reply(ctx, out.Final.Result.(*topics.CommandResult))
	}
}

func (s *Service) emitEvent(ctx goka.Context, cause *topics.Envelope, r *Return, e Event) {
	env, err := topics.NewEnvelope(e.Type, cause.OccurredAt, e.Data, topics.WithCorrelationID(r.ID),
		topics.WithCommandID(cause.CommandID), topics.WithActor(cause.Actor))
	if err != nil {
		panic(err)
	}
	ctx.Emit(goka.Stream(eventTopics[e.Type]), r.ID, env)
}

func (s *Service) emitRequest(ctx goka.Context, cause *topics.Envelope, r *Return, rq Request) {
	key, typ, data := r.ID, rq.Type, rq.Data
	opts := []topics.EnvelopeOption{topics.WithCorrelationID(r.ID), topics.WithActor(topics.Actor{ID: "returns-saga", Type: topics.ActorSystem})}
	switch rq.Service {
	case ServiceOrderReturns:
		key = r.OrderID
	case ServiceGiftCards:
		refund := rq.Data.(RefundRequest)
		if s.cfg.storeCredit == nil {
			s.emitReply(ctx, cause, ReplyStoreCredit, Reply{RequestID: rq.ID, ReturnID: r.ID, Error: "store credit is not configured"})
			return
		}
		cardKey, last4 := s.cfg.storeCredit.Key(r.ID)
		key, typ = cardKey, giftcards.TypeCreate
		data = giftcards.CreateCommand{CardKey: cardKey, Last4: last4, Amount: refund.Amount, PurchaserID: r.CustomerID,
			Message: "Store credit for return " + r.ID}
		// one command for every attempt (storeCreditResult); the result
		// comes back keyed by the attempt's request ID
		opts = append(opts, topics.WithCommandID(storeCreditCommandPrefix+refund.RefundKey),
			topics.WithCorrelationID(rq.ID), topics.WithReplyTopic(topics.GiftCardReplies))
	}
	env, err := topics.NewEnvelope(typ, cause.OccurredAt, data, opts...)
	if err != nil {
		panic(err)
	}
	ctx.Emit(goka.Stream(serviceTopics[rq.Service]), key, env)
}

func (s *Service) emitReply(ctx goka.Context, cause *topics.Envelope, typ string, rp Reply) {
	env, err := topics.NewEnvelope(typ, cause.OccurredAt, rp, topics.WithCorrelationID(rp.ReturnID))
	if err != nil {
		panic(err)
	}
	b, err := env.Encode()
	if err != nil {
		panic(err)
	}
	ctx.Emit(goka.Stream(topics.ReturnsReplies), rp.ReturnID, b)
}
