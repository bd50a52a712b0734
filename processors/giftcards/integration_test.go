package giftcards

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

var (
	customer = topics.Actor{ID: "user_1", Type: topics.ActorCustomer}
	admin    = topics.Actor{ID: "admin_1", Type: topics.ActorStaff}
)

// submit produces a command through Kafka and waits for its result.
func submit(t testing.TB, topic, key, typ, cmdID string, data any, actor topics.Actor) *topics.CommandResult {
	t.Helper()
	if cmdID == "" {
		cmdID = topics.NewID()
	}
	env, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(cmdID), topics.WithActor(actor))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := commander.Submit(ctx, topic, key, env)
	require.NoError(t, err, "%s %s", typ, cmdID)
	return res
}

// newCode generates a card code at the edge and derives its card key and
// last four characters.
func newCode(t testing.TB) (code, key, last4 string) {
	t.Helper()
	g := newGen(t)
	code, err := g.Generate("", 0)
	require.NoError(t, err)
	key, last4, err = g.Key(code)
	require.NoError(t, err)
	return code, key, last4
}

// kcreate creates a card through Kafka; the code stays here, at the edge.
func kcreate(t testing.TB, amount, cur string) (code, key string) {
	t.Helper()
	code, key, last4 := newCode(t)
	res := submit(t, topics.GiftCardCommands, key, TypeCreate, "", CreateCommand{CardKey: key, Last4: last4,
		Amount: topics.Money{Amount: dec(amount), Currency: cur}, PurchaserID: "user_1"}, customer)
	require.True(t, res.OK, "%+v", res.Error)
	return code, key
}

func kredeem(t testing.TB, key, order, amount string) *topics.CommandResult {
	t.Helper()
	cmd := RedeemCommand{CardKey: key, OrderID: order}
	if amount != "" {
		cmd.Amount = amt(amount)
	}
	return submit(t, topics.GiftCardCommands, key, TypeRedeem, "", cmd, customer)
}

func kbalance(t testing.TB, key string) BalanceResult {
	t.Helper()
	return decodeResult[BalanceResult](asT(t), submit(t, topics.GiftCardCommands, key, TypeBalance, "", BalanceQuery{CardKey: key}, customer))
}

func asT(t testing.TB) *testing.T {
	if tt, ok := t.(*testing.T); ok {
		return tt
	}
	panic("benchmarks use their own helpers")
}

// viewCard waits until the card table view shows cond true for key.
func viewCard(t *testing.T, key string, cond func(c *Card) bool) *Card {
	t.Helper()
	var got *Card
	view := tableView(t)
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		v, err := view.Get(key)
		if err != nil || v == nil {
			return false
		}
		got = v.(*CardState).Card
		return got != nil && cond(got)
	}, "card %s", key[:8])
	return got
}

// consumeEvents reads topic from the start and returns the envelopes for key.
func consumeEvents(t *testing.T, topic, key string, want int) []*topics.Envelope {
	t.Helper()
	return consumeKeyed(t, topic, key, want, topics.DecodeEnvelope)
}

// consumeKeyed reads topic from the start until it holds want records
// keyed by key, and returns their values decoded.
func consumeKeyed[T any](t *testing.T, topic, key string, want int, decode func([]byte) (T, error)) []T {
	t.Helper()
	cl := cluster.Producer(t, kgo.ConsumeTopics(topic))
	var out []T
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) != key {
				return
			}
			v, err := decode(r.Value)
			require.NoError(t, err)
			out = append(out, v)
		})
	}
	require.Len(t, out, want, "records on %s keyed %s", topic, key)
	return out
}

func eventData(t *testing.T, env *topics.Envelope) CardEvent {
	t.Helper()
	d, err := topics.DecodeData[CardEvent](env)
	require.NoError(t, err)
	return d
}

func TestIntegrationCreateRedeemRefund(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "100.00", "USD")
	r := decodeResult[RedemptionResult](t, kredeem(t, key, cluster.Unique("order"), "40.00"))
	require.Equal(t, "60.00", r.RemainingBalance.Amount.StringFixed(2))
	rf := decodeResult[RefundResult](t, submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID, Amount: amt("15.00")}, customer))
	require.Equal(t, "75.00", rf.NewBalance.Amount.StringFixed(2))
	b := kbalance(t, key)
	require.Equal(t, StatusPartiallyRedeemed, b.Status)
	require.Equal(t, "75.00", b.CurrentBalance.Amount.StringFixed(2))
	c := viewCard(t, key, func(c *Card) bool { return c.TransactionCount() == 3 })
	require.NoError(t, c.CheckInvariants())
}

