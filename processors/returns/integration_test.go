package returns_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/processors/returns/simulators"
	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

var (
	cluster   *kafkatest.Cluster
	svc       *returns.Service
	sims      *simulators.Simulators
	commander *topics.Commander
	credit    *returns.StoreCredit
	cardKeys  *giftcards.CodeGenerator
	stopSvc   context.CancelFunc
	svcDone   chan error
)

// Returns whose ID contains these markers make the simulators fail.
const (
	declineMarker   = "decline"
	inventoryMarker = "invdown"
	retryMarker     = "retry1"  // the first payment attempt is declined
	lostMarker      = "paylost" // every payment request is lost: no reply ever
	lateMarker      = "paylate" // the first payment request is lost
	labelLostMarker = "lbllost" // every label request is lost
)

var (
	cardKeySecret = []byte("gift-card-key-secret-for-tests-0123456789")
	creditSecret  = []byte("store-credit-secret-for-tests-0123456789")
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse() // -returns.reads, read before m.Run
	var err error
	if cluster, err = kafkatest.Start(); err != nil {
		fmt.Println(err)
		return 1
	}
	defer cluster.Close()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if _, err := cat.Ensure(context.Background(), cluster.Admin, 1); err != nil {
		fmt.Println(err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Tables and views on Pebble without its log, as shopstream runs them
	// (the benchmark measures that); a restarted service reopens them.
	if stateDir, err = os.MkdirTemp("", "returns-state-"); err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(stateDir)
	if credit, err = returns.NewStoreCredit(creditSecret, cardKeySecret); err != nil {
		fmt.Println(err)
		return 1
	}
	if cardKeys, err = giftcards.NewCodeGenerator(cardKeySecret); err != nil {
		fmt.Println(err)
		return 1
	}
	// no view: State reads the simulators' table (one process owns every
	// partition), and nothing else consumes its changelog
	sims, err = simulators.New(cluster.Clients, pebbleStorage("simulators"), nil, simulators.Config{
		FailWhen: func(kind, returnID string, attempt int) bool {
			return (kind == "payment" && strings.Contains(returnID, declineMarker)) ||
				(kind == "payment" && attempt == 1 && strings.Contains(returnID, retryMarker)) ||
				(kind == "restock" && strings.Contains(returnID, inventoryMarker))
		},
		DropWhen: func(kind, returnID string, attempt int) bool {
			return (kind == "payment" && (strings.Contains(returnID, lostMarker) ||
				(attempt == 1 && strings.Contains(returnID, lateMarker)))) ||
				(kind == "label" && strings.Contains(returnID, labelLostMarker))
		},
	})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	cards, err := giftcards.New(cluster.Clients, pebbleStorage("giftcards"))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if commander, err = topics.NewCommander(ctx, cluster.Clients); err != nil {
		fmt.Println(err)
		return 1
	}
	go func() { _ = commander.Run(ctx) }()
	go func() { _ = sims.Run(ctx) }()
	go func() { _ = cards.Run(ctx) }()
	if err := startService(); err != nil {
		fmt.Println(err)
		return 1
	}
	deadline := time.Now().Add(60 * time.Second)
	for !(svc.Ready() && sims.Ready() && cards.Ready()) {
		if time.Now().After(deadline) {
			fmt.Println("returns: processors did not recover in time")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := m.Run()
	stopSvc()
	<-svcDone
	return code
}

// stateDir holds the fixture's Pebble databases.
var stateDir string

// pebbleStorage is a Pebble storage builder under stateDir/name. A builder
// that cannot be made (a full disk) panics: the fixture cannot run.
func pebbleStorage(name string) storage.Builder {
	sb, err := state.NewBuilder(filepath.Join(stateDir, name), state.WithoutWAL())
	if err != nil {
		panic(err)
	}
	return sb
}

// readsFrom is where the service under test reads returns and orders:
// "tables", as shopstream dev does (returns.WithTableReads), or "views", as
// a deployment of several instances does. make test runs this package's
// tests in both.
var readsFrom = flag.String("returns.reads", "tables", "where the service reads returns and orders: tables or views")

func startService(opts ...returns.Option) error {
	base := []returns.Option{returns.WithStoreCredit(credit)}
	switch *readsFrom {
	case "tables":
		base = append(base, returns.WithTableReads())
	case "views":
	default:
		return fmt.Errorf("-returns.reads %q: tables or views", *readsFrom)
	}
	s, err := returns.New(cluster.Clients, pebbleStorage("processors"), pebbleStorage("views"), append(base, opts...)...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, stopSvc, svcDone = s, cancel, make(chan error, 1)
	go func() { svcDone <- s.Run(ctx) }()
	return nil
}

// now is the time the tests run at: orders complete and are delivered
// shortly before.
var now = time.Now().UTC().Truncate(time.Millisecond)

// placeOrder publishes order.completed and shipment.delivered as the other
// services would (foreign partitioner: a record key unrelated to our hash,
// on partition 0), and waits until the order processor has them.
func placeOrder(t *testing.T, delivered time.Time, lines ...map[string]any) string {
	t.Helper()
	id := cluster.Unique("order")
	if len(lines) == 0 {
		lines = []map[string]any{
			{"line_item_id": "li_1", "product_id": "prod_shirt", "sku": "TS-M", "category": "apparel", "quantity": 2,
				"unit_price": "19.99", "discount": "2.00", "tax": "3.04", "final_sale": false},
			{"line_item_id": "li_2", "product_id": "prod_mug", "category": "kitchen", "quantity": 1,
				"unit_price": "12.00", "discount": "0", "tax": "0.96"},
		}
	}
	order := map[string]any{"order_id": id, "user_id": customer.ID, "currency": "USD",
		"completed_at": delivered.Add(-72 * time.Hour), "line_items": lines,
		"subtotal": "51.98", "discount_total": "2.00", "tax_total": "4.00", "shipping_total": "5.00", "total": "58.98",
		"payments": []map[string]any{{"method": "card", "amount": "58.98", "reference": "pay_" + id}}}
	p := cluster.Producer(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for typ, data := range map[string]any{
		topics.OrderCompleted:    order,
		topics.ShipmentDelivered: map[string]any{"shipment_id": "sh_" + id, "order_id": id, "carrier": "UPS", "tracking_number": "T", "delivered_at": delivered},
	} {
		env, err := topics.NewEnvelope(typ, delivered, data, topics.WithActor(topics.Actor{ID: "orders", Type: topics.ActorSystem}))
		require.NoError(t, err)
		b, err := env.Encode()
		require.NoError(t, err)
		require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: typ, Key: []byte("foreign-" + id), Value: b, Partition: 0}).FirstErr())
	}
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		// the window counts from delivery once shipment.delivered is in
		res, err := svc.Eligibility(id, now)
		return err == nil && res.ReturnWindowExpiresAt.Sub(delivered)%(24*time.Hour) == 0
	}, "order %s never reached the order processor", id)
	return id
}

// TestIntegrationInboundUnknownFields: an inbound event with fields its
// contract does not have, reply_topic among them (which our commands use),
// is consumed as the contract says: unknown fields are ignored.
func TestIntegrationInboundUnknownFields(t *testing.T) {
	t.Parallel()
	id := cluster.Unique("order")
	raw := fmt.Sprintf(`{"id":%q,"type":"order.completed","v":1,"occurred_at":%q,"actor":{"id":"orders","type":"system"},
		"reply_topic":"orders.private","trace":{"span":"abc"},
		"data":{"order_id":%q,"user_id":%q,"currency":"USD","completed_at":%q,"channel":"web",
		"line_items":[{"line_item_id":"li_1","product_id":"p","category":"apparel","quantity":1,"unit_price":"10.00","discount":"0","tax":"0.80"}],
		"shipping_total":"0"}}`, topics.NewID(), now.Format(time.RFC3339Nano), id, customer.ID, now.Add(-time.Hour).Format(time.RFC3339))
	p := cluster.Producer(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: topics.OrderCompleted, Key: []byte("foreign-" + id), Value: []byte(raw)}).FirstErr())
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		res, err := svc.Eligibility(id, now)
		return err == nil && len(res.EligibleItems) == 1
	}, "order %s never reached the order processor", id)
}

