package returns

import (
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// InitiateItem is one line a customer wants to return.
type InitiateItem struct {
	LineItemID string `json:"line_item_id"`
	Quantity   int    `json:"quantity"`
	// Condition is the condition the customer declares: new, opened or damaged.
	Condition string `json:"condition"`
}

// InitiateRequest is the payload of return.initiate (ReturnsService#initiate).
type InitiateRequest struct {
	// ReturnID is chosen by the edge; empty uses the command ID.
	ReturnID    string         `json:"return_id"`
	OrderID     string         `json:"order_id"`
	Items       []InitiateItem `json:"items"`
	Reason      string         `json:"reason"`
	Description string         `json:"description,omitempty"`
	Images      []string       `json:"images,omitempty"`
}

// OrderState is what the order processor keeps per order ID: the order,
// its delivery, and the units each return claims. Units claimed by one
// return cannot be claimed by another, so the returns of an order never
// add up to more than was bought.
type OrderState struct {
	Order *Order `json:"order,omitempty"`
	// DeliveredAt is kept apart from Order because shipment.delivered may
	// arrive before order.completed.
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	// Claims maps return ID to line item ID to units claimed.
	Claims map[string]map[string]int `json:"claims,omitempty"`
	// ShippingClaimedBy is the return that refunds the order's shipping.
	ShippingClaimedBy string `json:"shipping_claimed_by,omitempty"`
}

// Clone returns a deep copy of s.
func (s *OrderState) Clone() *OrderState {
	c := &OrderState{ShippingClaimedBy: s.ShippingClaimedBy}
	if s.Order != nil {
		o := *s.Order
		o.LineItems = slices.Clone(s.Order.LineItems)
		o.Payments = slices.Clone(s.Order.Payments)
		c.Order = &o
	}
	if s.DeliveredAt != nil {
		d := *s.DeliveredAt
		c.DeliveredAt = &d
	}
	if s.Claims != nil {
		c.Claims = make(map[string]map[string]int, len(s.Claims))
		for k, v := range s.Claims {
			c.Claims[k] = maps.Clone(v)
		}
	}
	return c
}

// View is the order as the policy sees it: with the delivery time.
func (s *OrderState) View() (*Order, error) {
	if s == nil || s.Order == nil {
		return nil, ErrOrderNotFound.Withf("order not found")
	}
	o := *s.Order
	if s.DeliveredAt != nil {
		o.DeliveredAt = s.DeliveredAt
	}
	return &o, nil
}

// UnderReturn is, per line, the units claimed by returns.
func (s *OrderState) UnderReturn() map[string]int {
	out := make(map[string]int)
	for _, lines := range s.Claims {
		for l, q := range lines {
			out[l] += q
		}
	}
	return out
}

// RecordCompleted stores order.completed. A repeat (at-least-once delivery)
// keeps the first: claims refer to its lines.
func (s *OrderState) RecordCompleted(o Order) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if s.Order == nil {
		o.DeliveredAt = nil
		s.Order = &o
	}
	return nil
}

// RecordDelivered stores shipment.delivered. With several shipments the
// latest delivery counts: the window starts when the last parcel arrived.
func (s *OrderState) RecordDelivered(d Delivery) error {
	if err := d.Validate(); err != nil {
		return err
	}
	at := d.DeliveredAt.UTC()
	if s.DeliveredAt == nil || at.After(*s.DeliveredAt) {
		s.DeliveredAt = &at
	}
	return nil
}

// Eligibility checks the order's lines at time at.
func (s *OrderState) Eligibility(p *Policy, at time.Time) (EligibilityResult, error) {
	o, err := s.View()
	if err != nil {
		return EligibilityResult{}, err
	}
	return p.Eligibility(o, s.UnderReturn(), at), nil
}

