package recommendations

import "github.com/shopstream/streams/topics"

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
