package giftcards

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// burst runs n submissions concurrently (at most par at a time) and returns
// their results in order.
func burst(t *testing.T, n, par int, one func(i int) *topics.CommandResult) []*topics.CommandResult {
	t.Helper()
	out := make([]*topics.CommandResult, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = one(i)
		}()
	}
	wg.Wait()
	return out
}

func succeeded[T any](t *testing.T, rs []*topics.CommandResult, amount func(T) decimal.Decimal) (decimal.Decimal, int) {
	t.Helper()
	sum, n := decimal.Zero, 0
	for _, r := range rs {
		require.NotNil(t, r)
		if r.OK {
			sum = sum.Add(amount(decodeResult[T](t, r)))
			n++
		}
	}
	return sum, n
}

func redeemed(r RedemptionResult) decimal.Decimal { return r.RedeemedAmount.Amount }

func TestConcurrentRedemptionsNeverOverspend(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "100.00", "USD")
	rs := burst(t, 300, 64, func(i int) *topics.CommandResult {
		return kredeem(t, key, fmt.Sprintf("o-%d", i), "0.75")
	})
	sum, n := succeeded(t, rs, redeemed)
	require.True(t, sum.LessThanOrEqual(dec("100")), "spent %s", sum)
	require.Equal(t, 133, n, "exactly floor(100/0.75) succeed")
	for _, r := range rs {
		if !r.OK {
			require.Equal(t, CodeInsufficientBalance, r.Error.Code)
		}
	}
	b := kbalance(t, key)
	require.True(t, b.CurrentBalance.Amount.Equal(dec("100").Sub(sum)))
}

func TestConcurrentRandomRedemptionsAcrossCards(t *testing.T) {
	t.Parallel()
	keys := make([]string, 5)
	for i := range keys {
		_, keys[i] = kcreate(t, "50.00", "USD")
	}
	amounts := make([]string, 250)
	for i := range amounts {
		amounts[i] = decimal.New(int64(rand.IntN(900)+1), -2).String()
	}
	rs := burst(t, len(amounts), 64, func(i int) *topics.CommandResult {
		return kredeem(t, keys[i%len(keys)], fmt.Sprintf("o-%d", i), amounts[i])
	})
	for k, key := range keys {
		spent := decimal.Zero
		for i := k; i < len(rs); i += len(keys) {
			if rs[i].OK {
				spent = spent.Add(dec(amounts[i]))
			}
		}
		require.True(t, spent.LessThanOrEqual(dec("50")))
		require.True(t, kbalance(t, key).CurrentBalance.Amount.Equal(dec("50").Sub(spent)))
		c := viewCard(t, key, func(c *Card) bool { return c.Balance.Equal(dec("50").Sub(spent)) })
		require.NoError(t, c.CheckInvariants())
	}
}

func TestConcurrentOppositeTransfersConserveMoney(t *testing.T) {
	t.Parallel()
	_, a := kcreate(t, "100.00", "USD")
	_, b := kcreate(t, "100.00", "USD")
	rs := burst(t, 120, 32, func(i int) *topics.CommandResult {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		return submit(t, topics.GiftCardCommands, from, TypeTransfer, "", TransferCommand{CardKey: from, ToKey: to, Amount: Amount{Decimal: dec("7.50")}}, customer)
	})
	for _, r := range rs {
		if !r.OK {
			require.Equal(t, CodeInsufficientBalance, r.Error.Code)
		}
	}
	ba, bb := kbalance(t, a).CurrentBalance.Amount, kbalance(t, b).CurrentBalance.Amount
	require.True(t, ba.Add(bb).Equal(dec("200")), "%s + %s", ba, bb)
	ca := viewCard(t, a, func(c *Card) bool { return c.Balance.Equal(ba) })
	cb := viewCard(t, b, func(c *Card) bool { return c.Balance.Equal(bb) })
	require.NoError(t, ca.CheckInvariants())
	require.NoError(t, cb.CheckInvariants())
}

