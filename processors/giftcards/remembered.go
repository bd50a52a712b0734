package giftcards

import (
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// A card's command ledger (CardState.Commands) remembers the result of each
// of the card's recent commands, to answer a repeat with the first result.
// It is read and written with the card on every command, so what it keeps
// is kept small: the results of the most frequent commands (create and
// redeem) are stored compact, without what the card itself can give back
// (the card summary), and expanded when a repeat asks for them. The
// expanded result is byte for byte the result first sent.
//
// A compact entry is recognized by its empty Type: every result the
// processor sends has one. Entries stored in the full form (by earlier
// versions) are answered as they are.

// compactRedemption is the remembered form of a successful redeem: what
// the card cannot give back, i.e. the balance, available balance and
// status right after it. The redemption itself (ID, order, amount) stays
// in the card's Redemptions under the ID derived from the card key and the
// command ID; the card's key, last four, currency, original amount and
// expiry never change.
//
// Entries written since 2026-12-01 keep only the balance, and the
// available balance when it differs (the card had holds): the status
// right after a redeem follows from the balance and the card's original
// amount (Card.restatus: a card that can be redeemed is not terminal).
// Entries written before carry all three and are read as they are.
type compactRedemption struct {
	Balance   decimal.Decimal  `json:"balance"`
	Available *decimal.Decimal `json:"available,omitempty"`
	Status    Status           `json:"status,omitempty"`
}

// statusAfter is the status of a card that is not terminal at balance.
func (c *Card) statusAfter(balance decimal.Decimal) Status {
	n := Card{Balance: balance, OriginalAmount: c.OriginalAmount, Status: StatusActive}
	n.restatus()
	return n.Status
}

// compactResult returns the form of res the ledger keeps for a command
// whose result object was result: compact for a successful create or
// redeem, res itself otherwise.
func compactResult(res *topics.CommandResult, result any) *topics.CommandResult {
	if res == nil || !res.OK || res.Pending || res.Replayed {
		return res
	}
	stored := &topics.CommandResult{OK: true, CompletedAt: res.CompletedAt}
	switch r := result.(type) {
	case CardSummary:
		if res.Type != TypeCreate {
			return res
		}
		// Everything a create answered is the card's creation terms.
	case *RedemptionResult:
		if res.Type != TypeRedeem {
			return res
		}
		c := compactRedemption{Balance: r.RemainingBalance.Amount}
		if !r.GiftCard.AvailableBalance.Amount.Equal(c.Balance) {
			c.Available = &r.GiftCard.AvailableBalance.Amount
		}
		derived := (&Card{OriginalAmount: r.GiftCard.OriginalAmount.Amount}).statusAfter(c.Balance)
		if r.GiftCard.Status != derived {
			c.Status = r.GiftCard.Status // never for a redeem; kept exact all the same
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return res
		}
		stored.Result = raw
	default:
		return res
	}
	return stored
}

// expandResult turns a replayed ledger entry (as Ledger.Check returns it,
// for env) back into the result first sent, with card's help for a compact
// one. A full entry is returned unchanged.
func expandResult(card *Card, env *topics.Envelope, prev *topics.CommandResult) (*topics.CommandResult, error) {
	if prev == nil || prev.Type != "" {
		return prev, nil
	}
	r := *prev
	r.CommandID, r.Type = env.CommandID, env.Type
	if card == nil {
		return nil, ErrInvalidCode // a compact entry lives only in a card's ledger
	}
	var result any
	switch env.Type {
	case TypeCreate:
		s := card.Summary()
		s.Status = StatusActive
		s.Balance, s.AvailableBalance = s.OriginalAmount, s.OriginalAmount
		result = s
	case TypeRedeem:
		var c compactRedemption
		if err := json.Unmarshal(prev.Result, &c); err != nil {
			return nil, err
		}
		i, ok := card.redemption(DeriveID(card.Key, env.CommandID, "redemption"))
		if !ok {
			return nil, fmt.Errorf("giftcards: remembered redeem %s has no redemption on its card", env.CommandID)
		}
		red := card.Redemptions[i]
		s := card.Summary()
		status, available := c.Status, c.Balance
		if status == "" {
			status = card.statusAfter(c.Balance)
		}
		if c.Available != nil {
			available = *c.Available
		}
		s.Status, s.Balance, s.AvailableBalance = status, card.Money(c.Balance), card.Money(available)
		result = RedemptionResult{RedemptionID: red.ID, OrderID: red.OrderID,
			RedeemedAmount: card.Money(red.Amount), RemainingBalance: card.Money(c.Balance), GiftCard: s}
	default:
		return &r, nil
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	r.Result = raw
	return &r, nil
}