// An order.completed whose amounts are JSON numbers, which the contract
// forbids ("never floats"), goes to the order processor's DLQ with the
// reason, and the order is not recorded; before, the number was read as a
// decimal and the order became returnable.
func TestIntegrationInboundFloatAmountGoesToTheDLQ(t *testing.T) {
	t.Parallel()
	id := cluster.Unique("order")
	raw := fmt.Sprintf(`{"id":%q,"type":"order.completed","v":1,"occurred_at":%q,"actor":{"id":"orders","type":"system"},
		"data":{"order_id":%q,"user_id":%q,"currency":"USD","completed_at":%q,
		"line_items":[{"line_item_id":"li_1","product_id":"p","category":"apparel","quantity":1,"unit_price":19.99,"discount":"0","tax":"0.80"}],
		"shipping_total":"0"}}`, topics.NewID(), now.Format(time.RFC3339Nano), id, customer.ID, now.Add(-time.Hour).Format(time.RFC3339))
	p := cluster.Producer(t)
	require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: topics.OrderCompleted, Key: []byte(id), Value: []byte(raw)}).FirstErr())
	var dead *topics.DeadLetter
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		cluster.ReadToEnd(t, topics.DLQ(topics.ReturnsOrdersGroup), func(r *kgo.Record) {
			var dl topics.DeadLetter
			if json.Unmarshal(r.Value, &dl) == nil && string(dl.Key) == id {
				dead = &dl
			}
		})
		return dead != nil
	}, "order %s never reached the DLQ", id)
	require.Equal(t, topics.CodeInvalidAmount, dead.Code, dead.Reason)
	require.Contains(t, dead.Reason, "not a JSON number")
	_, err := svc.Eligibility(id, now)
	require.ErrorIs(t, err, returns.ErrOrderNotFound, "the order was not recorded")
}

