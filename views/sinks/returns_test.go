package sinks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lovoo/goka/storage"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/processors/returns/simulators"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

var returnFlows struct {
	once sync.Once
	err  error
	svc  *returns.Service
}

// retried holds the ret-retry returns a test sent retry_refund to:
// payments decline the refunds of a ret-retry return until then, and lose
// them (no reply) after, so the return waits in refunding after the retry.
var retried sync.Map

func wasRetried(returnID string) bool {
	_, ok := retried.Load(returnID)
	return ok
}

// startReturns starts the returns service and the simulators of the
// services its completion saga talks to (after the gift card flows, for
// store credit).
func startReturns(t *testing.T) *returns.Service {
	t.Helper()
	startFlows(t)
	returnFlows.once.Do(func() {
		ctx := context.Background()
		credit, err := returns.NewStoreCredit([]byte("store-credit-secret-for-sinks-0123456789"),
			[]byte("gift-card-key-secret-for-sinks-0123456789"))
		if err != nil {
			returnFlows.err = err
			return
		}
		// payments decline every refund of a return whose ID starts with
		// ret-parked: it parks in refund_failed; and those of a ret-retry
		// return until its test retries it (retried), then lose them
		sims, err := simulators.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), simulators.Config{
			FailWhen: func(kind, returnID string, _ int) bool {
				return kind == "payment" && (strings.HasPrefix(returnID, "ret-parked") ||
					(strings.HasPrefix(returnID, "ret-retry") && !wasRetried(returnID)))
			},
			DropWhen: func(kind, returnID string, _ int) bool {
				return kind == "payment" && strings.HasPrefix(returnID, "ret-retry") && wasRetried(returnID)
			}})
		if err != nil {
			returnFlows.err = err
			return
		}
		go sims.Run(ctx) //nolint:errcheck
		svc, err := returns.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), returns.WithStoreCredit(credit))
		if err != nil {
			returnFlows.err = err
			return
		}
		go svc.Run(ctx) //nolint:errcheck
		deadline := time.Now().Add(60 * time.Second)
		for !(svc.Ready() && sims.Ready()) {
			if time.Now().After(deadline) {
				returnFlows.err = context.DeadlineExceeded
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		returnFlows.svc = svc
	})
	require.NoError(t, returnFlows.err, "starting the returns service")
	return returnFlows.svc
}

// placeOrder publishes order.completed and shipment.delivered as the orders
// and shipping services would, and waits until the order processor has them.
func placeOrder(t *testing.T, svc *returns.Service, delivered time.Time) string {
	t.Helper()
	id := cluster.Unique("order")
	order := map[string]any{"order_id": id, "user_id": "user_" + id, "currency": "USD",
		"completed_at": delivered.Add(-72 * time.Hour),
		"line_items": []map[string]any{
			{"line_item_id": "li_1", "product_id": "prod_shirt", "sku": "TS-M", "category": "apparel", "quantity": 2,
				"unit_price": "19.99", "discount": "2.00", "tax": "3.04", "final_sale": false},
			{"line_item_id": "li_2", "product_id": "prod_mug", "category": "kitchen", "quantity": 1,
				"unit_price": "12.00", "discount": "0", "tax": "0.96"},
		},
		"subtotal": "51.98", "discount_total": "2.00", "tax_total": "4.00", "shipping_total": "5.00", "total": "58.98",
		"payments": []map[string]any{{"method": "card", "amount": "58.98", "reference": "pay_" + id}}}
	p := cluster.Producer(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for typ, data := range map[string]any{
		topics.OrderCompleted: order,
		topics.ShipmentDelivered: map[string]any{"shipment_id": "sh_" + id, "order_id": id, "carrier": "UPS",
			"tracking_number": "T", "delivered_at": delivered},
	} {
		env, err := topics.NewEnvelope(typ, delivered, data, topics.WithActor(topics.Actor{ID: "orders", Type: topics.ActorSystem}))
		require.NoError(t, err)
		b, err := env.Encode()
		require.NoError(t, err)
		require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: typ, Key: []byte("foreign-" + id), Value: b}).FirstErr())
	}
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		res, err := svc.Eligibility(id, time.Now())
		return err == nil && res.ReturnWindowExpiresAt.Sub(delivered)%(24*time.Hour) == 0
	}, "order %s never reached the order processor", id)
	return id
}