func TestIntegrationRedemptionsAcrossOrders(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "50.00", "USD")
	for i, a := range []string{"10.00", "15.00", "20.00"} {
		res := kredeem(t, key, fmt.Sprintf("%s-%d", cluster.Unique("o"), i), a)
		require.True(t, res.OK)
	}
	requireCode(t, kredeem(t, key, "o-x", "5.01"), CodeInsufficientBalance)
	r := decodeResult[RedemptionResult](t, kredeem(t, key, "o-last", ""))
	require.Equal(t, "5.00", r.RedeemedAmount.Amount.StringFixed(2), "default is the full balance")
	requireCode(t, kredeem(t, key, "o-after", ""), CodeAlreadyRedeemed)
	require.Equal(t, StatusFullyRedeemed, kbalance(t, key).Status)
}

func TestIntegrationPrecisionPerCurrency(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, cur, amount, redeem, left string }{
		{"JPY", "JPY", "5000", "1234", "3766"},
		{"KWD", "KWD", "10.000", "3.333", "6.667"},
		{"USD 0.1+0.2", "USD", "0.30", "0.10", "0.20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, key := kcreate(t, tc.amount, tc.cur)
			r := decodeResult[RedemptionResult](t, kredeem(t, key, "o", tc.redeem))
			require.True(t, r.RemainingBalance.Amount.Equal(dec(tc.left)))
			raw, _ := json.Marshal(r.RemainingBalance)
			require.Contains(t, string(raw), `"currency":"`+tc.cur+`"`)
		})
	}
	_, key := kcreate(t, "5000", "JPY")
	requireCode(t, kredeem(t, key, "o", "0.5"), topics.CodeInvalidAmount)
}

func TestIntegrationUnknownCodeAndCreateErrors(t *testing.T) {
	t.Parallel()
	ghost := testKey(cluster.Unique("ghost"))
	requireCode(t, kredeem(t, ghost, "o", "1"), CodeInvalidCode)
	requireCode(t, submit(t, topics.GiftCardCommands, ghost, TypeBalance, "", BalanceQuery{CardKey: ghost}, customer), CodeInvalidCode)
	res := submit(t, topics.GiftCardCommands, ghost, TypeCreate, "", CreateCommand{CardKey: ghost, Last4: "ABCD", Amount: topics.Money{Amount: dec("1"), Currency: "ABC"}, PurchaserID: "u"}, customer)
	requireCode(t, res, topics.CodeUnsupportedCurrency)
	res = submit(t, topics.GiftCardCommands, ghost, TypeCreate, "", CreateCommand{CardKey: ghost, Last4: "ABCD", Amount: usd("0"), PurchaserID: "u"}, customer)
	requireCode(t, res, topics.CodeInvalidAmount)
}

func TestIntegrationRefundErrors(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "20.00", "USD")
	r := decodeResult[RedemptionResult](t, kredeem(t, key, "o", "10.00"))
	requireCode(t, submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID, Amount: amt("10.01")}, customer), CodeRefundExceedsRedemption)
	missing := cluster.Unique("missing")
	requireCode(t, submit(t, topics.GiftCardRedemptions, missing, TypeRefund, "", RefundCommand{RedemptionID: missing}, customer), CodeRedemptionNotFound)
	full := decodeResult[RefundResult](t, submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID}, customer))
	require.Equal(t, "10.00", full.RefundedAmount.Amount.StringFixed(2))
	requireCode(t, submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID}, customer), CodeRefundExceedsRedemption)
}

func TestIntegrationTransfer(t *testing.T) {
	t.Parallel()
	_, a := kcreate(t, "50.00", "USD")
	_, b := kcreate(t, "10.00", "USD")
	tr := decodeResult[TransferResult](t, submit(t, topics.GiftCardCommands, a, TypeTransfer, "", TransferCommand{CardKey: a, ToKey: b, Amount: Amount{Decimal: dec("20.00")}}, customer))
	require.Equal(t, "30.00", tr.FromBalance.Amount.StringFixed(2))
	require.Equal(t, "30.00", tr.ToBalance.Amount.StringFixed(2))
	require.Equal(t, "30.00", kbalance(t, b).CurrentBalance.Amount.StringFixed(2))
	requireCode(t, submit(t, topics.GiftCardCommands, a, TypeTransfer, "", TransferCommand{CardKey: a, ToKey: b, Amount: Amount{Decimal: dec("30.01")}}, customer), CodeInsufficientBalance)
}

