package giftcards

import (
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Limits on what a card may carry.
const (
	// DefaultCardTTL is how long a card lives when created without expires_at.
	DefaultCardTTL = 365 * 24 * time.Hour
	// DefaultHoldTTL is how long an uncaptured hold lives by default.
	DefaultHoldTTL = 7 * 24 * time.Hour
	// MaxMessageLen bounds the personal message.
	MaxMessageLen = 500
)

// event builds an event about c and advances c's event sequence: c is
// always the operation's new card, never the one it was given.
func (c *Card) event(typ string, fill func(e *CardEvent)) Event {
	c.Seq++
	e := &CardEvent{CardKey: c.Key, Last4: c.Last4, Status: c.Status, Balance: c.Money(c.Balance), Seq: c.Seq}
	if fill != nil {
		fill(e)
	}
	return Event{Type: typ, Data: e}
}

func money(m topics.Money) *topics.Money { return &m }

// amountIn validates a client amount in the card's currency: positive and no
// more precise than the currency (never silently rounded).
func (c *Card) amountIn(a decimal.Decimal) (decimal.Decimal, error) {
	m, err := topics.Positive(a, c.Currency)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return m.Amount, nil
}

// Create validates cmd and returns the new card with its creation
// transaction. A card without ExpiresAt lives ttl (DefaultCardTTL if 0).
func Create(cmd CreateCommand, m Meta, ttl time.Duration) (*Card, []Event, error) {
	if ttl <= 0 {
		ttl = DefaultCardTTL
	}
	if !ValidKey(cmd.CardKey) {
		return nil, nil, ErrInvalidRequest.Withf("card_key must be 64 hex digits")
	}
	if len(cmd.Last4) != 4 || strings.Trim(cmd.Last4, Alphabet) != "" {
		return nil, nil, ErrInvalidRequest.Withf("last4 must be the code's last four characters")
	}
	if strings.TrimSpace(cmd.PurchaserID) == "" {
		return nil, nil, ErrInvalidRequest.Withf("purchaser_id is required")
	}
	if cmd.Amount.Currency == "" {
		cmd.Amount.Currency = "USD"
	}
	amt, err := topics.Positive(cmd.Amount.Amount, cmd.Amount.Currency)
	if err != nil {
		return nil, nil, err
	}
	if e := cmd.RecipientEmail; e != "" && (len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n")) {
		return nil, nil, ErrInvalidRequest.Withf("recipient_email is not an email address")
	}
	if len(cmd.Message) > MaxMessageLen {
		return nil, nil, ErrInvalidRequest.Withf("message is longer than %d characters", MaxMessageLen)
	}
	expires := m.At.Add(ttl)
	if cmd.ExpiresAt != nil {
		expires = cmd.ExpiresAt.UTC()
		if !expires.After(m.At) {
			return nil, nil, ErrInvalidRequest.Withf("expires_at %s is not in the future", expires.Format(time.RFC3339))
		}
	}
	c := &Card{
		Key: cmd.CardKey, Last4: cmd.Last4, Currency: amt.Currency,
		OriginalAmount: amt.Amount, Balance: decimal.Zero, Status: StatusActive,
		PurchaserID: cmd.PurchaserID, RecipientEmail: cmd.RecipientEmail, Message: cmd.Message,
		CreatedAt: m.At, ExpiresAt: expires,
	}
	t := c.post(TxCreation, amt.Amount, m, "", "")
	ev := c.event(EventCreated, func(e *CardEvent) {
		e.Amount, e.Transaction = money(amt), &t
		e.PurchaserID, e.RecipientEmail, e.Message = c.PurchaserID, c.RecipientEmail, c.Message
		e.ExpiresAt, e.BatchID = &c.ExpiresAt, cmd.BatchID
	})
	return c, []Event{ev}, nil
}

// Settle applies what time alone does to a card at at: a card past its
// expiry expires (its holds are released and its remaining balance is
// recorded as an expiry transaction), and holds past their expiry expire.
// Every operation starts with it, and the expiry ticker sends it on time.
func (c *Card) Settle(at time.Time, m Meta) (*Card, []Event) {
	if c.Terminal() {
		return c, nil
	}
	var events []Event
	n := c
	clone := func() {
		if n == c {
			n = c.Clone()
		}
	}
	cardDue := !at.Before(c.ExpiresAt)
	for i := range c.Holds {
		h := c.Holds[i]
		if h.Status != HoldAuthorized || (!cardDue && at.Before(h.ExpiresAt)) {
			continue
		}
		clone()
		n.Holds[i].Status = HoldExpired
		events = append(events, n.event(EventHoldExpired, func(e *CardEvent) {
			e.HoldID, e.OrderID, e.Amount = h.ID, h.OrderID, money(n.Money(h.Amount))
		}))
	}
	if cardDue {
		clone()
		remaining := n.Balance
		t := n.post(TxExpiry, remaining.Neg(), m, "", "")
		n.Status = StatusExpired
		events = append(events, n.event(EventExpired, func(e *CardEvent) {
			e.Amount, e.Transaction, e.ExpiresAt = money(n.Money(remaining)), &t, &n.ExpiresAt
		}))
	}
	return n, events
}

// NextDeadline is the earliest time at which Settle would change the card
// (its expiry or a hold's), and false for a terminal card.
func (c *Card) NextDeadline() (time.Time, bool) {
	if c.Terminal() {
		return time.Time{}, false
	}
	next := c.ExpiresAt
	for _, h := range c.Holds {
		if h.Status == HoldAuthorized && h.ExpiresAt.Before(next) {
			next = h.ExpiresAt
		}
	}
	return next, true
}

// Redeem debits the card for an order: the whole available balance when
// cmd.Amount is nil.
func (c *Card) Redeem(cmd RedeemCommand, m Meta) (*Card, []Event, *RedemptionResult, error) {
	if err := c.usable(); err != nil {
		return c, nil, nil, err
	}
	if strings.TrimSpace(cmd.OrderID) == "" {
		return c, nil, nil, ErrInvalidRequest.Withf("order_id is required")
	}
	if c.Balance.IsZero() {
		return c, nil, nil, ErrAlreadyRedeemed.With("last4", c.Last4)
	}
	avail := c.Available()
	amount := avail
	if cmd.Amount != nil {
		a, err := c.amountIn(cmd.Amount.Decimal)
		if err != nil {
			return c, nil, nil, err
		}
		amount = a
	}
	if !amount.IsPositive() || amount.GreaterThan(avail) {
		return c, nil, nil, c.insufficient(amount)
	}
	n := c.Clone()
	id := DeriveID(c.Key, m.CommandID, "redemption")
	t := n.post(TxRedemption, amount.Neg(), m, cmd.OrderID, id)
	n.Redemptions = append(n.Redemptions, Redemption{ID: id, OrderID: cmd.OrderID, Amount: amount, Refunded: decimal.Zero})
	n.restatus()
	ev := n.event(EventRedeemed, func(e *CardEvent) {
		e.Amount, e.Transaction, e.OrderID, e.RedemptionID = money(n.Money(amount)), &t, cmd.OrderID, id
	})
	return n, []Event{ev}, &RedemptionResult{
		RedemptionID: id, OrderID: cmd.OrderID, RedeemedAmount: n.Money(amount),
		RemainingBalance: n.Money(n.Balance), GiftCard: n.Summary(),
	}, nil
}

func (c *Card) insufficient(amount decimal.Decimal) error {
	return ErrInsufficientBalance.
		Withf("requested %s, available %s", c.Money(amount), c.Money(c.Available())).
		With("available", c.Money(c.Available()).Amount.StringFixed(mustUnits(c.Currency))).
		With("currency", c.Currency)
}

func mustUnits(cur string) int32 {
	u, _ := topics.MinorUnits(cur)
	return u
}

// Balance reports the card's balance and status.
func (c *Card) BalanceResult() *BalanceResult {
	return &BalanceResult{
		Code: MaskedCode(c.Last4), OriginalAmount: c.Money(c.OriginalAmount),
		CurrentBalance: c.Money(c.Balance), AvailableBalance: c.Money(c.Available()),
		Currency: c.Currency, Status: c.Status, ExpiresAt: c.ExpiresAt,
	}
}

// Refund returns part (cmd.Amount) or all of what remains refundable of a
// redemption to the card. Earlier refunds count: the total never exceeds
// the redemption.
func (c *Card) Refund(cmd RefundCommand, m Meta) (*Card, []Event, *RefundResult, error) {
	i, ok := c.redemption(cmd.RedemptionID)
	if !ok {
		return c, nil, nil, ErrRedemptionNotFound.With("redemption_id", cmd.RedemptionID)
	}
	if err := c.usable(); err != nil {
		return c, nil, nil, err
	}
	r := c.Redemptions[i]
	amount := r.Refundable()
	if cmd.Amount != nil {
		a, err := c.amountIn(cmd.Amount.Decimal)
		if err != nil {
			return c, nil, nil, err
		}
		amount = a
	}
	if !amount.IsPositive() || amount.GreaterThan(r.Refundable()) {
		return c, nil, nil, ErrRefundExceedsRedemption.
			Withf("refund of %s exceeds the %s still refundable of redemption %s", c.Money(amount), c.Money(r.Refundable()), r.ID).
			With("refundable", r.Refundable().StringFixed(mustUnits(c.Currency)))
	}
	n := c.Clone()
	id := DeriveID(c.Key, m.CommandID, "refund")
	t := n.post(TxRefund, amount, m, r.OrderID, id)
	n.Redemptions[i].Refunded = r.Refunded.Add(amount)
	n.Redemptions[i].Refunds = append(slices.Clone(r.Refunds), id)
	n.restatus()
	ev := n.event(EventRefunded, func(e *CardEvent) {
		e.Amount, e.Transaction, e.OrderID, e.RedemptionID, e.RefundID = money(n.Money(amount)), &t, r.OrderID, r.ID, id
		e.Reason = cmd.Reason
	})
	return n, []Event{ev}, &RefundResult{RefundID: id, RedemptionID: r.ID, RefundedAmount: n.Money(amount), NewBalance: n.Money(n.Balance)}, nil
}

// TransferDebit is the transfer saga's first step on the source card: it
// debits the amount and records a pending transfer. The caller then sends
// the returned credit command to the destination.
func (c *Card) TransferDebit(cmd TransferCommand, m Meta, origin Origin) (*Card, []Event, *TransferCreditCommand, error) {
	if err := c.usable(); err != nil {
		return c, nil, nil, err
	}
	if !ValidKey(cmd.ToKey) {
		return c, nil, nil, ErrInvalidCode.With("card", "destination")
	}
	if EqualSecret(cmd.ToKey, c.Key) {
		return c, nil, nil, ErrInvalidRequest.Withf("cannot transfer a card to itself")
	}
	amount, err := c.amountIn(cmd.Amount.Decimal)
	if err != nil {
		return c, nil, nil, err
	}
	if amount.GreaterThan(c.Available()) {
		return c, nil, nil, c.insufficient(amount)
	}
	n := c.Clone()
	id := DeriveID(c.Key, m.CommandID, "transfer")
	t := n.post(TxTransferOut, amount.Neg(), m, "", id)
	n.restatus()
	n.Transfers = append(n.Transfers, Transfer{
		ID: id, ToKey: cmd.ToKey, Amount: amount, Status: TransferPending,
		FromBalance: n.Balance, Origin: origin, At: m.At,
	})
	ev := n.event(EventTransferDebited, func(e *CardEvent) {
		e.Amount, e.Transaction, e.TransferID, e.Counterparty = money(n.Money(amount)), &t, id, cmd.ToKey
	})
	return n, []Event{ev}, &TransferCreditCommand{TransferID: id, FromKey: c.Key, ToKey: cmd.ToKey, Amount: n.Money(amount)}, nil
}

// TransferCredit is the saga's second step on the destination card. c is
// nil when no card has the destination key. A refusal (unknown, voided,
// expired, other currency) is returned as the error, and the source
// reverses its debit.
func TransferCredit(c *Card, cmd TransferCreditCommand, m Meta) (*Card, []Event, error) {
	if c == nil {
		return nil, nil, ErrInvalidCode.With("card", "destination")
	}
	if err := c.usable(); err != nil {
		return c, nil, err
	}
	if cmd.Amount.Currency != c.Currency {
		return c, nil, ErrCurrencyMismatch.
			Withf("cannot move %s to a %s card", cmd.Amount.Currency, c.Currency).
			With("from_currency", cmd.Amount.Currency).With("to_currency", c.Currency)
	}
	amount, err := c.amountIn(cmd.Amount.Amount)
	if err != nil {
		return c, nil, err
	}
	n := c.Clone()
	t := n.post(TxTransferIn, amount, m, "", cmd.TransferID)
	n.Credits = append(n.Credits, cmd.TransferID)
	n.restatus()
	ev := n.event(EventTransferCredited, func(e *CardEvent) {
		e.Amount, e.Transaction, e.TransferID, e.Counterparty = money(n.Money(amount)), &t, cmd.TransferID, cmd.FromKey
	})
	return n, []Event{ev}, nil
}

// TransferSettle completes a pending transfer on the source card. It
// returns the transfer (nil if unknown) and whether anything changed: a
// settle for a transfer that is no longer pending is a no-op.
func (c *Card) TransferSettle(cmd TransferSettleCommand, m Meta) (*Card, []Event, *Transfer, bool) {
	i, ok := c.transfer(cmd.TransferID)
	if !ok {
		return c, nil, nil, false
	}
	if c.Transfers[i].Status != TransferPending {
		tr := c.Transfers[i]
		return c, nil, &tr, false
	}
	n := c.Clone()
	tr := &n.Transfers[i]
	tr.Status, tr.ToBalance = TransferCompleted, cmd.ToBalance.Amount
	ev := n.event(EventTransferCompleted, func(e *CardEvent) {
		e.Amount, e.TransferID, e.Counterparty = money(n.Money(tr.Amount)), tr.ID, tr.ToKey
	})
	out := *tr
	return n, []Event{ev}, &out, true
}

// TransferReverse gives a refused transfer's amount back to the source
// card. If the card expired or was voided meanwhile, the returned amount is
// taken again by an expiry or void transaction, so the ledger shows both.
func (c *Card) TransferReverse(cmd TransferReverseCommand, m Meta) (*Card, []Event, *Transfer, bool) {
	i, ok := c.transfer(cmd.TransferID)
	if !ok {
		return c, nil, nil, false
	}
	if c.Transfers[i].Status != TransferPending {
		tr := c.Transfers[i]
		return c, nil, &tr, false
	}
	n := c.Clone()
	tr := &n.Transfers[i]
	tr.Status, tr.Error = TransferReversed, cmd.Error
	t := n.post(TxTransferReversal, tr.Amount, m, "", tr.ID)
	events := []Event{n.event(EventTransferReversed, func(e *CardEvent) {
		e.Amount, e.Transaction, e.TransferID, e.Counterparty, e.Error = money(n.Money(tr.Amount)), &t, tr.ID, tr.ToKey, cmd.Error
	})}
	switch n.Status {
	case StatusExpired:
		t2 := n.post(TxExpiry, tr.Amount.Neg(), m, "", tr.ID)
		events = append(events, n.event(EventExpired, func(e *CardEvent) {
			e.Amount, e.Transaction, e.ExpiresAt = money(n.Money(tr.Amount)), &t2, &n.ExpiresAt
		}))
	case StatusVoided:
		t2 := n.post(TxVoid, tr.Amount.Neg(), m, "", tr.ID)
		events = append(events, n.event(EventVoided, func(e *CardEvent) {
			e.Amount, e.Transaction, e.Reason = money(n.Money(tr.Amount)), &t2, "transfer reversed after void"
		}))
	default:
		n.restatus()
	}
	out := *tr
	return n, events, &out, true
}

// Void cancels the card: holds are released and the balance goes to zero by
// a void transaction. Only staff may void, with a reason and an admin ID.
func (c *Card) Void(cmd VoidCommand, m Meta) (*Card, []Event, *VoidResult, error) {
	if m.Actor.Type != topics.ActorStaff {
		return c, nil, nil, ErrForbidden.Withf("voiding a gift card requires a staff actor")
	}
	if strings.TrimSpace(cmd.AdminID) == "" || strings.TrimSpace(cmd.Reason) == "" {
		return c, nil, nil, ErrInvalidRequest.Withf("admin_id and reason are required")
	}
	if err := c.usable(); err != nil {
		return c, nil, nil, err
	}
	n := c.Clone()
	var events []Event
	for i, h := range n.Holds {
		if h.Status == HoldAuthorized {
			n.Holds[i].Status = HoldReleased
			events = append(events, n.event(EventHoldReleased, func(e *CardEvent) {
				e.HoldID, e.OrderID, e.Amount, e.Reason = h.ID, h.OrderID, money(n.Money(h.Amount)), "card voided"
			}))
		}
	}
	voided := n.Balance
	t := n.post(TxVoid, voided.Neg(), m, "", "")
	at := m.At
	n.Status, n.VoidedAt, n.VoidedBy, n.VoidReason = StatusVoided, &at, cmd.AdminID, cmd.Reason
	events = append(events, n.event(EventVoided, func(e *CardEvent) {
		e.Amount, e.Transaction, e.Reason, e.AdminID = money(n.Money(voided)), &t, cmd.Reason, cmd.AdminID
	}))
	return n, events, &VoidResult{Voided: true, VoidedAmount: n.Money(voided), GiftCard: n.Summary()}, nil
}

// Authorize places a hold on the available balance for an order. It lives
// until cmd.ExpiresAt, or ttl after the command (DefaultHoldTTL if 0).
func (c *Card) Authorize(cmd AuthorizeCommand, m Meta, ttl time.Duration) (*Card, []Event, *HoldResult, error) {
	if ttl <= 0 {
		ttl = DefaultHoldTTL
	}
	if err := c.usable(); err != nil {
		return c, nil, nil, err
	}
	if strings.TrimSpace(cmd.OrderID) == "" {
		return c, nil, nil, ErrInvalidRequest.Withf("order_id is required")
	}
	amount, err := c.amountIn(cmd.Amount.Decimal)
	if err != nil {
		return c, nil, nil, err
	}
	if c.Balance.IsZero() {
		return c, nil, nil, ErrAlreadyRedeemed.With("last4", c.Last4)
	}
	if amount.GreaterThan(c.Available()) {
		return c, nil, nil, c.insufficient(amount)
	}
	expires := m.At.Add(ttl)
	if cmd.ExpiresAt != nil {
		expires = cmd.ExpiresAt.UTC()
		if !expires.After(m.At) {
			return c, nil, nil, ErrInvalidRequest.Withf("expires_at is not in the future")
		}
	}
	// A hold cannot be captured once the card has expired, so it ends when
	// the card does: its expires_at says when the reservation really ends.
	if !c.ExpiresAt.IsZero() && expires.After(c.ExpiresAt) {
		expires = c.ExpiresAt
	}
	n := c.Clone()
	h := Hold{ID: DeriveID(c.Key, m.CommandID, "hold"), OrderID: cmd.OrderID, Amount: amount, Captured: decimal.Zero,
		Status: HoldAuthorized, At: m.At, ExpiresAt: expires}
	n.Holds = append(n.Holds, h)
	ev := n.event(EventHoldAuthorized, func(e *CardEvent) {
		e.HoldID, e.OrderID, e.Amount, e.ExpiresAt = h.ID, h.OrderID, money(n.Money(amount)), &h.ExpiresAt
	})
	return n, []Event{ev}, n.holdResult(h), nil
}

func (c *Card) holdResult(h Hold) *HoldResult {
	return &HoldResult{HoldID: h.ID, OrderID: h.OrderID, Status: h.Status, Amount: c.Money(h.Amount),
		Captured: c.Money(h.Captured), RedemptionID: h.RedemptionID, AvailableBalance: c.Money(c.Available()), ExpiresAt: h.ExpiresAt}
}

func (c *Card) activeHold(id string) (int, error) {
	i, ok := c.hold(id)
	if !ok {
		return -1, ErrHoldNotFound.With("hold_id", id)
	}
	if h := c.Holds[i]; h.Status != HoldAuthorized {
		return -1, ErrHoldNotActive.Withf("hold %s is %s", h.ID, h.Status).With("status", string(h.Status))
	}
	return i, nil
}

// Capture turns a hold into a redemption of cmd.Amount (the whole hold when
// nil); the rest of the hold is released. The redemption can be refunded
// like any other.
func (c *Card) Capture(cmd CaptureCommand, m Meta) (*Card, []Event, *HoldResult, error) {
	i, err := c.activeHold(cmd.HoldID)
	if err != nil {
		return c, nil, nil, err
	}
	if err := c.usable(); err != nil {
		return c, nil, nil, err
	}
	h := c.Holds[i]
	amount := h.Amount
	if cmd.Amount != nil {
		if amount, err = c.amountIn(cmd.Amount.Decimal); err != nil {
			return c, nil, nil, err
		}
	}
	if amount.GreaterThan(h.Amount) {
		return c, nil, nil, ErrInsufficientBalance.Withf("capture of %s exceeds the hold of %s", c.Money(amount), c.Money(h.Amount))
	}
	n := c.Clone()
	rid := DeriveID(c.Key, m.CommandID, "redemption")
	hp := &n.Holds[i]
	hp.Status, hp.Captured, hp.RedemptionID = HoldCaptured, amount, rid
	t := n.post(TxRedemption, amount.Neg(), m, h.OrderID, rid)
	n.Redemptions = append(n.Redemptions, Redemption{ID: rid, OrderID: h.OrderID, Amount: amount, Refunded: decimal.Zero, HoldID: h.ID})
	n.restatus()
	events := []Event{
		n.event(EventHoldCaptured, func(e *CardEvent) {
			e.HoldID, e.OrderID, e.Amount, e.RedemptionID = h.ID, h.OrderID, money(n.Money(amount)), rid
		}),
		n.event(EventRedeemed, func(e *CardEvent) {
			e.Amount, e.Transaction, e.OrderID, e.RedemptionID, e.HoldID = money(n.Money(amount)), &t, h.OrderID, rid, h.ID
		}),
	}
	return n, events, n.holdResult(*hp), nil
}

// Release cancels a hold; its amount is available again.
func (c *Card) Release(cmd ReleaseCommand, m Meta) (*Card, []Event, *HoldResult, error) {
	i, err := c.activeHold(cmd.HoldID)
	if err != nil {
		return c, nil, nil, err
	}
	n := c.Clone()
	hp := &n.Holds[i]
	hp.Status = HoldReleased
	ev := n.event(EventHoldReleased, func(e *CardEvent) {
		e.HoldID, e.OrderID, e.Amount, e.Reason = hp.ID, hp.OrderID, money(n.Money(hp.Amount)), cmd.Reason
	})
	return n, []Event{ev}, n.holdResult(*hp), nil
}