// submit sends a command and waits for its (first) result.
func submit(t *testing.T, topic, key, typ string, data any, actor topics.Actor, commandID string) *topics.CommandResult {
	t.Helper()
	return submitAt(t, time.Now(), topic, key, typ, data, actor, commandID)
}

// submitAt is submit with the command stamped at (its message time).
func submitAt(t *testing.T, at time.Time, topic, key, typ string, data any, actor topics.Actor, commandID string) *topics.CommandResult {
	t.Helper()
	if commandID == "" {
		commandID = topics.NewID()
	}
	env, err := topics.NewEnvelope(typ, at, data, topics.WithCommandID(commandID), topics.WithActor(actor))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := commander.Submit(ctx, topic, key, env)
	require.NoError(t, err, "%s %s", typ, key)
	return res
}

var (
	customer = topics.Actor{ID: "user_1", Type: topics.ActorCustomer}
	staff    = topics.Actor{ID: "staff_7", Type: topics.ActorStaff}
)

func initiate(t *testing.T, orderID, returnID string, qty int, reason string) *topics.CommandResult {
	t.Helper()
	return submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, returns.InitiateRequest{
		ReturnID: returnID, OrderID: orderID, Reason: reason,
		Items: []returns.InitiateItem{{LineItemID: "li_1", Quantity: qty, Condition: returns.ConditionNew}},
	}, customer, "")
}

func command(t *testing.T, returnID, typ string, data any) *topics.CommandResult {
	t.Helper()
	if data == nil {
		data = map[string]any{}
	}
	return submit(t, topics.ReturnsCommands, returnID, typ, data, staff, "")
}

func requireOK(t *testing.T, res *topics.CommandResult) {
	t.Helper()
	require.True(t, res.OK, "%+v", res.Error)
}

func requireCode(t *testing.T, res *topics.CommandResult, code string) {
	t.Helper()
	require.False(t, res.OK)
	require.Equal(t, code, res.Error.Code, res.Error.Message)
}

// waitStatus waits until the view shows the return in status.
func waitStatus(t *testing.T, id string, status returns.State) *returns.Return {
	t.Helper()
	var r *returns.Return
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var err error
		r, err = svc.Return(id)
		return err == nil && r.Status == status
	}, "return %s never reached %s", id, status)
	return r
}

// approvedAndReceived runs a return up to received.
func approvedAndReceived(t *testing.T, id string, qty int, method, cond string) string {
	t.Helper()
	orderID := placeOrder(t, now.Add(-48*time.Hour))
	requireOK(t, initiate(t, orderID, id, qty, returns.ReasonNoLongerNeeded))
	requireOK(t, command(t, id, returns.TypeApprove, returns.Approve{RefundMethod: method, ApproverID: "staff_7"}))
	requireOK(t, command(t, id, returns.TypeReceive, returns.ReceiveItems{ReceiverID: "wh_1",
		Items: []returns.ReceivedItem{{LineItemID: "li_1", QuantityReceived: qty, ActualCondition: cond}}}))
	return orderID
}