// TestReturnFlowFillsTheTables runs returns through the real processors
// (completed through the saga, rejected, cancelled) and checks that the SQL
// read models agree with the return processor's view.
func TestReturnFlowFillsTheTables(t *testing.T) {
	pool := migrated(t)
	svc := startReturns(t)
	// Each return is the order customer's own: only they (or staff) may
	// initiate and cancel it.
	customers := map[string]topics.Actor{}
	staff := topics.Actor{ID: "staff_7", Type: topics.ActorStaff}
	delivered := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Millisecond)
	initiate := func(id string) {
		orderID := placeOrder(t, svc, delivered)
		customers[id] = topics.Actor{ID: "user_" + orderID, Type: topics.ActorCustomer}
		submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, returns.InitiateRequest{ReturnID: id, OrderID: orderID,
			Reason: returns.ReasonNoLongerNeeded, Description: "too small",
			Items: []returns.InitiateItem{{LineItemID: "li_1", Quantity: 2, Condition: returns.ConditionOpened}}}, customers[id])
	}
	waitStatus := func(id string, st returns.State) {
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			r, err := svc.Return(id)
			return err == nil && r.Status == st
		}, "return %s never reached %s", id, st)
	}

	completed, rejected, cancelled := cluster.Unique("ret-done"), cluster.Unique("ret-rej"), cluster.Unique("ret-can")
	parked := cluster.Unique("ret-parked")
	require.True(t, strings.HasPrefix(parked, "ret-parked"))
	for _, id := range []string{completed, rejected, cancelled, parked} {
		initiate(id)
	}
	for _, id := range []string{completed, parked} {
		submit(t, topics.ReturnsCommands, id, returns.TypeApprove, returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "staff_7"}, staff)
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			r, err := svc.Return(id)
			return err == nil && r.ShippingLabel != nil
		}, "the label of %s never arrived", id)
		submit(t, topics.ReturnsCommands, id, returns.TypeReceive, returns.ReceiveItems{ReceiverID: "wh_1",
			Items: []returns.ReceivedItem{{LineItemID: "li_1", QuantityReceived: 2, ActualCondition: returns.ActualSellable, Notes: "tags on"}}}, staff)
		submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff)
	}
	submit(t, topics.ReturnsCommands, rejected, returns.TypeReject, returns.Reject{Reason: "worn", RejectorID: "staff_7"}, staff)
	submit(t, topics.ReturnsCommands, cancelled, returns.TypeApprove, returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	submit(t, topics.ReturnsCommands, cancelled, returns.TypeCancel, returns.Cancel{Reason: "changed my mind"}, customers[cancelled])
	waitStatus(completed, returns.StateCompleted)
	waitStatus(rejected, returns.StateRejected)
	waitStatus(cancelled, returns.StateCancelled)
	waitStatus(parked, returns.StateRefundFailed)

	s, err := New(Returns(), pool, cluster.Clients, WithRetryBackoff(100*time.Millisecond))
	require.NoError(t, err)
	start(t, s)

	ctx := context.Background()
	cases := []struct {
		name    string
		id      string
		actions []returns.Action // actions the trail must have (with others between them)
		stamped string           // the timestamp column its final event sets
	}{
		{name: "completed through the saga", id: completed, actions: []returns.Action{returns.ActionInitiate, returns.ActionApprove,
			returns.ActionLabelCreated, returns.ActionReceive, returns.ActionComplete, returns.ActionRefundSucceeded, returns.ActionRestockSucceeded},
			stamped: "completed_at"},
		{name: "rejected", id: rejected, actions: []returns.Action{returns.ActionInitiate, returns.ActionReject}, stamped: "rejected_at"},
		{name: "cancelled", id: cancelled, actions: []returns.Action{returns.ActionInitiate, returns.ActionApprove, returns.ActionCancel}, stamped: "cancelled_at"},
		// return.action_required puts a return parked for a person in the
		// read model, with its trail up to the failure
		{name: "parked in refund_failed", id: parked, actions: []returns.Action{returns.ActionInitiate, returns.ActionApprove,
			returns.ActionReceive, returns.ActionComplete, returns.ActionRefundRetry, returns.ActionRefundFailed}, stamped: "received_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// the return's whole trail, once every notification has its
			// reply: entries after its last event included (the
			// notifications' replies), which only the processor's table
			// changelog brings
			view := finalTrail(t, svc, tc.id)
			require.Greater(t, len(view.Audit), view.AuditPublished, "the trail has entries after the return's last event")
			require.Contains(t, []returns.Action{returns.ActionNotified, returns.ActionNotifyFailed}, view.Audit[len(view.Audit)-1].Action)
			kafkatest.Eventually(t, 30*time.Second, func() bool {
				var status string
				err := pool.QueryRow(ctx, "SELECT status FROM return_requests WHERE id = $1", tc.id).Scan(&status)
				return err == nil && status == string(view.Status)
			}, "return %s in SQL", tc.id)
			published := view.Audit
			waitAuditSeqs(t, pool, tc.id, seqsOf(published))

			var orderID, customerID, reason string
			var created, stamped *time.Time
			var approvedBy *string
			var estimated, actual *decimal.Decimal
			require.NoError(t, pool.QueryRow(ctx, `SELECT order_id, customer_id, reason, created_at, `+tc.stamped+`,
				approved_by, estimated_refund, actual_refund FROM return_requests WHERE id = $1`, tc.id).
				Scan(&orderID, &customerID, &reason, &created, &stamped, &approvedBy, &estimated, &actual))
			require.Equal(t, view.OrderID, orderID)
			require.Equal(t, view.CustomerID, customerID)
			require.Equal(t, view.Reason, reason)
			require.NotNil(t, created, "set by return.initiated, kept by later events")
			require.NotNil(t, stamped)
			if tc.id == completed {
				require.NotNil(t, actual)
				require.NotNil(t, view.ActualRefund)
				require.True(t, view.ActualRefund.TotalRefund.Equal(*actual), "view %s, SQL %s", view.ActualRefund.TotalRefund, actual)
				require.NotNil(t, estimated, "the estimate of earlier events is kept")
				require.True(t, view.EstimatedRefund.TotalRefund.Equal(*estimated), "view %s, SQL %s", view.EstimatedRefund.TotalRefund, estimated)
				require.NotNil(t, approvedBy)
			}

			var items, received int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(quantity_received), 0) FROM return_items
				WHERE return_request_id = $1`, tc.id).Scan(&items, &received))
			require.Len(t, view.Items, items)
			require.Equal(t, view.QuantityReceived(), received)

			// the processor's own entries, field by field
			rows, err := pool.Query(ctx, `SELECT action, actor_id, actor_type, coalesce(previous_state, ''), new_state,
				metadata, created_at FROM return_audit_logs WHERE return_request_id = $1 ORDER BY event_id`, tc.id)
			require.NoError(t, err)
			var got []returns.AuditEntry
			for rows.Next() {
				var e returns.AuditEntry
				var md map[string]any
				var prev, next string
				require.NoError(t, rows.Scan(&e.Action, &e.ActorID, &e.ActorType, &prev, &next, &md, &e.At))
				e.PreviousState, e.NewState = returns.State(prev), returns.State(next)
				e.Seq = int(md["seq"].(float64))
				got = append(got, e)
				want := published[len(got)-1]
				for k, v := range want.MetadataValues() {
					require.Equal(t, v, md[k], "entry %d metadata %s", want.Seq, k)
				}
				require.Equal(t, want.CommandID, stringOr(md["command_id"]), "entry %d", want.Seq)
			}
			require.NoError(t, rows.Err())
			require.Len(t, got, len(published))
			var actions []returns.Action
			for i, e := range got {
				w := published[i]
				require.Equal(t, w.Seq, e.Seq)
				require.Equal(t, w.Action, e.Action)
				require.Equal(t, w.ActorID, e.ActorID)
				require.Equal(t, w.ActorType, e.ActorType)
				require.Equal(t, w.PreviousState, e.PreviousState)
				require.Equal(t, w.NewState, e.NewState)
				require.True(t, w.At.Truncate(time.Microsecond).Equal(e.At), "entry %d at %s, SQL %s (microseconds)", w.Seq, w.At, e.At)
				actions = append(actions, e.Action)
			}
			require.Subset(t, actions, tc.actions)
			require.Equal(t, returns.ActionInitiate, got[0].Action)
			require.Equal(t, topics.ActorCustomer, got[0].ActorType, "the customer initiated")
			require.Empty(t, got[0].PreviousState)
			require.Equal(t, string(view.Status), string(got[len(got)-1].NewState))

			var description, labelURL, tracking *string
			require.NoError(t, pool.QueryRow(ctx, `SELECT description, shipping_label_url, tracking_number FROM return_requests
				WHERE id = $1`, tc.id).Scan(&description, &labelURL, &tracking))
			require.Equal(t, "too small", *description)
			if tc.id == completed {
				require.NotNil(t, view.ShippingLabel)
				require.Equal(t, view.ShippingLabel.URL, *labelURL)
				require.Equal(t, view.ShippingLabel.TrackingNumber, *tracking)
				var expected, actualCond, notes string
				var restockable bool
				var unit decimal.Decimal
				require.NoError(t, pool.QueryRow(ctx, `SELECT expected_condition, actual_condition, restockable, notes,
					unit_refund_amount FROM return_items WHERE return_request_id = $1`, tc.id).
					Scan(&expected, &actualCond, &restockable, &notes, &unit))
				require.Equal(t, returns.ConditionOpened, expected)
				require.Equal(t, returns.ActualSellable, actualCond)
				require.True(t, restockable)
				require.Equal(t, "tags on", notes)
				var lines decimal.Decimal
				for _, l := range view.ActualRefund.Lines {
					lines = lines.Add(l.Total)
				}
				require.True(t, lines.Div(decimal.NewFromInt(2)).Round(2).Equal(unit), "unit %s of lines %s", unit, lines)
			}
		})
	}
	require.Zero(t, s.Stats().DeadLetters.Load())
}

// TestReturnRetryWhileParkedReachesTheTables retries a return parked in
// refund_failed (retry_refund) whose new refund is never answered: it waits
// in refunding, and no event has been published since
// return.action_required. The retry's entries reach return_audit_logs and
// return_requests shows refunding: both come from the return processor's
// table changelog.
func TestReturnRetryWhileParkedReachesTheTables(t *testing.T) {
	pool := migrated(t)
	svc := startReturns(t)
	staff := topics.Actor{ID: "staff_7", Type: topics.ActorStaff}
	orderID := placeOrder(t, svc, time.Now().UTC().Add(-48*time.Hour).Truncate(time.Millisecond))
	id := cluster.Unique("ret-retry")
	require.True(t, strings.HasPrefix(id, "ret-retry"))
	submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, returns.InitiateRequest{ReturnID: id, OrderID: orderID,
		Reason: returns.ReasonDefective, Items: []returns.InitiateItem{{LineItemID: "li_2", Quantity: 1, Condition: returns.ConditionNew}}},
		topics.Actor{ID: "user_" + orderID, Type: topics.ActorCustomer})
	submit(t, topics.ReturnsCommands, id, returns.TypeApprove, returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	submit(t, topics.ReturnsCommands, id, returns.TypeReceive, returns.ReceiveItems{ReceiverID: "wh_1",
		Items: []returns.ReceivedItem{{LineItemID: "li_2", QuantityReceived: 1, ActualCondition: returns.ActualSellable}}}, staff)
	submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff)
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		r, err := svc.Return(id)
		return err == nil && r.Status == returns.StateRefundFailed
	}, "return %s never parked in refund_failed", id)

	s, err := New(Returns(), pool, cluster.Clients, WithRetryBackoff(100*time.Millisecond))
	require.NoError(t, err)
	start(t, s)

	retried.Store(id, true) // the retry's refund is lost: the return waits in refunding
	submit(t, topics.ReturnsCommands, id, returns.TypeRetryRefund, struct{}{}, staff)
	var view *returns.Return
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		r, err := svc.Return(id)
		if err != nil || r.Status != returns.StateRefunding || !notificationsAnswered(r) {
			return false
		}
		view = r
		return true
	}, "return %s: the retry never reached the processor's view", id)
	retry := slices.IndexFunc(view.Audit, func(e returns.AuditEntry) bool { return e.Action == returns.ActionRetryRefund })
	require.GreaterOrEqual(t, retry, view.AuditPublished, "no event carried the retry")
	waitAuditSeqs(t, pool, id, seqsOf(view.Audit))

	ctx := context.Background()
	var action, prev, next string
	require.NoError(t, pool.QueryRow(ctx, `SELECT action, previous_state, new_state FROM return_audit_logs WHERE event_id = $1`,
		fmt.Sprintf("%s/audit/%06d", id, view.Audit[retry].Seq)).Scan(&action, &prev, &next))
	require.Equal(t, []string{string(returns.ActionRetryRefund), string(returns.StateRefundFailed), string(returns.StateRefunding)},
		[]string{action, prev, next})
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var status string
		var version int64
		err := pool.QueryRow(ctx, "SELECT status, version FROM return_requests WHERE id = $1", id).Scan(&status, &version)
		return err == nil && status == string(returns.StateRefunding) && version == int64(len(view.Audit))
	}, "return %s: return_requests never showed the retry (refunding, version %d)", id, len(view.Audit))
	require.Zero(t, s.Stats().DeadLetters.Load())
}

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}

// finalTrail waits until every notification of return id has its reply
// (none is still requested), after which nothing appends to the trail of a
// return that waits for no one, and returns the return as the processor's
// view (GET /v1/returns/{id}) has it.
func finalTrail(t *testing.T, svc *returns.Service, id string) *returns.Return {
	t.Helper()
	var view *returns.Return
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		r, err := svc.Return(id)
		if err != nil || len(r.Saga.Notifications) == 0 || !notificationsAnswered(r) {
			return false
		}
		view = r
		return true
	}, "the notifications of return %s never got their replies", id)
	return view
}

// notificationsAnswered reports whether every notification r sent has its
// reply (none is still requested).
func notificationsAnswered(r *returns.Return) bool {
	for _, n := range r.Saga.Notifications {
		if n.Status == "requested" {
			return false
		}
	}
	return true
}

// seqsOf lists the seq of every entry of trail.
func seqsOf(trail []returns.AuditEntry) []int {
	out := make([]int, len(trail))
	for i, e := range trail {
		out[i] = e.Seq
	}
	return out
}

// auditSeqs lists the seq of every return_audit_logs row of return id, in
// order.
func auditSeqs(pool *pgxpool.Pool, id string) ([]int, error) {
	rows, err := pool.Query(context.Background(), `SELECT (metadata->>'seq')::int FROM return_audit_logs
		WHERE return_request_id = $1 ORDER BY 1`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// waitAuditSeqs waits until return_audit_logs holds exactly the entries
// want (their seqs) of return id, and fails showing both lists otherwise.
func waitAuditSeqs(t *testing.T, pool *pgxpool.Pool, id string, want []int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := auditSeqs(pool, id)
		if err == nil && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			require.NoError(t, err)
			require.Equal(t, want, got, "return %s: the seqs of its return_audit_logs rows against its trail's", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
