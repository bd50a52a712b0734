package returns_test

import (
	"context"
	"slices"
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

// timeOutAt drives the saga timeout with ticks all at tick until the
// return reaches status.
func timeOutAt(t *testing.T, id string, tick time.Time, status returns.State) *returns.Return {
	t.Helper()
	var r *returns.Return
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var err error
		if r, err = svc.Return(id); err == nil && r.Status == status {
			return true
		}
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
		refunding := waitStatus(t, id, returns.StateRefunding)
		first := refunding.Saga.RefundRequestID
		// attempt 2 is answered. One tick time, repeated, times out the
		// first attempt only: attempt 2 and the restock are sent at that
		// time, so they are never due at it (ticks moving on every poll, as
		// timeOutUntil's, could time them out before their replies land).
		r := timeOutAt(t, id, refunding.Saga.RefundRequestedAt.Add(returns.DefaultSagaTimeout+time.Second), returns.StateCompleted)
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

// TestIntegrationSagaTimeoutLateSuccess: payments never answered in time,
// the return parked in refund_failed, then payments' success for the last
// attempt arrives after all (the refund was paid under the return's key).
// Not parallel, for the same reason as TestIntegrationSagaTimeout.
func TestIntegrationSagaTimeoutLateSuccess(t *testing.T) {
	id := cluster.Unique("ret-" + lostMarker)
	approvedAndReceived(t, id, 1, returns.RefundOriginalPayment, returns.ActualSellable)
	completeID := topics.NewID()
	requireOK(t, submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff, completeID))
	waitStatus(t, id, returns.StateRefunding)
	parked := timeOutUntil(t, id, returns.StateRefundFailed)
	last := parked.Saga.RefundRequestID

	late, err := topics.NewEnvelope(returns.ReplyRefund, time.Now(), returns.Reply{RequestID: last, ReturnID: id, OK: true,
		TransactionID: "re_paid_late"}, topics.WithActor(topics.Actor{ID: "payments", Type: topics.ActorSystem}))
	require.NoError(t, err)
	require.NoError(t, commander.Produce(context.Background(), topics.ReturnsReplies, id, late))
	// the same success delivered twice
	require.NoError(t, commander.Produce(context.Background(), topics.ReturnsReplies, id, late))

	r := waitStatus(t, id, returns.StateCompleted)
	require.Equal(t, "re_paid_late", r.Saga.RefundTransactionID)
	require.True(t, r.Saga.Refunded)
	require.True(t, r.Saga.Restocked)
	var refunds []returns.AuditEntry
	for _, e := range r.Audit {
		if e.Action == returns.ActionRefundSucceeded {
			refunds = append(refunds, e)
		}
	}
	require.Len(t, refunds, 1, "recorded once")
	require.Equal(t, returns.StateRefundFailed, refunds[0].PreviousState)
	require.Equal(t, returns.StateRestocking, refunds[0].NewState)
	require.Equal(t, true, refunds[0].MetadataValues()["late"])
	require.Equal(t, topics.ActorSystem, refunds[0].ActorType)

	st, err := sims.State(id)
	require.NoError(t, err)
	require.Equal(t, 0, st.PaymentRequests, "nothing was asked of payments again")
	require.Equal(t, 1, st.Restocks)
	// the complete command keeps the result it had
	requireCode(t, submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff, completeID), returns.CodeRefundFailed)
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		st, err := sims.State(id)
		return err == nil && slices.Contains(st.Notifications, "return_completed")
	}, "the customer is told the return completed")
}

// TestIntegrationSagaTimeoutTicker runs the service's own ticker (Run, a
// short interval) on the broker: it decides by the message times the saga
// recorded, not by when the request was processed. It restarts the shared
// service twice (short interval, then the defaults again), so it is not
// parallel.
func TestIntegrationSagaTimeoutTicker(t *testing.T) {
	stopSvc()
	require.NoError(t, <-svcDone)
	require.NoError(t, startService(returns.WithSagaTimeoutInterval(100*time.Millisecond)))
	t.Cleanup(func() {
		stopSvc()
		require.NoError(t, <-svcDone)
		require.NoError(t, startService())
		kafkatest.Eventually(t, 60*time.Second, svc.Ready)
	})
	kafkatest.Eventually(t, 60*time.Second, svc.Ready)

	// Both refunds are lost. The old one was requested by a complete
	// stamped 10 minutes ago (past the 2 minute timeout); the fresh one now.
	old := cluster.Unique("ret-" + lostMarker)
	fresh := cluster.Unique("ret-" + lostMarker)
	for _, id := range []string{old, fresh} {
		approvedAndReceived(t, id, 1, returns.RefundOriginalPayment, returns.ActualSellable)
	}
	requireOK(t, submitAt(t, time.Now().Add(-10*time.Minute), topics.ReturnsCommands, old, returns.TypeComplete, returns.Complete{}, staff, ""))
	requireOK(t, command(t, fresh, returns.TypeComplete, returns.Complete{}))
	// and a label request stamped 10 minutes ago is lost too
	lbl := cluster.Unique("ret-" + labelLostMarker)
	orderID := placeOrder(t, now.Add(-48*time.Hour))
	requireOK(t, initiate(t, orderID, lbl, 1, returns.ReasonNoLongerNeeded))
	requireOK(t, submitAt(t, time.Now().Add(-10*time.Minute), topics.ReturnsCommands, lbl, returns.TypeApprove,
		returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "staff_7"}, staff, ""))

	var r *returns.Return
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var err error
		r, err = svc.Return(old)
		return err == nil && r.Saga.RefundAttempts == 2
	}, "the ticker never timed the old refund request out")
	require.Equal(t, returns.StateRefunding, r.Status)
	require.Contains(t, r.Saga.RefundError, "saga timeout")
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		l, err := svc.Return(lbl)
		return err == nil && l.Saga.LabelError != ""
	}, "the ticker never timed the old label request out")
	l, err := svc.Return(lbl)
	require.NoError(t, err)
	require.Equal(t, returns.StateApproved, l.Status)
	require.Contains(t, l.Saga.LabelError, "saga timeout")
	// The approval's notification reply may be recorded before or after
	// the timeout: the label failure is in the trail, not necessarily last.
	require.True(t, slices.ContainsFunc(l.Audit, func(e returns.AuditEntry) bool { return e.Action == returns.ActionLabelFailed }),
		"the trail records the label failure: %+v", l.Audit)

	// ten ticks later: the retry was sent at the tick's time, so it is not
	// due; the fresh request is not due either
	time.Sleep(time.Second)
	r, err = svc.Return(old)
	require.NoError(t, err)
	require.Equal(t, 2, r.Saga.RefundAttempts, "the retry's clock starts at the timeout's message time")
	f, err := svc.Return(fresh)
	require.NoError(t, err)
	require.Equal(t, returns.StateRefunding, f.Status)
	require.Equal(t, 1, f.Saga.RefundAttempts, "a request sent now is not timed out")
	st, err := sims.State(old)
	require.NoError(t, err)
	require.Equal(t, 2, st.Dropped, "both attempts reached payments")
}
