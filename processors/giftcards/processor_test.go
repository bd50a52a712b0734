package giftcards

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// fixture runs the whole service on goka's tester (one partition, in memory).
type fixture struct {
	tt      *tester.Tester
	svc     *Service
	results *tester.QueueTracker
	gen     *CodeGenerator
	byID    map[string][]*topics.CommandResult
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	tt := tester.New(t)
	clients, err := topics.NewClients([]string{"tester:9092"})
	require.NoError(t, err)
	svc, err := New(clients, tt.StorageBuilder(), append(opts, WithProcessorOptions(goka.WithTester(tt)))...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{tt: tt, svc: svc, results: tt.NewQueueTracker(topics.CommandResults), gen: newGen(t), byID: map[string][]*topics.CommandResult{}}
}

// send pushes a command envelope and returns the results written for its
// command ID since.
func (f *fixture) send(t *testing.T, topic, key, typ, cmdID string, data any, at time.Time, actor ...topics.Actor) *topics.CommandResult {
	t.Helper()
	a := topics.Actor{ID: "user_1", Type: topics.ActorCustomer}
	if len(actor) > 0 {
		a = actor[0]
	}
	env, err := topics.NewEnvelope(typ, at, data, topics.WithCommandID(cmdID), topics.WithActor(a))
	require.NoError(t, err)
	raw, err := env.Encode()
	require.NoError(t, err)
	f.tt.Consume(topic, key, raw)
	return f.result(t, cmdID)
}

// result returns the latest result for cmdID, or nil.
func (f *fixture) result(t *testing.T, cmdID string) *topics.CommandResult {
	t.Helper()
	for {
		// Replays and conflicts are keyed apart and tombstoned at once
		// (command.Reply): skip tombstones, file results by command_id.
		_, raw, ok := f.results.NextRaw()
		if !ok {
			break
		}
		if raw == nil {
			continue
		}
		var res topics.CommandResult
		require.NoError(t, json.Unmarshal(raw, &res))
		f.byID[res.CommandID] = append(f.byID[res.CommandID], &res)
	}
	rs := f.byID[cmdID]
	if len(rs) == 0 {
		return nil
	}
	return rs[len(rs)-1]
}

func (f *fixture) card(t *testing.T, key string) *Card {
	t.Helper()
	v := f.tt.TableValue(Table, key)
	if v == nil {
		return nil
	}
	return v.(*CardState).Card
}

// create makes a card at the edge (code, key) and sends the command.
func (f *fixture) create(t *testing.T, amount, cur string) (code, key string) {
	t.Helper()
	code, err := f.gen.Generate("", 0)
	require.NoError(t, err)
	key, last4, err := f.gen.Key(code)
	require.NoError(t, err)
	res := f.send(t, topics.GiftCardCommands, key, TypeCreate, topics.NewID(), CreateCommand{CardKey: key, Last4: last4,
		Amount: topics.Money{Amount: dec(amount), Currency: cur}, PurchaserID: "user_1"}, t0)
	require.NotNil(t, res)
	require.True(t, res.OK, "%+v", res.Error)
	return code, key
}

func decodeResult[T any](t *testing.T, res *topics.CommandResult) T {
	t.Helper()
	require.NotNil(t, res)
	require.True(t, res.OK, "%+v", res.Error)
	var v T
	require.NoError(t, json.Unmarshal(res.Result, &v))
	return v
}

func requireCode(t *testing.T, res *topics.CommandResult, code string) {
	t.Helper()
	require.NotNil(t, res)
	require.False(t, res.OK)
	require.Equal(t, code, res.Error.Code, res.Error.Message)
}

func (f *fixture) events(t *testing.T, topic string) []*topics.Envelope {
	t.Helper()
	q := f.tt.NewQueueTracker(topic)
	q.Seek(0)
	var out []*topics.Envelope
	for {
		_, v, ok := q.Next()
		if !ok {
			return out
		}
		switch v := v.(type) {
		case *topics.Envelope:
			out = append(out, v)
		case []byte: // the index topics carry encoded envelopes
			env, err := topics.DecodeEnvelope(v)
			require.NoError(t, err)
			out = append(out, env)
		}
	}
}

func (f *fixture) redeem(t *testing.T, key, order, amount string) RedemptionResult {
	t.Helper()
	cmd := RedeemCommand{CardKey: key, OrderID: order}
	if amount != "" {
		cmd.Amount = amt(amount)
	}
	return decodeResult[RedemptionResult](t, f.send(t, topics.GiftCardCommands, key, TypeRedeem, topics.NewID(), cmd, t0.Add(time.Hour)))
}

func TestProcessorCreateAndEvents(t *testing.T) {
	f := newFixture(t)
	_, key := f.create(t, "50.00", "USD")
	c := f.card(t, key)
	require.Equal(t, "50", c.Balance.String())
	evs := f.events(t, topics.GiftCardCreated)
	require.Len(t, evs, 1)
	require.Equal(t, EventCreated, evs[0].Type)
	var d CardEvent
	require.NoError(t, json.Unmarshal(evs[0].Data, &d))
	require.Equal(t, key, d.CardKey)
	require.Equal(t, "50.00", d.Amount.Amount.StringFixed(2))
	require.Equal(t, TxCreation, d.Transaction.Type)

	res := f.send(t, topics.GiftCardCommands, key, TypeCreate, "again", CreateCommand{CardKey: key, Last4: c.Last4,
		Amount: usd("5"), PurchaserID: "x"}, t0)
	requireCode(t, res, CodeCardExists)
}

func TestProcessorIdempotency(t *testing.T) {
	f := newFixture(t)
	_, key := f.create(t, "50.00", "USD")
	cmd := RedeemCommand{CardKey: key, OrderID: "o1", Amount: amt("10")}
	first := f.send(t, topics.GiftCardCommands, key, TypeRedeem, "dup-1", cmd, t0)
	require.True(t, first.OK)
	second := f.send(t, topics.GiftCardCommands, key, TypeRedeem, "dup-1", cmd, t0)
	require.True(t, second.Replayed)
	require.Equal(t, string(first.Result), string(second.Result), "the first result, byte for byte")
	require.Equal(t, "40", f.card(t, key).Balance.String(), "applied once")
	require.Len(t, f.events(t, topics.GiftCardRedeemed), 1)

	conflict := f.send(t, topics.GiftCardCommands, key, TypeRedeem, "dup-1", RedeemCommand{CardKey: key, OrderID: "o1", Amount: amt("11")}, t0)
	requireCode(t, conflict, topics.CodeIdempotencyConflict)
	require.Equal(t, "40", f.card(t, key).Balance.String())
}

// A redeem delivered again after its command ID left the card's ledger
// (more than the ledger size of other commands came in between) is refused,
// not applied twice: its redemption is still on the card.
// A command that moves money, repeated after its command ID left the
// card's ledger (a ledger of 2 here), is recognized by what it left on the
// card and refused with a transient idempotency_conflict: it is never
// applied twice. A new command ID is applied as usual.
func TestProcessorForgottenCommandIsNotAppliedTwice(t *testing.T) {
	cases := []struct {
		name string
		// setup prepares the card and returns the command to repeat.
		setup   func(t *testing.T, f *fixture, key string) (typ string, cmd func(id string) any)
		idField string
	}{
		{"redeem", func(t *testing.T, f *fixture, key string) (string, func(string) any) {
			return TypeRedeem, func(string) any { return RedeemCommand{CardKey: key, OrderID: "o1", Amount: amt("10")} }
		}, "redemption_id"},
		{"authorize", func(t *testing.T, f *fixture, key string) (string, func(string) any) {
			return TypeAuthorize, func(string) any {
				return AuthorizeCommand{CardKey: key, OrderID: "o1", Amount: Amount{Decimal: dec("10")}}
			}
		}, "hold_id"},
		{"capture", func(t *testing.T, f *fixture, key string) (string, func(string) any) {
			h1 := decodeResult[HoldResult](t, f.send(t, topics.GiftCardCommands, key, TypeAuthorize, "auth-1", AuthorizeCommand{CardKey: key, OrderID: "o1", Amount: Amount{Decimal: dec("10")}}, t0))
			h2 := decodeResult[HoldResult](t, f.send(t, topics.GiftCardCommands, key, TypeAuthorize, "auth-2", AuthorizeCommand{CardKey: key, OrderID: "o1", Amount: Amount{Decimal: dec("10")}}, t0))
			holds := map[string]string{"old-1": h1.HoldID, "new-1": h2.HoldID}
			return TypeCapture, func(id string) any { return CaptureCommand{CardKey: key, HoldID: holds[id]} }
		}, "redemption_id"},
		{"transfer", func(t *testing.T, f *fixture, key string) (string, func(string) any) {
			_, to := f.create(t, "5.00", "USD")
			return TypeTransfer, func(string) any { return TransferCommand{CardKey: key, ToKey: to, Amount: Amount{Decimal: dec("10")}} }
		}, "transfer_id"},
		{"refund", func(t *testing.T, f *fixture, key string) (string, func(string) any) {
			r := f.redeem(t, key, "o1", "40.00")
			return TypeRefund, func(string) any { return RefundCommand{RedemptionID: r.RedemptionID, CardKey: key, Amount: amt("10")} }
		}, "refund_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, WithLedgerSize(2))
			_, key := f.create(t, "100.00", "USD")
			typ, cmd := tc.setup(t, f, key)
			first := f.send(t, topics.GiftCardCommands, key, typ, "old-1", cmd("old-1"), t0)
			require.True(t, first.OK, "%+v", first.Error)
			for i := range 3 { // push old-1 out of the ledger
				res := f.send(t, topics.GiftCardCommands, key, TypeRedeem, fmt.Sprintf("later-%d", i), RedeemCommand{CardKey: key, OrderID: "o2", Amount: amt("1")}, t0)
				require.True(t, res.OK)
			}
			before := f.card(t, key)

			again := f.send(t, topics.GiftCardCommands, key, typ, "old-1", cmd("old-1"), t0)
			requireCode(t, again, topics.CodeIdempotencyConflict)
			require.True(t, again.Transient(), "the first result stays the command's result")
			require.Contains(t, again.Error.Details, tc.idField)
			after := f.card(t, key)
			require.Equal(t, before.Balance.String(), after.Balance.String(), "not applied twice")
			require.Equal(t, before.Available().String(), after.Available().String())
			require.Equal(t, before.TransactionCount(), after.TransactionCount())

			res := f.send(t, topics.GiftCardCommands, key, typ, "new-1", cmd("new-1"), t0)
			require.True(t, res.OK, "a new command ID is applied: %+v", res.Error)
			now := f.card(t, key)
			require.False(t, now.Balance.Equal(before.Balance) && now.Available().Equal(before.Available()), "it moved money")
		})
	}
}

