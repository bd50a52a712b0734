package returns

import "github.com/shopstream/streams/topics"

// Error codes of the returns domain. They are stable: the HTTP edge maps
// them to statuses and clients match on them.
const (
	CodeOrderNotFound       = "order_not_found"
	CodeReturnWindowExpired = "return_window_expired"
	CodeItemNotReturnable   = "item_not_returnable"
	CodeInvalidQuantity     = "invalid_quantity"
	CodeReturnNotFound      = "return_not_found"
	CodeInvalidState        = "invalid_state"
	CodeItemsNotReceived    = "items_not_received"
	CodeInvalidPolicy       = "invalid_policy"
)

// Sentinel errors; match them with errors.Is. Functions of this package
// return copies with a message and details (Withf, With).
var (
	// ErrOrderNotFound: no order.completed was seen for the order.
	ErrOrderNotFound = topics.NewError(CodeOrderNotFound, "order not found")
	// ErrReturnWindowExpired: the item's return window has closed.
	ErrReturnWindowExpired = topics.NewError(CodeReturnWindowExpired, "return window expired")
	// ErrItemNotReturnable: final sale, a non-returnable category or product.
	ErrItemNotReturnable = topics.NewError(CodeItemNotReturnable, "item is not returnable")
	// ErrInvalidQuantity: a quantity is not positive or exceeds what was
	// bought and is not yet under return.
	ErrInvalidQuantity = topics.NewError(CodeInvalidQuantity, "invalid quantity")
	// ErrReturnNotFound: no return with this ID exists.
	ErrReturnNotFound = topics.NewError(CodeReturnNotFound, "return not found")
	// ErrInvalidState: the action is not allowed in the return's state; the
	// return is left unchanged.
	ErrInvalidState = topics.NewError(CodeInvalidState, "action not allowed in the return's state")
	// ErrItemsNotReceived: completion needs received items.
	ErrItemsNotReceived = topics.NewError(CodeItemsNotReceived, "items have not been received")
	// ErrForbidden: the actor may not perform the action (a customer
	// approving, a customer acting on another customer's return). See
	// Permissions.
	ErrForbidden = topics.NewError(topics.CodeForbidden, "actor may not perform this action")
	// ErrInvalidPolicy: a policy file that cannot be used.
	ErrInvalidPolicy = topics.NewError(CodeInvalidPolicy, "invalid return policy")
)
