package giftcards

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func testKey(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:])
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func amt(s string) *Amount { return NewAmount(dec(s)) }

var cmdSeq int

func meta(at time.Time) Meta {
	cmdSeq++
	return Meta{CommandID: fmt.Sprintf("cmd-%d", cmdSeq), At: at, Actor: topics.Actor{ID: "u1", Type: topics.ActorCustomer}}
}

// newCard creates a card of amount in cur at t0, expiring in a year.
func newCard(t *testing.T, amount, cur string) *Card {
	t.Helper()
	c, _, err := Create(CreateCommand{CardKey: testKey(t.Name() + amount + cur), Last4: "AB2C",
		Amount: topics.Money{Amount: dec(amount), Currency: cur}, PurchaserID: "user_1"}, meta(t0), 0)
	require.NoError(t, err)
	requireInvariants(t, c)
	return c
}

func requireInvariants(t *testing.T, c *Card) {
	t.Helper()
	require.NoError(t, c.CheckInvariants())
}

func redeem(t *testing.T, c *Card, amount string) (*Card, *RedemptionResult) {
	t.Helper()
	cmd := RedeemCommand{CardKey: c.Key, OrderID: "order_1"}
	if amount != "" {
		cmd.Amount = amt(amount)
	}
	n, _, res, err := c.Redeem(cmd, meta(t0.Add(time.Hour)))
	require.NoError(t, err)
	requireInvariants(t, n)
	return n, res
}

func TestCreate(t *testing.T) {
	expires := t0.Add(48 * time.Hour)
	valid := CreateCommand{CardKey: testKey("c"), Last4: "WXYZ", Amount: topics.Money{Amount: dec("50.00"), Currency: "USD"}, PurchaserID: "user_123"}
	cases := []struct {
		name    string
		edit    func(c *CreateCommand)
		wantErr error
		check   func(t *testing.T, c *Card, ev []Event)
	}{
		{"defaults: USD, active, one year", func(c *CreateCommand) { c.Amount.Currency = "" }, nil, func(t *testing.T, c *Card, ev []Event) {
			require.Equal(t, "USD", c.Currency)
			require.Equal(t, StatusActive, c.Status)
			require.Equal(t, t0.Add(DefaultCardTTL), c.ExpiresAt)
			require.Len(t, ev, 1)
			require.Equal(t, EventCreated, ev[0].Type)
		}},
		{"all options", func(c *CreateCommand) {
			c.RecipientEmail, c.Message, c.ExpiresAt, c.Amount.Currency = "friend@example.com", "Happy birthday", &expires, "eur"
		}, nil, func(t *testing.T, c *Card, ev []Event) {
			require.Equal(t, "EUR", c.Currency)
			require.Equal(t, "friend@example.com", c.RecipientEmail)
			require.Equal(t, "Happy birthday", c.Message)
			require.Equal(t, expires, c.ExpiresAt)
			require.Equal(t, "friend@example.com", ev[0].Data.RecipientEmail)
		}},
		{"creation transaction", nil, nil, func(t *testing.T, c *Card, ev []Event) {
			require.Len(t, c.Transactions, 1)
			tx := c.Transactions[0]
			require.Equal(t, TxCreation, tx.Type)
			require.True(t, tx.BalanceBefore.IsZero())
			require.Equal(t, "50", tx.BalanceAfter.String())
			require.Equal(t, &tx, ev[0].Data.Transaction)
		}},
		{"JPY has no minor units", func(c *CreateCommand) { c.Amount = topics.Money{Amount: dec("5000"), Currency: "JPY"} }, nil, nil},
		{"KWD has three", func(c *CreateCommand) { c.Amount = topics.Money{Amount: dec("12.345"), Currency: "KWD"} }, nil, nil},
		{"zero amount", func(c *CreateCommand) { c.Amount.Amount = decimal.Zero }, ErrInvalidAmount, nil},
		{"negative amount", func(c *CreateCommand) { c.Amount.Amount = dec("-5") }, ErrInvalidAmount, nil},
		{"cents on JPY", func(c *CreateCommand) { c.Amount = topics.Money{Amount: dec("10.5"), Currency: "JPY"} }, ErrInvalidAmount, nil},
		{"fourth decimal on KWD", func(c *CreateCommand) { c.Amount = topics.Money{Amount: dec("1.2345"), Currency: "KWD"} }, ErrInvalidAmount, nil},
		{"third decimal on USD not rounded", func(c *CreateCommand) { c.Amount.Amount = dec("10.005") }, ErrInvalidAmount, nil},
		{"unknown currency", func(c *CreateCommand) { c.Amount.Currency = "ABC" }, ErrUnsupportedCurrency, nil},
		{"gold is not money", func(c *CreateCommand) { c.Amount.Currency = "XAU" }, ErrUnsupportedCurrency, nil},
		{"no purchaser", func(c *CreateCommand) { c.PurchaserID = " " }, ErrInvalidRequest, nil},
		{"bad key", func(c *CreateCommand) { c.CardKey = "GIFT-ABCD" }, ErrInvalidRequest, nil},
		{"bad last4", func(c *CreateCommand) { c.Last4 = "AB" }, ErrInvalidRequest, nil},
		{"bad email", func(c *CreateCommand) { c.RecipientEmail = "not an email" }, ErrInvalidRequest, nil},
		{"past expiry", func(c *CreateCommand) { p := t0.Add(-time.Hour); c.ExpiresAt = &p }, ErrInvalidRequest, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := valid
			if tc.edit != nil {
				tc.edit(&cmd)
			}
			c, ev, err := Create(cmd, meta(t0), 0)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			requireInvariants(t, c)
			if tc.check != nil {
				tc.check(t, c, ev)
			}
		})
	}
}

