package returns

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func TestLifecycleOriginalPayment(t *testing.T) {
	_, r := newReturn(t, ReasonNoLongerNeeded)
	r, out := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7", Notes: "ok"}, staff)
	require.Equal(t, StateApproved, r.Status)
	require.Equal(t, []string{EventApproved}, eventTypes(out))
	label := requestOf(t, out, ServiceLabels)
	requestOf(t, out, ServiceNotifications)
	res := out.Result.(ApprovalResult)
	require.Equal(t, "41.02", res.EstimatedRefund.TotalRefund.StringFixed(2)) // 37.98 + 3.04

	r, _ = apply(t, r, LabelResult{Reply{RequestID: label.ID, OK: true, LabelURL: "https://labels/1", TrackingNumber: "1Z"}}, system)
	require.Equal(t, "1Z", r.ShippingLabel.TrackingNumber)
	r, _ = apply(t, r, Ship{TrackingNumber: "1Z"}, staff)
	require.Equal(t, StateShipped, r.Status)
	r, out = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 2, ActualCondition: ActualSellable}}}, staff)
	require.Equal(t, StateReceived, r.Status)
	require.Equal(t, []string{EventReceived}, eventTypes(out))

	r, out = apply(t, r, Complete{}, staff)
	require.Equal(t, StateRefunding, r.Status)
	require.True(t, out.Pending)
	pay := requestOf(t, out, ServicePayments)
	rq := pay.Data.(RefundRequest)
	require.Equal(t, "41.02", rq.Amount.Amount.StringFixed(2))
	require.Equal(t, "ret_1:refund", rq.RefundKey)

	r, out = apply(t, r, RefundResult{Reply{RequestID: pay.ID, OK: true, TransactionID: "tx_1"}}, system)
	require.Equal(t, StateRestocking, r.Status)
	inv := requestOf(t, out, ServiceInventory)
	require.Equal(t, []InventoryUpdate{{ProductID: "prod_shirt", SKU: "TSHIRT-RED-M", Quantity: 2, Status: "requested"}}, inv.Data.(RestockRequest).Items)

	r, out = apply(t, r, RestockResult{Reply{RequestID: inv.ID, OK: true}}, system)
	require.Equal(t, StateCompleted, r.Status)
	require.Equal(t, []string{EventRestocked, EventCompleted}, eventTypes(out))
	require.NotNil(t, out.Final)
	require.Equal(t, "cmd-complete", out.Final.CommandID)
	done := out.Final.Result.(CompletionResult)
	require.Equal(t, "tx_1", done.RefundTransactionID)
	require.Equal(t, "restocked", done.InventoryUpdates[0].Status)
	for _, rq := range out.Requests {
		require.NotEqual(t, ServiceOrderReturns, rq.Service, "every claimed unit was received: the order's claims stay, nothing to release")
	}
	require.True(t, r.Saga.Released)
	require.NotNil(t, r.CompletedAt)
}

func TestCompletionReleasesUnreceivedUnits(t *testing.T) {
	_, r := newReturn(t, ReasonNoLongerNeeded)
	r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	r, _ = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualSellable}}}, staff)
	r, out := apply(t, r, Complete{}, staff)
	r, out = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system)
	r, out = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, OK: true}}, system)
	require.Equal(t, StateCompleted, r.Status)
	rel := requestOf(t, out, ServiceOrderReturns).Data.(Release)
	require.Equal(t, map[string]int{"li_shirt": 1}, rel.Keep, "the unit never received goes back to the order")
	require.True(t, r.Saga.Released)
}

