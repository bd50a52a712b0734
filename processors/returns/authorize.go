package returns

import (
	"strings"

	"github.com/shopstream/streams/topics"
)

// Who may perform an action on a return.
type Who int

// Permissions of the actions.
const (
	// WhoStaff: staff (warehouse, support) or a system actor (back-office
	// automation). Customers are refused.
	WhoStaff Who = iota + 1
	// WhoOwnerOrStaff: the customer the return belongs to (the order's
	// user_id), staff, or a system actor.
	WhoOwnerOrStaff
	// WhoSystem: only a system actor — the saga's replies from other
	// services.
	WhoSystem
)

// Permissions maps every action to who may perform it. An action missing
// from the table is refused to everybody.
var Permissions = map[Action]Who{
	ActionInitiate:         WhoOwnerOrStaff,
	ActionCancel:           WhoOwnerOrStaff,
	ActionGenerateLabel:    WhoOwnerOrStaff,
	ActionApprove:          WhoStaff,
	ActionReject:           WhoStaff,
	ActionShip:             WhoStaff,
	ActionReceive:          WhoStaff,
	ActionInspect:          WhoStaff,
	ActionComplete:         WhoStaff,
	ActionRetryRefund:      WhoStaff,
	ActionRetryRestock:     WhoStaff,
	ActionResolve:          WhoStaff,
	ActionLabelCreated:     WhoSystem,
	ActionLabelFailed:      WhoSystem,
	ActionRefundSucceeded:  WhoSystem,
	ActionRefundRetry:      WhoSystem,
	ActionRefundFailed:     WhoSystem,
	ActionRestockSucceeded: WhoSystem,
	ActionRestockRetry:     WhoSystem,
	ActionRestockFailed:    WhoSystem,
	ActionNotified:         WhoSystem,
	ActionNotifyFailed:     WhoSystem,
	ActionSagaTimeout:      WhoSystem,
}

// Authorize checks that actor may perform action on something owned by
// the customer ownerID (the order's user_id). It returns a forbidden error
// (HTTP 403) naming the action otherwise.
func Authorize(a Action, actor topics.Actor, ownerID string) error {
	who, ok := Permissions[a]
	allowed := false
	if ok {
		switch actor.Type {
		case topics.ActorSystem:
			allowed = true
		case topics.ActorStaff:
			allowed = who != WhoSystem
		case topics.ActorCustomer:
			allowed = who == WhoOwnerOrStaff && ownerID != "" && actor.ID == ownerID
		}
	}
	if allowed {
		return nil
	}
	err := ErrForbidden.Withf("%s %q is not allowed to %s on this return", actor.Type, actor.ID, strings.ReplaceAll(string(a), "_", " ")).
		With("action", string(a)).With("actor_type", actor.Type)
	if who == WhoStaff {
		return err.With("allowed", "staff")
	}
	if who == WhoOwnerOrStaff {
		return err.With("allowed", "the order's customer or staff")
	}
	return err
}

// CanReadStoreCredit reports whether actor may read the store-credit code
// of r: its customer or staff (not a system actor: the code is for a
// person).
func CanReadStoreCredit(r *Return, actor topics.Actor) error {
	switch {
	case actor.Type == topics.ActorStaff:
		return nil
	case actor.Type == topics.ActorCustomer && r.CustomerID != "" && actor.ID == r.CustomerID:
		return nil
	}
	return ErrForbidden.Withf("%s %q may not read the store credit of return %s", actor.Type, actor.ID, r.ID).
		With("allowed", "the return's customer or staff")
}

// CanRead reports whether actor may read the return r (GET
// /v1/returns/{id}) or the return eligibility of an order of the customer
// ownerID: that customer, staff, or a system actor. Anybody else gets a
// forbidden error (HTTP 403): return and order IDs are not secrets, so
// refusing openly reveals nothing a 404 would hide.
func CanRead(actor topics.Actor, ownerID string) error {
	switch {
	case actor.Type == topics.ActorStaff, actor.Type == topics.ActorSystem:
		return nil
	case actor.Type == topics.ActorCustomer && ownerID != "" && actor.ID == ownerID:
		return nil
	}
	return ErrForbidden.Withf("%s %q may not read this", actor.Type, actor.ID).
		With("actor_type", actor.Type).With("allowed", "the customer, staff or system")
}