func TestRedeem(t *testing.T) {
	cases := []struct {
		name, card, cur, amount string
		wantErr                 error
		wantRedeemed, wantLeft  string
		wantStatus              Status
	}{
		{"partial", "50.00", "USD", "20.00", nil, "20", "30", StatusPartiallyRedeemed},
		{"full by amount", "50.00", "USD", "50.00", nil, "50", "0", StatusFullyRedeemed},
		{"default is the full balance", "50.00", "USD", "", nil, "50", "0", StatusFullyRedeemed},
		{"more than the balance", "50.00", "USD", "50.01", ErrInsufficientBalance, "", "", ""},
		{"zero", "50.00", "USD", "0", ErrInvalidAmount, "", "", ""},
		{"negative", "50.00", "USD", "-1", ErrInvalidAmount, "", "", ""},
		{"too precise", "50.00", "USD", "0.001", ErrInvalidAmount, "", "", ""},
		{"JPY whole yen", "5000", "JPY", "1234", nil, "1234", "3766", StatusPartiallyRedeemed},
		{"JPY fraction refused", "5000", "JPY", "0.5", ErrInvalidAmount, "", "", ""},
		{"KWD fils", "10.000", "KWD", "3.333", nil, "3.333", "6.667", StatusPartiallyRedeemed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCard(t, tc.card, tc.cur)
			cmd := RedeemCommand{CardKey: c.Key, OrderID: "order_1"}
			if tc.amount != "" {
				cmd.Amount = amt(tc.amount)
			}
			n, ev, res, err := c.Redeem(cmd, meta(t0.Add(time.Hour)))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Same(t, c, n, "a refused redemption changes nothing")
				require.Empty(t, ev)
				return
			}
			require.NoError(t, err)
			requireInvariants(t, n)
			require.Equal(t, tc.wantRedeemed, res.RedeemedAmount.Amount.String())
			require.Equal(t, tc.wantLeft, res.RemainingBalance.Amount.String())
			require.Equal(t, tc.wantStatus, n.Status)
			require.Equal(t, EventRedeemed, ev[0].Type)
			require.Equal(t, res.RedemptionID, ev[0].Data.RedemptionID)
			tx := n.Transactions[len(n.Transactions)-1]
			require.Equal(t, TxRedemption, tx.Type)
			require.True(t, tx.Amount.Equal(res.RedeemedAmount.Amount.Neg()))
			require.Len(t, c.Transactions, 1, "the original card is not changed")
		})
	}
}