func TestConcurrentTransferRingConservesMoney(t *testing.T) {
	t.Parallel()
	keys := make([]string, 4)
	for i := range keys {
		_, keys[i] = kcreate(t, "20.00", "USD")
	}
	burst(t, 80, 32, func(i int) *topics.CommandResult {
		from, to := keys[i%4], keys[(i+1+i/4)%4]
		if from == to {
			to = keys[(i+2)%4]
		}
		return submit(t, topics.GiftCardCommands, from, TypeTransfer, "", TransferCommand{CardKey: from, ToKey: to, Amount: Amount{Decimal: dec("3.00")}}, customer)
	})
	total := decimal.Zero
	for _, k := range keys {
		b := kbalance(t, k).CurrentBalance.Amount
		require.False(t, b.IsNegative())
		total = total.Add(b)
	}
	require.True(t, total.Equal(dec("80")), "total %s", total)
}

func TestConcurrentDuplicateCommandAppliesOnce(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "50.00", "USD")
	id := topics.NewID()
	rs := burst(t, 30, 30, func(int) *topics.CommandResult {
		return submit(t, topics.GiftCardCommands, key, TypeRedeem, id, RedeemCommand{CardKey: key, OrderID: "o", Amount: amt("10")}, customer)
	})
	first := 0
	for _, r := range rs {
		require.True(t, r.OK)
		if !r.Replayed {
			first++
		}
	}
	require.GreaterOrEqual(t, first, 1)
	require.Equal(t, "40.00", kbalance(t, key).CurrentBalance.Amount.StringFixed(2))
	c := viewCard(t, key, func(c *Card) bool { return c.Balance.Equal(dec("40")) })
	require.Len(t, c.Redemptions, 1)
}

func TestConcurrentRefundsNeverExceedRedemption(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "50.00", "USD")
	r := decodeResult[RedemptionResult](t, kredeem(t, key, "o", "30.00"))
	rs := burst(t, 50, 25, func(int) *topics.CommandResult {
		return submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID, Amount: amt("1.00")}, customer)
	})
	sum, n := succeeded(t, rs, func(x RefundResult) decimal.Decimal { return x.RefundedAmount.Amount })
	require.Equal(t, 30, n)
	require.True(t, sum.Equal(dec("30")))
	require.Equal(t, "50.00", kbalance(t, key).CurrentBalance.Amount.StringFixed(2))
}

func TestConcurrentHoldsNeverExceedBalance(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "40.00", "USD")
	rs := burst(t, 60, 30, func(i int) *topics.CommandResult {
		return submit(t, topics.GiftCardCommands, key, TypeAuthorize, "", AuthorizeCommand{CardKey: key, OrderID: fmt.Sprintf("o-%d", i), Amount: Amount{Decimal: dec("3.00")}}, customer)
	})
	_, n := succeeded(t, rs, func(HoldResult) decimal.Decimal { return decimal.Zero })
	require.Equal(t, 13, n)
	b := kbalance(t, key)
	require.Equal(t, "1.00", b.AvailableBalance.Amount.StringFixed(2))
	require.Equal(t, "40.00", b.CurrentBalance.Amount.StringFixed(2))
}

func TestConcurrentCaptureOfOneHoldHasOneWinner(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "40.00", "USD")
	h := decodeResult[HoldResult](t, submit(t, topics.GiftCardCommands, key, TypeAuthorize, "", AuthorizeCommand{CardKey: key, OrderID: "o", Amount: Amount{Decimal: dec("25")}}, customer))
	rs := burst(t, 20, 20, func(int) *topics.CommandResult {
		return submit(t, topics.GiftCardCommands, key, TypeCapture, "", CaptureCommand{CardKey: key, HoldID: h.HoldID}, customer)
	})
	_, n := succeeded(t, rs, func(HoldResult) decimal.Decimal { return decimal.Zero })
	require.Equal(t, 1, n)
	require.Equal(t, "15.00", kbalance(t, key).CurrentBalance.Amount.StringFixed(2))
}