func TestSagaCompensation(t *testing.T) {
	t.Run("a failed payment is retried with the same refund key", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		first := requestOf(t, out, ServicePayments)
		r, out = apply(t, r, RefundResult{Reply{RequestID: first.ID, Error: "gateway timeout"}}, system)
		require.Equal(t, StateRefunding, r.Status)
		second := requestOf(t, out, ServicePayments)
		require.NotEqual(t, first.ID, second.ID)
		require.Equal(t, first.Data.(RefundRequest).RefundKey, second.Data.(RefundRequest).RefundKey)
		require.Equal(t, 2, second.Data.(RefundRequest).Attempt)
	})
	t.Run("after the last attempt the return parks in refund_failed and the command fails", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		for i := 0; i < 3; i++ {
			rq := requestOf(t, out, ServicePayments)
			r, out = apply(t, r, RefundResult{Reply{RequestID: rq.ID, Error: "card closed"}}, system)
		}
		require.Equal(t, StateRefundFailed, r.Status)
		require.NotNil(t, out.Final)
		require.ErrorIs(t, out.Final.Err, ErrRefundFailed)
		require.Equal(t, []string{EventActionRequired}, eventTypes(out), "parked for a person; nothing completed")
		requireParkedSummary(t, out.Events[0].Data, StateRefundFailed, ActionRefundFailed)
		require.False(t, r.Saga.Refunded)
		t.Run("staff retry it", func(t *testing.T) {
			r2, out := apply(t, r, RetryRefund{}, staff)
			require.Equal(t, StateRefunding, r2.Status)
			rq := requestOf(t, out, ServicePayments)
			require.Equal(t, 1, rq.Data.(RefundRequest).Attempt)
		})
	})
	t.Run("a late failure of an earlier attempt is dropped; a late success is the refund, paid once", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		first := requestOf(t, out, ServicePayments)
		r, out = apply(t, r, RefundResult{Reply{RequestID: first.ID, Error: "timeout"}}, system)
		second := requestOf(t, out, ServicePayments)
		_, _, err := Apply(r, RefundResult{Reply{RequestID: first.ID, Error: "declined"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
		r, out = apply(t, r, RefundResult{Reply{RequestID: first.ID, OK: true, TransactionID: "tx"}}, system)
		require.Equal(t, StateRestocking, r.Status)
		require.Equal(t, ServiceInventory, requestOf(t, out, ServiceInventory).Service)
		_, _, err = Apply(r, RefundResult{Reply{RequestID: second.ID, OK: true, TransactionID: "tx"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "the outstanding attempt's answer comes too late now")
	})
	t.Run("a duplicate success reply pays nothing twice", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		pay := requestOf(t, out, ServicePayments)
		r, _ = apply(t, r, RefundResult{Reply{RequestID: pay.ID, OK: true, TransactionID: "tx"}}, system)
		_, _, err := Apply(r, RefundResult{Reply{RequestID: pay.ID, OK: true, TransactionID: "tx"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
	})
	t.Run("inventory failure is retried, then requires action, then resolved", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		r, out = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true}}, system)
		for i := 0; i < 3; i++ {
			r, out = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, Error: "warehouse offline"}}, system)
		}
		require.Equal(t, StateRequiresAction, r.Status)
		require.Equal(t, "failed", out.Final.Result.(CompletionResult).InventoryUpdates[0].Status)
		require.Equal(t, []string{EventActionRequired}, eventTypes(out))
		requireParkedSummary(t, out.Events[0].Data, StateRequiresAction, ActionRestockFailed)
		require.True(t, r.Saga.Refunded, "the refund stands")
		_, _, err := Apply(r, Resolve{}, meta(tDelivered, staff, "x"))
		require.ErrorIs(t, err, topics.ErrInvalidRequest)
		r, out = apply(t, r, Resolve{Notes: "restocked by hand"}, staff)
		require.Equal(t, StateCompleted, r.Status)
		require.Equal(t, []string{EventCompleted}, eventTypes(out))
	})
	t.Run("retry_restock asks inventory again", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		r, out = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true}}, system)
		for i := 0; i < 3; i++ {
			r, out = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, Error: "x"}}, system)
		}
		r, out = apply(t, r, RetryRestock{}, staff)
		r, out = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, OK: true}}, system)
		require.Equal(t, StateCompleted, r.Status)
		require.Contains(t, eventTypes(out), EventRestocked)
	})
	t.Run("partial receipt refunds only what came back and releases the rest", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		r, out := apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualSellable}}}, staff)
		rr := out.Result.(ReceiptResult)
		require.False(t, rr.ItemsStatus[0].Complete)
		require.Equal(t, "20.51", rr.AdjustedRefund.TotalRefund.StringFixed(2)) // 18.99 + 1.52
		r, out = apply(t, r, Complete{}, staff)
		r, out = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true}}, system)
		r, out = apply(t, r, RestockResult{Reply{RequestID: requestOf(t, out, ServiceInventory).ID, OK: true}}, system)
		require.Equal(t, StateCompleted, r.Status)
		require.Equal(t, map[string]int{"li_shirt": 1}, requestOf(t, out, ServiceOrderReturns).Data.(Release).Keep)
	})
	t.Run("receipts accumulate but never exceed the request", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		r, _ = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualSellable}}}, staff)
		r, _ = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualDamaged}}}, staff)
		require.Equal(t, 2, r.QuantityReceived())
		_, _, err := Apply(r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualSellable}}}, meta(tDelivered, staff, "x"))
		require.ErrorIs(t, err, ErrInvalidQuantity)
		b, err := r.actualRefund(meta(tDelivered, staff, ""), nil)
		require.NoError(t, err)
		require.Equal(t, "30.77", b.TotalRefund.StringFixed(2)) // 18.99+1.52 sellable, then half of 18.99 and 1.52: 9.50+0.76
	})
	t.Run("unsellable items refund nothing and are not restocked", func(t *testing.T) {
		r := received(t, ReasonNoLongerNeeded, RefundOriginalPayment, ActualUnsellable)
		r, out := apply(t, r, Complete{}, staff)
		require.Equal(t, StateCompleted, r.Status, "nothing to pay, nothing to restock")
		require.Empty(t, out.Requests[0:0])
		for _, rq := range out.Requests {
			require.NotEqual(t, ServicePayments, rq.Service)
			require.NotEqual(t, ServiceInventory, rq.Service)
		}
		require.True(t, r.ActualRefund.TotalRefund.IsZero())
	})
	t.Run("store credit goes to the gift card service", func(t *testing.T) {
		r := received(t, ReasonOther, RefundStoreCredit, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		gc := requestOf(t, out, ServiceGiftCards)
		require.Equal(t, RequestStoreCredit, gc.Type)
		r, _ = apply(t, r, RefundResult{Reply{RequestID: gc.ID, OK: true, GiftCardLast4: "AB12"}}, system)
		require.Equal(t, "AB12", r.Saga.GiftCardLast4)
	})
	t.Run("exchange requests a replacement order and pays nothing", func(t *testing.T) {
		r := received(t, ReasonWrongItem, RefundExchange, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		require.Equal(t, StateRestocking, r.Status)
		rep := requestOf(t, out, ServiceOrders).Data.(ReplacementOrderRequest)
		require.Equal(t, 2, rep.Items[0].Quantity)
		for _, rq := range out.Requests {
			require.NotEqual(t, ServicePayments, rq.Service)
		}
	})
	t.Run("a failed notification is retried, then recorded as failed", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, out := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		for i := 0; i < 3; i++ {
			r, out = apply(t, r, NotificationResult{Reply{RequestID: requestOf(t, out, ServiceNotifications).ID, Error: "smtp down"}}, system)
		}
		require.Equal(t, "failed", r.Saga.Notifications[0].Status)
		require.Empty(t, out.Requests)
		require.Equal(t, StateApproved, r.Status, "notifications never change the state")
	})
}

