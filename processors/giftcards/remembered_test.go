package giftcards

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// TestRememberedResultsReplayExactly checks that a repeated command is
// answered with the result first sent, byte for byte, whether the card's
// ledger kept it compact (create, redeem) or whole, and however the card
// changed since.
func TestRememberedResultsReplayExactly(t *testing.T) {
	customerActor := topics.Actor{ID: "u1", Type: topics.ActorCustomer}
	envelope := func(t *testing.T, typ, cmdID string, data any, at time.Time) *topics.Envelope {
		t.Helper()
		env, err := topics.NewEnvelope(typ, at, data, topics.WithCommandID(cmdID), topics.WithActor(customerActor))
		require.NoError(t, err)
		return env
	}
	// later changes the card after the remembered command: more
	// redemptions, a hold, a void.
	later := func(t *testing.T, c *Card) *Card {
		t.Helper()
		if c.Available().GreaterThan(dec("3")) {
			c, _ = redeem(t, c, "1")
			var err error
			c, _, _, err = c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o9", Amount: Amount{Decimal: dec("2")}}, meta(t0.Add(3*time.Hour)), time.Hour)
			require.NoError(t, err)
		}
		c, _, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "fraud", AdminID: "admin_1"}, staff(t0.Add(4*time.Hour)))
		require.NoError(t, err)
		return c
	}
	cases := []struct {
		name string
		// run applies one command to a fresh card and returns the card
		// after it, the command and its result (as the processor builds
		// them).
		run         func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any)
		wantCompact bool
	}{
		{"create", func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any) {
			cmd := CreateCommand{CardKey: testKey(t.Name()), Last4: "AB2C", Amount: usd("50.00"), PurchaserID: "u1"}
			env := envelope(t, TypeCreate, "c-1", cmd, t0)
			c, _, err := Create(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt}, 0)
			require.NoError(t, err)
			res, err := topics.Succeeded(env, c.Summary())
			require.NoError(t, err)
			return c, env, res, c.Summary()
		}, true},
		{"partial redeem with a hold on the card", func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any) {
			c := newCard(t, "50.00", "USD")
			c, _, _, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "o1", Amount: Amount{Decimal: dec("5")}}, meta(t0), time.Hour)
			require.NoError(t, err)
			cmd := RedeemCommand{CardKey: c.Key, OrderID: "o2", Amount: amt("12.34")}
			env := envelope(t, TypeRedeem, "r-1", cmd, t0.Add(time.Minute))
			c, _, r, err := c.Redeem(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
			require.NoError(t, err)
			require.NotEqual(t, r.GiftCard.Balance, r.GiftCard.AvailableBalance)
			res, err := topics.Succeeded(env, r)
			require.NoError(t, err)
			return c, env, res, r
		}, true},
		{"full redeem in JPY", func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any) {
			c := newCard(t, "5000", "JPY")
			cmd := RedeemCommand{CardKey: c.Key, OrderID: "o3"}
			env := envelope(t, TypeRedeem, "r-2", cmd, t0.Add(time.Minute))
			c, _, r, err := c.Redeem(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
			require.NoError(t, err)
			require.Equal(t, StatusFullyRedeemed, r.GiftCard.Status)
			res, err := topics.Succeeded(env, r)
			require.NoError(t, err)
			return c, env, res, r
		}, true},
		{"redeem of a card topped up by a transfer, still active", func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any) {
			c := newCard(t, "50.00", "USD")
			c, _, err := TransferCredit(c, TransferCreditCommand{TransferID: "tr-1", FromKey: testKey("from"), ToKey: c.Key, Amount: usd("30.00")}, meta(t0))
			require.NoError(t, err)
			cmd := RedeemCommand{CardKey: c.Key, OrderID: "o6", Amount: amt("10")}
			env := envelope(t, TypeRedeem, "r-4", cmd, t0.Add(time.Minute))
			c, _, r, err := c.Redeem(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
			require.NoError(t, err)
			require.Equal(t, StatusActive, r.GiftCard.Status)
			res, err := topics.Succeeded(env, r)
			require.NoError(t, err)
			return c, env, res, r
		}, true},
		{"refund, kept whole", func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any) {
			c := newCard(t, "50.00", "USD")
			c, red := redeem(t, c, "20.00")
			cmd := RefundCommand{RedemptionID: red.RedemptionID, CardKey: c.Key, Amount: amt("5")}
			env := envelope(t, TypeRefund, "f-1", cmd, t0.Add(2*time.Hour))
			c, _, r, err := c.Refund(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
			require.NoError(t, err)
			res, err := topics.Succeeded(env, r)
			require.NoError(t, err)
			return c, env, res, r
		}, false},
		{"failed redeem, kept whole", func(t *testing.T) (*Card, *topics.Envelope, *topics.CommandResult, any) {
			c := newCard(t, "50.00", "USD")
			cmd := RedeemCommand{CardKey: c.Key, OrderID: "o4", Amount: amt("50.01")}
			env := envelope(t, TypeRedeem, "r-3", cmd, t0)
			_, _, _, err := c.Redeem(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
			require.ErrorIs(t, err, ErrInsufficientBalance)
			return c, env, topics.Failed(env, err), nil
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			card, env, first, result := tc.run(t)
			var st CardState
			stored := compactResult(first, result)
			require.Equal(t, tc.wantCompact, stored != first, "compact form")
			if tc.wantCompact {
				full, err := json.Marshal(first)
				require.NoError(t, err)
				small, err := json.Marshal(stored)
				require.NoError(t, err)
				require.Less(t, len(small), len(full)/2, "the compact form is less than half the result")
			}
			st.Commands.Remember(env, stored, 64)
			card = later(t, card)

			// The same command again, in another envelope (a client's retry).
			again := envelope(t, env.Type, env.CommandID, json.RawMessage(env.Data), env.OccurredAt.Add(time.Minute))
			require.NotEqual(t, env.ID, again.ID)
			prev, err := st.Commands.Check(again)
			require.NoError(t, err)
			prev, err = expandResult(card, again, prev)
			require.NoError(t, err)
			require.NotNil(t, prev)
			require.Equal(t, string(first.Result), string(prev.Result), "the first result, byte for byte")
			require.Equal(t, first.Error, prev.Error)
			require.Equal(t, first.CommandID, prev.CommandID)
			require.Equal(t, first.Type, prev.Type)
			require.Equal(t, first.OK, prev.OK)
			require.True(t, first.CompletedAt.Equal(prev.CompletedAt))
			require.True(t, prev.Replayed)
			require.Equal(t, again.AnswersEnvelope(), prev.EnvelopeID, "it answers the retry")
		})
	}
	t.Run("a compact entry of the earlier form (balance, available, status) replays exactly", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		cmd := RedeemCommand{CardKey: c.Key, OrderID: "o7", Amount: amt("1")}
		env := envelope(t, TypeRedeem, "r-older", cmd, t0)
		c, _, r, err := c.Redeem(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
		require.NoError(t, err)
		first, err := topics.Succeeded(env, r)
		require.NoError(t, err)
		stored := &topics.CommandResult{OK: true, CompletedAt: first.CompletedAt,
			Result: json.RawMessage(`{"balance":"49","available":"49","status":"partially_redeemed"}`)}
		var st CardState
		st.Commands.Remember(env, stored, 64)
		prev, err := st.Commands.Check(env)
		require.NoError(t, err)
		prev, err = expandResult(c, env, prev)
		require.NoError(t, err)
		require.Equal(t, string(first.Result), string(prev.Result))
	})
	t.Run("an entry stored whole by an earlier version replays as it is", func(t *testing.T) {
		c := newCard(t, "50.00", "USD")
		cmd := RedeemCommand{CardKey: c.Key, OrderID: "o5", Amount: amt("1")}
		env := envelope(t, TypeRedeem, "r-old", cmd, t0)
		_, _, r, err := c.Redeem(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt})
		require.NoError(t, err)
		first, err := topics.Succeeded(env, r)
		require.NoError(t, err)
		var l command.Ledger
		l.Remember(env, first, 64)
		raw, err := json.Marshal(l) // as the old processor stored it
		require.NoError(t, err)
		var st CardState
		require.NoError(t, json.Unmarshal(raw, &st.Commands))
		prev, err := st.Commands.Check(env)
		require.NoError(t, err)
		prev, err = expandResult(c, env, prev)
		require.NoError(t, err)
		require.JSONEq(t, string(first.Result), string(prev.Result))
		require.Equal(t, first.Type, prev.Type)
	})
}