func TestConcurrentRedeemAndVoid(t *testing.T) {
	t.Parallel()
	_, key := kcreate(t, "100.00", "USD")
	rs := burst(t, 81, 40, func(i int) *topics.CommandResult {
		if i == 40 {
			return submit(t, topics.GiftCardCommands, key, TypeVoid, "", VoidCommand{CardKey: key, Reason: "fraud", AdminID: "a"}, admin)
		}
		return kredeem(t, key, fmt.Sprintf("o-%d", i), "1.00")
	})
	require.True(t, rs[40].OK)
	void := decodeResult[VoidResult](t, rs[40])
	spent := decimal.Zero
	for i, r := range rs {
		if i != 40 && r.OK {
			spent = spent.Add(dec("1"))
		} else if i != 40 {
			require.Equal(t, CodeCardVoided, r.Error.Code)
		}
	}
	require.True(t, spent.Add(void.VoidedAmount.Amount).Equal(dec("100")), "spent %s voided %s", spent, void.VoidedAmount.Amount)
	c := viewCard(t, key, func(c *Card) bool { return c.Status == StatusVoided })
	require.NoError(t, c.CheckInvariants())
}

// TestRestartMidBurst stops the whole service in the middle of a burst of
// redemptions and starts a new one: every command gets a result, and each
// applies exactly once. It runs before the parallel tests.
func TestRestartMidBurst(t *testing.T) {
	_, key := kcreate(t, "500.00", "USD")
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	results := make([]*topics.CommandResult, n)
	for i := range ids {
		ids[i] = topics.NewID()
		wg.Add(1)
		go func() {
			defer wg.Done()
			env, _ := topics.NewEnvelope(TypeRedeem, time.Now(), RedeemCommand{CardKey: key, OrderID: fmt.Sprintf("o-%d", i), Amount: amt("1.00")},
				topics.WithCommandID(ids[i]), topics.WithActor(customer))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := commander.Submit(ctx, topics.GiftCardCommands, key, env)
			if err == nil {
				results[i] = res
			}
		}()
		if i == n/2 {
			require.NoError(t, stopService())
			require.NoError(t, startService())
		}
	}
	wg.Wait()
	waitReady(t)
	// A command whose result was written just before the stop may have
	// been answered before its waiter registered; ask again: a repeat
	// returns the first result.
	for i, r := range results {
		if r == nil {
			results[i] = submit(t, topics.GiftCardCommands, key, TypeRedeem, ids[i], RedeemCommand{CardKey: key, OrderID: fmt.Sprintf("o-%d", i), Amount: amt("1.00")}, customer)
		}
		require.True(t, results[i].OK, "%+v", results[i].Error)
	}
	b := kbalance(t, key)
	require.Equal(t, "300.00", b.CurrentBalance.Amount.StringFixed(2), "each of the 200 applied exactly once")
	c := viewCard(t, key, func(c *Card) bool { return len(c.Redemptions) == n })
	require.NoError(t, c.CheckInvariants())
	require.EqualValues(t, n+1, c.TransactionCount(), "the creation and one transaction per redemption")
	seen := map[string]bool{}
	for _, tx := range c.Transactions { // the recent window (the row keeps no more)
		if tx.Type == TxCreation {
			continue
		}
		require.False(t, seen[tx.CommandID], "command %s applied twice", tx.CommandID)
		seen[tx.CommandID] = true
	}
}

func waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		live.Lock()
		ready := live.svc.Ready()
		live.Unlock()
		if ready {
			return
		}
		require.True(t, time.Now().Before(deadline), "service not ready after restart")
		time.Sleep(50 * time.Millisecond)
	}
}

// A client that refunds the instant it sees a redemption's result always
// finds the redemption: the redemption index answers the redeem only after
// it recorded the redemption.
func TestRefundRightAfterRedeemFindsTheRedemption(t *testing.T) {
	t.Parallel()
	keys := make([]string, 40)
	for i := range keys {
		_, keys[i] = kcreate(t, "10.00", "USD")
	}
	rs := burst(t, len(keys), len(keys), func(i int) *topics.CommandResult {
		r := decodeResult[RedemptionResult](t, kredeem(t, keys[i], fmt.Sprint("order-rr-", i), "4.00"))
		return submit(t, topics.GiftCardRedemptions, r.RedemptionID, TypeRefund, "", RefundCommand{RedemptionID: r.RedemptionID}, customer)
	})
	for _, r := range rs {
		require.True(t, r.OK, "%+v", r.Error)
	}
	for _, k := range keys {
		require.Equal(t, "10.00", kbalance(t, k).CurrentBalance.Amount.StringFixed(2))
	}
}