func TestCommandsInState(t *testing.T) {
	t.Run("complete before receipt is items_not_received", func(t *testing.T) {
		for _, s := range []State{StatePending, StateApproved, StateShipped} {
			_, r := newReturn(t, ReasonOther)
			r.Status = s
			_, _, err := Apply(r, Complete{}, meta(tDelivered, staff, "x"))
			require.ErrorIs(t, err, ErrItemsNotReceived, "%s", s)
		}
	})
	t.Run("a forbidden command changes nothing", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		for _, c := range []Command{Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, Reject{Reason: "no"}, Cancel{}, Ship{}, GenerateLabel{}, RetryRefund{}, Resolve{Notes: "x"}} {
			before := r.Clone()
			got, out, err := Apply(r, c, meta(tDelivered, staff, "x"))
			require.ErrorIs(t, err, ErrInvalidState, "%T", c)
			require.Equal(t, before, r)
			require.Same(t, r, got)
			require.Empty(t, out.Events)
		}
	})
	t.Run("cancel before shipping releases the units", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, out := apply(t, r, Cancel{Reason: "found a use"}, customer)
		require.Equal(t, StateCancelled, r.Status)
		require.Equal(t, []string{EventCancelled}, eventTypes(out))
		require.Empty(t, requestOf(t, out, ServiceOrderReturns).Data.(Release).Keep)
	})
	t.Run("reject needs a reason and releases the units", func(t *testing.T) {
		_, r := newReturn(t, ReasonDefective)
		_, _, err := Apply(r, Reject{}, meta(tDelivered, staff, "x"))
		require.ErrorIs(t, err, topics.ErrInvalidRequest)
		r, out := apply(t, r, Reject{Reason: "outside policy", RejectorID: "staff_9"}, staff)
		require.Equal(t, StateRejected, r.Status)
		rel := requestOf(t, out, ServiceOrderReturns).Data.(Release)
		require.True(t, rel.Shipping, "a merchant-fault return gives its shipping claim back")
	})
	t.Run("approve validates method and amounts", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		for name, c := range map[string]Approve{
			"unknown method":  {RefundMethod: "cash", ApproverID: "s"},
			"negative refund": {RefundMethod: RefundOriginalPayment, ApproverID: "s", RefundAmount: decP("-1")},
			"too precise fee": {RefundMethod: RefundOriginalPayment, ApproverID: "s", RestockingFee: decP("0.001")},
			"refund over max": {RefundMethod: RefundOriginalPayment, ApproverID: "s", RefundAmount: decP("1000")},
		} {
			_, _, err := Apply(r, c, meta(tDelivered, staff, "x"))
			require.Error(t, err, name)
		}
	})
	t.Run("approve with an override and a fee", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, out := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s", RestockingFee: decP("3.98")}, staff)
		require.Equal(t, "37.04", out.Result.(ApprovalResult).EstimatedRefund.TotalRefund.StringFixed(2))
		_, r2 := newReturn(t, ReasonOther)
		r2, out = apply(t, r2, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s", RefundAmount: decP("30.00")}, staff)
		require.Equal(t, "30.00", out.Result.(ApprovalResult).EstimatedRefund.TotalRefund.StringFixed(2))
		_ = r
		_ = r2
	})
	t.Run("a final override replaces the computed refund", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{FinalRefundAmount: decP("12.34")}, staff)
		require.Equal(t, "12.34", requestOf(t, out, ServicePayments).Data.(RefundRequest).Amount.Amount.StringFixed(2))
		requireAddsUp(t, *r.ActualRefund)
	})
	t.Run("inspect between receipt and completion", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, _ = apply(t, r, Inspect{Notes: "tags on"}, staff)
		require.Equal(t, StateInspecting, r.Status)
		r, _ = apply(t, r, Complete{}, staff)
		require.Equal(t, StateRefunding, r.Status)
	})
	t.Run("receive rejects unknown lines and conditions", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		for _, it := range []ReceivedItem{{"li_phone", 1, ActualSellable, ""}, {"li_shirt", 1, "mint", ""}, {"li_shirt", -1, ActualSellable, ""}, {"li_shirt", 0, ActualSellable, ""}} {
			_, _, err := Apply(r, ReceiveItems{Items: []ReceivedItem{it}}, meta(tDelivered, staff, "x"))
			require.Error(t, err, "%+v", it)
		}
	})
	t.Run("a label reply after the return moved on is dropped", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, out := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		label := requestOf(t, out, ServiceLabels)
		r, _ = apply(t, r, Cancel{}, customer)
		_, _, err := Apply(r, LabelResult{Reply{RequestID: label.ID, OK: true}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
	})
	t.Run("generate_shipping_label asks for a new label", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		r, out := apply(t, r, GenerateLabel{}, customer)
		require.Equal(t, "ret_1:label:2", requestOf(t, out, ServiceLabels).ID)
		r, _ = apply(t, r, LabelResult{Reply{RequestID: "ret_1:label:2", OK: false, Error: "carrier down"}}, system)
		require.Equal(t, "carrier down", r.Saga.LabelError)
		require.Nil(t, r.ShippingLabel)
	})
}

