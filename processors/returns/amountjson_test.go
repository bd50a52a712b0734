package returns

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	sjson "github.com/segmentio/encoding/json"
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

// TestHandAppendedJSONCoversEveryField: RefundBreakdown and SummaryItem
// append their JSON by hand, so a field added to either struct must be
// added to its MarshalJSON too. With every exported field set (recursively),
// the output has exactly one key per field, named by its json tag, and
// decodes through encoding/json to the same value.
func TestHandAppendedJSONCoversEveryField(t *testing.T) {
	tests := []struct {
		name string
		v    any // a pointer to the zero value, filled by the test
		fix  func(v any)
	}{
		// A real currency, so the amounts take the minor-units path.
		{"RefundBreakdown", &RefundBreakdown{}, func(v any) { v.(*RefundBreakdown).Currency = "USD" }},
		{"SummaryItem", &SummaryItem{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := reflect.ValueOf(tc.v).Elem()
			n := 0
			fillEveryField(t, tc.name, want, &n)
			if tc.fix != nil {
				tc.fix(tc.v)
			}
			requireEveryFieldSet(t, tc.name, want)

			raw, err := json.Marshal(tc.v)
			require.NoError(t, err)
			var decoded any
			require.NoError(t, json.Unmarshal(raw, &decoded))
			requireJSONKeys(t, tc.name, want.Type(), decoded)

			back := reflect.New(want.Type())
			require.NoError(t, json.Unmarshal(raw, back.Interface()))
			requireSameValue(t, tc.name, want, back.Elem())
		})
	}
}

// fillEveryField sets every exported field of v (recursively: through
// pointers, two slice elements and nested structs) to a non-zero value
// distinct from the others: *n counts the values set. Strings hold
// characters JSON escapes; decimals have two places, as a USD amount.
func fillEveryField(t *testing.T, path string, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillEveryField(t, path, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fillEveryField(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i), n)
		}
	case reflect.Struct:
		switch v.Type() {
		case reflect.TypeFor[decimal.Decimal]():
			v.Set(reflect.ValueOf(decimal.New(int64(100+*n), -2)))
			return
		case reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(time.Date(2026, 12, 1, 12, 0, *n, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fillEveryField(t, path+"."+f.Name, v.Field(i), n)
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d \"<&>\\ é", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	default:
		t.Fatalf("%s: fillEveryField cannot set a %s: extend it", path, v.Kind())
	}
}

// requireJSONKeys fails unless decoded (the JSON of a value of type typ,
// decoded into any) has exactly one key per exported field of each struct
// in it, named as encoding/json names it.
func requireJSONKeys(t *testing.T, path string, typ reflect.Type, decoded any) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == reflect.TypeFor[decimal.Decimal]() || typ == reflect.TypeFor[time.Time]():
		return
	case typ.Kind() == reflect.Struct:
		obj, ok := decoded.(map[string]any)
		require.True(t, ok, "%s: %T, want a JSON object", path, decoded)
		var want []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			require.False(t, f.Anonymous, "%s.%s: an embedded field: extend requireJSONKeys", path, f.Name)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			want = append(want, name)
			require.Contains(t, obj, name, "%s.%s: MarshalJSON leaves out %q", path, f.Name, name)
			requireJSONKeys(t, path+"."+f.Name, f.Type, obj[name])
		}
		got := make([]string, 0, len(obj))
		for k := range obj {
			got = append(got, k)
		}
		require.ElementsMatch(t, want, got, "%s: the JSON's keys", path)
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() != reflect.Uint8:
		arr, ok := decoded.([]any)
		require.True(t, ok, "%s: %T, want a JSON array", path, decoded)
		for i, e := range arr {
			requireJSONKeys(t, fmt.Sprintf("%s[%d]", path, i), typ.Elem(), e)
		}
	}
}

// BenchmarkReturnJSON: the JSON of a completed return with its breakdowns
// and audit trail, the form return.completed and GET /v1/returns/{id}
// carry; most of its fields are amounts. Encoded as the processors do
// (topics.NewEnvelope, mustJSON: github.com/segmentio/encoding/json).
func BenchmarkReturnJSON(b *testing.B) {
	r := completedRecord(b).Return
	var n int
	for b.Loop() {
		out, err := sjson.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes")
}

// A return's JSON names when its saga sent a request only once it did: a
// request never sent has no time, not year 1.
func TestReturnJSONLeavesOutTimesOfRequestsNeverSent(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		saga    Saga
		present []string
	}{
		{"no request sent", Saga{}, nil},
		{"a refund requested", Saga{RefundRequestID: "r:refund:1", RefundRequestedAt: at}, []string{"refund_requested_at"}},
		{"every request sent", Saga{RefundRequestedAt: at, RestockRequestedAt: at, LabelRequestedAt: at},
			[]string{"refund_requested_at", "restock_requested_at", "label_requested_at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := sjson.Marshal(Return{ID: "r", Currency: "USD", CreatedAt: at, UpdatedAt: at, Saga: tc.saga})
			require.NoError(t, err)
			var got struct {
				Saga map[string]any `json:"saga"`
			}
			require.NoError(t, json.Unmarshal(b, &got))
			for _, key := range []string{"refund_requested_at", "restock_requested_at", "label_requested_at"} {
				v, ok := got.Saga[key]
				require.Equal(t, slices.Contains(tc.present, key), ok, "%s in %s", key, b)
				if ok {
					require.Equal(t, at.Format(time.RFC3339), v)
				}
			}
			require.NotContains(t, string(b), "0001-01-01")
		})
	}
}
