package returns

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func asTopicsError(err error) *topics.Error { return topics.AsError(err) }

func TestInitiateEveryReason(t *testing.T) {
	for _, reason := range Reasons {
		t.Run(reason, func(t *testing.T) {
			s, r := newReturn(t, reason, InitiateItem{LineItemID: "li_shirt", Quantity: 1, Condition: ConditionOpened})
			require.Equal(t, StatePending, r.Status)
			require.Equal(t, reason, r.Reason)
			require.Equal(t, "user_123", r.CustomerID)
			require.Equal(t, 1, s.UnderReturn()["li_shirt"])
			require.Len(t, r.Audit, 1)
			require.Equal(t, ActionInitiate, r.Audit[0].Action)
			require.NotNil(t, r.EstimatedRefund)
			fault := reason == ReasonDefective || reason == ReasonWrongItem
			// merchant fault: shipping refunded, no fee; otherwise the 5% opened fee
			if fault {
				require.Equal(t, "5.00", r.EstimatedRefund.ShippingRefund.StringFixed(2))
				require.True(t, r.EstimatedRefund.RestockingFee.IsZero())
				require.Equal(t, r.ID, s.ShippingClaimedBy)
			} else {
				require.True(t, r.EstimatedRefund.ShippingRefund.IsZero())
				require.Equal(t, "0.95", r.EstimatedRefund.RestockingFee.StringFixed(2)) // 5% of 18.99
			}
		})
	}
}

func TestInitiateErrors(t *testing.T) {
	inWindow := tDelivered.Add(24 * time.Hour)
	tests := []struct {
		name  string
		state func(t *testing.T) *OrderState
		req   InitiateRequest
		at    time.Time
		want  error
	}{
		{"unknown order", func(*testing.T) *OrderState { return &OrderState{} },
			InitiateRequest{OrderID: "nope", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, inWindow, ErrOrderNotFound},
		{"delivered but never completed", func(t *testing.T) *OrderState {
			s := &OrderState{}
			require.NoError(t, s.RecordDelivered(Delivery{OrderID: "order_1", DeliveredAt: tDelivered}))
			return s
		}, InitiateRequest{OrderID: "order_1", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, inWindow, ErrOrderNotFound},
		{"window expired", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_phone", 1, ConditionNew}}}, tDelivered.AddDate(0, 0, 16), ErrReturnWindowExpired},
		{"final sale", orderState,
			InitiateRequest{Reason: ReasonDefective, Items: []InitiateItem{{"li_sale", 1, ConditionNew}}}, inWindow, ErrItemNotReturnable},
		{"non-returnable category", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_cheese", 1, ConditionNew}}}, inWindow, ErrItemNotReturnable},
		{"more than bought", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 3, ConditionNew}}}, inWindow, ErrInvalidQuantity},
		{"zero quantity", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 0, ConditionNew}}}, inWindow, ErrInvalidQuantity},
		{"negative quantity", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", -1, ConditionNew}}}, inWindow, ErrInvalidQuantity},
		{"unknown reason", orderState,
			InitiateRequest{Reason: "changed_mind", Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, inWindow, topics.ErrInvalidRequest},
		{"unknown line", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_x", 1, ConditionNew}}}, inWindow, topics.ErrInvalidRequest},
		{"unknown condition", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, "used"}}}, inWindow, topics.ErrInvalidRequest},
		{"a line listed twice", orderState,
			InitiateRequest{Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}, {"li_shirt", 1, ConditionNew}}}, inWindow, topics.ErrInvalidRequest},
		{"no items", orderState, InitiateRequest{Reason: ReasonOther}, inWindow, topics.ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.state(t)
			before := s.Clone()
			tc.req.ReturnID = "ret_x"
			_, err := s.Initiate(tc.req, meta(tc.at, customer, "c"))
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, before, s, "a refused initiation claims nothing")
		})
	}
}

