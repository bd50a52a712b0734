package giftcards

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// Group is the card processor's group; its table holds one CardState per
// card key.
const Group goka.Group = topics.GiftCardCardsGroup

// Table is the card processor's table.
var Table = goka.GroupTable(Group)

// TypeRedemptionRecorded is the redemption index record the card processor
// sends for every redemption.
const TypeRedemptionRecorded = "gift_card.redemption_recorded"

// visitExpiry names the visitor the expiry ticker runs over the card table.
const visitExpiry = "expire"

// CardState is the card processor's table value: the card (nil until
// created) and the command IDs it has applied.
type CardState struct {
	Card *Card `json:"card,omitempty"`
	// Commands is stored compact (cardLedger); it is a command.Ledger.
	Commands cardLedger `json:"commands"`
}

// eventTopics maps event types to their output topics.
var eventTopics = map[string]string{
	EventCreated: topics.GiftCardCreated, EventRedeemed: topics.GiftCardRedeemed, EventRefunded: topics.GiftCardRefunded,
	EventExpired: topics.GiftCardExpired, EventVoided: topics.GiftCardVoided,
	EventTransferDebited: topics.GiftCardTransfers, EventTransferCredited: topics.GiftCardTransfers,
	EventTransferReversed: topics.GiftCardTransfers, EventTransferCompleted: topics.GiftCardTransfers,
	EventHoldAuthorized: topics.GiftCardHolds, EventHoldCaptured: topics.GiftCardHolds,
	EventHoldReleased: topics.GiftCardHolds, EventHoldExpired: topics.GiftCardHolds,
}

// remembered lists the command types kept in a card's idempotency ledger.
// Balance queries change nothing; settle, reverse and expire are idempotent
// by the card's own state.
var remembered = map[string]bool{
	TypeCreate: true, TypeRedeem: true, TypeRefund: true, TypeTransfer: true, TypeVoid: true,
	TypeAuthorize: true, TypeCapture: true, TypeRelease: true, TypeTransferCredit: true,
}

type cardProcessor struct {
	cfg config
}

func newCardProcessor(cfg config) *cardProcessor {
	return &cardProcessor{cfg: cfg}
}

// graph is the card processor: commands (including its own transfer saga
// steps and expiry commands) in, events, index records and results out.
func (p *cardProcessor) graph() *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(goka.Stream(topics.GiftCardCommands), new(topics.BytesCodec), p.handle),
		goka.Visitor(visitExpiry, p.visitExpiry),
		goka.Persist(rowCodec{}),
		// Topics other groups read are written as bytes: every reader
		// decodes (and dead-letters) in its callback.
		goka.Output(goka.Stream(topics.GiftCardRedemptions), new(topics.BytesCodec)),
		// Saga steps and expiry commands go back to the command topic, keyed
		// by the card they address (goka's loop topic would need a retention
		// the catalog does not manage).
		goka.Output(goka.Stream(topics.GiftCardCommands), new(topics.BytesCodec)),
		goka.Output(goka.Stream(topics.GiftCardOrders), new(topics.BytesCodec)),
	}
	seen := map[string]bool{}
	for _, t := range eventTopics {
		if !seen[t] {
			seen[t] = true
			edges = append(edges, goka.Output(goka.Stream(t), new(topics.EnvelopeCodec)))
		}
	}
	edges = append(edges, command.Edges(Group)...)
	return goka.DefineGroup(Group, edges...)
}

// outcome is what applying one command produced.
type outcome struct {
	card   *Card
	events []Event
	result any
	err    error
	// reply is false for saga steps and housekeeping nobody waits for.
	reply bool
	// loop are messages to other cards of the group (saga steps).
	loop []loopMsg
	// final answers a saga's origin command (settle or reverse).
	final *finalResult
}

type loopMsg struct {
	key string
	env *topics.Envelope
}

type finalResult struct {
	origin Origin
	result any
	err    error
}

