package topics

import (
	"errors"
	"fmt"
)

// Error is a failure with a stable, machine-readable code. It is the wire
// form of a failed command (see CommandResult) and the value domain packages
// return for rule violations, so that the HTTP edge can map Code to a status
// without string matching. Two Errors match with errors.Is when their codes
// are equal, so a sentinel such as ErrInvalidAmount matches any invalid_amount
// error whatever its message or details.
type Error struct {
	// Code is stable and documented (for example "insufficient_balance").
	Code string `json:"code"`
	// Message is for people; it may change between versions.
	Message string `json:"message"`
	// Details carries structured context (the available balance, the
	// allowed states ...). Values must be JSON-encodable.
	Details map[string]any `json:"details,omitempty"`
}

// NewError returns an Error with the given code and message.
func NewError(code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Withf returns a copy of e with a formatted message, keeping the code.
func (e *Error) Withf(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	c.Details = cloneDetails(e.Details)
	return &c
}

// With returns a copy of e with one more detail.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Details = cloneDetails(e.Details)
	if c.Details == nil {
		c.Details = make(map[string]any, 1)
	}
	c.Details[key] = value
	return &c
}

func cloneDetails(d map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	c := make(map[string]any, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
}

// AsError returns err as an *Error. An error that carries no code becomes an
// "internal" error whose message is err's text.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// Codes shared by every domain. Domain packages declare their own codes
// beside their rules (gift cards: "insufficient_balance", ...).
const (
	// CodeInvalidRequest: the request is malformed or a field is missing.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidAmount: an amount is not positive, not a number, or more
	// precise than its currency allows.
	CodeInvalidAmount = "invalid_amount"
	// CodeUnsupportedCurrency: not an ISO 4217 currency we accept.
	CodeUnsupportedCurrency = "unsupported_currency"
	// CodeIdempotencyConflict: a command ID was reused with another payload.
	CodeIdempotencyConflict = "idempotency_conflict"
	// CodeNotFound: the addressed resource does not exist.
	CodeNotFound = "not_found"
	// CodeUnauthorized: a credential is missing or wrong.
	CodeUnauthorized = "unauthorized"
	// CodeForbidden: the credential does not allow the action.
	CodeForbidden = "forbidden"
	// CodeRateLimited: too many requests; retry later.
	CodeRateLimited = "rate_limited"
	// CodeUnavailable: a dependency (broker, view) is not ready.
	CodeUnavailable = "unavailable"
	// CodeInternal: a bug or an unexpected failure.
	CodeInternal = "internal"
)

// Sentinel errors for the shared codes; match them with errors.Is.
var (
	// ErrInvalidRequest matches every invalid_request error.
	ErrInvalidRequest = NewError(CodeInvalidRequest, "invalid request")
	// ErrInvalidAmount matches every invalid_amount error.
	ErrInvalidAmount = NewError(CodeInvalidAmount, "invalid amount")
	// ErrUnsupportedCurrency matches every unsupported_currency error.
	ErrUnsupportedCurrency = NewError(CodeUnsupportedCurrency, "unsupported currency")
	// ErrIdempotencyConflict matches every idempotency_conflict error.
	ErrIdempotencyConflict = NewError(CodeIdempotencyConflict, "command ID reused with a different payload")
	// ErrNotFound matches every not_found error.
	ErrNotFound = NewError(CodeNotFound, "not found")
)
