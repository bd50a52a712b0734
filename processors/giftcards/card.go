package giftcards

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Status is a card's status.
type Status string

// Card statuses (the seed's GiftCard::STATUSES).
const (
	StatusActive            Status = "active"
	StatusPartiallyRedeemed Status = "partially_redeemed"
	StatusFullyRedeemed     Status = "fully_redeemed"
	StatusExpired           Status = "expired"
	StatusVoided            Status = "voided"
)

// TxType is the type of a ledger transaction.
type TxType string

// Transaction types. Every balance change is one of them.
const (
	TxCreation         TxType = "creation"
	TxRedemption       TxType = "redemption"
	TxRefund           TxType = "refund"
	TxTransferIn       TxType = "transfer_in"
	TxTransferOut      TxType = "transfer_out"
	TxTransferReversal TxType = "transfer_reversal"
	TxVoid             TxType = "void"
	TxExpiry           TxType = "expiry"
)

// Transaction is one immutable ledger entry. Amount is signed (a redemption
// is negative); BalanceAfter = BalanceBefore + Amount.
type Transaction struct {
	ID            string          `json:"id"`
	Type          TxType          `json:"type"`
	Amount        decimal.Decimal `json:"amount"`
	BalanceBefore decimal.Decimal `json:"balance_before"`
	BalanceAfter  decimal.Decimal `json:"balance_after"`
	OrderID       string          `json:"order_id,omitempty"`
	// ReferenceID is the redemption, refund, transfer or hold it belongs to.
	ReferenceID string    `json:"reference_id,omitempty"`
	CommandID   string    `json:"command_id,omitempty"`
	At          time.Time `json:"at"`
}

// Redemption is a debit for an order that can later be refunded: what a
// refund needs of it (its ID, order, amount and what was refunded so far)
// and the hold it captured, if any. The card keeps every redemption, in
// the compact form of MarshalJSON; when it happened is in its transaction
// and its gift_card.redeemed event.
type Redemption struct {
	ID       string
	OrderID  string
	Amount   decimal.Decimal
	Refunded decimal.Decimal
	HoldID   string
	// Refunds are the IDs of the refunds made to it (since 2026-12-01;
	// refunds made before are counted in Refunded only), so that a refund
	// command repeated after it left the card's ledger is recognized.
	Refunds []string
}

// Refundable is what can still be refunded to the card.
func (r Redemption) Refundable() decimal.Decimal { return r.Amount.Sub(r.Refunded) }

// HoldStatus is a hold's status.
type HoldStatus string

// Hold statuses.
const (
	HoldAuthorized HoldStatus = "authorized"
	HoldCaptured   HoldStatus = "captured"
	HoldReleased   HoldStatus = "released"
	HoldExpired    HoldStatus = "expired"
)

// Hold reserves part of the balance for an order until it is captured,
// released or expires. An authorized hold counts against the available
// balance but is not a ledger transaction: the balance changes only when
// it is captured (as a redemption).
type Hold struct {
	ID           string          `json:"id"`
	OrderID      string          `json:"order_id"`
	Amount       decimal.Decimal `json:"amount"`
	Captured     decimal.Decimal `json:"captured"`
	Status       HoldStatus      `json:"status"`
	RedemptionID string          `json:"redemption_id,omitempty"`
	At           time.Time       `json:"at"`
	ExpiresAt    time.Time       `json:"expires_at"`
}

// TransferStatus is the state of a transfer on its source card.
type TransferStatus string

// Transfer statuses.
const (
	TransferPending   TransferStatus = "pending"
	TransferCompleted TransferStatus = "completed"
	TransferReversed  TransferStatus = "reversed"
)

