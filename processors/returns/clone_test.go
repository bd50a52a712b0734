package returns

import (
	"reflect"
	"testing"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"
)

// fullReturn is a return with every slice, map and pointer field set, so
// that TestCloneSharesNothing covers them all.
func fullReturn(t *testing.T) *Return {
	t.Helper()
	r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
	at := tDelivered.Add(time.Hour)
	r.Images = []string{"https://img.example/1.jpg"}
	r.RefundOverride, r.RestockingFeeOverride, r.FinalRefundOverride = decP("1.00"), decP("2.00"), decP("3.00")
	if r.EstimatedRefund == nil {
		r.EstimatedRefund = &RefundBreakdown{Currency: "USD", Lines: []RefundLine{{LineItemID: "li_shirt", Quantity: 1}}}
	}
	r.ActualRefund = &RefundBreakdown{Currency: "USD", Lines: []RefundLine{{LineItemID: "li_shirt", Quantity: 2}}}
	r.ShippingLabel = &ShippingLabel{LabelID: "lbl", CreatedAt: at}
	r.ApprovedAt, r.ShippedAt, r.ReceivedAt, r.CompletedAt, r.RejectedAt, r.CancelledAt = &at, &at, &at, &at, &at, &at
	r.Saga.Notifications = append(r.Saga.Notifications, Notification{ID: "n1", Template: "t"})
	r.appendAudit(meta(at, staff, "md"), ActionResolve, r.Status, map[string]any{"notes": "x", "lines": []any{map[string]any{"q": 1}}})
	return r
}

// TestCloneSharesNothing: a clone shares no slice, map or pointer with the
// original (so an action on the clone never changes the stored return),
// and encodes to the same JSON. A new reference field on Return that the
// fixture does not set fails here, as a reminder to copy it in Clone.
func TestCloneSharesNothing(t *testing.T) {
	r := fullReturn(t)
	c := r.Clone()
	require.Equal(t, r, c)
	a, err := json.Marshal(r)
	require.NoError(t, err)
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, string(a), string(b))
	requireDisjoint(t, "Return", reflect.ValueOf(r).Elem(), reflect.ValueOf(c).Elem())

	t.Run("changing the clone leaves the original", func(t *testing.T) {
		before := r.Clone()
		c.Items[0].Receipts[0].Quantity = 99
		c.Audit[len(c.Audit)-1].Metadata = json.RawMessage(`{"notes":"y"}`)
		c.Audit[0].ActorID = "someone_else"
		*c.ApprovedAt = time.Time{}
		c.ActualRefund.Lines[0].Quantity = 7
		require.Equal(t, before, r)
	})
}

// requireDisjoint walks two values of the same type and fails when they
// share a slice's array, a map or a pointer, or when a reference field of
// the original is unset (so it would not be checked).
func requireDisjoint(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		if a.Type().Elem().PkgPath() == "time" && a.Type().Elem().Name() == "Location" {
			return // shared, immutable
		}
		require.False(t, a.IsNil(), "%s is nil in the fixture: set it", path)
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
		requireDisjoint(t, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Type() == reflect.TypeOf(json.RawMessage(nil)) {
			return // audit metadata: immutable bytes, shared on purpose
		}
		require.NotZero(t, a.Len(), "%s is empty in the fixture: set it", path)
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
		for i := 0; i < a.Len(); i++ {
			requireDisjoint(t, path+"[]", a.Index(i), b.Index(i))
		}
	case reflect.Map:
		require.NotZero(t, a.Len(), "%s is empty in the fixture: set it", path)
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
		for _, k := range a.MapKeys() {
			requireDisjoint(t, path+"."+k.String(), a.MapIndex(k), b.MapIndex(k))
		}
	case reflect.Interface:
		if !a.IsNil() {
			requireDisjoint(t, path, a.Elem(), b.Elem())
		}
	case reflect.Struct:
		if a.Type().PkgPath() == "github.com/shopspring/decimal" || a.Type().PkgPath() == "time" {
			return // immutable values
		}
		for i := 0; i < a.NumField(); i++ {
			if f := a.Type().Field(i); f.IsExported() {
				requireDisjoint(t, path+"."+f.Name, a.Field(i), b.Field(i))
			}
		}
	}
}

// BenchmarkClone measures the copy every action makes.
func BenchmarkClone(b *testing.B) {
	r := fullReturn(&testing.T{})
	for b.Loop() {
		_ = r.Clone()
	}
}

// BenchmarkCloneAppend measures what nearly every action does to a
// return's trail: the copy, then one entry appended.
func BenchmarkCloneAppend(b *testing.B) {
	r := completedRecord(b).Return
	m := meta(tDelivered.Add(99*time.Hour), system, "x")
	b.ReportAllocs()
	for b.Loop() {
		next := r.Clone()
		next.appendAudit(m, ActionNotified, next.Status, nil)
	}
}
