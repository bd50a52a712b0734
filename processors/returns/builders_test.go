package returns

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

var (
	tCompleted = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	tDelivered = time.Date(2026, 11, 4, 15, 0, 0, 0, time.UTC)
	staff      = topics.Actor{ID: "staff_7", Type: topics.ActorStaff}
	customer   = topics.Actor{ID: "user_123", Type: topics.ActorCustomer}
	system     = topics.Actor{ID: "returns", Type: topics.ActorSystem}
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decP(s string) *decimal.Decimal { d := dec(s); return &d }

// testOrder is an order with a returnable apparel line (2 units), an
// electronics line (1 unit), a perishable line and a final-sale line.
func testOrder() Order {
	return Order{
		OrderID: "order_1", UserID: "user_123", Currency: "USD", CompletedAt: tCompleted,
		LineItems: []LineItem{
			{LineItemID: "li_shirt", ProductID: "prod_shirt", SKU: "TSHIRT-RED-M", Category: "apparel", Quantity: 2,
				UnitPrice: dec("19.99"), Discount: dec("2.00"), Tax: dec("3.04")},
			{LineItemID: "li_phone", ProductID: "prod_phone", SKU: "PHONE-1", Category: "electronics", Quantity: 1,
				UnitPrice: dec("499.00"), Discount: dec("0"), Tax: dec("39.92")},
			{LineItemID: "li_cheese", ProductID: "prod_cheese", Category: "perishables", Quantity: 1,
				UnitPrice: dec("8.50"), Discount: dec("0"), Tax: dec("0")},
			{LineItemID: "li_sale", ProductID: "prod_sale", Category: "apparel", Quantity: 1,
				UnitPrice: dec("5.00"), Discount: dec("0"), Tax: dec("0.40"), FinalSale: true},
		},
		Subtotal: dec("552.48"), DiscountTotal: dec("2.00"), TaxTotal: dec("43.36"), ShippingTotal: dec("5.00"), Total: dec("598.84"),
		Payments: []Payment{{Method: "card", Amount: dec("598.84"), Reference: "pay_77"}},
	}
}

// orderState returns an order state holding testOrder, delivered at tDelivered.
func orderState(t *testing.T) *OrderState {
	t.Helper()
	s := &OrderState{}
	require.NoError(t, s.RecordCompleted(testOrder()))
	require.NoError(t, s.RecordDelivered(Delivery{ShipmentID: "sh_1", OrderID: "order_1", DeliveredAt: tDelivered}))
	return s
}

func meta(at time.Time, a topics.Actor, cmd string) Meta {
	return Meta{At: at, Actor: a, CommandID: cmd, Policy: DefaultPolicy()}
}

// newReturn initiates a return of the shirts (qty) for reason.
func newReturn(t testing.TB, reason string, items ...InitiateItem) (*OrderState, *Return) {
	t.Helper()
	s := &OrderState{}
	require.NoError(t, s.RecordCompleted(testOrder()))
	require.NoError(t, s.RecordDelivered(Delivery{ShipmentID: "sh_1", OrderID: "order_1", DeliveredAt: tDelivered}))
	if len(items) == 0 {
		items = []InitiateItem{{LineItemID: "li_shirt", Quantity: 2, Condition: ConditionNew}}
	}
	r, err := s.Initiate(InitiateRequest{ReturnID: "ret_1", OrderID: "order_1", Items: items, Reason: reason},
		meta(tDelivered.Add(48*time.Hour), customer, "cmd-init"))
	require.NoError(t, err)
	return s, r
}

var step time.Duration

// apply applies c and fails the test on error.
func apply(t *testing.T, r *Return, c Command, a topics.Actor) (*Return, Outcome) {
	t.Helper()
	step += time.Minute
	next, out, err := Apply(r, c, meta(tDelivered.Add(72*time.Hour+step), a, "cmd-"+string(c.Action())))
	require.NoError(t, err)
	return next, out
}

// requestOf returns the outcome's request to service.
func requestOf(t testing.TB, out Outcome, s Peer) Request {
	t.Helper()
	for _, rq := range out.Requests {
		if rq.Service == s {
			return rq
		}
	}
	require.Failf(t, "no request", "no request to %s in %+v", s, out.Requests)
	return Request{}
}

func eventTypes(out Outcome) []string {
	var ts []string
	for _, e := range out.Events {
		ts = append(ts, e.Type)
	}
	return ts
}

// received returns a return approved with method and received in full as
// sellable.
func received(t *testing.T, reason, method string, cond string) *Return {
	t.Helper()
	_, r := newReturn(t, reason)
	r, _ = apply(t, r, Approve{RefundMethod: method, ApproverID: "staff_7"}, staff)
	r, _ = apply(t, r, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 2, ActualCondition: cond}}}, staff)
	return r
}
