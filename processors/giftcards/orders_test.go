package giftcards

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func usd(s string) topics.Money { return topics.Money{Amount: dec(s), Currency: "USD"} }

func orderWith(redemptions ...string) *OrderState {
	o := &OrderState{OrderID: "order_1"}
	for i, a := range redemptions {
		o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey(string(rune('a' + i))), RedemptionID: string(rune('r'+i)) + "-id", Amount: usd(a)})
	}
	return o
}

func refundSum(t *testing.T, fs []FollowUp) decimal.Decimal {
	t.Helper()
	sum := decimal.Zero
	for _, f := range fs {
		require.Equal(t, TypeRefund, f.Type)
		sum = sum.Add(f.Data.(RefundCommand).Amount.Decimal)
	}
	return sum
}

func TestOrderRefunded(t *testing.T) {
	cases := []struct {
		name        string
		redemptions []string
		total       string
		refund      string
		want        string
		wantParts   int
	}{
		{"full refund, total unknown", []string{"30.00"}, "", "100.00", "30", 1},
		{"partial refund in proportion to the gift card share", []string{"25.00"}, "100.00", "40.00", "10", 1},
		{"proportion over two cards adds up exactly", []string{"10.00", "20.00"}, "90.00", "10.00", "3.33", 2},
		{"refund of the whole order refunds all redemptions", []string{"10.00", "20.00"}, "90.00", "90.00", "30", 2},
		{"partial refund with unknown total goes to gift cards first", []string{"10.00"}, "", "4.00", "4", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := orderWith(tc.redemptions...)
			if tc.total != "" {
				require.NoError(t, o.Complete(OrderCompleted{OrderID: "order_1", Currency: "USD", Total: Amount{Decimal: dec(tc.total)}}))
			}
			fs, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: "rf_1", Amount: Amount{Decimal: dec(tc.refund)}, Currency: "USD"}, "ev")
			require.NoError(t, err)
			require.Len(t, fs, tc.wantParts)
			require.Equal(t, tc.want, refundSum(t, fs).String())
		})
	}
	t.Run("same refund ID applied once", func(t *testing.T) {
		o := orderWith("30.00")
		r := OrderRefunded{OrderID: "order_1", RefundID: "rf_1", Amount: Amount{Decimal: dec("10")}, Currency: "USD"}
		fs, err := o.Refund(r, "ev")
		require.NoError(t, err)
		require.Len(t, fs, 1)
		fs, err = o.Refund(r, "ev")
		require.NoError(t, err)
		require.Empty(t, fs)
	})
	t.Run("repeated refunds never exceed what was redeemed", func(t *testing.T) {
		o := orderWith("30.00")
		total := decimal.Zero
		for _, id := range []string{"a", "b", "c", "d"} {
			fs, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: id, Amount: Amount{Decimal: dec("12")}, Currency: "USD"}, "ev")
			require.NoError(t, err)
			total = total.Add(refundSum(t, fs))
		}
		require.Equal(t, "30", total.String())
	})
	t.Run("derived command IDs are stable", func(t *testing.T) {
		a, _ := orderWith("30.00").Refund(OrderRefunded{RefundID: "rf", Amount: Amount{Decimal: dec("5")}, Currency: "USD"}, "ev")
		b, _ := orderWith("30.00").Refund(OrderRefunded{RefundID: "rf", Amount: Amount{Decimal: dec("5")}, Currency: "USD"}, "ev")
		require.Equal(t, a[0].CommandID, b[0].CommandID)
	})
	t.Run("bad amount", func(t *testing.T) {
		_, err := orderWith("30.00").Refund(OrderRefunded{RefundID: "rf", Amount: Amount{Decimal: dec("1.001")}, Currency: "USD"}, "ev")
		require.ErrorIs(t, err, ErrInvalidAmount)
	})
}

