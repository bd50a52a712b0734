package returns

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// requireAddsUp checks that every column is the sum of its lines and that
// the columns add up to the total.
func requireAddsUp(t *testing.T, b RefundBreakdown) {
	t.Helper()
	var item, tax, fee, adj, total decimal.Decimal
	for _, l := range b.Lines {
		require.True(t, l.ItemTotal.Add(l.TaxRefund).Sub(l.RestockingFee).Add(l.Adjustment).Equal(l.Total), "line %s", l.LineItemID)
		item, tax, fee, adj, total = item.Add(l.ItemTotal), tax.Add(l.TaxRefund), fee.Add(l.RestockingFee), adj.Add(l.Adjustment), total.Add(l.Total)
	}
	require.True(t, item.Equal(b.ItemTotal), "item %s != %s", item, b.ItemTotal)
	require.True(t, tax.Equal(b.TaxRefund), "tax %s != %s", tax, b.TaxRefund)
	require.True(t, fee.Equal(b.RestockingFee), "fee %s != %s", fee, b.RestockingFee)
	require.True(t, adj.Equal(b.Adjustment), "adjustment %s != %s", adj, b.Adjustment)
	require.True(t, total.Add(b.ShippingRefund).Equal(b.TotalRefund), "lines %s + shipping %s != %s", total, b.ShippingRefund, b.TotalRefund)
	require.True(t, b.ItemTotal.Add(b.TaxRefund).Add(b.ShippingRefund).Sub(b.RestockingFee).Add(b.Adjustment).Equal(b.TotalRefund))
	units, err := topics.MinorUnits(b.Currency)
	require.NoError(t, err)
	for _, d := range []decimal.Decimal{b.ItemTotal, b.TaxRefund, b.ShippingRefund, b.RestockingFee, b.TotalRefund} {
		require.True(t, d.Equal(d.Round(units)), "%s is not rounded to %d places", d, units)
	}
}

func shirtItem(qty, prior int) RefundItem {
	return RefundItem{LineItemID: "li_shirt", Category: "apparel", QuantityPurchased: 3, UnitPrice: dec("10.00"),
		LineDiscount: dec("1.00"), LineTax: dec("2.00"), QuantityPrior: prior, Quantity: qty, ExpectedCondition: ConditionNew}
}