func (p *cardProcessor) handle(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	if env.ReplyTopic != "" && env.Type == TypeTransfer {
		// Its final result comes from another card, later, and the card
		// keeps no reply address for it: the results topic has it.
		command.Reply(ctx, topics.Failed(env, ErrInvalidRequest.Withf(
			"a transfer's final result is on %s only: it cannot name a reply topic", topics.CommandResults)))
		return
	}
	var st CardState
	if v, ok := ctx.Value().(*CardState); ok && v != nil {
		// The card is never changed in place (operations clone it); the
		// ledger is copied before anything is remembered.
		st = *v
		st.Commands.Entries = slices.Clone(st.Commands.Entries)
	}
	if remembered[env.Type] {
		prev, err := st.Commands.Check(env)
		if err == nil {
			prev, err = expandResult(st.Card, env, prev)
		}
		if err != nil {
			command.Reply(ctx, topics.Failed(env, err))
			return
		}
		if prev != nil {
			p.reemitRedemption(ctx, env, st.Card)
			command.Reply(ctx, prev)
			return
		}
		if err := forgottenCommand(st.Card, env); err != nil {
			p.reemitRedemption(ctx, env, st.Card)
			if env.Type != TypeTransferCredit { // a saga step: nobody waits for its result
				command.Reply(ctx, topics.Failed(env, err))
			}
			return
		}
	}
	m := Meta{CommandID: env.CommandID, At: env.OccurredAt, Actor: env.Actor}
	var settled []Event
	card := st.Card
	if card != nil {
		card, settled = card.Settle(env.OccurredAt, m)
	}
	out := p.apply(ctx, env, card, m)
	if out.err != nil && errorsIsDecode(out.err) {
		command.DeadLetter(ctx, msg.([]byte), out.err)
		out.err = ErrInvalidRequest.Withf("%v", out.err)
	}
	if out.card == nil {
		out.card = card
	}
	events := append(settled, out.events...)

	var res *topics.CommandResult
	if out.reply || remembered[env.Type] {
		if out.err != nil {
			res = topics.Failed(env, out.err)
		} else if out.result != nil {
			var err error
			if res, err = topics.Succeeded(env, out.result); err != nil {
				res = topics.Failed(env, err)
			}
		}
	}
	changed := out.card != st.Card
	if out.card != nil && remembered[env.Type] && res != nil {
		st.Commands.Remember(env, compactResult(res, out.result), p.cfg.ledgerSize)
		changed = true
	}
	var final *topics.CommandResult
	if out.final != nil {
		origin := &topics.Envelope{CommandID: out.final.origin.CommandID, Type: out.final.origin.Type, Data: out.final.origin.Data, OccurredAt: env.OccurredAt}
		if out.final.err != nil {
			final = topics.Failed(origin, out.final.err)
		} else {
			var err error
			if final, err = topics.Succeeded(origin, out.final.result); err != nil {
				final = topics.Failed(origin, err)
			}
		}
		st.Commands.Remember(origin, final, p.cfg.ledgerSize)
		changed = true
	}
	if changed && out.card != nil {
		// The row keeps the recent window of the ledger (a row stored with
		// more, by an earlier version, is trimmed here on its next write).
		st.Card = out.card.Trim(p.cfg.txWindow)
		ctx.SetValue(&st)
	}
	var reply *topics.CommandResult
	if res != nil && out.reply {
		reply = res
	}
	handed := p.emit(ctx, env, out.card, events, reply)
	for _, l := range out.loop {
		ctx.Emit(goka.Stream(topics.GiftCardCommands), l.key, mustEncode(ctx, l.env))
	}
	if final != nil {
		command.Reply(ctx, final)
	}
	if reply != nil && !handed {
		command.Reply(ctx, reply)
	}
}

// forgottenCommand refuses a command that moves money when its command ID
// is no longer in the card's ledger (more than the ledger size of other
// commands for the card came after it) but its effect is on the card:
// applying it again would move the money twice. Every such command creates
// something on the card under an ID derived from the card key and its
// command ID, and the card keeps it for good: a redeem or a capture its
// redemption, an authorize its hold, a transfer its transfer, a refund its
// ID on the redemption it refunded; and the transfer saga's credit step
// the transfer's ID on the destination. So these commands are applied at
// most once whatever the ledger size. The answer is an idempotency_conflict, a
// transient answer, so the first result stays what the results topic
// (GET /v1/commands/{id}) holds for the command ID.
func forgottenCommand(card *Card, env *topics.Envelope) error {
	if card == nil {
		return nil
	}
	var what, id string
	var found bool
	switch env.Type {
	case TypeRedeem, TypeCapture:
		what, id = "redemption", DeriveID(card.Key, env.CommandID, "redemption")
		_, found = card.redemption(id)
	case TypeAuthorize:
		what, id = "hold", DeriveID(card.Key, env.CommandID, "hold")
		_, found = card.hold(id)
	case TypeTransfer:
		what, id = "transfer", DeriveID(card.Key, env.CommandID, "transfer")
		_, found = card.transfer(id)
	case TypeRefund:
		what, id = "refund", DeriveID(card.Key, env.CommandID, "refund")
		found = card.refunded(id)
	case TypeTransferCredit:
		if cmd, err := topics.DecodeData[TransferCreditCommand](env); err == nil && cmd.TransferID != "" {
			what, id = "transfer", cmd.TransferID
			found = card.credited(id)
		}
	}
	if !found {
		return nil
	}
	return topics.ErrIdempotencyConflict.
		Withf("command %s was already applied to this card (%s %s); its first result is no longer kept with the card: read it at GET /v1/commands/%s", env.CommandID, what, id, env.CommandID).
		With("command_id", env.CommandID).With(what+"_id", id)
}

