package returns

import (
	"testing"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func TestAuditTrail(t *testing.T) {
	_, r := newReturn(t, ReasonNoLongerNeeded)
	r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	r, _ = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 2, ActualCondition: ActualSellable}}, ReceiverID: "wh_1"}, staff)
	r, out := apply(t, r, Complete{}, staff)
	r, out = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system)
	r, _ = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, OK: true}}, system)

	t.Run("every action is recorded in order", func(t *testing.T) {
		var got []Action
		for i, e := range r.Audit {
			require.Equal(t, i+1, e.Seq)
			got = append(got, e.Action)
		}
		require.Equal(t, []Action{ActionInitiate, ActionApprove, ActionReceive, ActionComplete, ActionRefundSucceeded, ActionRestockSucceeded}, got)
	})
	t.Run("actors are told apart", func(t *testing.T) {
		require.Equal(t, topics.ActorCustomer, r.Audit[0].ActorType)
		require.Equal(t, "user_123", r.Audit[0].ActorID)
		require.Equal(t, topics.ActorStaff, r.Audit[1].ActorType)
		require.Equal(t, "staff_7", r.Audit[1].ActorID)
		require.Equal(t, topics.ActorSystem, r.Audit[4].ActorType)
	})
	t.Run("state changes are chained", func(t *testing.T) {
		for i := 1; i < len(r.Audit); i++ {
			require.Equal(t, r.Audit[i-1].NewState, r.Audit[i].PreviousState, "entry %d", i+1)
		}
		require.Equal(t, StatePending, r.Audit[0].NewState)
		require.Equal(t, StateCompleted, r.Audit[len(r.Audit)-1].NewState)
	})
	t.Run("metadata says what the action carried", func(t *testing.T) {
		require.Equal(t, "staff_7", r.Audit[1].MetadataValues()["approver_id"])
		require.Equal(t, "wh_1", r.Audit[2].MetadataValues()["receiver_id"])
		require.Equal(t, "tx", r.Audit[4].MetadataValues()["transaction_id"])
		require.Equal(t, "cmd-approve", r.Audit[1].CommandID)
	})
	t.Run("amounts in metadata have the currency's minor units", func(t *testing.T) {
		_, r := newReturn(t, ReasonNoLongerNeeded)
		amount := func(s string) *decimal.Decimal { d := dec(s); return &d }
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s", RefundAmount: amount("20"), RestockingFee: amount("1.5")}, staff)
		r, _ = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 2, ActualCondition: ActualSellable}}}, staff)
		r, out := apply(t, r, Complete{FinalRefundAmount: amount("15")}, staff)
		r, _ = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system)
		want := map[Action]map[string]string{
			ActionApprove:         {"refund_amount": "20.00", "restocking_fee": "1.50"},
			ActionComplete:        {"refund_amount": "15.00", "final_refund_amount": "15.00"},
			ActionRefundSucceeded: {"refund_amount": "15.00"},
		}
		for _, e := range r.Audit {
			for key, v := range want[e.Action] {
				require.Equal(t, v, e.MetadataValues()[key], "%s %s", e.Action, key)
			}
		}
		require.Regexp(t, `^\d+\.\d\d$`, r.Audit[1].MetadataValues()["estimated_refund"])
	})
	t.Run("applying an action never changes earlier entries", func(t *testing.T) {
		_, r0 := newReturn(t, ReasonOther)
		before := r0.Clone().Audit
		r1, _ := apply(t, r0, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		require.Equal(t, before, r0.Audit, "the input is not touched")
		require.Equal(t, before, r1.Audit[:1])
	})
	t.Run("a rewritten or shortened trail is detected", func(t *testing.T) {
		changed := r.Clone().Audit
		changed[1].ActorID = "someone_else"
		require.ErrorIs(t, VerifyAppendOnly(r.Audit, changed), ErrAuditRewritten)
		require.ErrorIs(t, VerifyAppendOnly(r.Audit, r.Audit[:2]), ErrAuditRewritten)
		require.NoError(t, VerifyAppendOnly(r.Audit[:2], r.Audit))
		for name, change := range map[string]func(e *AuditEntry){
			"action":         func(e *AuditEntry) { e.Action = ActionCancel },
			"actor type":     func(e *AuditEntry) { e.ActorType = topics.ActorSystem },
			"previous state": func(e *AuditEntry) { e.PreviousState = StateShipped },
			"new state":      func(e *AuditEntry) { e.NewState = StateShipped },
			"command":        func(e *AuditEntry) { e.CommandID = "other" },
			"time":           func(e *AuditEntry) { e.At = e.At.Add(time.Nanosecond) },
			"seq":            func(e *AuditEntry) { e.Seq = 9 },
			"metadata":       func(e *AuditEntry) { e.Metadata = json.RawMessage(`{"approver_id":"x"}`) },
			"metadata byte":  func(e *AuditEntry) { e.Metadata = append(json.RawMessage(nil), e.Metadata[:len(e.Metadata)-2]...) },
		} {
			changed := r.Clone().Audit
			change(&changed[1])
			require.ErrorIs(t, VerifyAppendOnly(r.Audit, changed), ErrAuditRewritten, name)
		}
		appended := r.Clone().Audit
		appended = append(appended, AuditEntry{Seq: len(appended) + 2})
		require.ErrorIs(t, VerifyAppendOnly(r.Audit, appended), ErrAuditRewritten, "a gap in the numbering")
	})
	t.Run("a refused action records nothing", func(t *testing.T) {
		n := len(r.Audit)
		_, _, err := Apply(r, Cancel{}, meta(tDelivered, customer, "x"))
		require.ErrorIs(t, err, ErrInvalidState)
		require.Len(t, r.Audit, n)
	})
}