func TestIntegrationTransferCompensation(t *testing.T) {
	t.Parallel()
	_, a := kcreate(t, "50.00", "USD")
	_, eur := kcreate(t, "10.00", "EUR")
	_, voided := kcreate(t, "10.00", "USD")
	require.True(t, submit(t, topics.GiftCardCommands, voided, TypeVoid, "", VoidCommand{CardKey: voided, Reason: "fraud", AdminID: "admin_1"}, admin).OK)
	for name, tc := range map[string]struct{ to, code string }{
		"unknown":  {testKey(cluster.Unique("nobody")), CodeInvalidCode},
		"currency": {eur, CodeCurrencyMismatch},
		"voided":   {voided, CodeCardVoided},
	} {
		res := submit(t, topics.GiftCardCommands, a, TypeTransfer, "", TransferCommand{CardKey: a, ToKey: tc.to, Amount: Amount{Decimal: dec("5")}}, customer)
		requireCode(t, res, tc.code)
		require.Equal(t, "50.00", kbalance(t, a).CurrentBalance.Amount.StringFixed(2), name)
	}
	c := viewCard(t, a, func(c *Card) bool { return c.TransactionCount() == 7 })
	require.NoError(t, c.CheckInvariants())
}

func TestIntegrationVoidAuthorization(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "50.00", "USD")
	requireCode(t, submit(t, topics.GiftCardCommands, key, TypeVoid, "", VoidCommand{CardKey: key, Reason: "x", AdminID: "me"}, customer), topics.CodeForbidden)
	v := decodeResult[VoidResult](t, submit(t, topics.GiftCardCommands, key, TypeVoid, "", VoidCommand{CardKey: key, Reason: "chargeback", AdminID: "admin_7"}, admin))
	require.Equal(t, "50.00", v.VoidedAmount.Amount.StringFixed(2))
	requireCode(t, kredeem(t, key, "o", "1"), CodeCardVoided)
	require.Equal(t, StatusVoided, kbalance(t, key).Status)
	ev := eventData(t, consumeEvents(t, topics.GiftCardVoided, key, 1)[0])
	require.Equal(t, "admin_7", ev.AdminID)
	require.Equal(t, "chargeback", ev.Reason)
	require.Equal(t, TxVoid, ev.Transaction.Type)
}

func TestIntegrationEventsPublished(t *testing.T) {
	t.Parallel()
	code, key := kcreate(t, "80.00", "USD")
	order := cluster.Unique("order")
	r := decodeResult[RedemptionResult](t, kredeem(t, key, order, "30.00"))
	rf := decodeResult[RefundResult](t, submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID, Amount: amt("10.00")}, customer))

	created := eventData(t, consumeEvents(t, topics.GiftCardCreated, key, 1)[0])
	require.Equal(t, "80.00", created.Amount.Amount.StringFixed(2))
	require.Equal(t, "user_1", created.PurchaserID)
	norm, _ := Normalize(code)
	require.NotContains(t, string(consumeEvents(t, topics.GiftCardCreated, key, 1)[0].Data), norm[5:len(norm)-4], "no clear code in events")
	redeemed := consumeEvents(t, topics.GiftCardRedeemed, key, 1)[0]
	require.Equal(t, EventRedeemed, redeemed.Type)
	rd := eventData(t, redeemed)
	require.Equal(t, r.RedemptionID, rd.RedemptionID)
	require.Equal(t, order, rd.OrderID)
	require.Equal(t, "-30", rd.Transaction.Amount.String())
	require.Equal(t, "80", rd.Transaction.BalanceBefore.String())
	require.Equal(t, "50", rd.Transaction.BalanceAfter.String())
	refunded := eventData(t, consumeEvents(t, topics.GiftCardRefunded, key, 1)[0])
	require.Equal(t, rf.RefundID, refunded.RefundID)
	require.Equal(t, "60.00", refunded.Balance.Amount.StringFixed(2))
	require.NotEmpty(t, redeemed.CommandID)
	require.Equal(t, []int64{1, 2, 3}, []int64{created.Seq, rd.Seq, refunded.Seq}, "the card's event sequence, across topics")
}

