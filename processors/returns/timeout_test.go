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
		r, rq := refunding(t)
		var out Outcome
		for i := 0; i < DefaultPolicy().MaxRefundAttempts; i++ {
			r, out = apply(t, r, SagaTimeout{RequestID: rq.ID}, system)
			if i < DefaultPolicy().MaxRefundAttempts-1 {
				rq = requestOf(t, out, ServicePayments)
			}
		}
		require.Equal(t, StateRefundFailed, r.Status)
		require.NotNil(t, out.Final)
		require.ErrorIs(t, out.Final.Err, ErrRefundFailed)
		_, _, ok := r.Outstanding()
		require.False(t, ok, "refund_failed waits for no reply")
	})
	t.Run("a late reply after the timeout changes nothing", func(t *testing.T) {
		r, first := refunding(t)
		r, _ = apply(t, r, SagaTimeout{RequestID: first.ID}, system)
		_, _, err := Apply(r, RefundResult{Reply{RequestID: first.ID, OK: true, TransactionID: "late"}}, meta(tDelivered, system, ""))
		require.ErrorIs(t, err, ErrStaleReply)
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