// The transfer saga's credit step, delivered again after it left the
// destination's ledger, is not credited twice (and, a saga step, gets no
// result: nobody waits for one).
func TestProcessorForgottenTransferCreditIsNotAppliedTwice(t *testing.T) {
	f := newFixture(t, WithLedgerSize(2))
	_, from := f.create(t, "50.00", "USD")
	_, to := f.create(t, "10.00", "USD")
	credit := TransferCreditCommand{TransferID: "tr-forgotten", FromKey: from, ToKey: to, Amount: usd("5.00")}
	f.send(t, topics.GiftCardCommands, to, TypeTransferCredit, "credit-1", credit, t0)
	require.Equal(t, "15", f.card(t, to).Balance.String())
	for i := range 3 {
		require.True(t, f.send(t, topics.GiftCardCommands, to, TypeRedeem, fmt.Sprintf("later-%d", i), RedeemCommand{CardKey: to, OrderID: "o", Amount: amt("1")}, t0).OK)
	}
	f.send(t, topics.GiftCardCommands, to, TypeTransferCredit, "credit-1", credit, t0)
	require.Equal(t, "12", f.card(t, to).Balance.String(), "credited once")
	require.Len(t, f.events(t, topics.GiftCardTransfers), 1, "one transfer_credited")
}