func TestIntegrationExpiryOnTime(t *testing.T) {
	t.Parallel()
	g := newGen(t)
	code, _ := g.Generate("", 0)
	key, last4, _ := g.Key(code)
	expires := time.Now().Add(2 * time.Second).UTC()
	res := submit(t, topics.GiftCardCommands, key, TypeCreate, "", CreateCommand{CardKey: key, Last4: last4, Amount: usd("25.00"), PurchaserID: "u", ExpiresAt: &expires}, customer)
	require.True(t, res.OK)
	viewCard(t, key, func(c *Card) bool { return true })
	view := tableView(t)
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		live.Lock()
		svc := live.svc
		live.Unlock()
		_, err := svc.ExpireDue(context.Background(), time.Now())
		require.NoError(t, err)
		v, _ := view.Get(key)
		return v != nil && v.(*CardState).Card.Status == StatusExpired
	})
	ev := eventData(t, consumeEvents(t, topics.GiftCardExpired, key, 1)[0])
	require.Equal(t, "25.00", ev.Amount.Amount.StringFixed(2))
	require.Equal(t, TxExpiry, ev.Transaction.Type)
	requireCode(t, kredeem(t, key, "o", "1"), CodeExpiredCard)
}

func TestIntegrationHolds(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "100.00", "USD")
	order := cluster.Unique("order")
	auth := func(a string) HoldResult {
		return decodeResult[HoldResult](t, submit(t, topics.GiftCardCommands, key, TypeAuthorize, "", AuthorizeCommand{CardKey: key, OrderID: order, Amount: Amount{Decimal: dec(a)}}, customer))
	}
	h1, h2 := auth("40.00"), auth("30.00")
	require.Equal(t, "30.00", h2.AvailableBalance.Amount.StringFixed(2))
	requireCode(t, submit(t, topics.GiftCardCommands, key, TypeAuthorize, "", AuthorizeCommand{CardKey: key, OrderID: order, Amount: Amount{Decimal: dec("30.01")}}, customer), CodeInsufficientBalance)
	c := decodeResult[HoldResult](t, submit(t, topics.GiftCardCommands, key, TypeCapture, "", CaptureCommand{CardKey: key, HoldID: h1.HoldID, Amount: amt("25.00")}, customer))
	require.Equal(t, "45.00", c.AvailableBalance.Amount.StringFixed(2))
	rel := decodeResult[HoldResult](t, submit(t, topics.GiftCardCommands, key, TypeRelease, "", ReleaseCommand{CardKey: key, HoldID: h2.HoldID}, customer))
	require.Equal(t, "75.00", rel.AvailableBalance.Amount.StringFixed(2))
	requireCode(t, submit(t, topics.GiftCardCommands, key, TypeRelease, "", ReleaseCommand{CardKey: key, HoldID: h2.HoldID}, customer), CodeHoldNotActive)
	require.Len(t, consumeEvents(t, topics.GiftCardHolds, key, 4), 4)
	rf := decodeResult[RefundResult](t, submit(t, topics.GiftCardRedemptions, c.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: c.RedemptionID}, customer))
	require.Equal(t, "100.00", rf.NewBalance.Amount.StringFixed(2))
}

func TestIntegrationHoldExpiry(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "100.00", "USD")
	exp := time.Now().Add(time.Second).UTC()
	h := decodeResult[HoldResult](t, submit(t, topics.GiftCardCommands, key, TypeAuthorize, "", AuthorizeCommand{CardKey: key, OrderID: "o", Amount: Amount{Decimal: dec("60")}, ExpiresAt: &exp}, customer))
	view := tableView(t)
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		live.Lock()
		svc := live.svc
		live.Unlock()
		_, _ = svc.ExpireDue(context.Background(), time.Now())
		v, _ := view.Get(key)
		if v == nil {
			return false
		}
		// The hold itself must read expired: a view that has not yet seen
		// the authorization also shows the whole 100 available.
		c := v.(*CardState).Card
		i, ok := c.hold(h.HoldID)
		return ok && c.Holds[i].Status == HoldExpired && c.Available().Equal(dec("100"))
	})
	requireCode(t, submit(t, topics.GiftCardCommands, key, TypeCapture, "", CaptureCommand{CardKey: key, HoldID: h.HoldID}, customer), CodeHoldNotActive)
}

