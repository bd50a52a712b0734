package returns

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func TestSagaTimeout(t *testing.T) {
	refunding := func(t *testing.T) (*Return, Request) {
		t.Helper()
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		return r, requestOf(t, out, ServicePayments)
	}
	// exhausted times out every refund attempt, so the return parks in
	// refund_failed; it returns the first and the last refund request and
	// the last outcome.
	exhausted := func(t *testing.T) (r *Return, first, last Request, out Outcome) {
		t.Helper()
		r, first = refunding(t)
		last = first
		for i := 0; i < DefaultPolicy().MaxRefundAttempts; i++ {
			r, out = apply(t, r, SagaTimeout{RequestID: last.ID}, system)
			if i < DefaultPolicy().MaxRefundAttempts-1 {
				last = requestOf(t, out, ServicePayments)
			}
		}
		require.Equal(t, StateRefundFailed, r.Status)
		return r, first, last, out
	}
	t.Run("the outstanding refund request and when it was sent", func(t *testing.T) {
		r, pay := refunding(t)
		id, sent, ok := r.Outstanding()
		require.True(t, ok)
		require.Equal(t, pay.ID, id)
		require.Equal(t, r.UpdatedAt, sent)
	})
	t.Run("a timeout is a failed reply: retried under the same refund key", func(t *testing.T) {
		r, first := refunding(t)
		r, out := apply(t, r, SagaTimeout{RequestID: first.ID}, system)
		require.Equal(t, StateRefunding, r.Status)
		second := requestOf(t, out, ServicePayments)
		require.NotEqual(t, first.ID, second.ID)
		require.Equal(t, first.Data.(RefundRequest).RefundKey, second.Data.(RefundRequest).RefundKey)
		require.Equal(t, 2, r.Saga.RefundAttempts)
		require.Contains(t, r.Saga.RefundError, "saga timeout")
		id, sent, ok := r.Outstanding()
		require.True(t, ok)
		require.Equal(t, second.ID, id)
		require.Equal(t, r.UpdatedAt, sent, "the retry's clock starts at the timeout")
		last := r.Audit[len(r.Audit)-1]
		require.Equal(t, ActionRefundRetry, last.Action)
		require.Equal(t, topics.ActorSystem, last.ActorType)
	})
	t.Run("after the last attempt the return parks in refund_failed", func(t *testing.T) {
		r, _, _, out := exhausted(t)
		require.NotNil(t, out.Final)
		require.ErrorIs(t, out.Final.Err, ErrRefundFailed)
		_, _, ok := r.Outstanding()
		require.False(t, ok, "refund_failed waits for no reply")
	})
	t.Run("a late failure after the timeout changes nothing", func(t *testing.T) {
		r, first := refunding(t)
		r, _ = apply(t, r, SagaTimeout{RequestID: first.ID}, system)
		_, _, err := Apply(r, RefundResult{Reply{RequestID: first.ID, Error: "declined"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
	})
	t.Run("a late success to an earlier attempt is the refund: paid once, the retry's reply is stale", func(t *testing.T) {
		r, first := refunding(t)
		r, out := apply(t, r, SagaTimeout{RequestID: first.ID}, system)
		second := requestOf(t, out, ServicePayments)
		r, out = apply(t, r, RefundResult{Reply{RequestID: first.ID, OK: true, TransactionID: "re_1"}}, system)
		require.Equal(t, StateRestocking, r.Status)
		require.Equal(t, "re_1", r.Saga.RefundTransactionID)
		require.True(t, r.Saga.Refunded)
		requestOf(t, out, ServiceInventory)
		for _, rq := range out.Requests {
			require.NotEqual(t, ServicePayments, rq.Service, "nothing is paid again")
		}
		e := r.Audit[len(r.Audit)-1]
		require.Equal(t, ActionRefundSucceeded, e.Action)
		require.Equal(t, StateRefunding, e.PreviousState)
		require.Equal(t, true, e.MetadataValues()["late"])
		require.Equal(t, second.ID, e.MetadataValues()["outstanding_request_id"])
		_, _, err := Apply(r, RefundResult{Reply{RequestID: second.ID, OK: true, TransactionID: "re_1"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
	})
	t.Run("a success after refund_failed: recorded once, restocked and completed, no command result rewritten", func(t *testing.T) {
		r, first, rq, _ := exhausted(t)
		n := len(r.Audit)

		_, _, err := Apply(r, RefundResult{Reply{RequestID: first.ID, Error: "declined"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "a late failure changes nothing")
		_, _, err = Apply(r, RefundResult{Reply{RequestID: "other_return:refund:1", OK: true}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "another refund key is not ours")

		r, out := apply(t, r, RefundResult{Reply{RequestID: rq.ID, OK: true, TransactionID: "re_late"}}, system)
		require.Equal(t, StateRestocking, r.Status)
		require.Equal(t, "re_late", r.Saga.RefundTransactionID)
		require.Empty(t, r.Saga.RefundError)
		require.Empty(t, r.Saga.CompleteCommandID, "the complete command keeps its refund_failed result")
		e := r.Audit[n]
		require.Equal(t, ActionRefundSucceeded, e.Action)
		require.Equal(t, StateRefundFailed, e.PreviousState)
		require.Equal(t, StateRestocking, e.NewState)
		require.Equal(t, true, e.MetadataValues()["late"])
		restock := requestOf(t, out, ServiceInventory)
		for _, q := range out.Requests {
			require.NotEqual(t, ServicePayments, q.Service, "nothing is paid again")
		}

		// a second copy of the success is stale
		_, _, err = Apply(r, RefundResult{Reply{RequestID: rq.ID, OK: true, TransactionID: "re_late"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
		r, out = apply(t, r, RestockResult{Reply{RequestID: restock.ID, OK: true}}, system)
		require.Equal(t, StateCompleted, r.Status)
		require.Equal(t, []string{EventRestocked, EventCompleted}, eventTypes(out))
		require.NotNil(t, out.Final)
		require.Empty(t, out.Final.CommandID, "no command waits for this completion")
		refunds := 0
		for _, e := range r.Audit {
			if e.Action == ActionRefundSucceeded {
				refunds++
			}
		}
		require.Equal(t, 1, refunds)
	})
	t.Run("a label request times out: label_failed, then a new request; a late success still sets the label", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, out := apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		label := requestOf(t, out, ServiceLabels)
		id, sent, ok := r.Outstanding()
		require.True(t, ok)
		require.Equal(t, label.ID, id)
		require.Equal(t, r.UpdatedAt, sent)

		r, out = apply(t, r, SagaTimeout{RequestID: label.ID}, system)
		require.Equal(t, StateApproved, r.Status)
		require.Empty(t, out.Requests)
		require.Contains(t, r.Saga.LabelError, "saga timeout")
		e := r.Audit[len(r.Audit)-1]
		require.Equal(t, ActionLabelFailed, e.Action)
		require.Equal(t, topics.ActorSystem, e.ActorType)
		_, _, ok = r.Outstanding()
		require.False(t, ok, "timed out once")
		_, _, err := Apply(r, SagaTimeout{RequestID: label.ID}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
		_, _, err = Apply(r, LabelResult{Reply{RequestID: label.ID, Error: "carrier down"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "a late failure adds nothing")

		late, _ := apply(t, r, LabelResult{Reply{RequestID: label.ID, OK: true, LabelURL: "https://l/1.pdf", TrackingNumber: "1Z1"}}, system)
		require.NotNil(t, late.ShippingLabel)
		require.Equal(t, "1Z1", late.ShippingLabel.TrackingNumber)
		require.Equal(t, true, late.Audit[len(late.Audit)-1].MetadataValues()["after_timeout"])
		_, _, err = Apply(late, LabelResult{Reply{RequestID: label.ID, OK: true, TrackingNumber: "1Z1"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "answered once")

		r, out = apply(t, r, GenerateLabel{}, customer)
		again := requestOf(t, out, ServiceLabels)
		id, _, ok = r.Outstanding()
		require.True(t, ok)
		require.Equal(t, again.ID, id)
		_, _, err = Apply(r, LabelResult{Reply{RequestID: label.ID, OK: true}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "the first request is no longer the one asked")
		r, _ = apply(t, r, LabelResult{Reply{RequestID: again.ID, OK: true, TrackingNumber: "1Z2"}}, system)
		_, _, ok = r.Outstanding()
		require.False(t, ok)
		_, _, err = Apply(r, SagaTimeout{RequestID: again.ID}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply, "answered requests do not time out")
	})
	t.Run("a label request from before label timeouts (no send time) is never timed out", func(t *testing.T) {
		_, r := newReturn(t, ReasonOther)
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		r.Saga.LabelRequestedAt = time.Time{}
		_, _, ok := r.Outstanding()
		require.False(t, ok)
		r, _ = apply(t, r, LabelResult{Reply{RequestID: r.Saga.LabelRequestID, OK: true, TrackingNumber: "1Z"}}, system)
		require.NotNil(t, r.ShippingLabel, "its reply is still taken")
	})
	t.Run("a timeout after the reply changes nothing", func(t *testing.T) {
		r, pay := refunding(t)
		r, _ = apply(t, r, RefundResult{Reply{RequestID: pay.ID, OK: true, TransactionID: "tx"}}, system)
		_, _, err := Apply(r, SagaTimeout{RequestID: pay.ID}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
	})
	t.Run("a repeated timeout changes nothing", func(t *testing.T) {
		r, pay := refunding(t)
		r, _ = apply(t, r, SagaTimeout{RequestID: pay.ID}, system)
		_, _, err := Apply(r, SagaTimeout{RequestID: pay.ID}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
	})
	t.Run("a restock timeout retries, then requires action", func(t *testing.T) {
		r, pay := refunding(t)
		r, out := apply(t, r, RefundResult{Reply{RequestID: pay.ID, OK: true, TransactionID: "tx"}}, system)
		rq := requestOf(t, out, ServiceInventory)
		id, _, ok := r.Outstanding()
		require.True(t, ok)
		require.Equal(t, rq.ID, id)
		for i := 0; i < DefaultPolicy().MaxRestockAttempts; i++ {
			r, out = apply(t, r, SagaTimeout{RequestID: rq.ID}, system)
			if i < DefaultPolicy().MaxRestockAttempts-1 {
				next := requestOf(t, out, ServiceInventory)
				require.Equal(t, rq.Data.(RestockRequest).RestockKey, next.Data.(RestockRequest).RestockKey)
				rq = next
			}
		}
		require.Equal(t, StateRequiresAction, r.Status)
		require.True(t, r.Saga.Refunded, "the refund stands")
	})
	t.Run("system only", func(t *testing.T) {
		r, pay := refunding(t)
		for _, a := range []topics.Actor{staff, customer} {
			_, _, err := Apply(r, SagaTimeout{RequestID: pay.ID}, meta(tDelivered, a, ""))
			require.ErrorIs(t, err, ErrForbidden)
		}
		env, err := topics.NewEnvelope(TypeSagaTimeout, tDelivered, SagaTimeout{RequestID: pay.ID}, topics.WithActor(staff))
		require.NoError(t, err)
		_, err = decodeReply(env)
		require.ErrorIs(t, err, ErrForbidden)
		env, err = topics.NewEnvelope(TypeSagaTimeout, tDelivered, SagaTimeout{RequestID: pay.ID}, topics.WithActor(system))
		require.NoError(t, err)
		c, err := decodeReply(env)
		require.NoError(t, err)
		require.Equal(t, SagaTimeout{RequestID: pay.ID}, c)
	})
	t.Run("no outstanding request before the saga", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		_, _, ok := r.Outstanding()
		require.False(t, ok)
	})
}

func TestSagaTimeoutOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"zero timeout", []Option{WithSagaTimeout(0)}},
		{"negative interval", []Option{WithSagaTimeoutInterval(-time.Second)}},
		{"nil logger", []Option{WithLogger(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&topics.Clients{}, nil, nil, tc.opts...)
			require.Error(t, err)
		})
	}
}
