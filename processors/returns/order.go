package returns

import (
	"fmt"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// LineItem is one line of an order, as order.completed describes it.
// Discount and Tax are totals for the line (all units), not per unit.
type LineItem struct {
	LineItemID string          `json:"line_item_id"`
	ProductID  string          `json:"product_id"`
	SKU        string          `json:"sku"`
	Category   string          `json:"category"`
	Quantity   int             `json:"quantity"`
	UnitPrice  decimal.Decimal `json:"unit_price"`
	Discount   decimal.Decimal `json:"discount"`
	Tax        decimal.Decimal `json:"tax"`
	FinalSale  bool            `json:"final_sale"`
}

// NetTotal is what the line cost after its discount, before tax.
func (l LineItem) NetTotal() decimal.Decimal {
	return l.UnitPrice.Mul(decimal.NewFromInt(int64(l.Quantity))).Sub(l.Discount)
}

// Payment is one way the order was paid.
type Payment struct {
	Method    string          `json:"method"`
	Amount    decimal.Decimal `json:"amount"`
	Reference string          `json:"reference"`
}

// Order is the payload of order.completed (contracts/inbound-events.md),
// plus the delivery time shipment.delivered reported.
type Order struct {
	OrderID       string          `json:"order_id"`
	UserID        string          `json:"user_id"`
	Currency      string          `json:"currency"`
	CompletedAt   time.Time       `json:"completed_at"`
	LineItems     []LineItem      `json:"line_items"`
	Subtotal      decimal.Decimal `json:"subtotal"`
	DiscountTotal decimal.Decimal `json:"discount_total"`
	TaxTotal      decimal.Decimal `json:"tax_total"`
	ShippingTotal decimal.Decimal `json:"shipping_total"`
	Total         decimal.Decimal `json:"total"`
	Payments      []Payment       `json:"payments"`
	// DeliveredAt is set by shipment.delivered; nil until then.
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// The amounts of order.completed are decimal strings: a JSON number is
// refused (contracts/inbound-events.md: "never floats"), so the event goes
// to the DLQ with the reason instead of being read through a float. A
// missing or null amount is zero.

// UnmarshalJSON implements json.Unmarshaler.
func (l *LineItem) UnmarshalJSON(b []byte) error {
	type plain LineItem
	return unmarshalWithAmounts(b, (*plain)(l), map[string]*decimal.Decimal{
		"unit_price": &l.UnitPrice, "discount": &l.Discount, "tax": &l.Tax})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Payment) UnmarshalJSON(b []byte) error {
	type plain Payment
	return unmarshalWithAmounts(b, (*plain)(p), map[string]*decimal.Decimal{"amount": &p.Amount})
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *Order) UnmarshalJSON(b []byte) error {
	type plain Order
	return unmarshalWithAmounts(b, (*plain)(o), map[string]*decimal.Decimal{
		"subtotal": &o.Subtotal, "discount_total": &o.DiscountTotal, "tax_total": &o.TaxTotal,
		"shipping_total": &o.ShippingTotal, "total": &o.Total})
}

// unmarshalWithAmounts decodes b into v (a type without this method), then
// reads the named amounts again, as decimal strings only (topics.Amount).
func unmarshalWithAmounts(b []byte, v any, amounts map[string]*decimal.Decimal) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	for name, dst := range amounts {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			*dst = decimal.Decimal{}
			continue
		}
		d, err := topics.ParseAmountJSON(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*dst = d
	}
	return nil
}

// Line returns the line item with id.
func (o *Order) Line(id string) (LineItem, bool) {
	for _, l := range o.LineItems {
		if l.LineItemID == id {
			return l, true
		}
	}
	return LineItem{}, false
}

// WindowStart is when return windows start counting: delivery, or order
// completion when no delivery is known.
func (o *Order) WindowStart() time.Time {
	if o.DeliveredAt != nil {
		return *o.DeliveredAt
	}
	return o.CompletedAt
}

// Validate checks an order.completed payload: IDs, a supported currency,
// positive quantities, amounts that are not negative and no more precise
// than the currency, discounts no larger than the line, unique line IDs.
func (o *Order) Validate() error {
	bad := topics.ErrInvalidRequest
	switch {
	case o.OrderID == "":
		return bad.Withf("order.completed has no order_id")
	case o.CompletedAt.IsZero():
		return bad.Withf("order %s has no completed_at", o.OrderID)
	case len(o.LineItems) == 0:
		return bad.Withf("order %s has no line items", o.OrderID)
	}
	cur, err := topics.NormalizeCurrency(o.Currency)
	if err != nil {
		return err
	}
	o.Currency = cur
	check := func(what string, d decimal.Decimal) error {
		if d.IsNegative() {
			return topics.ErrInvalidAmount.Withf("order %s: %s is negative", o.OrderID, what)
		}
		_, err := topics.NewMoney(d, cur)
		return err
	}
	seen := make(map[string]bool, len(o.LineItems))
	for _, l := range o.LineItems {
		switch {
		case l.LineItemID == "":
			return bad.Withf("order %s has a line item without line_item_id", o.OrderID)
		case seen[l.LineItemID]:
			return bad.Withf("order %s lists line item %s twice", o.OrderID, l.LineItemID)
		case l.Quantity < 1:
			return ErrInvalidQuantity.Withf("order %s line %s has quantity %d", o.OrderID, l.LineItemID, l.Quantity)
		}
		seen[l.LineItemID] = true
		for what, d := range map[string]decimal.Decimal{"unit_price": l.UnitPrice, "discount": l.Discount, "tax": l.Tax} {
			if err := check(l.LineItemID+" "+what, d); err != nil {
				return err
			}
		}
		if l.NetTotal().IsNegative() {
			return topics.ErrInvalidAmount.Withf("order %s line %s: discount exceeds the line", o.OrderID, l.LineItemID)
		}
	}
	return check("shipping_total", o.ShippingTotal)
}

// Delivery is the payload of shipment.delivered.
type Delivery struct {
	ShipmentID     string    `json:"shipment_id"`
	OrderID        string    `json:"order_id"`
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	DeliveredAt    time.Time `json:"delivered_at"`
}

// Validate checks a shipment.delivered payload.
func (d *Delivery) Validate() error {
	switch {
	case d.OrderID == "":
		return topics.ErrInvalidRequest.Withf("shipment.delivered has no order_id")
	case d.DeliveredAt.IsZero():
		return topics.ErrInvalidRequest.Withf("shipment %s has no delivered_at", d.ShipmentID)
	}
	return nil
}