// produceInbound writes an order event as a foreign service would: with a
// key its own partitioner placed, possibly on the "wrong" partition.
func produceInbound(t *testing.T, topic, foreignKey string, partition int32, data any) *topics.Envelope {
	t.Helper()
	env, err := topics.NewEnvelope(topic, time.Now(), data)
	require.NoError(t, err)
	raw, err := env.Encode()
	require.NoError(t, err)
	cl := cluster.Producer(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(foreignKey), Value: raw, Partition: partition}).FirstErr())
	return env
}

// orderIndexView starts a view of the order index, stopped when the test
// ends.
func orderIndexView(t *testing.T) *goka.View {
	t.Helper()
	orders, err := goka.NewView(cluster.Clients.Brokers(), OrderIndexTable, OrderIndexCodec(),
		cluster.Clients.ViewOptions(storage.MemoryBuilder())...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- orders.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return orders
}

// waitOrder waits until the order index's view shows cond true for order.
func waitOrder(t *testing.T, orders *goka.View, order string, cond func(o *OrderState) bool, msgAndArgs ...any) {
	t.Helper()
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		v, err := orders.Get(order)
		return err == nil && v != nil && cond(v.(*OrderState))
	}, msgAndArgs...)
}

func TestIntegrationOrderRefunded(t *testing.T) {
	t.Parallel()
	_, a := kcreate(t, "50.00", "USD")
	_, b := kcreate(t, "50.00", "USD")
	order := cluster.Unique("order")
	orders := orderIndexView(t)
	require.True(t, kredeem(t, a, order, "20.00").OK)
	require.True(t, kredeem(t, b, order, "10.00").OK)
	produceInbound(t, topics.OrderCompleted, order, 3, map[string]any{"order_id": order, "currency": "USD", "total": "60.00"})
	// The refund is proportional (30 of 60 paid by the cards: 15) only when
	// the order index has the total and both redemptions before the refund:
	// the completion travels on another topic than the refund, and the
	// redemptions reach the index on their own after the redeem's result.
	waitOrder(t, orders, order, func(o *OrderState) bool { return o.Total != nil && len(o.Redemptions) == 2 },
		"the order index has the total and both redemptions")
	env := produceInbound(t, topics.OrderRefunded, order, 1, map[string]any{"order_id": order, "user_id": "u", "refund_id": cluster.Unique("rf"), "amount": "30.00", "currency": "USD", "reason": "damaged"})
	// redelivery of the same event does nothing more
	raw, _ := env.Encode()
	cl := cluster.Producer(t)
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: topics.OrderRefunded, Key: []byte("x"), Value: raw}).FirstErr())
	viewCard(t, a, func(c *Card) bool { return c.Balance.Equal(dec("40")) })
	viewCard(t, b, func(c *Card) bool { return c.Balance.Equal(dec("45")) })
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, "40.00", kbalance(t, a).CurrentBalance.Amount.StringFixed(2), "applied once")
}

// TestIntegrationOrderRefundedBeforeItsRedemptions produces an
// order.refunded before the order's redemptions exist, waits until the
// order index has recorded it, then redeems: the redemptions are refunded
// as they are indexed, once, up to the refund.
func TestIntegrationOrderRefundedBeforeItsRedemptions(t *testing.T) {
	t.Parallel()
	_, a := kcreate(t, "50.00", "USD")
	_, b := kcreate(t, "50.00", "USD")
	order, refundID := cluster.Unique("order"), cluster.Unique("rf")
	orders := orderIndexView(t)

	env := produceInbound(t, topics.OrderRefunded, "foreign", 0, map[string]any{"order_id": order, "user_id": "u",
		"refund_id": refundID, "amount": "25.00", "currency": "USD", "reason": "damaged"})
	waitOrder(t, orders, order, func(o *OrderState) bool { return slices.Contains(o.Refunds, refundID) },
		"the order index recorded the refund")

	// refunded reports whether the card's one redemption had amount refunded
	// (a view that has not seen the redemption yet shows the card's whole
	// 50 too).
	refunded := func(amount string) func(c *Card) bool {
		return func(c *Card) bool { return len(c.Redemptions) == 1 && c.Redemptions[0].Refunded.Equal(dec(amount)) }
	}
	require.True(t, kredeem(t, a, order, "20.00").OK)
	c := viewCard(t, a, refunded("20"))
	require.Equal(t, "50.00", c.Balance.StringFixed(2))
	require.True(t, kredeem(t, b, order, "10.00").OK)
	c = viewCard(t, b, refunded("5"))
	require.Equal(t, "45.00", c.Balance.StringFixed(2))

	// The refund event again (a redelivery): nothing more.
	raw, err := env.Encode()
	require.NoError(t, err)
	require.NoError(t, cluster.Producer(t).ProduceSync(context.Background(), &kgo.Record{Topic: topics.OrderRefunded, Key: []byte("x"), Value: raw}).FirstErr())
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, "50.00", kbalance(t, a).CurrentBalance.Amount.StringFixed(2), "applied once")
	require.Equal(t, "45.00", kbalance(t, b).CurrentBalance.Amount.StringFixed(2), "up to the refund")
	for _, key := range []string{a, b} {
		refunds := consumeEvents(t, topics.GiftCardRefunded, key, 1)
		require.Equal(t, env.ID, refunds[0].CorrelationID, "the refund is correlated with order.refunded")
	}
}