func TestOrderCancelled(t *testing.T) {
	t.Run("releases holds and reverses redemptions", func(t *testing.T) {
		o := orderWith("30.00", "5.00")
		o.SetHold(OrderRecord{OrderID: "order_1", CardKey: testKey("h"), HoldID: "h1", HoldStatus: HoldAuthorized})
		o.SetHold(OrderRecord{OrderID: "order_1", CardKey: testKey("h"), HoldID: "h2", HoldStatus: HoldAuthorized})
		o.SetHold(OrderRecord{OrderID: "order_1", CardKey: testKey("h"), HoldID: "h2", HoldStatus: HoldCaptured})
		fs := o.Cancel()
		var releases, refunds []FollowUp
		for _, f := range fs {
			if f.Type == TypeRelease {
				releases = append(releases, f)
			} else {
				refunds = append(refunds, f)
			}
		}
		require.Len(t, releases, 1)
		require.Equal(t, "h1", releases[0].Data.(ReleaseCommand).HoldID)
		require.Equal(t, "35", refundSum(t, refunds).String())
		require.Empty(t, o.Cancel(), "cancelling twice sends nothing more")
	})
	t.Run("a partial refund earlier is not refunded twice", func(t *testing.T) {
		o := orderWith("30.00")
		_, err := o.Refund(OrderRefunded{RefundID: "rf", Amount: Amount{Decimal: dec("10")}, Currency: "USD"}, "ev")
		require.NoError(t, err)
		require.Equal(t, "20", refundSum(t, o.Cancel()).String())
	})
	t.Run("a redemption recorded after the cancellation is reversed at once", func(t *testing.T) {
		o := orderWith()
		require.Empty(t, o.Cancel())
		fs := o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey("z"), RedemptionID: "late", Amount: usd("7.00")})
		require.Equal(t, "7", refundSum(t, fs).String())
		fs = o.SetHold(OrderRecord{OrderID: "order_1", CardKey: testKey("z"), HoldID: "lh", HoldStatus: HoldAuthorized})
		require.Len(t, fs, 1)
		require.Equal(t, TypeRelease, fs[0].Type)
	})
	t.Run("redelivered event is seen once", func(t *testing.T) {
		o := orderWith()
		require.True(t, o.See("evt-1"))
		require.False(t, o.See("evt-1"))
	})
}