func TestIntegrationLifecycle(t *testing.T) {
	t.Parallel()
	id := cluster.Unique("ret-" + retryMarker)
	orderID := placeOrder(t, now.Add(-48*time.Hour))

	t.Run("eligibility lists the order's lines", func(t *testing.T) {
		res, err := svc.Eligibility(orderID, now)
		require.NoError(t, err)
		require.Len(t, res.EligibleItems, 2)
		require.Equal(t, 2, res.EligibleItems[0].ReturnableQuantity)
	})
	t.Run("initiate answers with the pending return", func(t *testing.T) {
		res := initiate(t, orderID, id, 2, returns.ReasonNoLongerNeeded)
		requireOK(t, res)
		var rr returns.ReturnRequest
		require.NoError(t, json.Unmarshal(res.Result, &rr))
		require.Equal(t, returns.StatePending, rr.Status)
		require.Equal(t, "41.02", rr.EstimatedRefund.TotalRefund.StringFixed(2))
	})
	t.Run("the claim shows in eligibility", func(t *testing.T) {
		kafkatest.Eventually(t, 10*time.Second, func() bool {
			res, err := svc.Eligibility(orderID, now)
			return err == nil && len(res.EligibleItems) == 1
		})
	})
	t.Run("approve requests a label that arrives", func(t *testing.T) {
		requireOK(t, command(t, id, returns.TypeApprove, returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "staff_7"}))
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			r, err := svc.Return(id)
			return err == nil && r.ShippingLabel != nil && strings.HasPrefix(r.ShippingLabel.TrackingNumber, "1Z")
		})
	})
	t.Run("ship then receive", func(t *testing.T) {
		requireOK(t, command(t, id, returns.TypeShip, returns.Ship{TrackingNumber: "1Z"}))
		res := command(t, id, returns.TypeReceive, returns.ReceiveItems{ReceiverID: "wh_1",
			Items: []returns.ReceivedItem{{LineItemID: "li_1", QuantityReceived: 2, ActualCondition: returns.ActualSellable}}})
		requireOK(t, res)
	})
	t.Run("complete is pending, then refunded through payments after a declined attempt, restocked and completed", func(t *testing.T) {
		res := command(t, id, returns.TypeComplete, returns.Complete{})
		requireOK(t, res)
		require.True(t, res.Pending)
		r := waitStatus(t, id, returns.StateCompleted)
		require.Equal(t, 2, r.Saga.RefundAttempts)
		require.True(t, r.Saga.Restocked)
		require.NotEmpty(t, r.Saga.RefundTransactionID)
		st, err := sims.State(id)
		require.NoError(t, err)
		require.Equal(t, 1, st.Payments)
		require.Equal(t, "41.02", st.Refunds[id+":refund"].Amount.Amount.StringFixed(2))
		require.Equal(t, 1, st.Restocks)
	})
	t.Run("the customer was notified", func(t *testing.T) {
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			st, err := sims.State(id)
			return err == nil && len(st.Notifications) == 2 // approved, completed
		})
		st, _ := sims.State(id)
		require.ElementsMatch(t, []string{"return_approved", "return_completed"}, st.Notifications)
	})
	t.Run("the audit trail holds every step", func(t *testing.T) {
		r, err := svc.Return(id)
		require.NoError(t, err)
		var actions []returns.Action
		for _, e := range r.Audit {
			actions = append(actions, e.Action)
		}
		require.Subset(t, actions, []returns.Action{returns.ActionInitiate, returns.ActionApprove, returns.ActionShip,
			returns.ActionReceive, returns.ActionComplete, returns.ActionRefundRetry, returns.ActionRefundSucceeded, returns.ActionRestockSucceeded})
		require.Equal(t, topics.ActorCustomer, r.Audit[0].ActorType)
		require.Equal(t, topics.ActorStaff, r.Audit[1].ActorType)
	})
	t.Run("a completed return refuses cancel", func(t *testing.T) {
		requireCode(t, command(t, id, returns.TypeCancel, returns.Cancel{}), returns.CodeInvalidState)
	})
}

func TestIntegrationErrors(t *testing.T) {
	t.Parallel()
	orderID := placeOrder(t, now.Add(-48*time.Hour))
	t.Run("unknown order", func(t *testing.T) {
		requireCode(t, initiate(t, cluster.Unique("nope"), cluster.Unique("ret"), 1, returns.ReasonOther), returns.CodeOrderNotFound)
	})
	t.Run("too many units", func(t *testing.T) {
		requireCode(t, initiate(t, orderID, cluster.Unique("ret"), 3, returns.ReasonOther), returns.CodeInvalidQuantity)
	})
	t.Run("unknown return", func(t *testing.T) {
		requireCode(t, command(t, cluster.Unique("ret"), returns.TypeApprove, returns.Approve{RefundMethod: "original_payment"}), returns.CodeReturnNotFound)
	})
	t.Run("expired window", func(t *testing.T) {
		old := placeOrder(t, now.AddDate(0, 0, -61))
		requireCode(t, initiate(t, old, cluster.Unique("ret"), 1, returns.ReasonOther), returns.CodeReturnWindowExpired)
	})
	t.Run("final sale", func(t *testing.T) {
		o := placeOrder(t, now, map[string]any{"line_item_id": "li_1", "product_id": "p", "category": "apparel", "quantity": 1,
			"unit_price": "5.00", "discount": "0", "tax": "0", "final_sale": true})
		requireCode(t, initiate(t, o, cluster.Unique("ret"), 1, returns.ReasonOther), returns.CodeItemNotReturnable)
	})
	id := cluster.Unique("ret")
	requireOK(t, initiate(t, orderID, id, 1, returns.ReasonOther))
	t.Run("complete before receipt", func(t *testing.T) {
		requireCode(t, command(t, id, returns.TypeComplete, returns.Complete{}), returns.CodeItemsNotReceived)
	})
	t.Run("a repeated command ID is answered with the first result", func(t *testing.T) {
		cid := topics.NewID()
		first := submit(t, topics.ReturnsCommands, id, returns.TypeApprove, returns.Approve{RefundMethod: "original_payment", ApproverID: "s"}, staff, cid)
		requireOK(t, first)
		again := submit(t, topics.ReturnsCommands, id, returns.TypeApprove, returns.Approve{RefundMethod: "original_payment", ApproverID: "s"}, staff, cid)
		require.True(t, again.Replayed)
		require.True(t, again.OK)
		requireCode(t, command(t, id, returns.TypeApprove, returns.Approve{RefundMethod: "original_payment", ApproverID: "s"}), returns.CodeInvalidState)
	})
	t.Run("a bad record goes to the DLQ and the processor goes on", func(t *testing.T) {
		p := cluster.Producer(t)
		require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: topics.ReturnsCommands, Key: []byte(id), Value: []byte("{not json")}).FirstErr())
		requireOK(t, command(t, id, returns.TypeLabel, nil))
	})
}

