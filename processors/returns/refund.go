package returns

import (
	"sort"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// RefundItem is one returned line as the calculator sees it.
type RefundItem struct {
	LineItemID string `json:"line_item_id"`
	Category   string `json:"category"`
	// QuantityPurchased is the line's quantity in the order; UnitPrice,
	// LineDiscount and LineTax are the line's figures (discount and tax for
	// all units).
	QuantityPurchased int             `json:"quantity_purchased"`
	UnitPrice         decimal.Decimal `json:"unit_price"`
	LineDiscount      decimal.Decimal `json:"line_discount"`
	LineTax           decimal.Decimal `json:"line_tax"`
	// QuantityPrior is how many units of the line earlier returns claimed:
	// shares are computed cumulatively, so all returns of a line together
	// refund exactly the line.
	QuantityPrior int `json:"quantity_prior"`
	// Quantity is how many units this refund covers.
	Quantity int `json:"quantity"`
	// ExpectedCondition is what the customer declared; ActualCondition what
	// the warehouse found (empty before receipt).
	ExpectedCondition string `json:"expected_condition"`
	ActualCondition   string `json:"actual_condition,omitempty"`
}

// RefundInput is what a refund is computed from.
type RefundInput struct {
	Currency string
	Reason   string
	Items    []RefundItem
	// Shipping is the shipping amount this return may refund (zero when the
	// shipping rule does not grant it).
	Shipping decimal.Decimal
	// RestockingFeePercent, when set, replaces the policy's percentages
	// (still waived for merchant fault).
	RestockingFeePercent *decimal.Decimal
	// RestockingFee, when set, is a fixed fee decided by staff (still
	// waived for merchant fault); it replaces any percentage.
	RestockingFee *decimal.Decimal
	// Override, when set, is the total to refund, decided by staff.
	Override *decimal.Decimal
}

// RefundLine is one line's share of a refund. ItemTotal + TaxRefund -
// RestockingFee + Adjustment = Total.
type RefundLine struct {
	LineItemID    string          `json:"line_item_id"`
	Quantity      int             `json:"quantity"`
	ItemTotal     decimal.Decimal `json:"item_total"`
	TaxRefund     decimal.Decimal `json:"tax_refund"`
	RestockingFee decimal.Decimal `json:"restocking_fee"`
	Adjustment    decimal.Decimal `json:"adjustment"`
	Total         decimal.Decimal `json:"total"`
}

// RefundBreakdown is a detailed refund. ItemTotal + TaxRefund +
// ShippingRefund - RestockingFee + Adjustment = TotalRefund exactly, and
// every column is the sum of the lines' (shipping has no line).
type RefundBreakdown struct {
	Currency       string          `json:"currency"`
	ItemTotal      decimal.Decimal `json:"item_total"`
	TaxRefund      decimal.Decimal `json:"tax_refund"`
	ShippingRefund decimal.Decimal `json:"shipping_refund"`
	RestockingFee  decimal.Decimal `json:"restocking_fee"`
	// Adjustment is what an override added (negative: removed).
	Adjustment  decimal.Decimal `json:"adjustment"`
	TotalRefund decimal.Decimal `json:"total_refund"`
	Lines       []RefundLine    `json:"lines"`
}

// RefundCalculator computes refunds under a policy (the seed's
// RefundCalculator). Everything is decimal, rounded to the currency's minor
// units half away from zero; remainders are allocated so that lines add up.
type RefundCalculator struct {
	Policy *Policy
}

// Calculate computes the refund for in.
func (c RefundCalculator) Calculate(in RefundInput) (RefundBreakdown, error) {
	units, err := topics.MinorUnits(in.Currency)
	if err != nil {
		return RefundBreakdown{}, err
	}
	zero := decimal.Zero
	b := RefundBreakdown{Currency: in.Currency, ItemTotal: zero, TaxRefund: zero, ShippingRefund: zero,
		RestockingFee: zero, Adjustment: zero, TotalRefund: zero, Lines: make([]RefundLine, 0, len(in.Items))}
	merchantFault := c.Policy.MerchantFault(in.Reason)
	// exact fees before rounding, for largest-remainder allocation
	feeExact := make([]decimal.Decimal, 0, len(in.Items))
	hundred := decimal.NewFromInt(100)
	for _, it := range in.Items {
		if it.QuantityPurchased < 1 || it.Quantity < 0 || it.QuantityPrior < 0 || it.QuantityPrior+it.Quantity > it.QuantityPurchased {
			return RefundBreakdown{}, ErrInvalidQuantity.
				Withf("line %s: %d units after %d already returned of %d bought", it.LineItemID, it.Quantity, it.QuantityPrior, it.QuantityPurchased).
				With("line_item_id", it.LineItemID)
		}
		q := decimal.NewFromInt(int64(it.QuantityPurchased))
		net := it.UnitPrice.Mul(q).Sub(it.LineDiscount)
		share := func(total decimal.Decimal) decimal.Decimal {
			upto := total.Mul(decimal.NewFromInt(int64(it.QuantityPrior + it.Quantity))).Div(q).Round(units)
			before := total.Mul(decimal.NewFromInt(int64(it.QuantityPrior))).Div(q).Round(units)
			return upto.Sub(before)
		}
		item, tax := share(net), share(it.LineTax)
		if f := c.Policy.ConditionFactor(it.ActualCondition, in.Reason); !f.Equal(decimal.NewFromInt(1)) {
			item, tax = item.Mul(f).Round(units), tax.Mul(f).Round(units)
		}
		pct := c.Policy.RestockingFeePercent(it.Category, it.ExpectedCondition, in.Reason)
		if in.RestockingFeePercent != nil && !merchantFault {
			pct = *in.RestockingFeePercent
		}
		feeExact = append(feeExact, item.Mul(pct).Div(hundred))
		b.Lines = append(b.Lines, RefundLine{LineItemID: it.LineItemID, Quantity: it.Quantity,
			ItemTotal: item, TaxRefund: tax, RestockingFee: zero, Adjustment: zero})
		b.ItemTotal = b.ItemTotal.Add(item)
		b.TaxRefund = b.TaxRefund.Add(tax)
	}
	// restocking fee: a staff-given amount or the policy's percentages,
	// rounded once for the whole return and allocated over the lines.
	var fee decimal.Decimal
	weights := feeExact
	switch {
	case merchantFault:
		fee = zero
	case in.RestockingFee != nil:
		fee = *in.RestockingFee
		if fee.IsNegative() {
			return RefundBreakdown{}, topics.ErrInvalidAmount.Withf("restocking fee %s is negative", fee)
		}
		if _, err := topics.NewMoney(fee, in.Currency); err != nil {
			return RefundBreakdown{}, err
		}
		weights = make([]decimal.Decimal, len(b.Lines))
		for i, l := range b.Lines {
			weights[i] = l.ItemTotal
		}
	default:
		fee = sum(feeExact).Round(units)
	}
	if fee.GreaterThan(b.ItemTotal) {
		fee = b.ItemTotal // a fee never takes more than the items are worth
	}
	for i, f := range Allocate(fee, weights, units) {
		b.Lines[i].RestockingFee = f
	}
	b.RestockingFee = fee
	if in.Shipping.IsNegative() {
		return RefundBreakdown{}, topics.ErrInvalidAmount.Withf("shipping refund %s is negative", in.Shipping)
	}
	b.ShippingRefund = in.Shipping.Round(units)
	computed := zero
	lineTotals := make([]decimal.Decimal, len(b.Lines))
	for i := range b.Lines {
		l := &b.Lines[i]
		l.Total = l.ItemTotal.Add(l.TaxRefund).Sub(l.RestockingFee)
		lineTotals[i] = l.Total
		computed = computed.Add(l.Total)
	}
	computed = computed.Add(b.ShippingRefund)
	b.TotalRefund = computed
	if in.Override != nil {
		o := *in.Override
		max := b.ItemTotal.Add(b.TaxRefund).Add(b.ShippingRefund)
		if o.IsNegative() || o.GreaterThan(max) {
			return RefundBreakdown{}, topics.ErrInvalidAmount.
				Withf("refund override %s is not within 0..%s", o, max.StringFixed(units)).
				With("max_refund", max.StringFixed(units))
		}
		if _, err := topics.NewMoney(o, in.Currency); err != nil {
			return RefundBreakdown{}, err
		}
		adj := o.Sub(computed)
		if len(b.Lines) > 0 {
			if sum(lineTotals).IsZero() {
				lineTotals[0] = decimal.NewFromInt(1)
			}
			for i, a := range Allocate(adj, lineTotals, units) {
				b.Lines[i].Adjustment = a
				b.Lines[i].Total = b.Lines[i].Total.Add(a)
			}
			b.Adjustment = adj
			b.TotalRefund = o
		}
	}
	return b, nil
}

func sum(ds []decimal.Decimal) decimal.Decimal {
	s := decimal.Zero
	for _, d := range ds {
		s = s.Add(d)
	}
	return s
}

// Allocate splits total (rounded to units decimal places) in proportion to
// weights with the largest-remainder method: every share is a whole number
// of minor units and the shares add up to total exactly. Leftover units go
// to the largest fractional remainders, ties to the earlier weight. Zero
// or negative weights get nothing unless every weight is zero, in which
// case the shares are equal.
func Allocate(total decimal.Decimal, weights []decimal.Decimal, units int32) []decimal.Decimal {
	out := make([]decimal.Decimal, len(weights))
	for i := range out {
		out[i] = decimal.Zero
	}
	if len(weights) == 0 {
		return out
	}
	neg := total.IsNegative()
	scale := decimal.New(1, units)
	minor := total.Abs().Round(units).Mul(scale) // whole minor units
	w := make([]decimal.Decimal, len(weights))
	wsum := decimal.Zero
	for i, x := range weights {
		if x.IsPositive() {
			w[i] = x
			wsum = wsum.Add(x)
		} else {
			w[i] = decimal.Zero
		}
	}
	if wsum.IsZero() {
		for i := range w {
			w[i] = decimal.NewFromInt(1)
		}
		wsum = decimal.NewFromInt(int64(len(w)))
	}
	type rem struct {
		i int
		r decimal.Decimal
	}
	rems := make([]rem, len(w))
	given := decimal.Zero
	for i := range w {
		exact := minor.Mul(w[i]).Div(wsum)
		fl := exact.Floor()
		out[i] = fl
		given = given.Add(fl)
		rems[i] = rem{i, exact.Sub(fl)}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r.GreaterThan(rems[b].r) })
	left := minor.Sub(given).IntPart()
	for k := 0; k < int(left); k++ {
		out[rems[k%len(rems)].i] = out[rems[k%len(rems)].i].Add(decimal.NewFromInt(1))
	}
	for i := range out {
		out[i] = out[i].Div(scale)
		if neg {
			out[i] = out[i].Neg()
		}
	}
	return out
}
