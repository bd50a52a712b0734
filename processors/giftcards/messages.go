package giftcards

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Command types, the Type of a command envelope on GiftCardCommands (or
// GiftCardRedemptions for refunds by redemption ID).
const (
	TypeCreate    = "gift_card.create"
	TypeRedeem    = "gift_card.redeem"
	TypeBalance   = "gift_card.balance"
	TypeRefund    = "gift_card.refund"
	TypeTransfer  = "gift_card.transfer"
	TypeVoid      = "gift_card.void"
	TypeAuthorize = "gift_card.authorize"
	TypeCapture   = "gift_card.capture"
	TypeRelease   = "gift_card.release"
	// Saga steps and housekeeping, sent by the processors themselves.
	TypeTransferCredit  = "gift_card.transfer_credit"
	TypeTransferSettle  = "gift_card.transfer_settle"
	TypeTransferReverse = "gift_card.transfer_reverse"
	TypeExpire          = "gift_card.expire"
)

// Event types. The seed's five events have topics of their own; transfer and
// hold events go to GiftCardTransfers and GiftCardHolds.
const (
	EventCreated           = "gift_card.created"
	EventRedeemed          = "gift_card.redeemed"
	EventRefunded          = "gift_card.refunded"
	EventExpired           = "gift_card.expired"
	EventVoided            = "gift_card.voided"
	EventTransferDebited   = "gift_card.transfer_debited"
	EventTransferCredited  = "gift_card.transfer_credited"
	EventTransferReversed  = "gift_card.transfer_reversed"
	EventTransferCompleted = "gift_card.transfer_completed"
	EventHoldAuthorized    = "gift_card.hold_authorized"
	EventHoldCaptured      = "gift_card.hold_captured"
	EventHoldReleased      = "gift_card.hold_released"
	EventHoldExpired       = "gift_card.hold_expired"
)

// Amount is a decimal amount that decodes only from a JSON string
// ("12.34"), never from a number (topics.Amount).
type Amount = topics.Amount

// NewAmount wraps d.
func NewAmount(d decimal.Decimal) *Amount { return &Amount{Decimal: d} }

// CreateCommand creates a card. The edge generated the code and sends only
// its key and last four characters.
type CreateCommand struct {
	CardKey        string       `json:"card_key"`
	Last4          string       `json:"last4"`
	Amount         topics.Money `json:"amount"`
	PurchaserID    string       `json:"purchaser_id"`
	RecipientEmail string       `json:"recipient_email,omitempty"`
	Message        string       `json:"message,omitempty"`
	// ExpiresAt defaults to one year after the command's time.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// BatchID names the bulk creation the card belongs to, if any.
	BatchID string `json:"batch_id,omitempty"`
}

// RedeemCommand debits a card for an order. A nil Amount redeems the whole
// available balance.
type RedeemCommand struct {
	CardKey string  `json:"card_key"`
	OrderID string  `json:"order_id"`
	Amount  *Amount `json:"amount,omitempty"`
}

// BalanceQuery asks for a card's balance. It changes nothing (except
// expiring a card that is past its time) and is not remembered.
type BalanceQuery struct {
	CardKey string `json:"card_key"`
}

// RefundCommand returns part or all of a redemption to its card. Clients
// send it to GiftCardRedemptions keyed by redemption ID; the redemption
// index fills CardKey and forwards it to the card.
type RefundCommand struct {
	RedemptionID string  `json:"redemption_id"`
	CardKey      string  `json:"card_key,omitempty"`
	Amount       *Amount `json:"amount,omitempty"`
	Reason       string  `json:"reason,omitempty"`
}

// TransferCommand moves Amount (in the source card's currency) from
// CardKey to ToKey.
type TransferCommand struct {
	CardKey string `json:"card_key"`
	ToKey   string `json:"to_key"`
	Amount  Amount `json:"amount"`
}

// TransferCreditCommand is the saga step that credits the destination.
type TransferCreditCommand struct {
	TransferID string       `json:"transfer_id"`
	FromKey    string       `json:"from_key"`
	ToKey      string       `json:"to_key"`
	Amount     topics.Money `json:"amount"`
}

// TransferSettleCommand tells the source that the destination accepted.
type TransferSettleCommand struct {
	TransferID string       `json:"transfer_id"`
	ToBalance  topics.Money `json:"to_balance"`
}

// TransferReverseCommand tells the source that the destination refused.
type TransferReverseCommand struct {
	TransferID string        `json:"transfer_id"`
	Error      *topics.Error `json:"error"`
}

// VoidCommand cancels a card (staff only).
type VoidCommand struct {
	CardKey string `json:"card_key"`
	Reason  string `json:"reason"`
	AdminID string `json:"admin_id"`
}

// AuthorizeCommand places a hold for an order. ExpiresAt defaults to the
// processor's hold timeout after the command's time.
type AuthorizeCommand struct {
	CardKey   string     `json:"card_key"`
	OrderID   string     `json:"order_id"`
	Amount    Amount     `json:"amount"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CaptureCommand captures a hold, fully (nil Amount) or partly; the rest
// of the hold is released.
type CaptureCommand struct {
	CardKey string  `json:"card_key"`
	HoldID  string  `json:"hold_id"`
	Amount  *Amount `json:"amount,omitempty"`
}

// ReleaseCommand releases a hold.
type ReleaseCommand struct {
	CardKey string `json:"card_key"`
	HoldID  string `json:"hold_id"`
	Reason  string `json:"reason,omitempty"`
}

// ExpireCommand asks a card to expire itself and its holds that are due at
// the command's time. The expiry ticker sends it.
type ExpireCommand struct {
	CardKey string `json:"card_key"`
}

// Event is an event a domain operation produces: its type and payload.
type Event struct {
	Type string
	Data *CardEvent
}

// CardEvent is the payload of every gift card event. Fields that do not
// apply to an event type are omitted. It never holds a clear code.
type CardEvent struct {
	CardKey        string        `json:"card_key"`
	Last4          string        `json:"last4"`
	Status         Status        `json:"status"`
	Amount         *topics.Money `json:"amount,omitempty"`
	Balance        topics.Money  `json:"balance"`
	Transaction    *Transaction  `json:"transaction,omitempty"`
	OrderID        string        `json:"order_id,omitempty"`
	RedemptionID   string        `json:"redemption_id,omitempty"`
	RefundID       string        `json:"refund_id,omitempty"`
	TransferID     string        `json:"transfer_id,omitempty"`
	HoldID         string        `json:"hold_id,omitempty"`
	Counterparty   string        `json:"counterparty_key,omitempty"`
	PurchaserID    string        `json:"purchaser_id,omitempty"`
	RecipientEmail string        `json:"recipient_email,omitempty"`
	Message        string        `json:"message,omitempty"`
	ExpiresAt      *time.Time    `json:"expires_at,omitempty"`
	Reason         string        `json:"reason,omitempty"`
	AdminID        string        `json:"admin_id,omitempty"`
	BatchID        string        `json:"batch_id,omitempty"`
	Error          *topics.Error `json:"error,omitempty"`
	// Seq is the card's event sequence number: 1 for gift_card.created,
	// then one more for every event about the card, whichever topic it
	// goes to. Events written before it existed decode as 0.
	Seq int64 `json:"seq"`
}

// CardSummary is what results say about a card.
type CardSummary struct {
	CardKey          string       `json:"card_key"`
	Last4            string       `json:"last4"`
	Status           Status       `json:"status"`
	Currency         string       `json:"currency"`
	OriginalAmount   topics.Money `json:"original_amount"`
	Balance          topics.Money `json:"balance"`
	AvailableBalance topics.Money `json:"available_balance"`
	ExpiresAt        time.Time    `json:"expires_at"`
}

// RedemptionResult answers a redemption (and a capture).
type RedemptionResult struct {
	RedemptionID     string       `json:"redemption_id"`
	OrderID          string       `json:"order_id"`
	RedeemedAmount   topics.Money `json:"redeemed_amount"`
	RemainingBalance topics.Money `json:"remaining_balance"`
	GiftCard         CardSummary  `json:"gift_card"`
}

// BalanceResult answers a balance check. Code is the masked code: only its
// last four characters.
type BalanceResult struct {
	Code             string       `json:"code"`
	OriginalAmount   topics.Money `json:"original_amount"`
	CurrentBalance   topics.Money `json:"current_balance"`
	AvailableBalance topics.Money `json:"available_balance"`
	Currency         string       `json:"currency"`
	Status           Status       `json:"status"`
	ExpiresAt        time.Time    `json:"expires_at"`
}

// RefundResult answers a refund to a card.
type RefundResult struct {
	RefundID       string       `json:"refund_id"`
	RedemptionID   string       `json:"redemption_id"`
	RefundedAmount topics.Money `json:"refunded_amount"`
	NewBalance     topics.Money `json:"new_balance"`
}

// TransferResult answers a transfer once both cards have moved.
type TransferResult struct {
	TransferID  string       `json:"transfer_id"`
	Amount      topics.Money `json:"amount"`
	FromBalance topics.Money `json:"from_balance"`
	ToBalance   topics.Money `json:"to_balance"`
}

// VoidResult answers a void.
type VoidResult struct {
	Voided       bool         `json:"voided"`
	VoidedAmount topics.Money `json:"voided_amount"`
	GiftCard     CardSummary  `json:"gift_card"`
}

// HoldResult answers authorize, capture and release.
type HoldResult struct {
	HoldID           string       `json:"hold_id"`
	OrderID          string       `json:"order_id"`
	Status           HoldStatus   `json:"status"`
	Amount           topics.Money `json:"amount"`
	Captured         topics.Money `json:"captured"`
	RedemptionID     string       `json:"redemption_id,omitempty"`
	AvailableBalance topics.Money `json:"available_balance"`
	ExpiresAt        time.Time    `json:"expires_at"`
}

// Summary returns the card's summary.
func (c *Card) Summary() CardSummary {
	return CardSummary{
		CardKey: c.Key, Last4: c.Last4, Status: c.Status, Currency: c.Currency,
		OriginalAmount: c.Money(c.OriginalAmount), Balance: c.Money(c.Balance),
		AvailableBalance: c.Money(c.Available()), ExpiresAt: c.ExpiresAt,
	}
}

// MaskedCode renders a code's last four characters behind a mask.
func MaskedCode(last4 string) string { return "****-" + last4 }
