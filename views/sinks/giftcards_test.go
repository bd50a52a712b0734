package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// flows starts, once per package, the catalog's topics, a commander and
// the domain services the end-to-end tests drive.
var flows struct {
	once      sync.Once
	err       error
	commander *topics.Commander
	cards     *giftcards.Service
	cardView  *goka.View
}

func startFlows(t *testing.T) {
	t.Helper()
	flows.once.Do(func() {
		ctx := context.Background() // the services live as long as the package's tests
		cat, err := topics.NewCatalog(kafkatest.Partitions)
		if err != nil {
			flows.err = err
			return
		}
		if _, err := cat.Ensure(ctx, cluster.Admin, 1); err != nil {
			flows.err = err
			return
		}
		if flows.commander, err = topics.NewCommander(ctx, cluster.Clients); err != nil {
			flows.err = err
			return
		}
		go flows.commander.Run(ctx) //nolint:errcheck // runs until the process ends
		if flows.cards, err = giftcards.New(cluster.Clients, storage.MemoryBuilder(),
			giftcards.WithExpiryInterval(time.Hour)); err != nil {
			flows.err = err
			return
		}
		go flows.cards.Run(ctx) //nolint:errcheck
		if flows.cardView, err = goka.NewView(cluster.Clients.Brokers(), giftcards.Table,
			giftcards.TableCodec(), cluster.Clients.ViewOptions(storage.MemoryBuilder())...); err != nil {
			flows.err = err
			return
		}
		go flows.cardView.Run(ctx) //nolint:errcheck
		deadline := time.Now().Add(60 * time.Second)
		for !(flows.cards.Ready() && flows.cardView.Recovered()) {
			if time.Now().After(deadline) {
				flows.err = context.DeadlineExceeded
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	require.NoError(t, flows.err, "starting the domain services")
}

func submit(t *testing.T, topic, key, typ string, data any, actor topics.Actor) *topics.CommandResult {
	t.Helper()
	env, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(topics.NewID()), topics.WithActor(actor))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := flows.commander.Submit(ctx, topic, key, env)
	require.NoError(t, err, typ)
	require.True(t, res.OK, "%s: %+v", typ, res.Error)
	return res
}

func resultOf[T any](t *testing.T, res *topics.CommandResult) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(res.Result, &v))
	return v
}

// TestGiftCardFlowFillsTheTables runs cards through the real card
// processor (create, redeem, refund, transfer, void) and checks that the
// SQL read model agrees with the processor's goka view, card by card.
func TestGiftCardFlowFillsTheTables(t *testing.T) {
	pool := migrated(t)
	startFlows(t)
	gen, err := giftcards.NewCodeGenerator([]byte("sinks-test-secret-0123456789abcdef"))
	require.NoError(t, err)
	customer := topics.Actor{ID: "user_1", Type: topics.ActorCustomer}
	staff := topics.Actor{ID: "admin_1", Type: topics.ActorStaff}

	create := func(amount, cur string) string {
		code, err := gen.Generate("", 0)
		require.NoError(t, err)
		key, last4, err := gen.Key(code)
		require.NoError(t, err)
		submit(t, topics.GiftCardCommands, key, giftcards.TypeCreate, giftcards.CreateCommand{CardKey: key, Last4: last4,
			Amount: topics.Money{Amount: decimal.RequireFromString(amount), Currency: cur}, PurchaserID: "user_1",
			RecipientEmail: "friend@example.com"}, customer)
		return key
	}
	amount := func(s string) *giftcards.Amount { return giftcards.NewAmount(decimal.RequireFromString(s)) }

	usd, jpy, kwd, usd2 := create("100.00", "USD"), create("5000", "JPY"), create("12.345", "KWD"), create("25.00", "USD")
	red := resultOf[giftcards.RedemptionResult](t, submit(t, topics.GiftCardCommands, usd, giftcards.TypeRedeem,
		giftcards.RedeemCommand{CardKey: usd, OrderID: cluster.Unique("order"), Amount: amount("40.00")}, customer))
	submit(t, topics.GiftCardRedemptions, red.RedemptionID, giftcards.TypeRefund,
		giftcards.RefundCommand{RedemptionID: red.RedemptionID, Amount: amount("15.50"), Reason: "damaged"}, customer)
	submit(t, topics.GiftCardCommands, jpy, giftcards.TypeRedeem,
		giftcards.RedeemCommand{CardKey: jpy, OrderID: cluster.Unique("order")}, customer) // the whole balance
	submit(t, topics.GiftCardCommands, usd, giftcards.TypeTransfer,
		giftcards.TransferCommand{CardKey: usd, ToKey: usd2, Amount: *amount("10.00")}, customer)
	submit(t, topics.GiftCardCommands, kwd, giftcards.TypeVoid,
		giftcards.VoidCommand{CardKey: kwd, Reason: "fraud", AdminID: "admin_1"}, staff)

	// A card with more transactions than its row keeps
	// (giftcards.DefaultTransactionWindow): the table has the whole ledger,
	// and a redemption whose transaction left the window is refunded.
	long := create("50.00", "USD")
	var first giftcards.RedemptionResult
	for i := range giftcards.DefaultTransactionWindow + 4 {
		r := resultOf[giftcards.RedemptionResult](t, submit(t, topics.GiftCardCommands, long, giftcards.TypeRedeem,
			giftcards.RedeemCommand{CardKey: long, OrderID: cluster.Unique("order"), Amount: amount("1.25")}, customer))
		if i == 0 {
			first = r
		}
	}
	submit(t, topics.GiftCardRedemptions, first.RedemptionID, giftcards.TypeRefund,
		giftcards.RefundCommand{RedemptionID: first.RedemptionID, Reason: "returned"}, customer)

	s, err := New(GiftCards(), pool, cluster.Clients, WithRetryBackoff(100*time.Millisecond))
	require.NoError(t, err)
	start(t, s)

	ctx := context.Background()
	for _, key := range []string{usd, jpy, kwd, usd2, long} {
		var card *giftcards.Card
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			v, err := flows.cardView.Get(key)
			if err != nil || v == nil || v.(*giftcards.CardState).Card == nil {
				return false
			}
			card = v.(*giftcards.CardState).Card
			var n int
			var bal decimal.Decimal
			var status string
			err = pool.QueryRow(ctx, `SELECT current_balance, status, (SELECT count(*) FROM gift_card_transactions
				WHERE gift_card_key = card_key) FROM gift_cards WHERE card_key = $1`, key).Scan(&bal, &status, &n)
			return err == nil && int64(n) == card.TransactionCount() && bal.Equal(card.Balance) && status == string(card.Status)
		}, "card %s", key[:8])

		var balance, original, ledger decimal.Decimal
		var status, currency, last4 string
		var purchaser, voidReason *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT current_balance, original_amount, status, currency, code_last4,
			purchaser_id, void_reason, (SELECT sum(amount) FROM gift_card_transactions WHERE gift_card_key = card_key)
			FROM gift_cards WHERE card_key = $1`, key).
			Scan(&balance, &original, &status, &currency, &last4, &purchaser, &voidReason, &ledger))
		require.True(t, card.Balance.Equal(balance), "%s: view %s, SQL %s", card.Currency, card.Balance, balance)
		require.True(t, ledger.Equal(balance), "the ledger sums to the balance")
		require.True(t, card.OriginalAmount.Equal(original))
		require.Equal(t, string(card.Status), status)
		require.Equal(t, card.Currency, currency)
		require.Equal(t, card.Last4, last4)
		require.Equal(t, "user_1", *purchaser, "set by gift_card.created, kept by later events")
		if key == kwd {
			require.NotNil(t, voidReason)
			require.Equal(t, "fraud", *voidReason)
		}
		var txs int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM gift_card_transactions WHERE gift_card_key = $1", key).Scan(&txs))
		require.EqualValues(t, card.TransactionCount(), txs, "the whole ledger, trimmed transactions included")
		for _, tx := range card.Transactions {
			var typ string
			var before, after decimal.Decimal
			require.NoError(t, pool.QueryRow(ctx, `SELECT transaction_type, balance_before, balance_after FROM gift_card_transactions
				WHERE id = $1 AND gift_card_key = $2`, tx.ID, key).Scan(&typ, &before, &after), "transaction %s", tx.ID)
			require.Equal(t, string(tx.Type), typ)
			require.True(t, tx.BalanceBefore.Equal(before) && tx.BalanceAfter.Equal(after), "transaction %s", tx.ID)
		}
		if key == long {
			require.Len(t, card.Transactions, giftcards.DefaultTransactionWindow, "the row keeps the recent window")
			require.EqualValues(t, giftcards.DefaultTransactionWindow+6, card.TransactionCount(), "creation, redemptions, refund")
			require.Equal(t, "36.25", balance.StringFixed(2))
		}
	}
	require.Zero(t, s.Stats().DeadLetters.Load())
}

// TestGiftCardStateFollowsTheSequence produces a card's events out of
// order, across its topics and with times that disagree with their order,
// and checks that the gift_cards row ends at the event with the highest
// sequence number: an older event never overwrites a newer one.
func TestGiftCardStateFollowsTheSequence(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	require.NoError(t, err)
	_, err = cat.Ensure(ctx, cluster.Admin, 1)
	require.NoError(t, err)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	usd := func(s string) topics.Money {
		return topics.Money{Amount: decimal.RequireFromString(s), Currency: "USD"}
	}

	type ev struct {
		typ     string
		seq     int64
		balance string
		status  giftcards.Status
		offset  time.Duration // occurred_at, after at
	}
	created := ev{giftcards.EventCreated, 1, "50.00", giftcards.StatusActive, 0}
	redeemed := ev{giftcards.EventRedeemed, 2, "40.00", giftcards.StatusPartiallyRedeemed, 2 * time.Minute}
	refunded := ev{giftcards.EventRefunded, 3, "45.00", giftcards.StatusPartiallyRedeemed, time.Minute}
	voided := ev{giftcards.EventVoided, 4, "0.00", giftcards.StatusVoided, time.Minute}
	cases := []struct {
		name     string
		maxBatch int
		order    []ev // as produced
		want     ev
	}{
		{"newest first, one event per batch", 1, []ev{created, refunded, redeemed}, refunded},
		{"newest first, all in one batch", 100, []ev{created, refunded, redeemed}, refunded},
		{"an older event with a later time", 1, []ev{created, redeemed, refunded}, refunded},
		{"a void then a late redemption", 1, []ev{created, voided, redeemed}, voided},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := testCardKey(cluster.Unique("seq-card"))
			prod := cluster.Producer(t)
			var produced []*kgo.Record
			for _, e := range tc.order {
				data := giftcards.CardEvent{CardKey: key, Last4: "AB2C", Status: e.status, Balance: usd(e.balance), Seq: e.seq}
				if e.typ == giftcards.EventCreated {
					data.Amount, data.PurchaserID = money(usd("50.00")), "user_1"
				}
				env, err := topics.NewEnvelope(e.typ, at.Add(e.offset), data)
				require.NoError(t, err)
				b, err := env.Encode()
				require.NoError(t, err)
				// Each event type has its own topic: their records are
				// consumed in no particular order relative to each other.
				res := prod.ProduceSync(ctx, &kgo.Record{Topic: giftcardTopic(e.typ), Key: []byte(key), Value: b})
				require.NoError(t, res.FirstErr())
				produced = append(produced, res[0].Record)
			}
			spec := GiftCards()
			spec.Name = cluster.Unique("giftcards-seq")
			s, err := New(spec, pool, cluster.Clients, WithDLQ(DLQTopic(topics.SinkGiftCards)), WithMaxBatch(tc.maxBatch),
				WithRetryBackoff(100*time.Millisecond))
			require.NoError(t, err)
			start(t, s)
			var balance decimal.Decimal
			var status string
			var version int64
			// Rows and offsets are committed together: once the offsets
			// cover every event produced, the row is final.
			kafkatest.Eventually(t, 30*time.Second, func() bool { return sinkCommitted(t, pool, spec.Name, produced) },
				"the sink committed the card's events")
			require.NoError(t, pool.QueryRow(ctx, `SELECT current_balance, status, version FROM gift_cards WHERE card_key = $1`, key).
				Scan(&balance, &status, &version))
			require.Equal(t, tc.want.seq, version)
			require.True(t, decimal.RequireFromString(tc.want.balance).Equal(balance), "balance %s, want %s", balance, tc.want.balance)
			require.Equal(t, string(tc.want.status), status)
			var purchaser *string
			require.NoError(t, pool.QueryRow(ctx, "SELECT purchaser_id FROM gift_cards WHERE card_key = $1", key).Scan(&purchaser))
			require.NotNil(t, purchaser, "gift_card.created still fills its merge columns")
		})
	}
}

// sinkCommitted reports whether the sink name has committed the records
// (as produced: with their partitions and offsets).
func sinkCommitted(t *testing.T, pool *pgxpool.Pool, name string, recs []*kgo.Record) bool {
	t.Helper()
	offs, err := Offsets(context.Background(), pool, name)
	require.NoError(t, err)
	for _, r := range recs {
		if offs[r.Topic][r.Partition] <= r.Offset {
			return false
		}
	}
	return true
}

func money(m topics.Money) *topics.Money { return &m }

// testCardKey returns a valid-looking card key (64 hex digits) for name.
func testCardKey(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:])
}

func giftcardTopic(typ string) string {
	switch typ {
	case giftcards.EventCreated:
		return topics.GiftCardCreated
	case giftcards.EventRedeemed:
		return topics.GiftCardRedeemed
	case giftcards.EventRefunded:
		return topics.GiftCardRefunded
	case giftcards.EventVoided:
		return topics.GiftCardVoided
	}
	panic("no topic for " + typ)
}