func TestIntegrationOrderCancelled(t *testing.T) {
	t.Parallel()
	_, a := kcreate(t, "50.00", "USD")
	order := cluster.Unique("order")
	require.True(t, kredeem(t, a, order, "20.00").OK)
	h := decodeResult[HoldResult](t, submit(t, topics.GiftCardCommands, a, TypeAuthorize, "", AuthorizeCommand{CardKey: a, OrderID: order, Amount: Amount{Decimal: dec("10")}}, customer))
	require.Equal(t, "20.00", h.AvailableBalance.Amount.StringFixed(2))
	produceInbound(t, topics.OrderCancelled, "whatever", 2, map[string]any{"order_id": order, "user_id": "u", "reason": "changed mind"})
	// Wait for the cancellation itself: the card as created (a view that
	// has not seen the redemption and the hold) has 50 and 50 available too.
	c := viewCard(t, a, func(c *Card) bool {
		i, ok := c.hold(h.HoldID)
		return ok && c.Holds[i].Status == HoldReleased && len(c.Redemptions) == 1 && c.Redemptions[0].Refunded.Equal(dec("20"))
	})
	require.Equal(t, "50.00", c.Balance.StringFixed(2))
	require.Equal(t, "50.00", c.Available().StringFixed(2))
	require.NoError(t, c.CheckInvariants())
}

func TestIntegrationBulkCreate(t *testing.T) {
	t.Parallel()
	g := newGen(t)
	const n = 40
	keys := make([]string, n)
	errs := make(chan error, n)
	for i := range keys {
		code, err := g.Generate(BulkPrefix, 0)
		require.NoError(t, err)
		key, last4, err := g.Key(code)
		require.NoError(t, err)
		keys[i] = key
		go func() {
			env, _ := topics.NewEnvelope(TypeCreate, time.Now(), CreateCommand{CardKey: key, Last4: last4, Amount: usd("25.00"), PurchaserID: "promo", BatchID: "batch-1"},
				topics.WithCommandID(topics.NewID()), topics.WithActor(admin))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := commander.Submit(ctx, topics.GiftCardCommands, key, env)
			if err == nil && !res.OK {
				err = res.Error
			}
			errs <- err
		}()
	}
	for range keys {
		require.NoError(t, <-errs)
	}
	for _, k := range keys {
		require.Equal(t, "25.00", kbalance(t, k).CurrentBalance.Amount.StringFixed(2))
	}
	ev := eventData(t, consumeEvents(t, topics.GiftCardCreated, keys[0], 1)[0])
	require.Equal(t, "batch-1", ev.BatchID)
}

func TestIntegrationDeadLetterAndGoOn(t *testing.T) {
	t.Parallel()
	key := testKey(cluster.Unique("dlq"))
	cl := cluster.Producer(t)
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: topics.GiftCardCommands, Key: []byte(key), Value: []byte("{broken")}).FirstErr())
	dl := cluster.Producer(t, kgo.ConsumeTopics(topics.DLQ(string(Group))))
	found := false
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !found && ctx.Err() == nil {
		dl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var d topics.DeadLetter
			if json.Unmarshal(r.Value, &d) == nil && string(d.Key) == key {
				found = true
			}
		})
	}
	require.True(t, found)
	_, live := kcreate(t, "5.00", "USD")
	require.True(t, kredeem(t, live, "o", "1").OK, "the processor goes on")
}