func TestProcessorRedeemIndexesAndRefund(t *testing.T) {
	f := newFixture(t)
	_, key := f.create(t, "50.00", "USD")
	r := f.redeem(t, key, "order_9", "30.00")
	entry := f.tt.TableValue(RedemptionIndexTable, r.RedemptionID).(*RedemptionEntry)
	require.Equal(t, key, entry.CardKey)
	order := f.tt.TableValue(OrderIndexTable, "order_9").(*OrderState)
	require.Len(t, order.Redemptions, 1)

	res := f.send(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "rf-1", RefundCommand{RedemptionID: r.RedemptionID, Amount: amt("12.50")}, t0.Add(2*time.Hour))
	rr := decodeResult[RefundResult](t, res)
	require.Equal(t, "32.50", rr.NewBalance.Amount.StringFixed(2))
	res = f.send(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "rf-2", RefundCommand{RedemptionID: r.RedemptionID, Amount: amt("17.51")}, t0.Add(2*time.Hour))
	requireCode(t, res, CodeRefundExceedsRedemption)
	res = f.send(t, topics.GiftCardRedemptions, "no-such", TypeRefund, "rf-3", RefundCommand{RedemptionID: "no-such"}, t0)
	requireCode(t, res, CodeRedemptionNotFound)
	require.Len(t, f.events(t, topics.GiftCardRefunded), 1)
}

