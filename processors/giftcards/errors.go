package giftcards

import "github.com/shopstream/streams/topics"

// Error codes of the gift card domain: the seed's exceptions plus what the
// stream design needs. They are stable; the HTTP edge maps them to statuses.
const (
	CodeInvalidCode             = "invalid_code"
	CodeExpiredCard             = "expired_card"
	CodeInsufficientBalance     = "insufficient_balance"
	CodeAlreadyRedeemed         = "already_redeemed"
	CodeRedemptionNotFound      = "redemption_not_found"
	CodeRefundExceedsRedemption = "refund_exceeds_redemption"
	CodeCurrencyMismatch        = "currency_mismatch"
	CodeCardVoided              = "card_voided"
	CodeCardExists              = "card_exists"
	CodeHoldNotFound            = "hold_not_found"
	CodeHoldNotActive           = "hold_not_active"
)

// Sentinel errors; match them with errors.Is. Returned errors are copies
// with a specific message and details (Withf, With).
var (
	// ErrInvalidAmount: not positive, not a decimal, or more precise than the currency.
	ErrInvalidAmount = topics.ErrInvalidAmount
	// ErrUnsupportedCurrency: not an ISO 4217 currency we accept.
	ErrUnsupportedCurrency = topics.ErrUnsupportedCurrency
	// ErrInvalidCode: the code is malformed, its check symbol is wrong, or
	// no card has it. The message is the same in every case.
	ErrInvalidCode = topics.NewError(CodeInvalidCode, "gift card code is invalid")
	// ErrExpiredCard: the card is past its expiry.
	ErrExpiredCard = topics.NewError(CodeExpiredCard, "gift card has expired")
	// ErrInsufficientBalance: the amount exceeds the available balance.
	ErrInsufficientBalance = topics.NewError(CodeInsufficientBalance, "insufficient gift card balance")
	// ErrAlreadyRedeemed: the card has no balance left.
	ErrAlreadyRedeemed = topics.NewError(CodeAlreadyRedeemed, "gift card has no balance left")
	// ErrRedemptionNotFound: no redemption has this ID.
	ErrRedemptionNotFound = topics.NewError(CodeRedemptionNotFound, "redemption not found")
	// ErrRefundExceedsRedemption: the refund is more than what remains refundable.
	ErrRefundExceedsRedemption = topics.NewError(CodeRefundExceedsRedemption, "refund exceeds the redeemed amount")
	// ErrCurrencyMismatch: two cards or an amount and a card disagree on currency.
	ErrCurrencyMismatch = topics.NewError(CodeCurrencyMismatch, "currencies do not match")
	// ErrCardVoided: the card was voided by an administrator.
	ErrCardVoided = topics.NewError(CodeCardVoided, "gift card has been voided")
	// ErrCardExists: a card with this key was already created.
	ErrCardExists = topics.NewError(CodeCardExists, "gift card already exists")
	// ErrHoldNotFound: the card has no hold with this ID.
	ErrHoldNotFound = topics.NewError(CodeHoldNotFound, "hold not found")
	// ErrHoldNotActive: the hold was already captured, released or expired.
	ErrHoldNotActive = topics.NewError(CodeHoldNotActive, "hold is no longer active")
	// ErrForbidden: the actor may not do this (void needs staff).
	ErrForbidden = topics.NewError(topics.CodeForbidden, "not allowed")
	// ErrInvalidRequest: a field is missing or malformed.
	ErrInvalidRequest = topics.ErrInvalidRequest
)