func TestIntegrationConcurrentClaims(t *testing.T) {
	t.Parallel()
	orderID := placeOrder(t, now.Add(-24*time.Hour))
	const racers = 4
	results := make([]*topics.CommandResult, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = initiate(t, orderID, cluster.Unique("race"), 2, returns.ReasonOther)
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r.OK {
			ok++
		} else {
			require.Equal(t, returns.CodeInvalidQuantity, r.Error.Code)
		}
	}
	require.Equal(t, 1, ok, "exactly one return gets the two units")
}

func TestIntegrationCancelReleasesUnits(t *testing.T) {
	t.Parallel()
	orderID := placeOrder(t, now.Add(-24*time.Hour))
	first := cluster.Unique("ret")
	requireOK(t, initiate(t, orderID, first, 2, returns.ReasonOther))
	requireCode(t, initiate(t, orderID, cluster.Unique("ret"), 1, returns.ReasonOther), returns.CodeInvalidQuantity)
	// The view shows the order as placed until it has seen the claim: wait
	// for the claim, so that the wait below is for the release.
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		res, err := svc.Eligibility(orderID, now)
		return err == nil && len(res.EligibleItems) == 1
	}, "the claim shows in eligibility")
	requireOK(t, submit(t, topics.ReturnsCommands, first, returns.TypeCancel, returns.Cancel{Reason: "kept it"}, customer, ""))
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		res, err := svc.Eligibility(orderID, now)
		return err == nil && len(res.EligibleItems) == 2 && res.EligibleItems[0].ReturnableQuantity == 2
	}, "the cancellation released the units")
	requireOK(t, initiate(t, orderID, cluster.Unique("ret"), 2, returns.ReasonOther))
}

func TestIntegrationRoles(t *testing.T) {
	t.Parallel()
	orderID := placeOrder(t, now.Add(-24*time.Hour))
	other := topics.Actor{ID: "user_2", Type: topics.ActorCustomer}
	anonymous := topics.Actor{ID: "anonymous", Type: topics.ActorCustomer}
	req := func(id string) returns.InitiateRequest {
		return returns.InitiateRequest{ReturnID: id, OrderID: orderID, Reason: returns.ReasonOther,
			Items: []returns.InitiateItem{{LineItemID: "li_1", Quantity: 1, Condition: returns.ConditionNew}}}
	}
	t.Run("another customer cannot initiate", func(t *testing.T) {
		requireCode(t, submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, req(cluster.Unique("ret")), other, ""), topics.CodeForbidden)
	})
	t.Run("staff initiate on the customer's behalf", func(t *testing.T) {
		id := cluster.Unique("ret")
		requireOK(t, submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, req(id), staff, ""))
		r := waitStatus(t, id, returns.StatePending)
		require.Equal(t, customer.ID, r.CustomerID)
		require.Equal(t, staff.ID, r.Audit[0].ActorID)
		t.Run("and cancel it", func(t *testing.T) {
			requireOK(t, submit(t, topics.ReturnsCommands, id, returns.TypeCancel, returns.Cancel{}, staff, ""))
		})
	})
	id := cluster.Unique("ret")
	requireOK(t, initiate(t, orderID, id, 1, returns.ReasonOther))
	for _, a := range []topics.Actor{customer, other, anonymous} {
		t.Run(a.ID+" cannot approve", func(t *testing.T) {
			requireCode(t, submit(t, topics.ReturnsCommands, id, returns.TypeApprove,
				returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: a.ID}, a, ""), topics.CodeForbidden)
		})
	}
	for _, a := range []topics.Actor{other, anonymous} {
		t.Run(a.ID+" cannot cancel", func(t *testing.T) {
			requireCode(t, submit(t, topics.ReturnsCommands, id, returns.TypeCancel, returns.Cancel{}, a, ""), topics.CodeForbidden)
		})
	}
	t.Run("the customer cancels their own return", func(t *testing.T) {
		requireOK(t, submit(t, topics.ReturnsCommands, id, returns.TypeCancel, returns.Cancel{Reason: "kept it"}, customer, ""))
		r := waitStatus(t, id, returns.StateCancelled)
		require.Equal(t, returns.ActionInitiate, r.Audit[0].Action)
		cancel := r.Audit[1]
		require.Equal(t, returns.ActionCancel, cancel.Action, "refused commands leave no audit entry")
		require.Equal(t, customer.ID, cancel.ActorID)
		require.Equal(t, topics.ActorCustomer, cancel.ActorType)
	})
}