func TestProcessorUnknownCardAndBadInput(t *testing.T) {
	f := newFixture(t)
	unknown := testKey("nobody")
	res := f.send(t, topics.GiftCardCommands, unknown, TypeRedeem, "u1", RedeemCommand{CardKey: unknown, OrderID: "o"}, t0)
	requireCode(t, res, CodeInvalidCode)
	require.Nil(t, f.tt.TableValue(Table, unknown), "no state for an unknown key")

	dlq := f.tt.NewQueueTracker(topics.DLQ(string(Group)))
	f.tt.Consume(topics.GiftCardCommands, unknown, []byte("not json"))
	_, v, ok := dlq.Next()
	require.True(t, ok)
	require.Contains(t, v.(*topics.DeadLetter).Reason, "not a JSON envelope")

	_, key := f.create(t, "10.00", "USD")
	res = f.send(t, topics.GiftCardCommands, key, TypeRedeem, "misrouted", RedeemCommand{CardKey: unknown, OrderID: "o"}, t0)
	requireCode(t, res, topics.CodeInvalidRequest)
	_, _, ok = dlq.Next()
	require.True(t, ok, "misrouted command dead-lettered")
	f.redeem(t, key, "o", "1.00") // the processor goes on
}

func TestProcessorTransferSaga(t *testing.T) {
	f := newFixture(t)
	_, a := f.create(t, "50.00", "USD")
	_, b := f.create(t, "5.00", "USD")
	_, eur := f.create(t, "5.00", "EUR")
	res := f.send(t, topics.GiftCardCommands, a, TypeTransfer, "tr-1", TransferCommand{CardKey: a, ToKey: b, Amount: Amount{Decimal: dec("20")}}, t0)
	tr := decodeResult[TransferResult](t, res)
	require.Equal(t, "30.00", tr.FromBalance.Amount.StringFixed(2))
	require.Equal(t, "25.00", tr.ToBalance.Amount.StringFixed(2))
	require.Equal(t, "30", f.card(t, a).Balance.String())
	require.Equal(t, "25", f.card(t, b).Balance.String())
	again := f.send(t, topics.GiftCardCommands, a, TypeTransfer, "tr-1", TransferCommand{CardKey: a, ToKey: b, Amount: Amount{Decimal: dec("20")}}, t0)
	require.True(t, again.Replayed)
	require.Equal(t, "30", f.card(t, a).Balance.String())

	for name, tc := range map[string]struct{ to, code string }{
		"unknown destination": {testKey("ghost"), CodeInvalidCode},
		"currency mismatch":   {eur, CodeCurrencyMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			res := f.send(t, topics.GiftCardCommands, a, TypeTransfer, "tr-"+name, TransferCommand{CardKey: a, ToKey: tc.to, Amount: Amount{Decimal: dec("10")}}, t0)
			requireCode(t, res, tc.code)
			c := f.card(t, a)
			require.Equal(t, "30", c.Balance.String(), "debit reversed")
			require.Equal(t, TxTransferReversal, c.Transactions[len(c.Transactions)-1].Type)
			require.NoError(t, c.CheckInvariants())
		})
	}
	require.Equal(t, "5", f.card(t, eur).Balance.String())
}