// TestOrderRefundedBeforeItsRedemptions checks that a refund that reaches
// the order index before (some of) the order's redemptions refunds them
// when they arrive, as if they had been there, and never more.
func TestOrderRefundedBeforeItsRedemptions(t *testing.T) {
	type step struct {
		redeem string // a redemption of this amount arrives, or
		refund string // an order.refunded of this amount arrives
		want   string // what the step asks the cards to refund in all
	}
	cases := []struct {
		name  string
		total string // order.completed's total, "" when unknown
		steps []step
	}{
		{"full refund before the only redemption", "", []step{
			{refund: "30.00", want: "0"}, {redeem: "20.00", want: "20"},
		}},
		{"full refund spread over redemptions that arrive one by one, never more than the refund", "", []step{
			{refund: "30.00", want: "0"}, {redeem: "20.00", want: "20"}, {redeem: "15.00", want: "10"}, {redeem: "5.00", want: "0"},
		}},
		{"a redemption indexed before and one after", "", []step{
			{redeem: "10.00", want: "0"}, {refund: "25.00", want: "10"}, {redeem: "20.00", want: "15"},
		}},
		{"partial refund of a known total: the gift card share grows with the redemptions", "100.00", []step{
			{refund: "40.00", want: "0"}, {redeem: "25.00", want: "10"}, {redeem: "25.00", want: "10"},
		}},
		{"two early refunds are served in the order they arrived", "", []step{
			{refund: "10.00", want: "0"}, {refund: "10.00", want: "0"}, {redeem: "15.00", want: "15"}, {redeem: "15.00", want: "5"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := orderWith()
			if tc.total != "" {
				require.NoError(t, o.Complete(OrderCompleted{OrderID: "order_1", Currency: "USD", Total: Amount{Decimal: dec(tc.total)}}))
			}
			ids := map[string]bool{}
			refunded, redeemed, refundsTotal := decimal.Zero, decimal.Zero, decimal.Zero
			for i, s := range tc.steps {
				var fs []FollowUp
				if s.redeem != "" {
					rid := "red-" + string(rune('a'+i))
					fs = o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey(rid), RedemptionID: rid, Amount: usd(s.redeem)})
					require.Empty(t, o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey(rid), RedemptionID: rid, Amount: usd(s.redeem)}),
						"the same redemption record again")
					redeemed = redeemed.Add(dec(s.redeem))
				} else {
					var err error
					fs, err = o.Refund(OrderRefunded{OrderID: "order_1", RefundID: "rf-" + string(rune('a'+i)), Amount: Amount{Decimal: dec(s.refund)}, Currency: "USD"}, "ev-"+string(rune('a'+i)))
					require.NoError(t, err)
					refundsTotal = refundsTotal.Add(dec(s.refund))
				}
				require.Equal(t, s.want, refundSum(t, fs).String(), "step %d", i)
				for _, f := range fs {
					require.False(t, ids[f.CommandID], "command ID %s used twice", f.CommandID)
					ids[f.CommandID] = true
					require.Contains(t, f.Correlation, "ev-", "correlated with the order.refunded event")
					require.Equal(t, testKey(f.Data.(RefundCommand).RedemptionID), f.CardKey)
				}
				refunded = refunded.Add(refundSum(t, fs))
				require.True(t, refunded.LessThanOrEqual(decimal.Min(redeemed, refundsTotal)), "never more than redeemed or refunded")
			}
		})
	}
	t.Run("a redelivered redemption record after a crash derives the same commands", func(t *testing.T) {
		build := func() *OrderState {
			o := orderWith()
			_, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: "rf", Amount: Amount{Decimal: dec("30")}, Currency: "USD"}, "ev")
			require.NoError(t, err)
			return o
		}
		rec := OrderRecord{OrderID: "order_1", CardKey: testKey("k"), RedemptionID: "r1", Amount: usd("12.00")}
		a, b := build().AddRedemption(rec), build().AddRedemption(rec)
		require.Len(t, a, 1)
		require.Equal(t, a[0].CommandID, b[0].CommandID)
	})
	t.Run("an order cancelled after an early refund is reversed once", func(t *testing.T) {
		o := orderWith()
		_, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: "rf", Amount: Amount{Decimal: dec("5")}, Currency: "USD"}, "ev")
		require.NoError(t, err)
		fs := o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey("k"), RedemptionID: "r1", Amount: usd("12.00")})
		require.Equal(t, "5", refundSum(t, fs).String())
		require.Equal(t, "7", refundSum(t, o.Cancel()).String(), "the rest")
		require.Empty(t, o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey("k"), RedemptionID: "r1", Amount: usd("12.00")}))
	})
	t.Run("an order index state stored before open refunds existed", func(t *testing.T) {
		var o OrderState
		require.NoError(t, json.Unmarshal([]byte(`{"order_id":"order_1","redemptions":[{"redemption_id":"r1","card_key":"k","amount":{"amount":"10.00","currency":"USD"},"requested":"10"}],"refunds":["rf-old"]}`), &o))
		require.Empty(t, o.Open)
		fs := o.AddRedemption(OrderRecord{OrderID: "order_1", CardKey: testKey("k2"), RedemptionID: "r2", Amount: usd("5.00")})
		require.Empty(t, fs, "refunds applied by the earlier version are closed")
		fs, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: "rf-old", Amount: Amount{Decimal: dec("5")}, Currency: "USD"}, "ev")
		require.NoError(t, err)
		require.Empty(t, fs, "and still applied once")
	})
}