// reemitRedemption writes the redemption index and order records of a
// redeem or capture the card's ledger already holds, again, from the
// redemption the card keeps: the row with the ledger entry and the
// command's records are separate writes, so a process killed between them
// may have written the row and lost the records, and the command, delivered
// again, finds itself in the ledger. Both indexes take a record they have
// already as it is. Its events are not written again: an event carries the
// card's sequence number and balance at the time, which the card no longer
// holds (docs/giftcards.md, "Known gap").
func (p *cardProcessor) reemitRedemption(ctx goka.Context, cmd *topics.Envelope, card *Card) {
	if card == nil || (cmd.Type != TypeRedeem && cmd.Type != TypeCapture) {
		return
	}
	i, ok := card.redemption(DeriveID(card.Key, cmd.CommandID, "redemption"))
	if !ok {
		return
	}
	red := card.Redemptions[i]
	p.emitRedemption(ctx, cmd, OrderRecord{OrderID: red.OrderID, CardKey: card.Key, RedemptionID: red.ID, Amount: card.Money(red.Amount)}, nil)
}

// emitRedemption writes a redemption's records: to the redemption index
// (with reply, which the index sends once the redemption is findable) and
// to the order index.
func (p *cardProcessor) emitRedemption(ctx goka.Context, cmd *topics.Envelope, rec OrderRecord, reply *topics.CommandResult) {
	indexed := rec
	indexed.Reply = reply
	p.emitEnvelope(ctx, topics.GiftCardRedemptions, rec.RedemptionID, TypeRedemptionRecorded, cmd.OccurredAt, indexed, envelopeOptions(cmd))
	p.emitEnvelope(ctx, topics.GiftCardOrders, rec.OrderID, TypeOrderRedemption, cmd.OccurredAt, rec, envelopeOptions(cmd))
}

// envelopeOptions are the options of every record a command makes: its
// command ID, correlation and actor.
func envelopeOptions(cmd *topics.Envelope) []topics.EnvelopeOption {
	return []topics.EnvelopeOption{topics.WithCommandID(cmd.CommandID), topics.WithCorrelationID(correlation(cmd)), topics.WithActor(cmd.Actor)}
}

// emit writes events to their topics and the index records derived from
// them. A command that made a redemption is answered by the redemption
// index, after it recorded the redemption (emit hands reply to it and
// returns true): the index record and a reply produced here would travel
// concurrently, and a client refunding the instant it saw the result could
// reach the index first.
func (p *cardProcessor) emit(ctx goka.Context, cmd *topics.Envelope, card *Card, events []Event, reply *topics.CommandResult) (handed bool) {
	for _, ev := range events {
		opts := envelopeOptions(cmd)
		d := ev.Data
		switch ev.Type {
		case EventRedeemed:
			var indexReply *topics.CommandResult
			if reply != nil && !handed {
				indexReply, handed = reply, true
			}
			p.emitRedemption(ctx, cmd, OrderRecord{OrderID: d.OrderID, CardKey: d.CardKey, RedemptionID: d.RedemptionID, Amount: *d.Amount}, indexReply)
		case EventHoldAuthorized, EventHoldCaptured, EventHoldReleased, EventHoldExpired:
			status := map[string]HoldStatus{EventHoldAuthorized: HoldAuthorized, EventHoldCaptured: HoldCaptured,
				EventHoldReleased: HoldReleased, EventHoldExpired: HoldExpired}[ev.Type]
			rec := OrderRecord{OrderID: d.OrderID, CardKey: d.CardKey, HoldID: d.HoldID, HoldStatus: status, Amount: *d.Amount}
			p.emitEnvelope(ctx, topics.GiftCardOrders, d.OrderID, TypeOrderHold, cmd.OccurredAt, rec, opts)
		}
		p.emitEnvelope(ctx, eventTopics[ev.Type], d.CardKey, ev.Type, cmd.OccurredAt, d, opts)
	}
	return handed
}