func TestIntegrationRepeatedInitiate(t *testing.T) {
	t.Parallel()
	orderID := placeOrder(t, now.Add(-24*time.Hour))
	cid := topics.NewID()
	req := returns.InitiateRequest{OrderID: orderID, Reason: returns.ReasonOther,
		Items: []returns.InitiateItem{{LineItemID: "li_1", Quantity: 1, Condition: returns.ConditionNew}}}
	first := submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, req, customer, cid)
	requireOK(t, first)
	require.False(t, first.Pending)
	var created returns.ReturnRequest
	require.NoError(t, json.Unmarshal(first.Result, &created))
	require.Equal(t, cid, created.ID, "the return ID defaults to the command ID")

	for i := range 2 {
		t.Run(fmt.Sprintf("repeat %d answers the created return", i+1), func(t *testing.T) {
			again := submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, req, customer, cid)
			requireOK(t, again)
			require.False(t, again.Pending, "the final result, not the order's pending hand-off")
			require.True(t, again.Replayed)
			require.Equal(t, returns.TypeInitiate, again.Type)
			var got returns.ReturnRequest
			require.NoError(t, json.Unmarshal(again.Result, &got))
			require.Equal(t, created, got)
		})
	}
	t.Run("the repeat claimed nothing", func(t *testing.T) {
		// The view follows the processor a moment behind: wait until it
		// no longer shows the order as placed (li_1: 2 units), then check
		// that one unit is claimed, not two (li_1 would no longer be
		// eligible).
		var res returns.EligibilityResult
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			var err error
			res, err = svc.Eligibility(orderID, now)
			return err == nil && !slices.ContainsFunc(res.EligibleItems, func(it returns.EligibleItem) bool {
				return it.LineItemID == "li_1" && it.ReturnableQuantity == 2
			})
		}, "the first initiate's claim shows in eligibility")
		i := slices.IndexFunc(res.EligibleItems, func(it returns.EligibleItem) bool { return it.LineItemID == "li_1" })
		require.GreaterOrEqual(t, i, 0, "li_1 has a unit left: %+v", res)
		require.Equal(t, 1, res.EligibleItems[i].ReturnableQuantity)
	})
	t.Run("the same key with another payload is a conflict", func(t *testing.T) {
		other := req
		other.Reason = returns.ReasonDefective
		requireCode(t, submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, other, customer, cid), topics.CodeIdempotencyConflict)
	})
	t.Run("a refused initiate repeats its error", func(t *testing.T) {
		bad := topics.NewID()
		tooMany := req
		tooMany.Items = []returns.InitiateItem{{LineItemID: "li_1", Quantity: 9, Condition: returns.ConditionNew}}
		requireCode(t, submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, tooMany, customer, bad), returns.CodeInvalidQuantity)
		again := submit(t, topics.ReturnsOrders, orderID, returns.TypeInitiate, tooMany, customer, bad)
		requireCode(t, again, returns.CodeInvalidQuantity)
		require.True(t, again.Replayed)
	})
}

func TestIntegrationReject(t *testing.T) {
	t.Parallel()
	orderID := placeOrder(t, now.Add(-24*time.Hour))
	id := cluster.Unique("ret")
	requireOK(t, initiate(t, orderID, id, 1, returns.ReasonOther))
	requireOK(t, command(t, id, returns.TypeReject, returns.Reject{Reason: "worn", RejectorID: "staff_7"}))
	r := waitStatus(t, id, returns.StateRejected)
	require.Equal(t, "worn", r.RejectionReason)
	requireCode(t, command(t, id, returns.TypeApprove, returns.Approve{RefundMethod: "original_payment", ApproverID: "s"}), returns.CodeInvalidState)
}