func TestRedeemAcrossOrders(t *testing.T) {
	c := newCard(t, "100.00", "USD")
	for i, a := range []string{"10.00", "25.50", "30.25"} {
		n, _, res, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: fmt.Sprintf("order_%d", i), Amount: amt(a)}, meta(t0.Add(time.Hour)))
		require.NoError(t, err)
		c = n
		require.Equal(t, fmt.Sprintf("order_%d", i), res.OrderID)
	}
	require.Equal(t, "34.25", c.Balance.StringFixed(2))
	require.Len(t, c.Redemptions, 3)
	requireInvariants(t, c)
	c, res := redeem(t, c, "")
	require.Equal(t, "34.25", res.RedeemedAmount.Amount.StringFixed(2))
	_, _, _, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o"}, meta(t0.Add(time.Hour)))
	require.ErrorIs(t, err, ErrAlreadyRedeemed)
}

func TestPrecision(t *testing.T) {
	t.Run("0.1 + 0.2 redeemed from 0.30 leaves exactly zero", func(t *testing.T) {
		c := newCard(t, "0.30", "USD")
		c, _ = redeem(t, c, "0.1")
		c, _ = redeem(t, c, "0.2")
		require.True(t, c.Balance.IsZero())
		require.Equal(t, StatusFullyRedeemed, c.Status)
	})
	t.Run("a thousand cent redemptions", func(t *testing.T) {
		c := newCard(t, "10.00", "USD")
		for i := 0; i < 1000; i++ {
			n, _, _, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o", Amount: amt("0.01")}, meta(t0))
			require.NoError(t, err)
			c = n
		}
		require.True(t, c.Balance.IsZero())
		requireInvariants(t, c)
	})
	t.Run("money renders the currency's minor units", func(t *testing.T) {
		c := newCard(t, "5", "KWD")
		require.Equal(t, "5.000 KWD", c.Money(c.Balance).String())
	})
}

func TestRefund(t *testing.T) {
	setup := func(t *testing.T) (*Card, string) {
		c := newCard(t, "50.00", "USD")
		c, res := redeem(t, c, "30.00")
		return c, res.RedemptionID
	}
	t.Run("full by default", func(t *testing.T) {
		c, rid := setup(t)
		n, ev, res, err := c.Refund(RefundCommand{RedemptionID: rid}, meta(t0.Add(2*time.Hour)))
		require.NoError(t, err)
		requireInvariants(t, n)
		require.Equal(t, "30", res.RefundedAmount.Amount.String())
		require.Equal(t, "50", res.NewBalance.Amount.String())
		require.Equal(t, StatusActive, n.Status)
		require.Equal(t, EventRefunded, ev[0].Type)
	})
	t.Run("partial, repeated, then over-refund refused", func(t *testing.T) {
		c, rid := setup(t)
		for _, a := range []string{"10.00", "15.00"} {
			n, _, _, err := c.Refund(RefundCommand{RedemptionID: rid, Amount: amt(a)}, meta(t0.Add(2*time.Hour)))
			require.NoError(t, err)
			c = n
		}
		require.Equal(t, "45", c.Balance.String())
		_, _, _, err := c.Refund(RefundCommand{RedemptionID: rid, Amount: amt("5.01")}, meta(t0))
		require.ErrorIs(t, err, ErrRefundExceedsRedemption)
		n, _, res, err := c.Refund(RefundCommand{RedemptionID: rid}, meta(t0))
		require.NoError(t, err)
		require.Equal(t, "5", res.RefundedAmount.Amount.String())
		_, _, _, err = n.Refund(RefundCommand{RedemptionID: rid}, meta(t0))
		require.ErrorIs(t, err, ErrRefundExceedsRedemption, "nothing left to refund")
	})
	t.Run("more than the redemption at once", func(t *testing.T) {
		c, rid := setup(t)
		_, _, _, err := c.Refund(RefundCommand{RedemptionID: rid, Amount: amt("30.01")}, meta(t0))
		require.ErrorIs(t, err, ErrRefundExceedsRedemption)
	})
	t.Run("unknown redemption", func(t *testing.T) {
		c, _ := setup(t)
		_, _, _, err := c.Refund(RefundCommand{RedemptionID: "nope"}, meta(t0))
		require.ErrorIs(t, err, ErrRedemptionNotFound)
	})
	t.Run("refund to a voided card", func(t *testing.T) {
		c, rid := setup(t)
		c, _, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "fraud", AdminID: "admin_1"}, staff(t0))
		require.NoError(t, err)
		_, _, _, err = c.Refund(RefundCommand{RedemptionID: rid}, meta(t0))
		require.ErrorIs(t, err, ErrCardVoided)
	})
	t.Run("fully redeemed card comes back to partially redeemed", func(t *testing.T) {
		c := newCard(t, "20.00", "USD")
		c, res := redeem(t, c, "")
		require.Equal(t, StatusFullyRedeemed, c.Status)
		n, _, _, err := c.Refund(RefundCommand{RedemptionID: res.RedemptionID, Amount: amt("5")}, meta(t0))
		require.NoError(t, err)
		require.Equal(t, StatusPartiallyRedeemed, n.Status)
	})
}

