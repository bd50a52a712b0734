package returns_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// timeOutUntil drives the saga timeout like the ticker would, one tick
// beyond the timeout after another, until the return reaches status.
func timeOutUntil(t *testing.T, id string, status returns.State) *returns.Return {
	t.Helper()
	tick := time.Now()
	var r *returns.Return
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var err error
		if r, err = svc.Return(id); err == nil && r.Status == status {
			return true
		}
		tick = tick.Add(returns.DefaultSagaTimeout + time.Second)
		_, err = svc.TimeOutDue(context.Background(), tick)
		require.NoError(t, err)
		return false
	}, "return %s never reached %s", id, status)
	return r
}

// TestIntegrationSagaTimeout is not parallel: its ticks time out every
// outstanding request of the service, so it runs before the parallel tests
// start (and its subtests one after the other).
func TestIntegrationSagaTimeout(t *testing.T) {
	t.Run("payments never answer: refund_failed after the retries, driven by the timeout", func(t *testing.T) {
		id := cluster.Unique("ret-" + lostMarker)
		approvedAndReceived(t, id, 1, returns.RefundOriginalPayment, returns.ActualSellable)
		completeID := topics.NewID()
		res := submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff, completeID)
		requireOK(t, res)
		require.True(t, res.Pending)
		waitStatus(t, id, returns.StateRefunding)
		_, err := svc.TimeOutDue(context.Background(), time.Now())
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond)
		r, err := svc.Return(id)
		require.NoError(t, err)
		require.Equal(t, returns.StateRefunding, r.Status, "no timeout before the timeout")
		require.Equal(t, 1, r.Saga.RefundAttempts)

		r = timeOutUntil(t, id, returns.StateRefundFailed)
		require.Equal(t, returns.DefaultPolicy().MaxRefundAttempts, r.Saga.RefundAttempts)
		require.Contains(t, r.Saga.RefundError, "saga timeout")
		st, err := sims.State(id)
		require.NoError(t, err)
		require.Equal(t, returns.DefaultPolicy().MaxRefundAttempts, st.Dropped, "every attempt reached payments and was lost")
		require.Equal(t, 0, st.Payments)
		again := submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff, completeID)
		requireCode(t, again, returns.CodeRefundFailed)
	})
	t.Run("a late real reply after the timeout does not pay twice", func(t *testing.T) {
		id := cluster.Unique("ret-" + lateMarker)
		approvedAndReceived(t, id, 1, returns.RefundOriginalPayment, returns.ActualSellable)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		first := waitStatus(t, id, returns.StateRefunding).Saga.RefundRequestID
		r := timeOutUntil(t, id, returns.StateCompleted) // attempt 2 is answered
		require.Equal(t, 2, r.Saga.RefundAttempts)
		tx := r.Saga.RefundTransactionID
		require.NotEmpty(t, tx)

		// payments' answer to the first attempt finally arrives
		late, err := topics.NewEnvelope(returns.ReplyRefund, time.Now(), returns.Reply{RequestID: first, ReturnID: id, OK: true,
			TransactionID: "re_late"}, topics.WithActor(topics.Actor{ID: "payments", Type: topics.ActorSystem}))
		require.NoError(t, err)
		require.NoError(t, commander.Produce(context.Background(), topics.ReturnsReplies, id, late))
		// and a timeout for it, too late as well
		stale, err := topics.NewEnvelope(returns.TypeSagaTimeout, time.Now(), returns.SagaTimeout{RequestID: first},
			topics.WithActor(topics.Actor{ID: "ticker", Type: topics.ActorSystem}))
		require.NoError(t, err)
		require.NoError(t, commander.Produce(context.Background(), topics.ReturnsReplies, id, stale))
		time.Sleep(time.Second)

		after, err := svc.Return(id)
		require.NoError(t, err)
		require.Equal(t, returns.StateCompleted, after.Status)
		require.Equal(t, tx, after.Saga.RefundTransactionID)
		// Notification replies arrive on their own schedule (the completion
		// notice may land after r was read); the refund reply and timeout
		// must add nothing else.
		withoutNotices := func(trail []returns.AuditEntry) (n int) {
			for _, e := range trail {
				if e.Action != returns.ActionNotified {
					n++
				}
			}
			return n
		}
		require.Equal(t, withoutNotices(r.Audit), withoutNotices(after.Audit), "the late reply added nothing to the trail")
		refunds := 0
		for _, e := range after.Audit {
			if e.Action == returns.ActionRefundSucceeded {
				refunds++
			}
		}
		require.Equal(t, 1, refunds)
		st, err := sims.State(id)
		require.NoError(t, err)
		require.Equal(t, 1, st.Payments, "paid once")
		require.Equal(t, 1, st.Dropped)
	})
}