// Initiate validates a return request against the order, the policy and
// the units other returns claim; on success it claims the units and
// returns the new pending return. On error s is unchanged.
func (s *OrderState) Initiate(req InitiateRequest, m Meta) (*Return, error) {
	m.Actor = actorOrDefault(m.Actor)
	if m.Policy == nil {
		m.Policy = DefaultPolicy()
	}
	p := m.Policy
	if req.ReturnID == "" {
		req.ReturnID = m.CommandID
	}
	if req.ReturnID == "" {
		return nil, topics.ErrInvalidRequest.Withf("return.initiate needs a return_id")
	}
	o, err := s.View()
	if err != nil {
		return nil, ErrOrderNotFound.Withf("order %q not found", req.OrderID).With("order_id", req.OrderID)
	}
	if err := Authorize(ActionInitiate, m.Actor, o.UserID); err != nil {
		return nil, err
	}
	if _, dup := s.Claims[req.ReturnID]; dup {
		return nil, topics.ErrInvalidRequest.Withf("return %s already exists for order %s", req.ReturnID, o.OrderID)
	}
	if err := validReason(req.Reason); err != nil {
		return nil, err
	}
	if len(req.Items) == 0 {
		return nil, topics.ErrInvalidRequest.Withf("a return needs at least one item")
	}
	under := s.UnderReturn()
	r := &Return{ID: req.ReturnID, OrderID: o.OrderID, CustomerID: o.UserID, Currency: o.Currency,
		Status: StatePending, Reason: req.Reason, Description: req.Description, Images: slices.Clone(req.Images),
		Shipping: decimal.Zero, Payments: slices.Clone(o.Payments), CreatedAt: m.At.UTC(), UpdatedAt: m.At.UTC()}
	claim := make(map[string]int, len(req.Items))
	for _, it := range req.Items {
		line, ok := o.Line(it.LineItemID)
		switch {
		case !ok:
			return nil, topics.ErrInvalidRequest.Withf("order %s has no line item %q", o.OrderID, it.LineItemID).
				With("line_item_id", it.LineItemID)
		case claim[it.LineItemID] > 0:
			return nil, topics.ErrInvalidRequest.Withf("line item %s is listed twice", it.LineItemID).
				With("line_item_id", it.LineItemID)
		case it.Quantity < 1:
			return nil, ErrInvalidQuantity.Withf("quantity must be at least 1, got %d", it.Quantity).
				With("line_item_id", it.LineItemID)
		case !slices.Contains(Conditions, it.Condition):
			return nil, topics.ErrInvalidRequest.Withf("condition %q is not one of %v", it.Condition, Conditions).
				With("line_item_id", it.LineItemID)
		}
		chk := p.CheckItem(line, o, m.At)
		if !chk.Returnable {
			if chk.Reason == IneligibleWindowExpired {
				return nil, ErrReturnWindowExpired.
					Withf("the return window of %s closed at %s", line.LineItemID, chk.WindowClosesAt.Format(time.RFC3339)).
					With("line_item_id", line.LineItemID).With("window_closed_at", chk.WindowClosesAt)
			}
			return nil, ErrItemNotReturnable.Withf("line item %s is not returnable: %s", line.LineItemID, chk.Reason).
				With("line_item_id", line.LineItemID).With("reason", chk.Reason)
		}
		if left := line.Quantity - under[line.LineItemID]; it.Quantity > left {
			return nil, ErrInvalidQuantity.
				Withf("line item %s: %d requested, %d of %d bought can still be returned", line.LineItemID, it.Quantity, left, line.Quantity).
				With("line_item_id", line.LineItemID).With("returnable_quantity", left)
		}
		claim[line.LineItemID] = it.Quantity
		r.Items = append(r.Items, ReturnItem{LineItemID: line.LineItemID, ProductID: line.ProductID, SKU: line.SKU,
			Category: line.Category, QuantityPurchased: line.Quantity, QuantityPrior: under[line.LineItemID],
			UnitPrice: line.UnitPrice, LineDiscount: line.Discount, LineTax: line.Tax,
			QuantityRequested: it.Quantity, ExpectedCondition: it.Condition})
	}
	next := s.Clone()
	if next.Claims == nil {
		next.Claims = make(map[string]map[string]int)
	}
	next.Claims[r.ID] = claim
	if next.ShippingClaimedBy == "" && o.ShippingTotal.IsPositive() {
		switch {
		case p.ShippingRefund.WhenMerchantFault && p.MerchantFault(r.Reason):
			r.ShippingRule = ShippingRuleMerchantFault
		case p.ShippingRefund.WhenWholeOrderReturned && next.wholeOrderClaimed():
			r.ShippingRule = ShippingRuleWholeOrder
		}
		if r.ShippingRule != "" {
			r.Shipping = o.ShippingTotal
			next.ShippingClaimedBy = r.ID
		}
	}
	est, err := RefundCalculator{p}.Calculate(r.refundInput(false))
	if err != nil {
		return nil, err
	}
	r.EstimatedRefund = &est
	md := map[string]any{"order_id": o.OrderID, "reason": r.Reason, "items": req.Items}
	if r.Description != "" {
		md["description"] = r.Description
	}
	r.appendAudit(m, ActionInitiate, "", md)
	*s = *next
	return r, nil
}

func (s *OrderState) wholeOrderClaimed() bool {
	under := s.UnderReturn()
	for _, l := range s.Order.LineItems {
		if under[l.LineItemID] < l.Quantity {
			return false
		}
	}
	return true
}

// Release is the payload of the message a return sends its order when it
// claims fewer units than it did: rejected or cancelled (none), completed
// with fewer units received than requested (those received). Keep is
// absolute, so applying a release twice is the same as applying it once.
type Release struct {
	ReturnID string `json:"return_id"`
	OrderID  string `json:"order_id"`
	// Keep maps line item ID to the units the return still claims; lines
	// not listed are given back entirely.
	Keep map[string]int `json:"keep"`
	// Shipping gives back the claim on the order's shipping refund.
	Shipping bool `json:"shipping"`
}

// ApplyRelease sets the return's claim to rel.Keep. It is idempotent.
func (s *OrderState) ApplyRelease(rel Release) {
	claim, ok := s.Claims[rel.ReturnID]
	if !ok {
		return
	}
	for l := range claim {
		if k := rel.Keep[l]; k > 0 && k < claim[l] {
			claim[l] = k
		} else if k <= 0 {
			delete(claim, l)
		}
	}
	if len(claim) == 0 {
		delete(s.Claims, rel.ReturnID)
	}
	if rel.Shipping && s.ShippingClaimedBy == rel.ReturnID {
		s.ShippingClaimedBy = ""
	}
}