func staff(at time.Time) Meta {
	m := meta(at)
	m.Actor = topics.Actor{ID: "admin_1", Type: topics.ActorStaff}
	return m
}

func TestTransferSaga(t *testing.T) {
	origin := Origin{CommandID: "cmd-transfer", Type: TypeTransfer}
	t.Run("success: debit, credit, settle", func(t *testing.T) {
		src, dst := newCard(t, "50.00", "USD"), newCard(t, "10.00", "USD")
		src2, ev, credit, err := src.TransferDebit(TransferCommand{CardKey: src.Key, ToKey: dst.Key, Amount: Amount{Decimal: dec("20")}}, meta(t0), origin)
		require.NoError(t, err)
		require.Equal(t, EventTransferDebited, ev[0].Type)
		require.Equal(t, "30", src2.Balance.String())
		require.Equal(t, TransferPending, src2.Transfers[0].Status)
		dst2, ev, err := TransferCredit(dst, *credit, meta(t0))
		require.NoError(t, err)
		require.Equal(t, EventTransferCredited, ev[0].Type)
		require.Equal(t, "30", dst2.Balance.String())
		src3, _, tr, changed := src2.TransferSettle(TransferSettleCommand{TransferID: credit.TransferID, ToBalance: dst2.Money(dst2.Balance)}, meta(t0))
		require.True(t, changed)
		require.Equal(t, TransferCompleted, tr.Status)
		require.Equal(t, "30", tr.ToBalance.String())
		requireInvariants(t, src3)
		requireInvariants(t, dst2)
		require.True(t, src3.Balance.Add(dst2.Balance).Equal(dec("60")), "money conserved")
		_, _, _, changed = src3.TransferSettle(TransferSettleCommand{TransferID: credit.TransferID}, meta(t0))
		require.False(t, changed, "settling twice is a no-op")
	})
	refusals := []struct {
		name    string
		dst     func(t *testing.T) *Card
		wantErr error
	}{
		{"unknown destination", func(t *testing.T) *Card { return nil }, ErrInvalidCode},
		{"currency mismatch", func(t *testing.T) *Card { return newCard(t, "10", "EUR") }, ErrCurrencyMismatch},
		{"voided destination", func(t *testing.T) *Card {
			c := newCard(t, "10", "USD")
			c, _, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "r", AdminID: "a"}, staff(t0))
			require.NoError(t, err)
			return c
		}, ErrCardVoided},
		{"expired destination", func(t *testing.T) *Card {
			c := newCard(t, "10", "USD")
			c, _ = c.Settle(c.ExpiresAt, meta(c.ExpiresAt))
			return c
		}, ErrExpiredCard},
	}
	for _, tc := range refusals {
		t.Run("compensation: "+tc.name, func(t *testing.T) {
			src := newCard(t, "50.00", "USD")
			dst := tc.dst(t)
			toKey := testKey("nobody")
			if dst != nil {
				toKey = dst.Key
			}
			src2, _, credit, err := src.TransferDebit(TransferCommand{CardKey: src.Key, ToKey: toKey, Amount: Amount{Decimal: dec("20")}}, meta(t0), origin)
			require.NoError(t, err)
			_, _, err = TransferCredit(dst, *credit, meta(t0))
			require.ErrorIs(t, err, tc.wantErr)
			src3, ev, tr, changed := src2.TransferReverse(TransferReverseCommand{TransferID: credit.TransferID, Error: topics.AsError(err)}, meta(t0))
			require.True(t, changed)
			require.Equal(t, TransferReversed, tr.Status)
			require.Equal(t, EventTransferReversed, ev[0].Type)
			require.Equal(t, "50", src3.Balance.String(), "debit reversed")
			require.Equal(t, TxTransferReversal, src3.Transactions[len(src3.Transactions)-1].Type)
			requireInvariants(t, src3)
			_, _, _, changed = src3.TransferReverse(TransferReverseCommand{TransferID: credit.TransferID}, meta(t0))
			require.False(t, changed, "reversing twice is a no-op")
		})
	}
	sourceErrors := []struct {
		name, amount string
		toSelf       bool
		wantErr      error
	}{
		{"insufficient", "50.01", false, ErrInsufficientBalance},
		{"too precise", "1.001", false, ErrInvalidAmount},
		{"to itself", "1", true, ErrInvalidRequest},
	}
	for _, tc := range sourceErrors {
		t.Run("source refuses: "+tc.name, func(t *testing.T) {
			src := newCard(t, "50.00", "USD")
			to := testKey("x")
			if tc.toSelf {
				to = src.Key
			}
			_, _, _, err := src.TransferDebit(TransferCommand{CardKey: src.Key, ToKey: to, Amount: Amount{Decimal: dec(tc.amount)}}, meta(t0), origin)
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
	t.Run("reversal on a card voided meanwhile keeps it at zero", func(t *testing.T) {
		src := newCard(t, "50.00", "USD")
		src, _, credit, err := src.TransferDebit(TransferCommand{CardKey: src.Key, ToKey: testKey("y"), Amount: Amount{Decimal: dec("20")}}, meta(t0), origin)
		require.NoError(t, err)
		src, _, _, err = src.Void(VoidCommand{CardKey: src.Key, Reason: "r", AdminID: "a"}, staff(t0))
		require.NoError(t, err)
		src, ev, _, _ := src.TransferReverse(TransferReverseCommand{TransferID: credit.TransferID}, meta(t0))
		require.True(t, src.Balance.IsZero())
		require.Len(t, ev, 2)
		requireInvariants(t, src)
	})
}

func TestVoid(t *testing.T) {
	t.Run("staff voids with reason", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		c, _ = redeem(t, c, "15")
		n, ev, res, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "fraud", AdminID: "admin_9"}, staff(t0.Add(time.Hour)))
		require.NoError(t, err)
		require.True(t, res.Voided)
		require.Equal(t, "25", res.VoidedAmount.Amount.String())
		require.Equal(t, StatusVoided, n.Status)
		require.Equal(t, "admin_9", n.VoidedBy)
		require.Equal(t, "fraud", n.VoidReason)
		require.Equal(t, t0.Add(time.Hour), *n.VoidedAt)
		require.Equal(t, EventVoided, ev[len(ev)-1].Type)
		requireInvariants(t, n)
		_, _, _, err = n.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o"}, meta(t0))
		require.ErrorIs(t, err, ErrCardVoided)
		_, _, _, err = n.Void(VoidCommand{CardKey: c.Key, Reason: "again", AdminID: "a"}, staff(t0))
		require.ErrorIs(t, err, ErrCardVoided)
	})
	// Security: void requires a staff actor.
	t.Run("customer may not void", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		_, _, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "x", AdminID: "me"}, meta(t0))
		require.ErrorIs(t, err, ErrForbidden)
	})
	t.Run("reason and admin required", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		_, _, _, err := c.Void(VoidCommand{CardKey: c.Key}, staff(t0))
		require.ErrorIs(t, err, ErrInvalidRequest)
	})
	t.Run("void releases holds", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		c, _, _, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o", Amount: Amount{Decimal: dec("10")}}, meta(t0), 0)
		require.NoError(t, err)
		n, _, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "x", AdminID: "a"}, staff(t0))
		require.NoError(t, err)
		require.Equal(t, HoldReleased, n.Holds[0].Status)
		requireInvariants(t, n)
	})
}