func TestIntegrationSaga(t *testing.T) {
	t.Parallel()
	t.Run("payments keep declining: refund_failed, the command fails, staff retry", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret-" + declineMarker)
		approvedAndReceived(t, id, 1, returns.RefundOriginalPayment, returns.ActualSellable)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		r := waitStatus(t, id, returns.StateRefundFailed)
		require.Equal(t, 3, r.Saga.RefundAttempts)
		st, err := sims.State(id)
		require.NoError(t, err)
		require.Equal(t, 0, st.Payments)
		require.Equal(t, 3, st.PaymentRequests)
		requireOK(t, command(t, id, returns.TypeRetryRefund, nil))
		// Still declined. The view shows refund_failed until it has seen the
		// retry too: wait for the failure that follows the retry.
		var retried *returns.Return
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			var err error
			retried, err = svc.Return(id)
			return err == nil && retried.Status == returns.StateRefundFailed &&
				slices.ContainsFunc(retried.Audit, func(e returns.AuditEntry) bool { return e.Action == returns.ActionRetryRefund })
		}, "return %s failed its refund again after the retry", id)
		require.Equal(t, 3, retried.Saga.RefundAttempts)
		st, err = sims.State(id)
		require.NoError(t, err)
		require.Equal(t, 0, st.Payments)
		require.Equal(t, 6, st.PaymentRequests)
	})
	t.Run("inventory down: requires_action, refund stands, resolved by hand", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret-" + inventoryMarker)
		approvedAndReceived(t, id, 2, returns.RefundOriginalPayment, returns.ActualSellable)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		r := waitStatus(t, id, returns.StateRequiresAction)
		require.True(t, r.Saga.Refunded)
		require.Equal(t, 3, r.Saga.RestockAttempts)
		requireOK(t, command(t, id, returns.TypeResolve, returns.Resolve{Notes: "counted back by hand"}))
		waitStatus(t, id, returns.StateCompleted)
		st, _ := sims.State(id)
		require.Equal(t, 0, st.Restocks)
		require.Equal(t, 1, st.Payments)
	})
	t.Run("partial receipt refunds what came back and frees the rest", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret")
		orderID := placeOrder(t, now.Add(-48*time.Hour))
		requireOK(t, initiate(t, orderID, id, 2, returns.ReasonNoLongerNeeded))
		requireOK(t, command(t, id, returns.TypeApprove, returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "s"}))
		requireOK(t, command(t, id, returns.TypeReceive, returns.ReceiveItems{Items: []returns.ReceivedItem{{LineItemID: "li_1", QuantityReceived: 1, ActualCondition: returns.ActualSellable}}}))
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		waitStatus(t, id, returns.StateCompleted)
		st, _ := sims.State(id)
		require.Equal(t, "20.51", st.Refunds[id+":refund"].Amount.Amount.StringFixed(2))
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			res, err := svc.Eligibility(orderID, now)
			return err == nil && len(res.EligibleItems) == 2 && res.EligibleItems[0].ReturnableQuantity == 1
		}, "the unreceived unit can be returned again")
	})
	t.Run("damaged items are refunded at half and not restocked", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret")
		approvedAndReceived(t, id, 2, returns.RefundOriginalPayment, returns.ActualDamaged)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		r := waitStatus(t, id, returns.StateCompleted)
		require.Equal(t, "20.51", r.ActualRefund.TotalRefund.StringFixed(2)) // (37.98 + 3.04) / 2
		st, _ := sims.State(id)
		require.Equal(t, 0, st.Restocks)
	})
	t.Run("store credit is issued as a gift card that can be redeemed", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret")
		approvedAndReceived(t, id, 2, returns.RefundStoreCredit, returns.ActualSellable)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		r := waitStatus(t, id, returns.StateCompleted)
		code := credit.Code(id)
		key, last4, err := cardKeys.Key(code)
		require.NoError(t, err)
		require.Equal(t, last4, r.Saga.GiftCardLast4)
		res := submit(t, topics.GiftCardCommands, key, giftcards.TypeRedeem,
			giftcards.RedeemCommand{CardKey: key, OrderID: cluster.Unique("order"), Amount: giftcards.NewAmount(decimal.RequireFromString("41.02"))},
			topics.Actor{ID: "user_1", Type: topics.ActorCustomer}, "")
		require.True(t, res.OK, "%+v", res.Error)
		var red giftcards.RedemptionResult
		require.NoError(t, json.Unmarshal(res.Result, &red))
		require.True(t, red.RemainingBalance.Amount.IsZero())
		st, _ := sims.State(id)
		require.Equal(t, 0, st.Payments, "no card payment for store credit")
	})
	t.Run("a card an earlier attempt created is replayed to the next, not issued again", func(t *testing.T) {
		t.Parallel()
		// An attempt whose answer came after the saga timed it out created
		// the card; the next attempt, the same command, gets it replayed.
		id := cluster.Unique("ret")
		key, last4, err := cardKeys.Key(credit.Code(id))
		require.NoError(t, err)
		earlier := submit(t, topics.GiftCardCommands, key, giftcards.TypeCreate,
			giftcards.CreateCommand{CardKey: key, Last4: last4, Amount: topics.Money{Amount: decimal.RequireFromString("41.02"), Currency: "USD"},
				PurchaserID: customer.ID, Message: "Store credit for return " + id},
			topics.Actor{ID: "returns-saga", Type: topics.ActorSystem}, "returns-store-credit/"+id+":refund")
		require.True(t, earlier.OK, "%+v", earlier.Error)
		approvedAndReceived(t, id, 2, returns.RefundStoreCredit, returns.ActualSellable)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		r := waitStatus(t, id, returns.StateCompleted)
		require.True(t, r.Saga.Refunded)
		require.Equal(t, 1, r.Saga.RefundAttempts, "no retry: the card was issued")
		require.Equal(t, last4, r.Saga.GiftCardLast4)
		bal := submit(t, topics.GiftCardCommands, key, giftcards.TypeBalance, giftcards.BalanceQuery{CardKey: key},
			topics.Actor{ID: "user_1", Type: topics.ActorCustomer}, "")
		require.True(t, bal.OK, "%+v", bal.Error)
		var b giftcards.BalanceResult
		require.NoError(t, json.Unmarshal(bal.Result, &b))
		require.Equal(t, "41.02", b.CurrentBalance.Amount.StringFixed(2), "one card, issued once")
	})
	t.Run("exchange asks for a replacement order", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret")
		approvedAndReceived(t, id, 1, returns.RefundExchange, returns.ActualSellable)
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{}))
		r := waitStatus(t, id, returns.StateCompleted)
		require.Equal(t, id+":replacement", r.Saga.ReplacementOrder)
		st, _ := sims.State(id)
		require.Equal(t, 0, st.Payments)
	})
	t.Run("a final override is what gets paid", func(t *testing.T) {
		t.Parallel()
		id := cluster.Unique("ret")
		approvedAndReceived(t, id, 2, returns.RefundOriginalPayment, returns.ActualSellable)
		over := decimal.RequireFromString("30.00")
		requireOK(t, command(t, id, returns.TypeComplete, returns.Complete{FinalRefundAmount: &over}))
		waitStatus(t, id, returns.StateCompleted)
		st, _ := sims.State(id)
		require.Equal(t, "30.00", st.Refunds[id+":refund"].Amount.Amount.StringFixed(2))
	})
}