func TestRefundCalculator(t *testing.T) {
	calc := RefundCalculator{DefaultPolicy()}
	tests := []struct {
		name                                string
		in                                  RefundInput
		item, tax, shipping, fee, adj, want string
	}{
		{"whole line: price less discount plus tax",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(3, 0)}},
			"29.00", "2.00", "0", "0", "0", "31.00"},
		{"one unit of three: discount and tax in proportion, rounded half up",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(1, 0)}},
			"9.67", "0.67", "0", "0", "0", "10.34"},
		{"second unit after one returned takes the cumulative share",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(1, 1)}},
			"9.66", "0.66", "0", "0", "0", "10.32"},
		{"last unit completes the line exactly",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(1, 2)}},
			"9.67", "0.67", "0", "0", "0", "10.34"},
		{"shipping granted by rule is added",
			RefundInput{Currency: "USD", Reason: ReasonDefective, Items: []RefundItem{shirtItem(3, 0)}, Shipping: dec("4.99")},
			"29.00", "2.00", "4.99", "0", "0", "35.99"},
		{"staff restocking percent on the item value, not tax",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(3, 0)}, RestockingFeePercent: decP("10")},
			"29.00", "2.00", "0", "2.90", "0", "28.10"},
		{"a fixed restocking fee is deducted",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(3, 0)}, RestockingFee: decP("5.00")},
			"29.00", "2.00", "0", "5.00", "0", "26.00"},
		{"merchant fault waives a fixed fee",
			RefundInput{Currency: "USD", Reason: ReasonWrongItem, Items: []RefundItem{shirtItem(3, 0)}, RestockingFee: decP("5.00")},
			"29.00", "2.00", "0", "0", "0", "31.00"},
		{"damaged items refund half, tax included",
			RefundInput{Currency: "USD", Reason: ReasonNoLongerNeeded, Items: []RefundItem{func() RefundItem { i := shirtItem(3, 0); i.ActualCondition = ActualDamaged; return i }()}},
			"14.50", "1.00", "0", "0", "0", "15.50"},
		{"unsellable items refund nothing",
			RefundInput{Currency: "USD", Reason: ReasonNoLongerNeeded, Items: []RefundItem{func() RefundItem { i := shirtItem(3, 0); i.ActualCondition = ActualUnsellable; return i }()}},
			"0", "0", "0", "0", "0", "0"},
		{"defective items refund in full whatever their condition",
			RefundInput{Currency: "USD", Reason: ReasonDefective, Items: []RefundItem{func() RefundItem { i := shirtItem(3, 0); i.ActualCondition = ActualUnsellable; return i }()}},
			"29.00", "2.00", "0", "0", "0", "31.00"},
		{"an override lowers the total with the difference as adjustment",
			RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(3, 0)}, Override: decP("20.00")},
			"29.00", "2.00", "0", "0", "-11.00", "20.00"},
		{"yen have no minor units",
			RefundInput{Currency: "JPY", Reason: ReasonOther, Items: []RefundItem{{LineItemID: "l", QuantityPurchased: 3, UnitPrice: dec("1000"), LineDiscount: dec("100"), LineTax: dec("290"), Quantity: 1}}},
			"967", "97", "0", "0", "0", "1064"},
		{"dinars have three",
			RefundInput{Currency: "KWD", Reason: ReasonOther, Items: []RefundItem{{LineItemID: "l", QuantityPurchased: 3, UnitPrice: dec("1.000"), LineDiscount: dec("0"), LineTax: dec("0.100"), Quantity: 2}}},
			"2.000", "0.067", "0", "0", "0", "2.067"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := calc.Calculate(tc.in)
			require.NoError(t, err)
			requireAddsUp(t, b)
			for name, pair := range map[string][2]decimal.Decimal{
				"item_total": {dec(tc.item), b.ItemTotal}, "tax_refund": {dec(tc.tax), b.TaxRefund},
				"shipping_refund": {dec(tc.shipping), b.ShippingRefund}, "restocking_fee": {dec(tc.fee), b.RestockingFee},
				"adjustment": {dec(tc.adj), b.Adjustment}, "total_refund": {dec(tc.want), b.TotalRefund},
			} {
				require.True(t, pair[0].Equal(pair[1]), "%s = %s, want %s", name, pair[1], pair[0])
			}
		})
	}
}

