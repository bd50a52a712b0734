package returns

import (
	"strconv"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// The JSON forms below render every amount of a return with exactly its
// currency's minor units ("99.00", "0.00"; "500" for JPY), as topics.Money
// does for gift cards. decimal.Decimal alone renders 99.00 as "99". The
// values are unchanged (they are rounded to those units already), so
// readers of either form decode the same amounts; unmarshalling uses the
// default forms, whose field names these keep.

// fixedAmounts returns a renderer of amounts in currency
// (topics.AmountString: the minor units, never rounding).
func fixedAmounts(currency string) func(decimal.Decimal) string {
	units, err := topics.MinorUnits(currency)
	if err != nil {
		return decimal.Decimal.String
	}
	return func(d decimal.Decimal) string { return topics.AmountStringUnits(d, units) }
}

func fixedPtr(f func(decimal.Decimal) string, d *decimal.Decimal) *string {
	if d == nil {
		return nil
	}
	s := f(*d)
	return &s
}

// MarshalJSON renders the breakdown's amounts with the currency's minor
// units. Every event and most results carry a breakdown, so it is
// appended by hand (the field names are the struct tags').
func (b RefundBreakdown) MarshalJSON() ([]byte, error) {
	units, err := topics.MinorUnits(b.Currency)
	amount := func(out []byte, key string, d decimal.Decimal) []byte {
		out = append(append(append(out, ',', '"'), key...), '"', ':', '"')
		if err != nil {
			out = append(out, d.String()...)
		} else {
			out = topics.AppendAmountUnits(out, d, units)
		}
		return append(out, '"')
	}
	out := make([]byte, 0, 192+160*len(b.Lines))
	out = append(out, `{"currency":`...)
	out = appendJSONString(out, b.Currency)
	out = amount(out, "item_total", b.ItemTotal)
	out = amount(out, "tax_refund", b.TaxRefund)
	out = amount(out, "shipping_refund", b.ShippingRefund)
	out = amount(out, "restocking_fee", b.RestockingFee)
	out = amount(out, "adjustment", b.Adjustment)
	out = amount(out, "total_refund", b.TotalRefund)
	if b.Lines == nil {
		return append(out, `,"lines":null}`...), nil
	}
	out = append(out, `,"lines":[`...)
	for i, l := range b.Lines {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"line_item_id":`...)
		out = appendJSONString(out, l.LineItemID)
		out = append(out, `,"quantity":`...)
		out = strconv.AppendInt(out, int64(l.Quantity), 10)
		out = amount(out, "item_total", l.ItemTotal)
		out = amount(out, "tax_refund", l.TaxRefund)
		out = amount(out, "restocking_fee", l.RestockingFee)
		out = amount(out, "adjustment", l.Adjustment)
		out = amount(out, "total", l.Total)
		out = append(out, '}')
	}
	return append(out, ']', '}'), nil
}

// appendJSONString appends s as a JSON string: directly when it holds
// nothing to escape (IDs, currency codes), through the encoder otherwise.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(out, q...)
		}
	}
	return append(append(append(out, '"'), s...), '"')
}

// plainRequest, plainReturn, plainItem and plainPayment have the
// fields of their types without their MarshalJSON methods; the structs
// that embed them shadow the amount fields. They are embedded as values:
// segmentio/encoding drops omitempty on the fields of an embedded pointer.
type (
	plainRequest ReturnRequest
	plainReturn  Return
	plainItem    ReturnItem
	plainPayment Payment
	plainSaga    Saga
)

// sagaJSON leaves out the times of requests never sent: the JSON encoder
// does not honour omitzero, and a zero time.Time would read as year 1.
type sagaJSON struct {
	plainSaga
	RefundRequestedAt  *time.Time `json:"refund_requested_at,omitempty"`
	RestockRequestedAt *time.Time `json:"restock_requested_at,omitempty"`
	LabelRequestedAt   *time.Time `json:"label_requested_at,omitempty"`
}

func unlessZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type returnItemJSON struct {
	plainItem
	UnitPrice    string `json:"unit_price"`
	LineDiscount string `json:"line_discount"`
	LineTax      string `json:"line_tax"`
}

func fixedItems(f func(decimal.Decimal) string, in []ReturnItem) []returnItemJSON {
	if in == nil {
		return nil
	}
	items := make([]returnItemJSON, len(in))
	for i := range in {
		it := &in[i]
		items[i] = returnItemJSON{plainItem: plainItem(*it), UnitPrice: f(it.UnitPrice),
			LineDiscount: f(it.LineDiscount), LineTax: f(it.LineTax)}
	}
	return items
}

type paymentJSON struct {
	plainPayment
	Amount string `json:"amount"`
}

// MarshalJSON renders the return's amounts (items' prices, shipping,
// payments, overrides and both refund breakdowns) with the currency's
// minor units.
func (r Return) MarshalJSON() ([]byte, error) {
	f := fixedAmounts(r.Currency)
	items := fixedItems(f, r.Items)
	var payments []paymentJSON
	if r.Payments != nil {
		payments = make([]paymentJSON, len(r.Payments))
	}
	for i := range r.Payments {
		payments[i] = paymentJSON{plainPayment: plainPayment(r.Payments[i]), Amount: f(r.Payments[i].Amount)}
	}
	return json.Marshal(struct {
		plainReturn
		Items                 []returnItemJSON `json:"items"`
		Shipping              string           `json:"shipping"`
		Payments              []paymentJSON    `json:"payments,omitempty"`
		RefundOverride        *string          `json:"refund_override,omitempty"`
		RestockingFeeOverride *string          `json:"restocking_fee_override,omitempty"`
		FinalRefundOverride   *string          `json:"final_refund_override,omitempty"`
		Saga                  sagaJSON         `json:"saga"`
	}{plainReturn(r), items, f(r.Shipping), payments, fixedPtr(f, r.RefundOverride),
		fixedPtr(f, r.RestockingFeeOverride), fixedPtr(f, r.FinalRefundOverride),
		sagaJSON{plainSaga(r.Saga), unlessZero(r.Saga.RefundRequestedAt), unlessZero(r.Saga.RestockRequestedAt), unlessZero(r.Saga.LabelRequestedAt)}})
}

// MarshalJSON renders the items' prices with the minor units of the
// return's currency.
func (r ReturnRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		plainRequest
		Items []returnItemJSON `json:"items"`
	}{plainRequest(r), fixedItems(fixedAmounts(r.currency), r.Items)})
}

// MarshalJSON renders the unit refund with the minor units of the
// refund's currency (Summary sets them). An event carries every item, so
// it is appended by hand (the field names are the struct tags').
func (it SummaryItem) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 160+len(it.Notes))
	out = append(out, `{"line_item_id":`...)
	out = appendJSONString(out, it.LineItemID)
	out = append(out, `,"product_id":`...)
	out = appendJSONString(out, it.ProductID)
	out = append(out, `,"quantity_requested":`...)
	out = strconv.AppendInt(out, int64(it.QuantityRequested), 10)
	out = append(out, `,"quantity_received":`...)
	out = strconv.AppendInt(out, int64(it.QuantityReceived), 10)
	for _, f := range [...]struct{ key, v string }{{"expected_condition", it.ExpectedCondition}, {"actual_condition", it.ActualCondition}} {
		if f.v != "" {
			out = append(append(append(out, ',', '"'), f.key...), '"', ':')
			out = appendJSONString(out, f.v)
		}
	}
	if it.Restockable != nil {
		out = append(out, `,"restockable":`...)
		out = strconv.AppendBool(out, *it.Restockable)
	}
	if it.UnitRefund != nil {
		out = append(out, `,"unit_refund":"`...)
		if it.places1 > 0 {
			out = topics.AppendAmountUnits(out, *it.UnitRefund, it.places1-1)
		} else {
			out = append(out, it.UnitRefund.String()...)
		}
		out = append(out, '"')
	}
	if it.Notes != "" {
		out = append(out, `,"notes":`...)
		out = appendJSONString(out, it.Notes)
	}
	return append(out, '}'), nil
}
