package returns

import (
	"slices"
	"sort"
)

// State is a return's status.
type State string

// States of a return. The first eight are the seed's; refunding,
// restocking, refund_failed and requires_action are the completion saga's.
const (
	StatePending    State = "pending"
	StateApproved   State = "approved"
	StateShipped    State = "shipped"
	StateReceived   State = "received"
	StateInspecting State = "inspecting"
	StateCompleted  State = "completed"
	StateRejected   State = "rejected"
	StateCancelled  State = "cancelled"
	// StateRefunding: completion accepted, waiting for the refund (payment
	// or store credit) to be confirmed.
	StateRefunding State = "refunding"
	// StateRestocking: refunded, waiting for inventory to take sellable
	// items back.
	StateRestocking State = "restocking"
	// StateRefundFailed: the refund failed after every retry; staff retry
	// it (retry_refund) once the cause is fixed.
	StateRefundFailed State = "refund_failed"
	// StateRequiresAction: refunded but restocking failed after every
	// retry; staff retry it or resolve the return by hand.
	StateRequiresAction State = "requires_action"
)

// Terminal reports whether no action leads out of s.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateRejected || s == StateCancelled
}

// Action is an event of the state machine: a command or a saga reply.
type Action string

// Actions of the state machine.
const (
	ActionInitiate         Action = "initiate"
	ActionApprove          Action = "approve"
	ActionReject           Action = "reject"
	ActionShip             Action = "ship"
	ActionReceive          Action = "receive"
	ActionInspect          Action = "inspect"
	ActionComplete         Action = "complete"
	ActionCancel           Action = "cancel"
	ActionGenerateLabel    Action = "generate_shipping_label"
	ActionLabelCreated     Action = "label_created"
	ActionLabelFailed      Action = "label_failed"
	ActionRefundSucceeded  Action = "refund_succeeded"
	ActionRefundRetry      Action = "refund_retry"
	ActionRefundFailed     Action = "refund_failed"
	ActionRetryRefund      Action = "retry_refund"
	ActionRestockSucceeded Action = "restock_succeeded"
	ActionRestockRetry     Action = "restock_retry"
	ActionRestockFailed    Action = "restock_failed"
	ActionRetryRestock     Action = "retry_restock"
	ActionResolve          Action = "resolve"
	ActionNotified         Action = "notification_delivered"
	ActionNotifyFailed     Action = "notification_failed"
)

// Transitions is the state machine as a table: for each action, the states
// it is allowed in and the state it leads to. An action not allowed in the
// current state is an invalid_state error and changes nothing.
var Transitions = map[Action]map[State]State{
	ActionApprove: {StatePending: StateApproved},
	ActionReject:  {StatePending: StateRejected},
	ActionShip:    {StateApproved: StateShipped},
	// The warehouse may get a parcel before any carrier scan (approved),
	// and partial receipts accumulate (received).
	ActionReceive:  {StateApproved: StateReceived, StateShipped: StateReceived, StateReceived: StateReceived},
	ActionInspect:  {StateReceived: StateInspecting},
	ActionComplete: {StateReceived: StateRefunding, StateInspecting: StateRefunding},
	ActionCancel:   {StatePending: StateCancelled, StateApproved: StateCancelled},
	ActionGenerateLabel: {
		StateApproved: StateApproved, StateShipped: StateShipped,
	},
	ActionLabelCreated: {StateApproved: StateApproved, StateShipped: StateShipped},
	ActionLabelFailed:  {StateApproved: StateApproved, StateShipped: StateShipped},
	// A success can come after the return gave up on the refund (a reply
	// that was late, not lost): it was paid, the saga moves on.
	ActionRefundSucceeded:  {StateRefunding: StateRestocking, StateRefundFailed: StateRestocking},
	ActionRefundRetry:      {StateRefunding: StateRefunding},
	ActionRefundFailed:     {StateRefunding: StateRefundFailed},
	ActionRetryRefund:      {StateRefundFailed: StateRefunding},
	ActionRestockSucceeded: {StateRestocking: StateCompleted},
	ActionRestockRetry:     {StateRestocking: StateRestocking},
	ActionRestockFailed:    {StateRestocking: StateRequiresAction},
	ActionRetryRestock:     {StateRequiresAction: StateRestocking},
	ActionResolve:          {StateRequiresAction: StateCompleted},
}

// Next returns the state action leads to from s, or an invalid_state error
// naming the states it is allowed in.
func Next(s State, a Action) (State, error) {
	from, ok := Transitions[a]
	if !ok {
		return s, ErrInvalidState.Withf("unknown action %q", a).With("action", string(a))
	}
	to, ok := from[s]
	if !ok {
		return s, ErrInvalidState.Withf("cannot %s a return that is %s", a, s).
			With("action", string(a)).With("status", string(s)).With("allowed_in", AllowedIn(a))
	}
	return to, nil
}

// AllowedIn lists the states action is allowed in, sorted.
func AllowedIn(a Action) []string {
	var out []string
	for s := range Transitions[a] {
		out = append(out, string(s))
	}
	sort.Strings(out)
	return out
}

// AllStates lists every state.
var AllStates = []State{StatePending, StateApproved, StateShipped, StateReceived, StateInspecting,
	StateRefunding, StateRestocking, StateCompleted, StateRejected, StateCancelled, StateRefundFailed, StateRequiresAction}

// Can reports whether action is allowed in s.
func Can(s State, a Action) bool {
	_, ok := Transitions[a][s]
	return ok && slices.Contains(AllStates, s)
}