func TestIntegrationIdempotencyConflict(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "50.00", "USD")
	id := topics.NewID()
	first := submit(t, topics.GiftCardCommands, key, TypeRedeem, id, RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("5")}, customer)
	require.True(t, first.OK)
	again := submit(t, topics.GiftCardCommands, key, TypeRedeem, id, RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("5")}, customer)
	require.True(t, again.Replayed)
	requireCode(t, submit(t, topics.GiftCardCommands, key, TypeRedeem, id, RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("6")}, customer), topics.CodeIdempotencyConflict)
	require.Equal(t, "45.00", kbalance(t, key).CurrentBalance.Amount.StringFixed(2))
}

// requireCreatedOnce waits until command id's gift_card.created event is
// published (events and the result travel on different partitions) and
// checks there is exactly one.
func requireCreatedOnce(t *testing.T, id string) {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(20 * time.Second); n == 0 && time.Now().Before(deadline); {
		if n = createdByCommand(t, id); n == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Equal(t, 1, n, "gift_card.created events of command %s", id)
}

// createdByCommand counts the gift_card.created events that command id
// produced, reading the topic up to its current end.
func createdByCommand(t *testing.T, id string) int {
	t.Helper()
	n := 0
	cluster.ReadToEnd(t, topics.GiftCardCreated, func(r *kgo.Record) {
		env, err := topics.DecodeEnvelope(r.Value)
		require.NoError(t, err)
		if env.CommandID == id {
			n++
		}
	})
	return n
}

// Creation goes through the creation index: a redelivered create applies
// once, and retries with the same command ID but another code (the edge
// generates one per attempt), even concurrent ones, issue no second card.
func TestIntegrationCreateOncePerCommandID(t *testing.T) {
	t.Parallel()
	newCreate := func() CreateCommand {
		_, key, last4 := newCode(t)
		return CreateCommand{CardKey: key, Last4: last4, Amount: usd("40.00"), PurchaserID: "user_1"}
	}
	send := func(env *topics.Envelope) *topics.CommandResult {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := commander.Submit(ctx, topics.GiftCardCreations, env.CommandID, env)
		require.NoError(t, err)
		return res
	}

	t.Run("redelivered command", func(t *testing.T) {
		id := topics.NewID()
		cmd := newCreate()
		env, err := topics.NewEnvelope(TypeCreate, time.Now(), cmd, topics.WithCommandID(id), topics.WithActor(customer))
		require.NoError(t, err)
		first := send(env)
		require.True(t, first.OK, "%+v", first.Error)
		again := send(env) // the very same record, as after a crash before the commit
		require.True(t, again.OK)
		require.True(t, again.Replayed)
		require.JSONEq(t, string(first.Result), string(again.Result))
		require.Equal(t, "40.00", kbalance(t, cmd.CardKey).CurrentBalance.Amount.StringFixed(2))
		requireCreatedOnce(t, id)
	})

	t.Run("concurrent attempts with new codes", func(t *testing.T) {
		id := topics.NewID()
		const n = 12
		cmds := make([]CreateCommand, n)
		results := make([]*topics.CommandResult, n)
		errs := make(chan error, n)
		for i := range cmds {
			cmds[i] = newCreate()
			go func() {
				env, err := topics.NewEnvelope(TypeCreate, time.Now(), cmds[i], topics.WithCommandID(id), topics.WithActor(customer))
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					results[i], err = commander.Submit(ctx, topics.GiftCardCreations, id, env)
				}
				errs <- err
			}()
		}
		for range cmds {
			require.NoError(t, <-errs)
		}
		winner := -1
		for i, res := range results {
			if res.OK {
				require.Equal(t, -1, winner, "two attempts succeeded")
				winner = i
				continue
			}
			require.Equal(t, topics.CodeIdempotencyConflict, res.Error.Code)
		}
		require.NotEqual(t, -1, winner, "one attempt creates the card")
		for i, c := range cmds {
			if i == winner {
				require.Equal(t, "40.00", kbalance(t, c.CardKey).CurrentBalance.Amount.StringFixed(2))
			} else {
				requireCode(t, submit(t, topics.GiftCardCommands, c.CardKey, TypeBalance, "", BalanceQuery{CardKey: c.CardKey}, customer), CodeInvalidCode)
			}
		}
		requireCreatedOnce(t, id)
	})
}