func TestProcessorVoidNeedsStaff(t *testing.T) {
	f := newFixture(t)
	_, key := f.create(t, "50.00", "USD")
	cmd := VoidCommand{CardKey: key, Reason: "fraud", AdminID: "admin_1"}
	requireCode(t, f.send(t, topics.GiftCardCommands, key, TypeVoid, "v1", cmd, t0), topics.CodeForbidden)
	res := f.send(t, topics.GiftCardCommands, key, TypeVoid, "v2", cmd, t0, topics.Actor{ID: "admin_1", Type: topics.ActorStaff})
	require.True(t, decodeResult[VoidResult](t, res).Voided)
	require.Len(t, f.events(t, topics.GiftCardVoided), 1)
	requireCode(t, f.send(t, topics.GiftCardCommands, key, TypeRedeem, "after", RedeemCommand{CardKey: key, OrderID: "o"}, t0), CodeCardVoided)
}

func TestProcessorOrderEvents(t *testing.T) {
	f := newFixture(t)
	_, a := f.create(t, "50.00", "USD")
	_, b := f.create(t, "50.00", "USD")
	ra := f.redeem(t, a, "order_r", "20.00")
	f.redeem(t, b, "order_r", "10.00")
	inbound := func(topic, foreignKey string, data any) {
		env, err := topics.NewEnvelope(topic, t0.Add(3*time.Hour), data)
		require.NoError(t, err)
		raw, _ := env.Encode()
		f.tt.Consume(topic, foreignKey, raw)
		f.tt.Consume(topic, foreignKey, raw) // redelivered
	}
	inbound(topics.OrderCompleted, "k1", map[string]any{"order_id": "order_r", "currency": "USD", "total": "60.00"})
	inbound(topics.OrderRefunded, "k2", map[string]any{"order_id": "order_r", "refund_id": "rf_1", "amount": "30.00", "currency": "USD"})
	// half of the order refunded: half of the 30.00 paid by gift cards, split 2:1.
	require.Equal(t, "40", f.card(t, a).Balance.String())
	require.Equal(t, "45", f.card(t, b).Balance.String())

	// cancel: hold released, the rest of the redemptions reversed.
	hold := decodeResult[HoldResult](t, f.send(t, topics.GiftCardCommands, a, TypeAuthorize, "h1", AuthorizeCommand{CardKey: a, OrderID: "order_r", Amount: Amount{Decimal: dec("5")}}, t0.Add(3*time.Hour)))
	require.Equal(t, HoldAuthorized, hold.Status)
	inbound(topics.OrderCancelled, "k3", map[string]any{"order_id": "order_r", "reason": "customer"})
	ca, cb := f.card(t, a), f.card(t, b)
	require.Equal(t, "50", ca.Balance.String())
	require.Equal(t, "50", cb.Balance.String())
	require.Equal(t, "50", ca.Available().String(), "hold released")
	require.Len(t, f.events(t, topics.GiftCardRefunded), 4)
	require.Equal(t, ra.RedemptionID, ca.Redemptions[0].ID)

	dlq := f.tt.NewQueueTracker(topics.DLQ(string(IngressGroup)))
	inbound(topics.OrderRefunded, "k4", map[string]any{"refund_id": "x"})
	_, _, ok := dlq.Next()
	require.True(t, ok, "an order event without order_id is dead-lettered")
}