func TestRefundPrecision(t *testing.T) {
	calc := RefundCalculator{DefaultPolicy()}
	t.Run("returning a line unit by unit refunds exactly the line", func(t *testing.T) {
		item := RefundItem{LineItemID: "l", QuantityPurchased: 7, UnitPrice: dec("3.33"), LineDiscount: dec("1.01"), LineTax: dec("1.87")}
		var total, tax decimal.Decimal
		for k := 0; k < 7; k++ {
			it := item
			it.QuantityPrior, it.Quantity = k, 1
			b, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{it}})
			require.NoError(t, err)
			total, tax = total.Add(b.ItemTotal), tax.Add(b.TaxRefund)
		}
		require.Equal(t, "22.30", total.StringFixed(2)) // 7 * 3.33 - 1.01
		require.Equal(t, "1.87", tax.StringFixed(2))
	})
	t.Run("multi-item percentage fee is rounded once and allocated", func(t *testing.T) {
		items := []RefundItem{
			{LineItemID: "a", Category: "electronics", QuantityPurchased: 1, UnitPrice: dec("10.01"), LineTax: dec("0"), Quantity: 1, ExpectedCondition: ConditionOpened},
			{LineItemID: "b", Category: "electronics", QuantityPurchased: 1, UnitPrice: dec("10.01"), LineTax: dec("0"), Quantity: 1, ExpectedCondition: ConditionOpened},
			{LineItemID: "c", Category: "electronics", QuantityPurchased: 1, UnitPrice: dec("10.01"), LineTax: dec("0"), Quantity: 1, ExpectedCondition: ConditionOpened},
		}
		b, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonNoLongerNeeded, Items: items})
		require.NoError(t, err)
		requireAddsUp(t, b)
		// 15% of 30.03 = 4.5045 -> 4.50; per line 1.50150 each: 1.50 three times
		require.Equal(t, "4.50", b.RestockingFee.StringFixed(2))
		require.Equal(t, "25.53", b.TotalRefund.StringFixed(2))
	})
	t.Run("an override is spread over lines by largest remainder (the first line takes the odd cent of the -10.00)", func(t *testing.T) {
		items := []RefundItem{
			{LineItemID: "a", QuantityPurchased: 1, UnitPrice: dec("10.00"), Quantity: 1},
			{LineItemID: "b", QuantityPurchased: 1, UnitPrice: dec("10.00"), Quantity: 1},
			{LineItemID: "c", QuantityPurchased: 1, UnitPrice: dec("10.00"), Quantity: 1},
		}
		b, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonOther, Items: items, Override: decP("20.00")})
		require.NoError(t, err)
		requireAddsUp(t, b)
		require.Equal(t, []string{"6.66", "6.67", "6.67"}, []string{b.Lines[0].Total.StringFixed(2), b.Lines[1].Total.StringFixed(2), b.Lines[2].Total.StringFixed(2)})
	})
	t.Run("an override above what can be refunded is rejected", func(t *testing.T) {
		_, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(1, 0)}, Override: decP("10.35")})
		require.ErrorIs(t, err, topics.ErrInvalidAmount)
	})
	t.Run("an override more precise than the currency is rejected", func(t *testing.T) {
		_, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(1, 0)}, Override: decP("1.001")})
		require.ErrorIs(t, err, topics.ErrInvalidAmount)
	})
	t.Run("more units than bought is invalid_quantity", func(t *testing.T) {
		_, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(2, 2)}})
		require.ErrorIs(t, err, ErrInvalidQuantity)
	})
	t.Run("a fee never exceeds the item value", func(t *testing.T) {
		b, err := calc.Calculate(RefundInput{Currency: "USD", Reason: ReasonOther, Items: []RefundItem{shirtItem(1, 0)}, RestockingFee: decP("50.00")})
		require.NoError(t, err)
		requireAddsUp(t, b)
		require.True(t, b.RestockingFee.Equal(b.ItemTotal))
		require.Equal(t, "0.67", b.TotalRefund.StringFixed(2), "tax is still refunded")
	})
	t.Run("unsupported currency", func(t *testing.T) {
		_, err := calc.Calculate(RefundInput{Currency: "XXX", Items: []RefundItem{shirtItem(1, 0)}})
		require.ErrorIs(t, err, topics.ErrUnsupportedCurrency)
	})
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name    string
		total   string
		weights []string
		units   int32
		want    []string
	}{
		{"thirds", "1.00", []string{"1", "1", "1"}, 2, []string{"0.34", "0.33", "0.33"}},
		{"largest remainder wins the cent", "1.00", []string{"1", "2"}, 2, []string{"0.33", "0.67"}},
		{"negative totals", "-1.00", []string{"1", "1", "1"}, 2, []string{"-0.34", "-0.33", "-0.33"}},
		{"zero weights share equally", "0.05", []string{"0", "0"}, 2, []string{"0.03", "0.02"}},
		{"whole units", "10", []string{"1", "1", "1"}, 0, []string{"4", "3", "3"}},
		{"a zero weight gets nothing", "7.00", []string{"0", "3", "4"}, 2, []string{"0", "3.00", "4.00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := make([]decimal.Decimal, len(tc.weights))
			for i, s := range tc.weights {
				w[i] = dec(s)
			}
			got := Allocate(dec(tc.total), w, tc.units)
			s := decimal.Zero
			for i, g := range got {
				require.True(t, dec(tc.want[i]).Equal(g), "share %d = %s, want %s", i, g, tc.want[i])
				s = s.Add(g)
			}
			require.True(t, s.Equal(dec(tc.total)))
		})
	}
}