func TestInitiateClaims(t *testing.T) {
	at := tDelivered.Add(24 * time.Hour)
	t.Run("two returns cannot claim more than was bought", func(t *testing.T) {
		s := orderState(t)
		_, err := s.Initiate(InitiateRequest{ReturnID: "a", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 2, ConditionNew}}}, meta(at, customer, "a"))
		require.NoError(t, err)
		_, err = s.Initiate(InitiateRequest{ReturnID: "b", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, meta(at, customer, "b"))
		require.ErrorIs(t, err, ErrInvalidQuantity)
		require.Equal(t, 0, asTopicsError(err).Details["returnable_quantity"])
	})
	t.Run("the second return records the units before it", func(t *testing.T) {
		s := orderState(t)
		_, err := s.Initiate(InitiateRequest{ReturnID: "a", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, meta(at, customer, "a"))
		require.NoError(t, err)
		r, err := s.Initiate(InitiateRequest{ReturnID: "b", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, meta(at, customer, "b"))
		require.NoError(t, err)
		require.Equal(t, 1, r.Items[0].QuantityPrior)
	})
	t.Run("a return ID is used once", func(t *testing.T) {
		s := orderState(t)
		req := InitiateRequest{ReturnID: "a", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}
		_, err := s.Initiate(req, meta(at, customer, "a"))
		require.NoError(t, err)
		_, err = s.Initiate(req, meta(at, customer, "a2"))
		require.ErrorIs(t, err, topics.ErrInvalidRequest)
	})
	t.Run("the return that brings the last units back refunds shipping", func(t *testing.T) {
		s := orderState(t)
		r1, err := s.Initiate(InitiateRequest{ReturnID: "a", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 2, ConditionNew}}}, meta(at, customer, "a"))
		require.NoError(t, err)
		require.True(t, r1.Shipping.IsZero())
		// the perishable and final-sale lines can never come back, so the
		// whole order is never returned: no shipping refund by that rule
		r2, err := s.Initiate(InitiateRequest{ReturnID: "b", Reason: ReasonOther, Items: []InitiateItem{{"li_phone", 1, ConditionNew}}}, meta(at, customer, "b"))
		require.NoError(t, err)
		require.True(t, r2.Shipping.IsZero())

		o := testOrder()
		o.OrderID, o.LineItems = "order_2", o.LineItems[:2]
		s2 := &OrderState{}
		require.NoError(t, s2.RecordCompleted(o))
		_, err = s2.Initiate(InitiateRequest{ReturnID: "c", Reason: ReasonOther, Items: []InitiateItem{{"li_shirt", 2, ConditionNew}}}, meta(tCompleted, customer, "c"))
		require.NoError(t, err)
		r4, err := s2.Initiate(InitiateRequest{ReturnID: "d", Reason: ReasonOther, Items: []InitiateItem{{"li_phone", 1, ConditionNew}}}, meta(tCompleted, customer, "d"))
		require.NoError(t, err)
		require.Equal(t, ShippingRuleWholeOrder, r4.ShippingRule)
		require.Equal(t, "5.00", r4.EstimatedRefund.ShippingRefund.StringFixed(2))
	})
	t.Run("shipping is refunded once per order", func(t *testing.T) {
		s := orderState(t)
		r1, err := s.Initiate(InitiateRequest{ReturnID: "a", Reason: ReasonDefective, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, meta(at, customer, "a"))
		require.NoError(t, err)
		require.Equal(t, ShippingRuleMerchantFault, r1.ShippingRule)
		r2, err := s.Initiate(InitiateRequest{ReturnID: "b", Reason: ReasonDefective, Items: []InitiateItem{{"li_shirt", 1, ConditionNew}}}, meta(at, customer, "b"))
		require.NoError(t, err)
		require.Empty(t, r2.ShippingRule)
	})
	t.Run("a release gives units and the shipping claim back, idempotently", func(t *testing.T) {
		s := orderState(t)
		_, err := s.Initiate(InitiateRequest{ReturnID: "a", Reason: ReasonDefective, Items: []InitiateItem{{"li_shirt", 2, ConditionNew}}}, meta(at, customer, "a"))
		require.NoError(t, err)
		rel := Release{ReturnID: "a", Keep: map[string]int{"li_shirt": 1}}
		s.ApplyRelease(rel)
		s.ApplyRelease(rel)
		require.Equal(t, 1, s.UnderReturn()["li_shirt"])
		require.Equal(t, "a", s.ShippingClaimedBy)
		s.ApplyRelease(Release{ReturnID: "a", Shipping: true})
		require.Empty(t, s.UnderReturn())
		require.Empty(t, s.ShippingClaimedBy)
	})
	t.Run("a repeated order.completed keeps the first", func(t *testing.T) {
		s := orderState(t)
		o := testOrder()
		o.LineItems = o.LineItems[:1]
		require.NoError(t, s.RecordCompleted(o))
		require.Len(t, s.Order.LineItems, 4)
	})
	t.Run("the latest delivery starts the window", func(t *testing.T) {
		s := orderState(t)
		later := tDelivered.Add(48 * time.Hour)
		require.NoError(t, s.RecordDelivered(Delivery{OrderID: "order_1", DeliveredAt: later}))
		require.NoError(t, s.RecordDelivered(Delivery{OrderID: "order_1", DeliveredAt: tDelivered}))
		require.True(t, later.Equal(*s.DeliveredAt))
	})
	t.Run("an invalid order is refused", func(t *testing.T) {
		o := testOrder()
		o.LineItems[0].UnitPrice = dec("1.001")
		require.ErrorIs(t, (&OrderState{}).RecordCompleted(o), topics.ErrInvalidAmount)
		o = testOrder()
		o.Currency = "ZZZ"
		require.ErrorIs(t, (&OrderState{}).RecordCompleted(o), topics.ErrUnsupportedCurrency)
		o = testOrder()
		o.LineItems[0].Discount = dec("100")
		require.ErrorIs(t, (&OrderState{}).RecordCompleted(o), topics.ErrInvalidAmount)
	})
}