func TestProcessorHoldsAndExpiry(t *testing.T) {
	f := newFixture(t, WithHoldTTL(30*time.Minute))
	_, key := f.create(t, "50.00", "USD")
	h := decodeResult[HoldResult](t, f.send(t, topics.GiftCardCommands, key, TypeAuthorize, "h1", AuthorizeCommand{CardKey: key, OrderID: "o_h", Amount: Amount{Decimal: dec("20")}}, t0))
	requireCode(t, f.send(t, topics.GiftCardCommands, key, TypeRedeem, "r1", RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("31")}, t0), CodeInsufficientBalance)
	c := decodeResult[HoldResult](t, f.send(t, topics.GiftCardCommands, key, TypeCapture, "c1", CaptureCommand{CardKey: key, HoldID: h.HoldID, Amount: amt("15")}, t0))
	require.Equal(t, HoldCaptured, c.Status)
	require.NotNil(t, f.tt.TableValue(RedemptionIndexTable, c.RedemptionID), "a capture is refundable by redemption ID")

	h2 := decodeResult[HoldResult](t, f.send(t, topics.GiftCardCommands, key, TypeAuthorize, "h2", AuthorizeCommand{CardKey: key, OrderID: "o_h", Amount: Amount{Decimal: dec("5")}}, t0))
	ctx := context.Background()
	_, err := f.svc.ExpireDue(ctx, t0.Add(29*time.Minute))
	require.NoError(t, err)
	f.tt.Catchup()
	require.Equal(t, "30", f.card(t, key).Available().String(), "hold not due yet")
	_, err = f.svc.ExpireDue(ctx, t0.Add(31*time.Minute))
	require.NoError(t, err)
	f.tt.Catchup()
	require.Equal(t, "35", f.card(t, key).Available().String(), "uncaptured hold expired on time")
	requireCode(t, f.send(t, topics.GiftCardCommands, key, TypeCapture, "c2", CaptureCommand{CardKey: key, HoldID: h2.HoldID}, t0.Add(time.Hour)), CodeHoldNotActive)

	card := f.card(t, key)
	_, err = f.svc.ExpireDue(ctx, card.ExpiresAt)
	require.NoError(t, err)
	f.tt.Catchup()
	card = f.card(t, key)
	require.Equal(t, StatusExpired, card.Status, "expired without being touched")
	require.True(t, card.Balance.IsZero())
	evs := f.events(t, topics.GiftCardExpired)
	require.Len(t, evs, 1)
	require.Equal(t, card.ExpiresAt, evs[0].OccurredAt, "stamped with the tick's time")
}

