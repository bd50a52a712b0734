package returns

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEventSummaries: every event carries the return's figures for the
// read models and the audit entries appended since the previous event,
// so that the events together carry the trail once, in order.
func TestEventSummaries(t *testing.T) {
	var published []Summary
	collect := func(out Outcome) {
		for _, e := range out.Events {
			if s, ok := e.Data.(Summary); ok {
				published = append(published, s)
			}
		}
	}
	_, r := newReturn(t, ReasonDefective, InitiateItem{LineItemID: "li_shirt", Quantity: 2, Condition: ConditionOpened})
	r.Description = "seam came apart"
	published = append(published, r.Publish())
	r, out := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	collect(out)
	label := requestOf(t, out, ServiceLabels)
	r, out = apply(t, r, LabelResult{Reply{RequestID: label.ID, OK: true, LabelURL: "https://l/1.pdf", TrackingNumber: "1Z9"}}, system)
	collect(out)
	r, out = apply(t, r, Ship{TrackingNumber: "1Z9"}, staff)
	collect(out)
	r, out = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualDamaged, Notes: "torn"}}}, staff)
	collect(out)
	r, out = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualSellable, Notes: "fine"}}}, staff)
	collect(out)
	r, out = apply(t, r, Complete{}, staff)
	collect(out)
	r, out = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system)
	collect(out)
	r, out = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, OK: true}}, system)
	collect(out)
	require.Equal(t, StateCompleted, r.Status)

	t.Run("the events carry the trail once, in order, with no gap", func(t *testing.T) {
		var carried []AuditEntry
		for _, s := range published {
			carried = append(carried, s.Audit...)
		}
		require.Equal(t, r.Audit[:len(carried)], carried)
		require.Equal(t, len(r.Audit), len(carried), "nothing was appended after return.completed")
		require.Equal(t, r.AuditPublished, len(carried))
	})
	t.Run("actions without an event travel with the next one", func(t *testing.T) {
		var actions [][]Action
		for _, s := range published {
			var a []Action
			for _, e := range s.Audit {
				a = append(a, e.Action)
			}
			actions = append(actions, a)
		}
		require.Equal(t, [][]Action{
			{ActionInitiate},
			{ActionApprove},
			{ActionLabelCreated, ActionShip, ActionReceive},
			{ActionReceive},
			{ActionComplete, ActionRefundSucceeded, ActionRestockSucceeded},
		}, actions)
		require.Equal(t, StateApproved, published[2].Audit[1].PreviousState)
		require.Equal(t, StateShipped, published[2].Audit[1].NewState)
	})
	t.Run("seq grows with the trail", func(t *testing.T) {
		for i, s := range published {
			require.Equal(t, s.Audit[len(s.Audit)-1].Seq, int(s.Seq), "event %d", i)
			if i > 0 {
				require.Greater(t, s.Seq, published[i-1].Seq)
			}
		}
	})
	t.Run("description, label, conditions, restockable, unit refund and notes", func(t *testing.T) {
		first := published[0]
		require.Equal(t, "seam came apart", first.Description)
		require.Equal(t, ConditionOpened, first.Items[0].ExpectedCondition)
		require.Empty(t, first.Items[0].ActualCondition)
		require.Nil(t, first.Items[0].Restockable, "unknown before receipt")
		require.Empty(t, first.ShippingLabelURL)

		partly := published[2]
		require.Equal(t, "https://l/1.pdf", partly.ShippingLabelURL)
		require.Equal(t, "1Z9", partly.TrackingNumber)
		require.Equal(t, ActualDamaged, partly.Items[0].ActualCondition)
		require.NotNil(t, partly.Items[0].Restockable)
		require.False(t, *partly.Items[0].Restockable, "only a damaged unit so far")
		require.Equal(t, "torn", partly.Items[0].Notes)

		done := published[len(published)-1]
		it := done.Items[0]
		require.Equal(t, StateCompleted, done.Status)
		require.Equal(t, ActualSellable, it.ActualCondition, "the latest units'")
		require.True(t, *it.Restockable)
		require.Equal(t, "torn; fine", it.Notes)
		require.Equal(t, 2, it.QuantityReceived)
		require.NotNil(t, it.UnitRefund)
		// two units refunded in full (defective: merchant fault, no
		// condition deduction): the line's total over its units
		require.True(t, done.Refund.TotalRefund.Sub(done.Refund.ShippingRefund).Div(dec("2")).Round(2).Equal(*it.UnitRefund),
			"unit %s of total %s", it.UnitRefund, done.Refund.TotalRefund)
	})
}