func TestExpiry(t *testing.T) {
	t.Run("not due yet", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		n, ev := c.Settle(c.ExpiresAt.Add(-time.Nanosecond), meta(t0))
		require.Same(t, c, n)
		require.Empty(t, ev)
	})
	t.Run("due: expiry transaction of the remaining balance", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		c, _ = redeem(t, c, "15")
		n, ev := c.Settle(c.ExpiresAt, meta(c.ExpiresAt))
		require.Equal(t, StatusExpired, n.Status)
		require.True(t, n.Balance.IsZero())
		tx := n.Transactions[len(n.Transactions)-1]
		require.Equal(t, TxExpiry, tx.Type)
		require.Equal(t, "-25", tx.Amount.String())
		require.Equal(t, EventExpired, ev[len(ev)-1].Type)
		require.Equal(t, "25", ev[len(ev)-1].Data.Amount.Amount.String())
		requireInvariants(t, n)
		again, ev := n.Settle(n.ExpiresAt.Add(time.Hour), meta(t0))
		require.Same(t, n, again, "expiring twice is a no-op")
		require.Empty(t, ev)
	})
	t.Run("expired card refuses redemption and refunds", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		c, res := redeem(t, c, "10")
		c, _ = c.Settle(c.ExpiresAt, meta(c.ExpiresAt))
		_, _, _, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o"}, meta(t0))
		require.ErrorIs(t, err, ErrExpiredCard)
		_, _, _, err = c.Refund(RefundCommand{RedemptionID: res.RedemptionID}, meta(t0))
		require.ErrorIs(t, err, ErrExpiredCard)
	})
	t.Run("next deadline is the earliest hold", func(t *testing.T) {
		c := newCard(t, "40.00", "USD")
		d, ok := c.NextDeadline()
		require.True(t, ok)
		require.Equal(t, c.ExpiresAt, d)
		c, _, _, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o", Amount: Amount{Decimal: dec("1")}}, meta(t0), time.Hour)
		require.NoError(t, err)
		d, _ = c.NextDeadline()
		require.Equal(t, t0.Add(time.Hour), d)
	})
}