// Creation through the creation index: a retry of a create with the same
// command ID never issues a second card, whatever code the edge generated
// for it.
func TestProcessorCreationIndex(t *testing.T) {
	newCreate := func(t *testing.T, f *fixture, amount string) CreateCommand {
		t.Helper()
		code, err := f.gen.Generate("", 0)
		require.NoError(t, err)
		key, last4, err := f.gen.Key(code)
		require.NoError(t, err)
		return CreateCommand{CardKey: key, Last4: last4, Amount: usd(amount), PurchaserID: "user_1"}
	}
	create := func(t *testing.T, f *fixture, id string, cmd CreateCommand) *topics.CommandResult {
		t.Helper()
		return f.send(t, topics.GiftCardCreations, id, TypeCreate, id, cmd, t0)
	}
	createdFor := func(f *fixture, id string) int {
		n := 0
		for _, e := range f.events(t, topics.GiftCardCreated) {
			if e.CommandID == id {
				n++
			}
		}
		return n
	}

	t.Run("retry with another code is a conflict and creates nothing", func(t *testing.T) {
		f := newFixture(t)
		first, retry := newCreate(t, f, "50.00"), newCreate(t, f, "50.00")
		res := create(t, f, "c-1", first)
		summary := decodeResult[CardSummary](t, res)
		require.Equal(t, first.CardKey, summary.CardKey)

		requireCode(t, create(t, f, "c-1", retry), topics.CodeIdempotencyConflict)
		require.Equal(t, ErrCreationDone.Message, f.result(t, "c-1").Error.Message, "says the card was created and its code shown once")
		require.Nil(t, f.card(t, retry.CardKey), "no second card")
		require.NotNil(t, f.card(t, first.CardKey))
		require.Equal(t, 1, createdFor(f, "c-1"))
		require.Equal(t, first.CardKey, f.tt.TableValue(CreationIndexTable, "c-1").(*CreationEntry).CardKey)
	})
	t.Run("redelivery of the same command replays the first result", func(t *testing.T) {
		f := newFixture(t)
		cmd := newCreate(t, f, "20.00")
		first := create(t, f, "c-2", cmd)
		require.True(t, first.OK)
		again := create(t, f, "c-2", cmd)
		require.True(t, again.OK)
		require.True(t, again.Replayed)
		require.JSONEq(t, string(first.Result), string(again.Result))
		require.Equal(t, 1, createdFor(f, "c-2"))
		require.Equal(t, "20", f.card(t, cmd.CardKey).Balance.String())
	})
	t.Run("a refused first attempt records nothing: the retry creates", func(t *testing.T) {
		f := newFixture(t)
		bad := newCreate(t, f, "0")
		requireCode(t, create(t, f, "c-3", bad), topics.CodeInvalidAmount)
		require.Nil(t, f.tt.TableValue(CreationIndexTable, "c-3"))
		good := newCreate(t, f, "15.00")
		require.True(t, create(t, f, "c-3", good).OK)
		require.Nil(t, f.card(t, bad.CardKey))
		require.Equal(t, "15", f.card(t, good.CardKey).Balance.String())
		require.Equal(t, 1, createdFor(f, "c-3"))
	})
	t.Run("record key must be the command ID", func(t *testing.T) {
		f := newFixture(t)
		res := f.send(t, topics.GiftCardCreations, "other-key", TypeCreate, "c-4", newCreate(t, f, "5.00"), t0)
		requireCode(t, res, topics.CodeInvalidRequest)
		require.Equal(t, 0, createdFor(f, "c-4"))
	})
}

// A redeem delivered again after its card's row was written (a process
// killed before the command's other records landed) writes the redemption
// index and order records again, from the redemption the card keeps, so a
// refund by its ID and an order's cancellation still find it. It moves no
// money and writes no second event.
func TestReplayedRedeemWritesItsIndexRecordsAgain(t *testing.T) {
	f := newFixture(t)
	_, key := f.create(t, "50.00", "USD")
	cmd := RedeemCommand{CardKey: key, OrderID: "order_re", Amount: amt("12.00")}
	first := decodeResult[RedemptionResult](t, f.send(t, topics.GiftCardCommands, key, TypeRedeem, "redeem-re", cmd, t0.Add(time.Hour)))
	indexed := f.events(t, topics.GiftCardRedemptions)
	orders := f.events(t, topics.GiftCardOrders)
	redeemed := f.events(t, topics.GiftCardRedeemed)

	again := f.send(t, topics.GiftCardCommands, key, TypeRedeem, "redeem-re", cmd, t0.Add(time.Hour))
	require.True(t, again.Replayed)
	require.Equal(t, "38", f.card(t, key).Balance.String(), "no money moved twice")
	require.Len(t, f.events(t, topics.GiftCardRedeemed), len(redeemed), "no second event")

	for _, tc := range []struct {
		topic  string
		before []*topics.Envelope
		typ    string
	}{
		{topics.GiftCardRedemptions, indexed, TypeRedemptionRecorded},
		{topics.GiftCardOrders, orders, TypeOrderRedemption},
	} {
		after := f.events(t, tc.topic)
		require.Len(t, after, len(tc.before)+1, tc.topic)
		last := after[len(after)-1]
		require.Equal(t, tc.typ, last.Type)
		rec, err := topics.DecodeData[OrderRecord](last)
		require.NoError(t, err)
		orig, err := topics.DecodeData[OrderRecord](tc.before[len(tc.before)-1])
		require.NoError(t, err)
		orig.Reply = nil // the first record carried the answer; the replay answers itself
		require.Equal(t, orig, rec, "the same record as the first time, on %s", tc.topic)
		require.Equal(t, first.RedemptionID, rec.RedemptionID)
	}
}