func (p *cardProcessor) emitEnvelope(ctx goka.Context, topic, key, typ string, at time.Time, data any, opts []topics.EnvelopeOption) {
	env, err := topics.NewEnvelope(typ, at, data, opts...)
	if err != nil {
		ctx.Fail(err) // only a bug makes our own types unencodable
	}
	if topic == topics.GiftCardRedemptions || topic == topics.GiftCardOrders {
		ctx.Emit(goka.Stream(topic), key, mustEncode(ctx, env))
		return
	}
	ctx.Emit(goka.Stream(topic), key, env)
}

// mustEncode renders an envelope for a bytes topic.
func mustEncode(ctx goka.Context, env *topics.Envelope) []byte {
	b, err := env.Encode()
	if err != nil {
		ctx.Fail(err)
	}
	return b
}

func correlation(env *topics.Envelope) string {
	if env.CorrelationID != "" {
		return env.CorrelationID
	}
	return env.CommandID
}

// decodeInto decodes env's data and checks that it addresses this key.
func decodeInto[T any](ctx goka.Context, env *topics.Envelope, keyOf func(*T) string) (*T, error) {
	v, err := topics.DecodeData[T](env)
	if err != nil {
		return nil, err
	}
	if keyOf != nil {
		if k := keyOf(&v); k != ctx.Key() {
			return nil, &topics.DecodeError{Reason: "card_key does not match the record key"}
		}
	}
	return &v, nil
}

func errorsIsDecode(err error) bool {
	_, ok := err.(*topics.DecodeError)
	return ok
}

func systemEnvelope(typ string, at time.Time, data any, commandID, correlationID string) *topics.Envelope {
	env, err := topics.NewEnvelope(typ, at, data, topics.WithCommandID(commandID), topics.WithCorrelationID(correlationID),
		topics.WithActor(topics.Actor{ID: string(Group), Type: topics.ActorSystem}))
	if err != nil {
		panic(err) // our own payload types always encode
	}
	return env
}