func TestHolds(t *testing.T) {
	authorize := func(t *testing.T, c *Card, a string) (*Card, *HoldResult) {
		t.Helper()
		n, ev, res, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "order_h", Amount: Amount{Decimal: dec(a)}}, meta(t0), 30*time.Minute)
		require.NoError(t, err)
		require.Equal(t, EventHoldAuthorized, ev[0].Type)
		requireInvariants(t, n)
		return n, res
	}
	t.Run("holds count against the available balance", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c, res := authorize(t, c, "30")
		require.Equal(t, "20", res.AvailableBalance.Amount.String())
		require.Equal(t, "50", c.Balance.String(), "a hold is not a debit")
		_, _, _, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o", Amount: amt("20.01")}, meta(t0))
		require.ErrorIs(t, err, ErrInsufficientBalance)
		_, _, _, err = c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o", Amount: Amount{Decimal: dec("21")}}, meta(t0), 0)
		require.ErrorIs(t, err, ErrInsufficientBalance)
		_, r := redeem(t, c, "")
		require.Equal(t, "20", r.RedeemedAmount.Amount.String(), "full redemption takes only what is not held")
	})
	t.Run("full capture", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c, h := authorize(t, c, "30")
		n, ev, res, err := c.Capture(CaptureCommand{CardKey: c.Key, HoldID: h.HoldID}, meta(t0))
		require.NoError(t, err)
		require.Equal(t, HoldCaptured, res.Status)
		require.Equal(t, "20", n.Balance.String())
		require.Equal(t, []string{EventHoldCaptured, EventRedeemed}, []string{ev[0].Type, ev[1].Type})
		requireInvariants(t, n)
		_, _, _, err = n.Capture(CaptureCommand{CardKey: c.Key, HoldID: h.HoldID}, meta(t0))
		require.ErrorIs(t, err, ErrHoldNotActive)
		_, _, rr, err := n.Refund(RefundCommand{RedemptionID: res.RedemptionID, Amount: amt("5")}, meta(t0))
		require.NoError(t, err, "a capture is refundable like a redemption")
		require.Equal(t, "25", rr.NewBalance.Amount.String())
	})
	t.Run("partial capture releases the rest", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c, h := authorize(t, c, "30")
		n, _, res, err := c.Capture(CaptureCommand{CardKey: c.Key, HoldID: h.HoldID, Amount: amt("12.50")}, meta(t0))
		require.NoError(t, err)
		require.Equal(t, "12.5", res.Captured.Amount.String())
		require.Equal(t, "37.5", n.Available().String())
	})
	t.Run("a hold ends when its card does", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c.ExpiresAt = t0.Add(2 * 24 * time.Hour)
		_, _, res, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o", Amount: Amount{Decimal: dec("10")}}, meta(t0), 7*24*time.Hour)
		require.NoError(t, err)
		require.Equal(t, c.ExpiresAt, res.ExpiresAt, "the default seven days would outlive the card")
		asked := t0.Add(30 * 24 * time.Hour)
		_, _, res, err = c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o", Amount: Amount{Decimal: dec("10")}, ExpiresAt: &asked}, meta(t0), 0)
		require.NoError(t, err)
		require.Equal(t, c.ExpiresAt, res.ExpiresAt, "so would the one asked for")
		_, _, res, err = c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o", Amount: Amount{Decimal: dec("10")}}, meta(t0), time.Hour)
		require.NoError(t, err)
		require.Equal(t, t0.Add(time.Hour), res.ExpiresAt, "a hold shorter than the card keeps its own end")
	})
	t.Run("capture more than held", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c, h := authorize(t, c, "30")
		_, _, _, err := c.Capture(CaptureCommand{CardKey: c.Key, HoldID: h.HoldID, Amount: amt("30.01")}, meta(t0))
		require.ErrorIs(t, err, ErrInsufficientBalance)
	})
	t.Run("release", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c, h := authorize(t, c, "30")
		n, ev, res, err := c.Release(ReleaseCommand{CardKey: c.Key, HoldID: h.HoldID}, meta(t0))
		require.NoError(t, err)
		require.Equal(t, HoldReleased, res.Status)
		require.Equal(t, EventHoldReleased, ev[0].Type)
		require.Equal(t, "50", n.Available().String())
		_, _, _, err = n.Release(ReleaseCommand{CardKey: c.Key, HoldID: h.HoldID}, meta(t0))
		require.ErrorIs(t, err, ErrHoldNotActive)
	})
	t.Run("unknown hold", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		_, _, _, err := c.Capture(CaptureCommand{CardKey: c.Key, HoldID: "nope"}, meta(t0))
		require.ErrorIs(t, err, ErrHoldNotFound)
	})
	t.Run("uncaptured hold expires after its timeout", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		c, h := authorize(t, c, "30")
		same, _ := c.Settle(t0.Add(29*time.Minute), meta(t0))
		require.Same(t, c, same)
		n, ev := c.Settle(t0.Add(30*time.Minute), meta(t0))
		require.Equal(t, HoldExpired, n.Holds[0].Status)
		require.Equal(t, EventHoldExpired, ev[0].Type)
		require.Equal(t, "50", n.Available().String())
		_, _, _, err := n.Capture(CaptureCommand{CardKey: c.Key, HoldID: h.HoldID}, meta(t0))
		require.ErrorIs(t, err, ErrHoldNotActive)
	})
}