// TestIntegrationRestart runs last (not parallel): it restarts the returns
// processors and checks that nothing is paid or restocked twice.
func TestIntegrationRestart(t *testing.T) {
	id := cluster.Unique("ret")
	approvedAndReceived(t, id, 2, returns.RefundOriginalPayment, returns.ActualSellable)
	cid := topics.NewID()
	res := submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff, cid)
	require.True(t, res.Pending)
	waitStatus(t, id, returns.StateCompleted)

	stopSvc()
	require.NoError(t, <-svcDone)
	require.NoError(t, startService())
	kafkatest.Eventually(t, 60*time.Second, svc.Ready)

	t.Run("the state survived the restart", func(t *testing.T) {
		waitStatus(t, id, returns.StateCompleted)
	})
	t.Run("repeating complete replays its final result", func(t *testing.T) {
		again := submit(t, topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}, staff, cid)
		require.True(t, again.Replayed)
		require.True(t, again.OK)
		require.False(t, again.Pending)
		var done returns.CompletionResult
		require.NoError(t, json.Unmarshal(again.Result, &done))
		require.Equal(t, returns.StateCompleted, done.Status)
	})
	t.Run("a duplicated payment reply pays nothing twice", func(t *testing.T) {
		env, err := topics.NewEnvelope(returns.ReplyRefund, time.Now(), returns.Reply{RequestID: id + ":refund:2", ReturnID: id, OK: true, TransactionID: "dup"})
		require.NoError(t, err)
		raw, err := env.Encode()
		require.NoError(t, err)
		rec, err := cluster.Producer(t).ProduceSync(context.Background(),
			&kgo.Record{Topic: topics.ReturnsReplies, Key: []byte(id), Value: raw}).First()
		require.NoError(t, err)
		// The reply changes nothing, so wait until the return processor has
		// committed past it (replies and commands are different topics: a
		// command is not ordered after it).
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			offs, err := cluster.Admin.FetchOffsets(context.Background(), topics.ReturnsReturnsGroup)
			if err != nil {
				return false
			}
			o, ok := offs.Lookup(topics.ReturnsReplies, rec.Partition)
			return ok && o.At > rec.Offset
		})
		requireCode(t, command(t, id, returns.TypeComplete, returns.Complete{}), returns.CodeInvalidState)
		r := waitStatus(t, id, returns.StateCompleted)
		require.NotEqual(t, "dup", r.Saga.RefundTransactionID)
		st, _ := sims.State(id)
		require.Equal(t, 1, st.Payments)
		require.Equal(t, 1, st.Restocks)
	})
}
