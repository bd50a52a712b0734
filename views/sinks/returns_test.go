package sinks

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

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
		// ret-parked: it parks in refund_failed
		sims, err := simulators.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), simulators.Config{
			FailWhen: func(kind, returnID string, _ int) bool {
				return kind == "payment" && strings.HasPrefix(returnID, "ret-parked")
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
			view, err := svc.Return(tc.id)
			require.NoError(t, err)
			kafkatest.Eventually(t, 30*time.Second, func() bool {
				var status string
				err := pool.QueryRow(ctx, "SELECT status FROM return_requests WHERE id = $1", tc.id).Scan(&status)
				return err == nil && status == string(view.Status)
			}, "return %s in SQL", tc.id)
			// the entries the return's events carried: every entry up to
			// its last event (replies after it stay in the processor's trail)
			published := view.Audit[:view.AuditPublished]
			require.NotEmpty(t, published)
			kafkatest.Eventually(t, 10*time.Second, func() bool {
				var n int
				return pool.QueryRow(ctx, "SELECT count(*) FROM return_audit_logs WHERE return_request_id = $1", tc.id).Scan(&n) == nil &&
					n == len(published)
			}, "return %s: %d audit entries in SQL", tc.id, len(published))

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

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}
