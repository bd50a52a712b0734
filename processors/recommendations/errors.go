package recommendations

import (
	"errors"

	"github.com/shopstream/streams/topics"
)

// Error codes of the recommendations domain.
const (
	// CodeInvalidUser: the user ID is blank.
	CodeInvalidUser = "invalid_user"
	// CodeInvalidProduct: the product ID is blank.
	CodeInvalidProduct = "invalid_product"
	// CodeInvalidInteraction: the interaction type is not view, cart_add,
	// wishlist or purchase, or the interaction is otherwise malformed.
	CodeInvalidInteraction = "invalid_interaction"
	// CodeInvalidStrategy: the strategy is not collaborative, content_based
	// or hybrid.
	CodeInvalidStrategy = "invalid_strategy"
	// CodeInvalidLimit: the limit is not in [1, MaxLimit].
	CodeInvalidLimit = "invalid_limit"
	// CodeInvalidEvent: an inbound event does not have the contract's shape.
	CodeInvalidEvent = "invalid_event"
)

// Sentinel errors; match them with errors.Is. Returned values carry details.
var (
	// ErrInvalidUser is returned for a blank user ID (the seed's
	// ArgumentError of RecommendationEngine.new).
	ErrInvalidUser = topics.NewError(CodeInvalidUser, "user ID is blank")
	// ErrInvalidProduct is returned for a blank product ID.
	ErrInvalidProduct = topics.NewError(CodeInvalidProduct, "product ID is blank")
	// ErrInvalidInteraction is returned for an unknown interaction type.
	ErrInvalidInteraction = topics.NewError(CodeInvalidInteraction, "invalid interaction")
	// ErrInvalidStrategy is returned for an unknown strategy.
	ErrInvalidStrategy = topics.NewError(CodeInvalidStrategy, "unknown strategy")
	// ErrInvalidLimit is returned for a limit out of range.
	ErrInvalidLimit = topics.NewError(CodeInvalidLimit, "limit out of range")
	// ErrInvalidEvent is returned for an inbound event that breaks the contract.
	ErrInvalidEvent = topics.NewError(CodeInvalidEvent, "invalid event")
)

// ErrUnavailable matches (errors.Is) every UnavailableError: a view or the
// broker could not serve a read or take an event. HTTP answers 503.
var ErrUnavailable = topics.NewError(topics.CodeUnavailable, "recommendations are unavailable")

// ErrMissingDependency is returned by New without clients or storage builders.
var ErrMissingDependency = errors.New("recommendations: clients and storage builders are required")

// UnavailableError is a failure of a view or the broker during Op. It
// matches ErrUnavailable (code unavailable) and unwraps to the cause, which
// stays out of the message a client sees (topics.AsError finds the coded
// error, whose message names only the operation).
type UnavailableError struct {
	// Op names what failed ("reading the profile", ...).
	Op string
	// Err is the cause.
	Err error
}

// Error implements error; it includes the cause, for logs.
func (e *UnavailableError) Error() string { return "recommendations: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the coded error and the cause.
func (e *UnavailableError) Unwrap() []error {
	return []error{ErrUnavailable.Withf("%s failed", e.Op), e.Err}
}
