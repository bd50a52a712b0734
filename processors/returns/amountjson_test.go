package returns

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestAmountsRenderWithTheCurrencysMinorUnits: the API and the events show
// every amount of a return as "99.00", not "99", and what they show
// decodes to the same amounts. (Amounts are whole so that they are valid in
// every currency of the table: the calculator rounds to the minor units.)
func TestAmountsRenderWithTheCurrencysMinorUnits(t *testing.T) {
	ptr := func(s string) *decimal.Decimal { d := dec(s); return &d }
	breakdown := func(cur string) *RefundBreakdown {
		return &RefundBreakdown{Currency: cur, ItemTotal: dec("137"), TaxRefund: dec("11"), ShippingRefund: dec("5"),
			RestockingFee: dec("0"), Adjustment: dec("-1"), TotalRefund: dec("152"),
			Lines: []RefundLine{{LineItemID: "li_1", Quantity: 1, ItemTotal: dec("99"), TaxRefund: dec("8"),
				RestockingFee: dec("0"), Adjustment: dec("-1"), Total: dec("106")}}}
	}
	tests := []struct {
		name     string
		currency string
		want     []string // fragments of the JSON
	}{
		{"USD: two places", "USD", []string{`"unit_price":"99.00"`, `"line_discount":"0.00"`, `"shipping":"5.00"`,
			`"amount":"136.00"`, `"refund_override":"120.00"`, `"item_total":"99.00"`, `"adjustment":"-1.00"`,
			`"shipping_refund":"5.00"`, `"restocking_fee":"0.00"`}},
		{"JPY: no places", "JPY", []string{`"unit_price":"99"`, `"shipping":"5"`, `"refund_override":"120"`,
			`"item_total":"99"`, `"adjustment":"-1"`}},
		{"BHD: three places", "BHD", []string{`"unit_price":"99.000"`, `"shipping":"5.000"`, `"total_refund":"152.000"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Return{ID: "r1", Currency: tc.currency, Status: StatePending,
				Items:    []ReturnItem{{LineItemID: "li_1", UnitPrice: dec("99"), LineDiscount: dec("0"), LineTax: dec("8"), QuantityRequested: 1}},
				Shipping: dec("5"), Payments: []Payment{{Method: "card", Amount: dec("136"), Reference: "pay_1"}},
				RefundOverride: ptr("120"), EstimatedRefund: breakdown(tc.currency), ActualRefund: breakdown(tc.currency)}
			raw, err := json.Marshal(r)
			require.NoError(t, err)
			for _, w := range tc.want {
				require.Contains(t, string(raw), w)
			}
			// omitempty fields stay omitted
			require.NotContains(t, string(raw), `"sku"`)
			require.NotContains(t, string(raw), `"receipts"`)
			require.NotContains(t, string(raw), `"final_refund_override"`)
			var back Return
			require.NoError(t, json.Unmarshal(raw, &back))
			require.Equal(t, "r1", back.ID)
			require.True(t, back.Items[0].UnitPrice.Equal(dec("99")))
			require.True(t, back.Shipping.Equal(dec("5")))
			require.True(t, back.Payments[0].Amount.Equal(dec("136")))
			require.True(t, back.RefundOverride.Equal(dec("120")))
			require.Nil(t, back.FinalRefundOverride)
			require.True(t, back.EstimatedRefund.Lines[0].Total.Equal(dec("106")))
			require.True(t, back.ActualRefund.Adjustment.Equal(dec("-1")))

			// Events: the summary's breakdown and unit refunds too.
			raw, err = json.Marshal(r.Summary())
			require.NoError(t, err)
			units := map[string]string{"USD": `"unit_refund":"106.00"`, "JPY": `"unit_refund":"106"`, "BHD": `"unit_refund":"106.000"`}
			require.Contains(t, string(raw), units[tc.currency])
			require.Contains(t, string(raw), `"return_id":"r1"`)
			var sum Summary
			require.NoError(t, json.Unmarshal(raw, &sum))
			require.True(t, sum.Items[0].UnitRefund.Equal(dec("106")))
			require.True(t, sum.Refund.TotalRefund.Equal(dec("152")))
		})
	}
}

// TestDecodedSummaryRendersUnitRefundsAsTheyAre: an item decoded from an
// event does not know its currency's places, and renders its unit refund
// unrounded rather than with none.
func TestDecodedSummaryRendersUnitRefundsAsTheyAre(t *testing.T) {
	var s Summary
	require.NoError(t, json.Unmarshal([]byte(`{"return_id":"r1","items":[{"line_item_id":"li \"1\"","product_id":"p","quantity_requested":2,"quantity_received":1,"restockable":true,"unit_refund":"9.5","notes":"a <b>"}]}`), &s))
	raw, err := json.Marshal(s.Items[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"line_item_id":"li \"1\"","product_id":"p","quantity_requested":2,"quantity_received":1,"restockable":true,"unit_refund":"9.5","notes":"a <b>"}`, string(raw))
}