func TestDerivedIDsAreDeterministic(t *testing.T) {
	c := newCard(t, "50.00", "USD")
	m := meta(t0)
	_, _, a, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o", Amount: amt("1")}, m)
	require.NoError(t, err)
	_, _, b, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o", Amount: amt("1")}, m)
	require.NoError(t, err)
	require.Equal(t, a.RedemptionID, b.RedemptionID, "a replayed command derives the same redemption ID")
	_, _, d, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o", Amount: amt("1")}, meta(t0))
	require.NoError(t, err)
	require.NotEqual(t, a.RedemptionID, d.RedemptionID)
}

func TestInvariantCheckCatchesCorruption(t *testing.T) {
	cases := map[string]func(c *Card){
		"balance differs from ledger": func(c *Card) { c.Balance = c.Balance.Add(dec("1")) },
		"negative balance":            func(c *Card) { c.post(TxRedemption, dec("-100"), meta(t0), "", "") },
		"broken chain":                func(c *Card) { c.Transactions[1].BalanceBefore = dec("7") },
		"over-refunded":               func(c *Card) { c.Redemptions[0].Refunded = dec("11") },
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			c := newCard(t, "50.00", "USD")
			c, _ = redeem(t, c, "10")
			corrupt(c)
			require.Error(t, c.CheckInvariants())
		})
	}
}

