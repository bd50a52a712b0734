package giftcards

import (
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
				require.NoError(t, o.Complete(OrderCompleted{OrderID: "order_1", Currency: "USD", Total: Amount{dec(tc.total)}}))
			}
			fs, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: "rf_1", Amount: Amount{dec(tc.refund)}, Currency: "USD"})
			require.NoError(t, err)
			require.Len(t, fs, tc.wantParts)
			require.Equal(t, tc.want, refundSum(t, fs).String())
		})
	}
	t.Run("same refund ID applied once", func(t *testing.T) {
		o := orderWith("30.00")
		r := OrderRefunded{OrderID: "order_1", RefundID: "rf_1", Amount: Amount{dec("10")}, Currency: "USD"}
		fs, err := o.Refund(r)
		require.NoError(t, err)
		require.Len(t, fs, 1)
		fs, err = o.Refund(r)
		require.NoError(t, err)
		require.Empty(t, fs)
	})
	t.Run("repeated refunds never exceed what was redeemed", func(t *testing.T) {
		o := orderWith("30.00")
		total := decimal.Zero
		for _, id := range []string{"a", "b", "c", "d"} {
			fs, err := o.Refund(OrderRefunded{OrderID: "order_1", RefundID: id, Amount: Amount{dec("12")}, Currency: "USD"})
			require.NoError(t, err)
			total = total.Add(refundSum(t, fs))
		}
		require.Equal(t, "30", total.String())
	})
	t.Run("derived command IDs are stable", func(t *testing.T) {
		a, _ := orderWith("30.00").Refund(OrderRefunded{RefundID: "rf", Amount: Amount{dec("5")}, Currency: "USD"})
		b, _ := orderWith("30.00").Refund(OrderRefunded{RefundID: "rf", Amount: Amount{dec("5")}, Currency: "USD"})
		require.Equal(t, a[0].CommandID, b[0].CommandID)
	})
	t.Run("bad amount", func(t *testing.T) {
		_, err := orderWith("30.00").Refund(OrderRefunded{RefundID: "rf", Amount: Amount{dec("1.001")}, Currency: "USD"})
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
		_, err := o.Refund(OrderRefunded{RefundID: "rf", Amount: Amount{dec("10")}, Currency: "USD"})
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