func (p *cardProcessor) apply(ctx goka.Context, env *topics.Envelope, card *Card, m Meta) outcome {
	missing := func() outcome { return outcome{err: ErrInvalidCode, reply: true} }
	switch env.Type {
	case TypeCreate:
		cmd, err := decodeInto(ctx, env, func(c *CreateCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card != nil {
			return outcome{err: ErrCardExists, reply: true}
		}
		c, ev, err := Create(*cmd, m, p.cfg.cardTTL)
		if err != nil {
			return outcome{err: err, reply: true}
		}
		return outcome{card: c, events: ev, result: c.Summary(), reply: true}

	case TypeBalance:
		if _, err := decodeInto(ctx, env, func(c *BalanceQuery) string { return c.CardKey }); err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		return outcome{result: card.BalanceResult(), reply: true}

	case TypeRedeem:
		cmd, err := decodeInto(ctx, env, func(c *RedeemCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		c, ev, res, err := card.Redeem(*cmd, m)
		return outcome{card: c, events: ev, result: res, err: err, reply: true}

	case TypeRefund:
		cmd, err := decodeInto(ctx, env, func(c *RefundCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return outcome{err: ErrRedemptionNotFound, reply: true}
		}
		c, ev, res, err := card.Refund(*cmd, m)
		return outcome{card: c, events: ev, result: res, err: err, reply: true}

	case TypeVoid:
		cmd, err := decodeInto(ctx, env, func(c *VoidCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		c, ev, res, err := card.Void(*cmd, m)
		return outcome{card: c, events: ev, result: res, err: err, reply: true}

	case TypeAuthorize:
		cmd, err := decodeInto(ctx, env, func(c *AuthorizeCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		c, ev, res, err := card.Authorize(*cmd, m, p.cfg.holdTTL)
		return outcome{card: c, events: ev, result: res, err: err, reply: true}

	case TypeCapture:
		cmd, err := decodeInto(ctx, env, func(c *CaptureCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		c, ev, res, err := card.Capture(*cmd, m)
		return outcome{card: c, events: ev, result: res, err: err, reply: true}

	case TypeRelease:
		cmd, err := decodeInto(ctx, env, func(c *ReleaseCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		c, ev, res, err := card.Release(*cmd, m)
		return outcome{card: c, events: ev, result: res, err: err, reply: true}

	case TypeTransfer:
		cmd, err := decodeInto(ctx, env, func(c *TransferCommand) string { return c.CardKey })
		if err != nil {
			return outcome{err: err, reply: true}
		}
		if card == nil {
			return missing()
		}
		origin := Origin{CommandID: env.CommandID, Type: env.Type, Data: env.Data}
		c, ev, credit, err := card.TransferDebit(*cmd, m, origin)
		if err != nil {
			return outcome{err: err, reply: true}
		}
		// The debit is remembered as pending: a repeat says so; the final
		// result (settle or reverse) replaces it and answers the client.
		pending := struct {
			TransferID string `json:"transfer_id"`
			Status     string `json:"status"`
		}{credit.TransferID, string(TransferPending)}
		loop := loopMsg{key: credit.ToKey, env: systemEnvelope(TypeTransferCredit, env.OccurredAt, credit, DeriveID(credit.TransferID, "credit"), env.CommandID)}
		return outcome{card: c, events: ev, result: pending, loop: []loopMsg{loop}}

	case TypeTransferCredit:
		cmd, err := decodeInto(ctx, env, func(c *TransferCreditCommand) string { return c.ToKey })
		if err != nil {
			return outcome{err: err}
		}
		c, ev, err := TransferCredit(card, *cmd, m)
		var next *topics.Envelope
		if err != nil {
			next = systemEnvelope(TypeTransferReverse, env.OccurredAt, TransferReverseCommand{TransferID: cmd.TransferID, Error: topics.AsError(err)},
				DeriveID(cmd.TransferID, "reverse"), env.CorrelationID)
		} else {
			next = systemEnvelope(TypeTransferSettle, env.OccurredAt, TransferSettleCommand{TransferID: cmd.TransferID, ToBalance: c.Money(c.Balance)},
				DeriveID(cmd.TransferID, "settle"), env.CorrelationID)
		}
		return outcome{card: c, events: ev, err: err, result: struct{}{}, loop: []loopMsg{{key: cmd.FromKey, env: next}}}

	case TypeTransferSettle:
		cmd, err := decodeInto[TransferSettleCommand](ctx, env, nil)
		if err != nil || card == nil {
			return outcome{err: err}
		}
		c, ev, tr, changed := card.TransferSettle(*cmd, m)
		if !changed {
			return outcome{}
		}
		res := &TransferResult{TransferID: tr.ID, Amount: c.Money(tr.Amount), FromBalance: c.Money(tr.FromBalance), ToBalance: cmd.ToBalance}
		return outcome{card: c, events: ev, final: &finalResult{origin: tr.Origin, result: res}}

	case TypeTransferReverse:
		cmd, err := decodeInto[TransferReverseCommand](ctx, env, nil)
		if err != nil || card == nil {
			return outcome{err: err}
		}
		c, ev, tr, changed := card.TransferReverse(*cmd, m)
		if !changed {
			return outcome{}
		}
		var reason error = ErrInvalidCode
		if cmd.Error != nil {
			reason = cmd.Error
		}
		return outcome{card: c, events: ev, final: &finalResult{origin: tr.Origin, err: reason}}

	case TypeExpire:
		// Settle has already done what is due at the command's time.
		return outcome{}
	}
	return outcome{err: &topics.DecodeError{Reason: "unknown gift card command type " + jsonQuote(env.Type)}, reply: true}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// visitExpiry runs over every card when the expiry ticker fires, with the
// tick's time as meta. A card with something due (its expiry, a hold's)
// gets an expire command stamped with the tick's time on the command topic, so
// the change itself is an ordinary, replayable message.
func (p *cardProcessor) visitExpiry(ctx goka.Context, meta any) {
	tick, ok := meta.(time.Time)
	if !ok {
		return
	}
	st, ok := ctx.Value().(*CardState)
	if !ok || st == nil || st.Card == nil {
		return
	}
	due, ok := st.Card.NextDeadline()
	if !ok || tick.Before(due) {
		return
	}
	ctx.Emit(goka.Stream(topics.GiftCardCommands), ctx.Key(), mustEncode(ctx, systemEnvelope(TypeExpire, tick, ExpireCommand{CardKey: ctx.Key()},
		DeriveID("expire", ctx.Key(), due.Format(time.RFC3339Nano)), "")))
}
