package returns

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// allowed is the seed's AASM definition plus the saga's states, written out
// independently of Transitions.
var allowed = map[Action]map[State]State{
	ActionApprove:          {"pending": "approved"},
	ActionReject:           {"pending": "rejected"},
	ActionShip:             {"approved": "shipped"},
	ActionReceive:          {"approved": "received", "shipped": "received", "received": "received"},
	ActionInspect:          {"received": "inspecting"},
	ActionComplete:         {"received": "refunding", "inspecting": "refunding"},
	ActionCancel:           {"pending": "cancelled", "approved": "cancelled"},
	ActionGenerateLabel:    {"approved": "approved", "shipped": "shipped"},
	ActionLabelCreated:     {"approved": "approved", "shipped": "shipped"},
	ActionLabelFailed:      {"approved": "approved", "shipped": "shipped"},
	ActionRefundSucceeded:  {"refunding": "restocking", "refund_failed": "restocking"},
	ActionRefundRetry:      {"refunding": "refunding"},
	ActionRefundFailed:     {"refunding": "refund_failed"},
	ActionRetryRefund:      {"refund_failed": "refunding"},
	ActionRestockSucceeded: {"restocking": "completed"},
	ActionRestockRetry:     {"restocking": "restocking"},
	ActionRestockFailed:    {"restocking": "requires_action"},
	ActionRetryRestock:     {"requires_action": "restocking"},
	ActionResolve:          {"requires_action": "completed"},
}

func TestTransitionTable(t *testing.T) {
	for a, from := range allowed {
		for _, s := range AllStates {
			want, ok := from[s]
			name := fmt.Sprintf("%s from %s", a, s)
			if ok {
				name += " is allowed"
			} else {
				name += " is invalid_state"
			}
			t.Run(name, func(t *testing.T) {
				got, err := Next(s, a)
				if !ok {
					require.ErrorIs(t, err, ErrInvalidState)
					require.Equal(t, s, got, "a refused action leaves the state")
					return
				}
				require.NoError(t, err)
				require.Equal(t, want, got)
			})
		}
	}
	t.Run("the table has no action the test does not know", func(t *testing.T) {
		for a := range Transitions {
			require.Contains(t, allowed, a)
		}
	})
	t.Run("terminal states have no way out", func(t *testing.T) {
		for _, s := range []State{StateCompleted, StateRejected, StateCancelled} {
			require.True(t, s.Terminal())
			for a := range Transitions {
				require.False(t, Can(s, a), "%s from %s", a, s)
			}
		}
	})
	t.Run("an unknown action is invalid_state", func(t *testing.T) {
		_, err := Next(StatePending, "teleport")
		require.ErrorIs(t, err, ErrInvalidState)
	})
	t.Run("the error names the states the action is allowed in", func(t *testing.T) {
		_, err := Next(StateCompleted, ActionCancel)
		require.Equal(t, []string{"approved", "pending"}, asTopicsError(err).Details["allowed_in"])
	})
}