// Origin is the client command that started a saga, kept so that the
// saga's final result can answer it (and be remembered under its ID).
type Origin struct {
	CommandID string          `json:"command_id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
}

// Transfer is an outgoing transfer as the source card sees it.
type Transfer struct {
	ID        string          `json:"id"`
	ToKey     string          `json:"to_key"`
	Amount    decimal.Decimal `json:"amount"`
	Status    TransferStatus  `json:"status"`
	ToBalance decimal.Decimal `json:"to_balance"`
	// FromBalance is the source balance right after the debit.
	FromBalance decimal.Decimal `json:"from_balance"`
	Error       *topics.Error   `json:"error,omitempty"`
	Origin      Origin          `json:"origin"`
	At          time.Time       `json:"at"`
}

// Card is one gift card: its terms, balance and immutable ledger.
type Card struct {
	Key            string          `json:"key"`
	Last4          string          `json:"last4"`
	Currency       string          `json:"currency"`
	OriginalAmount decimal.Decimal `json:"original_amount"`
	Balance        decimal.Decimal `json:"balance"`
	Status         Status          `json:"status"`
	PurchaserID    string          `json:"purchaser_id"`
	RecipientEmail string          `json:"recipient_email,omitempty"`
	Message        string          `json:"message,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	ExpiresAt      time.Time       `json:"expires_at"`
	VoidedAt       *time.Time      `json:"voided_at,omitempty"`
	VoidedBy       string          `json:"voided_by,omitempty"`
	VoidReason     string          `json:"void_reason,omitempty"`
	// Transactions is the recent window of the ledger, oldest first: the
	// processor keeps the last few (WithTransactionWindow) and Checkpoint
	// stands for the ones before them. The whole ledger is the gift card
	// events (each carries its transaction), which the PostgreSQL sink
	// writes to gift_card_transactions.
	Transactions TxWindow `json:"transactions"`
	// Checkpoint summarizes the transactions trimmed from the window; nil
	// when none was (every card stored before the window existed).
	Checkpoint  *Checkpoint  `json:"checkpoint,omitempty"`
	Redemptions []Redemption `json:"redemptions,omitempty"`
	Holds       []Hold       `json:"holds,omitempty"`
	Transfers   []Transfer   `json:"transfers,omitempty"`
	// Credits are the IDs of the transfers credited to the card (since
	// 2026-12-01), so that a credit step delivered again after it left the
	// card's ledger is not credited twice.
	Credits []string `json:"credits,omitempty"`
	// Seq counts the card's events: every event about the card carries the
	// next value, so readers (the PostgreSQL sink) can order a card's
	// events exactly. A card stored before it existed decodes as 0 and
	// continues from there.
	Seq int64 `json:"seq,omitempty"`
}

// Checkpoint stands for the ledger transactions a card no longer keeps.
type Checkpoint struct {
	// Count is how many transactions came before Transactions[0].
	Count int64 `json:"count"`
	// Balance is the balance before Transactions[0] (after the last
	// transaction trimmed).
	Balance decimal.Decimal `json:"balance"`
}

// TransactionCount is how many ledger transactions the card ever had,
// trimmed ones included.
func (c *Card) TransactionCount() int64 {
	n := int64(len(c.Transactions))
	if c.Checkpoint != nil {
		n += c.Checkpoint.Count
	}
	return n
}

// baseBalance is the balance before the first kept transaction.
func (c *Card) baseBalance() decimal.Decimal {
	if c.Checkpoint != nil {
		return c.Checkpoint.Balance
	}
	return decimal.Zero
}

// Trim returns the card with at most window transactions, the oldest ones
// folded into its checkpoint; c itself when it has no more than that
// (c is never changed: it may be shared). window < 1 keeps one.
func (c *Card) Trim(window int) *Card {
	if window < 1 {
		window = 1
	}
	drop := len(c.Transactions) - window
	if drop <= 0 {
		return c
	}
	n := *c
	n.Checkpoint = &Checkpoint{Count: c.TransactionCount() - int64(window), Balance: c.Transactions[drop].BalanceBefore}
	n.Transactions = slices.Clone(c.Transactions[drop:])
	return &n
}

// Clone returns a deep copy, so that an operation never changes the card
// it was given.
func (c *Card) Clone() *Card {
	n := *c
	n.Transactions = slices.Clone(c.Transactions)
	if c.Checkpoint != nil {
		cp := *c.Checkpoint
		n.Checkpoint = &cp
	}
	n.Redemptions = slices.Clone(c.Redemptions)
	n.Holds = slices.Clone(c.Holds)
	n.Transfers = slices.Clone(c.Transfers)
	n.Credits = slices.Clone(c.Credits)
	if c.VoidedAt != nil {
		t := *c.VoidedAt
		n.VoidedAt = &t
	}
	return &n
}

// Held is the sum of authorized holds.
func (c *Card) Held() decimal.Decimal {
	sum := decimal.Zero
	for _, h := range c.Holds {
		if h.Status == HoldAuthorized {
			sum = sum.Add(h.Amount)
		}
	}
	return sum
}

// Available is the balance minus authorized holds.
func (c *Card) Available() decimal.Decimal { return c.Balance.Sub(c.Held()) }

// Money returns amount in the card's currency.
func (c *Card) Money(amount decimal.Decimal) topics.Money {
	return topics.Money{Amount: amount, Currency: c.Currency}
}

// Terminal reports whether the card is expired or voided.
func (c *Card) Terminal() bool { return c.Status == StatusExpired || c.Status == StatusVoided }