// submitAsking submits a command that names replyTopic and waits for its
// result on the results topic, as any caller does.
func submitAsking(t *testing.T, key, typ, cmdID, correlation, replyTopic string, data any) *topics.CommandResult {
	t.Helper()
	env, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(cmdID), topics.WithActor(admin),
		topics.WithCorrelationID(correlation), topics.WithReplyTopic(replyTopic))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := commander.Submit(ctx, topics.GiftCardCommands, key, env)
	require.NoError(t, err)
	return res
}

// replies reads the gift card reply topic from the start until it holds
// want results keyed by key.
func replies(t *testing.T, key string, want int) []topics.CommandResult {
	t.Helper()
	return consumeKeyed(t, topics.GiftCardReplies, key, want, func(b []byte) (res topics.CommandResult, err error) {
		return res, json.Unmarshal(b, &res)
	})
}

func TestIntegrationReplyTopic(t *testing.T) {
	t.Parallel()
	_, key, last4 := newCode(t)
	create := CreateCommand{CardKey: key, Last4: last4, Amount: topics.Money{Amount: dec("20.00"), Currency: "USD"}, PurchaserID: "user_1"}
	saga := cluster.Unique("ret")
	id := topics.NewID()

	first := submitAsking(t, key, TypeCreate, id, saga, topics.GiftCardReplies, create)
	require.True(t, first.OK, "%+v", first.Error)
	// a redelivery, asking again: the replay goes to the reply topic too
	again := submitAsking(t, key, TypeCreate, id, saga, topics.GiftCardReplies, create)
	require.True(t, again.Replayed)

	got := replies(t, saga, 2)
	require.Equal(t, id, got[0].CommandID)
	require.True(t, got[0].OK)
	require.False(t, got[0].Replayed)
	require.JSONEq(t, string(first.Result), string(got[0].Result), "the same result as on the results topic")
	require.True(t, got[1].Replayed)
	require.JSONEq(t, string(first.Result), string(got[1].Result))

	t.Run("a command that asks for no reply topic writes none", func(t *testing.T) {
		// balance queries: the card answers them itself, in order
		plain := submitAsking(t, key, TypeBalance, topics.NewID(), saga+"-plain", "", BalanceQuery{CardKey: key})
		require.True(t, plain.OK)
		asking := submitAsking(t, key, TypeBalance, topics.NewID(), saga+"-asking", topics.GiftCardReplies, BalanceQuery{CardKey: key})
		require.True(t, asking.OK)
		// the card answered the plain query first: once the asking one's
		// result is on the topic, so would the plain one's be
		require.Equal(t, asking.CommandID, replies(t, saga+"-asking", 1)[0].CommandID)
		cluster.ReadToEnd(t, topics.GiftCardReplies, func(r *kgo.Record) {
			require.NotEqual(t, saga+"-plain", string(r.Key), "the plain query's result is not on the reply topic")
		})
	})
	t.Run("a redemption's result, sent by the redemption index, goes there too", func(t *testing.T) {
		res := submitAsking(t, key, TypeRedeem, topics.NewID(), saga+"-redeem", topics.GiftCardReplies,
			RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("2")})
		require.True(t, res.OK)
		got := replies(t, saga+"-redeem", 1)[0]
		require.Equal(t, res.CommandID, got.CommandID)
		require.JSONEq(t, string(res.Result), string(got.Result))
	})
	t.Run("a transfer, whose final result comes later, cannot name one", func(t *testing.T) {
		_, to := kcreate(t, "1.00", "USD")
		res := submitAsking(t, key, TypeTransfer, topics.NewID(), saga, topics.GiftCardReplies,
			TransferCommand{CardKey: key, ToKey: to, Amount: *amt("1")})
		requireCode(t, res, topics.CodeInvalidRequest)
		require.Equal(t, "18.00", kbalance(t, key).CurrentBalance.Amount.StringFixed(2), "nothing moved")
	})
	t.Run("a reply topic the processor does not offer is refused", func(t *testing.T) {
		res := submitAsking(t, key, TypeRedeem, topics.NewID(), saga, topics.ReturnsReplies,
			RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("1")})
		requireCode(t, res, topics.CodeInvalidRequest)
		require.Contains(t, res.Error.Message, topics.ReturnsReplies)
		require.Equal(t, "18.00", kbalance(t, key).CurrentBalance.Amount.StringFixed(2), "nothing was redeemed")
	})
}