// requireParkedSummary checks a return.action_required payload: the parked
// state, and the trail since the previous event ending with the entry that
// parked it (the read models have no other event until a person acts).
func requireParkedSummary(t *testing.T, data any, state State, last Action) {
	t.Helper()
	s, ok := data.(Summary)
	require.True(t, ok, "%T", data)
	require.Equal(t, state, s.Status)
	require.NotEmpty(t, s.Audit)
	e := s.Audit[len(s.Audit)-1]
	require.Equal(t, last, e.Action)
	require.Equal(t, state, e.NewState)
	require.Equal(t, int64(e.Seq), s.Seq, "seq is the length of the trail")
}

// TestPublish: Publish's summary carries the audit entries no earlier
// event carried, in order, and marks them carried; a trail whose entries
// were all carried gives an event without entries.
func TestPublish(t *testing.T) {
	_, r := newReturn(t, ReasonDefective, InitiateItem{LineItemID: "li_shirt", Quantity: 1, Condition: ConditionNew})
	approved, _ := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	cases := []struct {
		name      string
		r         *Return
		published int // AuditPublished before Publish
		want      []int
	}{
		{name: "first event: the whole trail", r: approved, published: 0, want: []int{1, 2}},
		{name: "the entries after the last event", r: approved, published: 1, want: []int{2}},
		{name: "every entry carried: none", r: approved, published: 2, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r.Clone()
			r.AuditPublished = tc.published
			s := r.Publish()
			var got []int
			for _, e := range s.Audit {
				got = append(got, e.Seq)
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, len(r.Audit), r.AuditPublished, "marked carried")
			require.Equal(t, r.Summary().Seq, s.Seq)
			again := r.Publish()
			require.Empty(t, again.Audit, "nothing is carried twice")
		})
	}
}