// CheckInvariants verifies what must hold after every operation: the
// balance is the checkpoint's balance plus the sum of the kept
// transactions (the sum of the whole ledger for a card that kept it all),
// never negative, each transaction's before/after agree with its amount
// and with its predecessor, and holds never exceed the balance.
func (c *Card) CheckInvariants() error {
	sum := c.baseBalance()
	if cp := c.Checkpoint; cp != nil && (cp.Count < 0 || cp.Balance.IsNegative()) {
		return fmt.Errorf("checkpoint of %d transactions with balance %s", cp.Count, cp.Balance)
	}
	for i, t := range c.Transactions {
		if !t.BalanceBefore.Equal(sum) {
			return fmt.Errorf("transaction %d (%s): balance_before %s, checkpoint + ledger sum %s", i, t.Type, t.BalanceBefore, sum)
		}
		sum = sum.Add(t.Amount)
		if !t.BalanceAfter.Equal(sum) {
			return fmt.Errorf("transaction %d (%s): balance_after %s, ledger sum %s", i, t.Type, t.BalanceAfter, sum)
		}
		if sum.IsNegative() {
			return fmt.Errorf("transaction %d (%s): balance %s is negative", i, t.Type, sum)
		}
	}
	if !c.Balance.Equal(sum) {
		return fmt.Errorf("balance %s differs from checkpoint + ledger sum %s", c.Balance, sum)
	}
	if c.Available().IsNegative() {
		return fmt.Errorf("holds %s exceed balance %s", c.Held(), c.Balance)
	}
	for _, r := range c.Redemptions {
		if r.Refunded.GreaterThan(r.Amount) || r.Refunded.IsNegative() {
			return fmt.Errorf("redemption %s: refunded %s of %s", r.ID, r.Refunded, r.Amount)
		}
	}
	return nil
}

// post appends a transaction of amount (signed) and updates the balance.
func (c *Card) post(typ TxType, amount decimal.Decimal, m Meta, orderID, ref string) Transaction {
	t := Transaction{
		ID:            DeriveID(c.Key, m.CommandID, string(typ), ref, strconv.FormatInt(c.TransactionCount(), 10)),
		Type:          typ,
		Amount:        amount,
		BalanceBefore: c.Balance,
		BalanceAfter:  c.Balance.Add(amount),
		OrderID:       orderID,
		ReferenceID:   ref,
		CommandID:     m.CommandID,
		At:            m.At,
	}
	c.Transactions = append(c.Transactions, t)
	c.Balance = t.BalanceAfter
	return t
}

// restatus recomputes the status of a card that is not terminal.
func (c *Card) restatus() {
	if c.Terminal() {
		return
	}
	switch {
	case c.Balance.IsZero():
		c.Status = StatusFullyRedeemed
	case c.Balance.GreaterThanOrEqual(c.OriginalAmount):
		c.Status = StatusActive
	default:
		c.Status = StatusPartiallyRedeemed
	}
}

// usable returns why the card cannot be debited or credited, if it cannot.
func (c *Card) usable() error {
	switch c.Status {
	case StatusVoided:
		return ErrCardVoided.With("last4", c.Last4)
	case StatusExpired:
		return ErrExpiredCard.Withf("gift card expired at %s", c.ExpiresAt.Format(time.RFC3339)).With("last4", c.Last4)
	}
	return nil
}

func (c *Card) redemption(id string) (int, bool) {
	for i := range c.Redemptions {
		if c.Redemptions[i].ID == id {
			return i, true
		}
	}
	return -1, false
}

func (c *Card) hold(id string) (int, bool) {
	for i := range c.Holds {
		if c.Holds[i].ID == id {
			return i, true
		}
	}
	return -1, false
}

// refunded reports whether a refund with this ID was made to the card.
func (c *Card) refunded(id string) bool {
	for i := range c.Redemptions {
		if slices.Contains(c.Redemptions[i].Refunds, id) {
			return true
		}
	}
	return false
}

// credited reports whether the transfer with this ID was credited to the card.
func (c *Card) credited(transferID string) bool { return slices.Contains(c.Credits, transferID) }

func (c *Card) transfer(id string) (int, bool) {
	for i := range c.Transfers {
		if c.Transfers[i].ID == id {
			return i, true
		}
	}
	return -1, false
}

// Meta is what an operation knows about the message that asks for it: the
// command ID (IDs it creates derive from it, so a replay creates the same
// IDs) and the message time (never the wall clock).
type Meta struct {
	CommandID string
	At        time.Time
	Actor     topics.Actor
}

var idNamespace = uuid.MustParse("5b0d3f3e-6a47-4f57-9b8e-6f1d0c2a9e11")

// DeriveID returns a UUID (v5) determined by parts: the same command
// replayed derives the same redemption, refund, hold and transfer IDs.
func DeriveID(parts ...string) string {
	b := make([]byte, 0, 128)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return uuid.NewSHA1(idNamespace, b).String()
}