// TestEventSequence checks that every event about a card carries the next
// value of the card's sequence, whatever operation produced it, and that
// a card stored before the sequence existed continues from 0.
func TestEventSequence(t *testing.T) {
	type step func(t *testing.T, c *Card) (*Card, []Event)
	must := func(t *testing.T, n *Card, ev []Event, err error) (*Card, []Event) {
		t.Helper()
		require.NoError(t, err)
		requireInvariants(t, n)
		return n, ev
	}
	cases := []struct {
		name  string
		steps []step
		want  []string // event types, in sequence order after gift_card.created
	}{
		{"redeem, refund, void", []step{
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: "o1", Amount: amt("10")}, meta(t0))
				return must(t, n, ev, err)
			},
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Refund(RefundCommand{RedemptionID: c.Redemptions[0].ID, Amount: amt("4")}, meta(t0))
				return must(t, n, ev, err)
			},
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "fraud", AdminID: "admin_1"}, staff(t0))
				return must(t, n, ev, err)
			},
		}, []string{EventRedeemed, EventRefunded, EventVoided}},
		{"one command, several events", []step{
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o1", Amount: Amount{Decimal: dec("5")}}, meta(t0), time.Hour)
				return must(t, n, ev, err)
			},
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Capture(CaptureCommand{CardKey: c.Key, HoldID: c.Holds[0].ID}, meta(t0))
				return must(t, n, ev, err)
			},
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o2", Amount: Amount{Decimal: dec("5")}}, meta(t0), time.Hour)
				return must(t, n, ev, err)
			},
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "fraud", AdminID: "admin_1"}, staff(t0))
				return must(t, n, ev, err)
			},
		}, []string{EventHoldAuthorized, EventHoldCaptured, EventRedeemed, EventHoldAuthorized, EventHoldReleased, EventVoided}},
		{"expiry", []step{
			func(t *testing.T, c *Card) (*Card, []Event) {
				n, ev, _, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o1", Amount: Amount{Decimal: dec("5")}}, meta(t0), time.Hour)
				return must(t, n, ev, err)
			},
			func(t *testing.T, c *Card) (*Card, []Event) { return c.Settle(c.ExpiresAt, meta(c.ExpiresAt)) },
		}, []string{EventHoldAuthorized, EventHoldExpired, EventExpired}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, created, err := Create(CreateCommand{CardKey: testKey(t.Name()), Last4: "AB2C", Amount: usd("50.00"), PurchaserID: "u1"}, meta(t0), 0)
			require.NoError(t, err)
			require.Equal(t, int64(1), created[0].Data.Seq, "gift_card.created is the first event")
			var types []string
			want := int64(2)
			for _, s := range tc.steps {
				before := c.Seq
				var ev []Event
				c, ev = s(t, c)
				for _, e := range ev {
					require.Equal(t, want, e.Data.Seq, "%s", e.Type)
					types = append(types, e.Type)
					want++
				}
				require.Equal(t, before+int64(len(ev)), c.Seq, "the card keeps the last sequence number")
			}
			require.Equal(t, tc.want, types)
		})
	}
	t.Run("a card stored without seq continues from 0", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		raw, err := json.Marshal(c)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		delete(m, "seq")
		raw, err = json.Marshal(m)
		require.NoError(t, err)
		var old Card
		require.NoError(t, json.Unmarshal(raw, &old))
		require.Zero(t, old.Seq)
		_, ev, _, err := old.Redeem(RedeemCommand{CardKey: old.Key, OrderID: "o1", Amount: amt("1")}, meta(t0))
		require.NoError(t, err)
		require.Equal(t, int64(1), ev[0].Data.Seq)
		var e CardEvent
		require.NoError(t, json.Unmarshal([]byte(`{"card_key":"k","last4":"AB2C","status":"active","balance":{"amount":"1.00","currency":"USD"}}`), &e))
		require.Zero(t, e.Seq, "an event written before seq existed")
	})
}
