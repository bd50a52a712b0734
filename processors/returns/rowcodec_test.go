package returns

import (
	stdjson "encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// populatedRecord is a return record with every field of the return, its
// items, receipts, breakdowns, label, saga, notifications, audit entries
// and ledger results set to a non-zero value (requireEveryFieldSet checks
// it), so that a field the binary form forgets fails TestBinaryRecord.
func populatedRecord(t *testing.T) *ReturnRecord {
	t.Helper()
	r := fullReturn(t)
	at := time.Date(2026, 11, 9, 8, 7, 6, 123456789, time.UTC)
	r.Description = "too small"
	r.ShippingRule = ShippingRuleMerchantFault
	r.Shipping = dec("5.00")
	r.Payments = []Payment{{Method: "card", Amount: dec("598.84"), Reference: "pay_77"}, {Method: "gift_card", Amount: dec("0.01"), Reference: "gc_1"}}
	r.RefundMethod = RefundStoreCredit
	r.ApprovalNotes = "ok"
	r.ApprovedBy = "staff_7"
	r.RejectionReason, r.CancellationReason = "not ours", "changed my mind"
	r.AuditPublished = 3
	for i := range r.Items {
		it := &r.Items[i]
		it.SKU, it.QuantityPrior = "SKU-"+it.LineItemID, 1
		it.LineDiscount, it.LineTax = dec("-0.50"), dec("1.230")
		it.Receipts = append(it.Receipts, Receipt{Quantity: 1, ActualCondition: ActualDamaged, Notes: "dented", ReceivedBy: "wh_1", At: at})
		for j := range it.Receipts {
			it.Receipts[j].Notes += "box opened"
		}
	}
	for _, b := range []*RefundBreakdown{r.EstimatedRefund, r.ActualRefund} {
		b.ItemTotal, b.TaxRefund, b.ShippingRefund, b.RestockingFee = dec("35.98"), dec("3.04"), dec("5.00"), dec("3.60")
		b.Adjustment, b.TotalRefund = dec("-1.00"), dec("12345678901234567890.123456789")
		for i := range b.Lines {
			l := &b.Lines[i]
			l.ItemTotal, l.TaxRefund, l.RestockingFee, l.Adjustment, l.Total = dec("17.99"), dec("1.52"), dec("1.80"), dec("-0.5"), dec("17.21")
		}
	}
	r.ShippingLabel = &ShippingLabel{LabelID: "ret_1:label:1", URL: "https://labels.example/1Z.pdf", TrackingNumber: "1Z999",
		Carrier: "UPS", CreatedAt: at.In(time.FixedZone("", 3600))}
	r.Saga = Saga{CompleteCommandID: "01a22fd1-094b-7420-a6e9-d456c0e54c3a", RefundKey: "ret_1:refund", RefundAttempts: 2,
		RefundRequestID: "ret_1:refund:2", RefundRequestedAt: at, RefundTransactionID: "re_4c9c527541665c17", RefundError: "declined",
		Refunded: true, GiftCardLast4: "4242", ReplacementOrder: "order_2", RestockAttempts: 3, RestockRequestID: "ret_1:restock:3",
		RestockRequestedAt: at.Add(time.Second), RestockError: "down", Restocked: true, LabelRequestID: "ret_1:label:1",
		LabelRequests: 1, LabelRequestedAt: at.Add(-time.Hour), LabelAnswered: true, LabelTimedOut: true, LabelError: "saga timeout",
		Released: true, Notifications: []Notification{{ID: "ret_1:notify:1", Template: "return_approved", Attempts: 2, Status: "failed", Error: "smtp"}}}
	for i := range r.Audit {
		e := &r.Audit[i]
		if e.PreviousState == "" {
			e.PreviousState = StatePending
		}
		if e.CommandID == "" {
			e.CommandID = "01a22fd1-093b-7957-a8a1-9eda24279d16"
		}
		if len(e.Metadata) == 0 {
			e.Metadata = json.RawMessage(`{"k":"v"}`)
		}
	}
	rec := &ReturnRecord{Return: r}
	for i, id := range []string{"01a22fd1-0943-7161-8a28-65e298764bc6", "cmd-not-a-uuid"} {
		env, err := topics.NewEnvelope(TypeApprove, tDelivered, map[string]int{"n": i}, topics.WithCommandID(id))
		require.NoError(t, err)
		rec.Commands.Remember(env, &topics.CommandResult{CommandID: id, EnvelopeID: env.ID, Type: TypeApprove, OK: true,
			Result: json.RawMessage(`{"return_id":"ret_1","status":"approved"}`), Replayed: true, Pending: true,
			Error:       &topics.Error{Code: "invalid_state", Message: "no", Details: map[string]any{"allowed": []any{"pending"}, "n": 1.5}},
			CompletedAt: at.Add(time.Duration(i) * time.Minute)}, 0)
	}
	return rec
}

// TestBinaryRecord: the return table's binary form reads back exactly
// what was written (every field, decimals with their exponent, times with
// their nanoseconds and offset), records stored as JSON by earlier
// versions still decode through every reader, and bytes that are no record
// fail instead of decoding to something.
func TestBinaryRecord(t *testing.T) {
	t.Run("a fully populated record round-trips", func(t *testing.T) {
		rec := populatedRecord(t)
		requireEveryFieldSet(t, "ReturnRecord", reflect.ValueOf(rec).Elem())
		// a result whose command ID is not its entry's is kept too
		other := *rec.Commands.Entries[1].Result
		other.CommandID = "another-command"
		rec.Commands.Entries = append(rec.Commands.Entries, command.Entry{ID: "e3", Digest: "not hex", Result: &other},
			command.Entry{ID: "e4", Digest: "ab"})
		raw, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		require.Equal(t, byte(recordFormatBinary), raw[0])
		got, err := decodeReturnRecord(raw)
		require.NoError(t, err)
		requireSameRecord(t, rec, got)
		viewed, err := returnViewCodec{}.Decode(raw)
		require.NoError(t, err)
		requireSameRecord(t, rec, viewed.(*ReturnRecord))
		again, err := returnTableCodec{}.Encode(got)
		require.NoError(t, err)
		require.Equal(t, raw, again, "stable")
	})
	t.Run("a record without a return and an empty ledger", func(t *testing.T) {
		raw, err := returnTableCodec{}.Encode(&ReturnRecord{})
		require.NoError(t, err)
		got, err := decodeReturnRecord(raw)
		require.NoError(t, err)
		require.Equal(t, &ReturnRecord{}, got)
		lazy := &ReturnRecord{stored: raw}
		_, _, ok, err := lazy.outstanding()
		require.NoError(t, err)
		require.False(t, ok)
	})
	t.Run("much smaller than the JSON form", func(t *testing.T) {
		rec := completedRecord(t)
		raw, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		js, err := returnRecordCodec{}.Encode(rec)
		require.NoError(t, err)
		require.Less(t, len(raw), len(js)*2/3, "binary %d bytes, JSON %d", len(raw), len(js))
	})
	t.Run("a JSON record an earlier version stored decodes through every reader", func(t *testing.T) {
		// the completed record of a benchmark lifecycle, as the return
		// table stored it before the binary form (d83bbc1)
		old, err := os.ReadFile("testdata/return-record-json.json")
		require.NoError(t, err)
		v, err := returnRecordCodec{}.Decode(old)
		require.NoError(t, err)
		want := v.(*ReturnRecord)
		require.Equal(t, StateCompleted, want.Return.Status)
		require.Len(t, want.Return.Audit, 8)
		require.Len(t, want.Commands.Entries, 4)
		// the row's "audit_published": 7, which the return's JSON form
		// (an API answer) does not read: every reader keeps it
		require.Contains(t, string(old), `"audit_published":7`)
		require.Zero(t, want.Return.AuditPublished)
		want.Return.AuditPublished = 7

		got, err := decodeReturnRecord(old)
		require.NoError(t, err)
		requireSameRecord(t, want, got)
		viewed, err := returnViewCodec{}.Decode(old)
		require.NoError(t, err)
		requireSameRecord(t, want, viewed.(*ReturnRecord))
		stored, err := returnTableCodec{}.Decode(old)
		require.NoError(t, err)
		lazy := stored.(*ReturnRecord)
		_, _, ok, err := lazy.outstanding()
		require.NoError(t, err)
		require.False(t, ok, "completed: nothing outstanding")
		require.NoError(t, lazy.load())
		requireSameRecord(t, want, lazy)

		// the next write stores it in the binary form, with the same content
		raw, err := returnTableCodec{}.Encode(lazy)
		require.NoError(t, err)
		require.Equal(t, byte(recordFormatBinary), raw[0])
		back, err := decodeReturnRecord(raw)
		require.NoError(t, err)
		requireSameRecord(t, want, back)
		require.Less(t, len(raw), len(old)*3/5, "binary %d bytes, JSON %d", len(raw), len(old))
	})
	t.Run("an undecoded record is encoded from its content, not as empty", func(t *testing.T) {
		rec := completedRecord(t)
		raw, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		again, err := returnTableCodec{}.Encode(&ReturnRecord{stored: raw})
		require.NoError(t, err)
		require.Equal(t, raw, again)
	})
	t.Run("truncated or extended bytes fail", func(t *testing.T) {
		raw, err := returnTableCodec{}.Encode(populatedRecord(t))
		require.NoError(t, err)
		for n := 1; n < len(raw); n++ {
			_, err := decodeReturnRecord(raw[:n])
			require.Error(t, err, "truncated to %d of %d bytes", n, len(raw))
		}
		_, err = decodeReturnRecord(append(raw[:len(raw):len(raw)], 0))
		require.Error(t, err, "a trailing byte")
		lazy := &ReturnRecord{stored: []byte{recordFormatBinary, 1, 7}}
		_, _, _, err = lazy.outstanding()
		require.Error(t, err)
		require.Error(t, lazy.load())
	})
}

// notStored are the fields no row keeps: a result's reply address belongs
// to the delivery it answers (a replay takes the repeat's).
var notStored = map[string]bool{"CommandResult.ReplyTopic": true, "CommandResult.ReplyKey": true}

// requireEveryFieldSet fails for any exported field of v (recursively) that
// is the zero value or empty.
func requireEveryFieldSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		require.False(t, v.IsNil(), "%s is nil in the fixture: set it", path)
		requireEveryFieldSet(t, path, v.Elem())
	case reflect.Slice, reflect.Map:
		require.NotZero(t, v.Len(), "%s is empty in the fixture: set it", path)
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			for i := 0; i < v.Len(); i++ {
				requireEveryFieldSet(t, path+"[]", v.Index(i))
			}
		}
	case reflect.Struct:
		switch x := v.Interface().(type) {
		case decimal.Decimal:
			require.False(t, x.IsZero(), "%s is zero in the fixture: set it", path)
			return
		case time.Time:
			require.False(t, x.IsZero(), "%s is zero in the fixture: set it", path)
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() && !notStored[v.Type().Name()+"."+f.Name] {
				requireEveryFieldSet(t, path+"."+f.Name, v.Field(i))
			}
		}
	default:
		require.False(t, v.IsZero(), "%s is zero in the fixture: set it", path)
	}
}

// requireSameRecord fails unless got holds exactly what want holds:
// decimals equal with the same exponent, times equal with the same UTC
// offset, bytes equal, error details equal as JSON.
func requireSameRecord(t *testing.T, want, got *ReturnRecord) {
	t.Helper()
	require.Nil(t, got.stored)
	require.NoError(t, got.resolve(""), "the kept ledger results decode")
	requireSameValue(t, "ReturnRecord", reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem())
}

func requireSameValue(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		require.Equal(t, a.IsNil(), b.IsNil(), "%s: nil", path)
		if !a.IsNil() {
			requireSameValue(t, path, a.Elem(), b.Elem())
		}
	case reflect.Map:
		aj, err := json.Marshal(a.Interface())
		require.NoError(t, err)
		bj, err := json.Marshal(b.Interface())
		require.NoError(t, err)
		require.JSONEq(t, string(aj), string(bj), path)
	case reflect.Slice:
		require.Equal(t, a.Len(), b.Len(), "%s: length", path)
		if a.Type().Elem().Kind() == reflect.Uint8 {
			require.Equal(t, string(a.Bytes()), string(b.Bytes()), path)
			return
		}
		for i := 0; i < a.Len(); i++ {
			requireSameValue(t, path+"[]", a.Index(i), b.Index(i))
		}
	case reflect.Struct:
		switch x := a.Interface().(type) {
		case decimal.Decimal:
			y := b.Interface().(decimal.Decimal)
			require.True(t, x.Equal(y), "%s: %s, want %s", path, y, x)
			require.Equal(t, x.Exponent(), y.Exponent(), "%s: exponent of %s", path, x)
			return
		case time.Time:
			y := b.Interface().(time.Time)
			require.True(t, x.Equal(y), "%s: %s, want %s", path, y, x)
			_, xo := x.Zone()
			_, yo := y.Zone()
			require.Equal(t, xo, yo, "%s: UTC offset", path)
			return
		}
		for i := 0; i < a.NumField(); i++ {
			if f := a.Type().Field(i); f.IsExported() {
				requireSameValue(t, path+"."+f.Name, a.Field(i), b.Field(i))
			}
		}
	default:
		require.Equal(t, a.Interface(), b.Interface(), path)
	}
}

// TestBinaryRecordCorrupted: bytes changed at random never make the
// decoder panic, and whatever it accepts encodes and decodes again to the
// same record. (A deterministic stand-in for a fuzz target: this package's
// TestMain starts a broker, too slow for the fuzzer's workers.)
func TestBinaryRecordCorrupted(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, rec := range []*ReturnRecord{populatedRecord(t), completedRecord(t)} {
		raw, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		accepted := 0
		for range 5000 {
			data := slices.Clone(raw)
			for range 1 + rnd.IntN(4) {
				data[1+rnd.IntN(len(data)-1)] = byte(rnd.UintN(256))
			}
			got, err := decodeReturnRecord(data)
			if err != nil {
				continue
			}
			accepted++
			back, err := decodeReturnRecord(appendReturnRecord(nil, got))
			require.NoError(t, err)
			requireSameRecord(t, got, back)
		}
		t.Logf("%d of 5000 changed records decoded", accepted)
	}
}

// TestAuditPublishedInRows: Return.AuditPublished is the processor's
// bookkeeping, absent from the return's JSON form (the API's answer), yet
// every reader of a stored row keeps it: the binary row's and the count a
// JSON row of an earlier version carries ("audit_published").
func TestAuditPublishedInRows(t *testing.T) {
	legacy, err := os.ReadFile("testdata/return-record-json.json")
	require.NoError(t, err)
	require.Contains(t, string(legacy), `"audit_published":7`)
	r := completedRecord(t).Return
	r.AuditPublished = 5
	binary, err := EncodeTableRow(r)
	require.NoError(t, err)

	t.Run("the JSON form does not show it", func(t *testing.T) {
		for name, marshal := range map[string]func(any) ([]byte, error){"segmentio": json.Marshal, "encoding/json": stdjson.Marshal} {
			js, err := marshal(r)
			require.NoError(t, err, name)
			require.NotContains(t, string(js), "audit_published", name)
		}
	})
	readers := []struct {
		name string
		read func(t *testing.T, row []byte) *Return
	}{
		{name: "decodeReturnRecord", read: func(t *testing.T, row []byte) *Return {
			t.Helper()
			rec, err := decodeReturnRecord(row)
			require.NoError(t, err)
			return rec.Return
		}},
		{name: "the views' codec", read: func(t *testing.T, row []byte) *Return {
			t.Helper()
			v, err := returnViewCodec{}.Decode(row)
			require.NoError(t, err)
			return v.(*ReturnRecord).Return
		}},
		{name: "the table codec, loaded", read: func(t *testing.T, row []byte) *Return {
			t.Helper()
			v, err := returnTableCodec{}.Decode(row)
			require.NoError(t, err)
			rec := v.(*ReturnRecord)
			require.NoError(t, rec.load())
			return rec.Return
		}},
		{name: "DecodeTableRow (the sinks')", read: func(t *testing.T, row []byte) *Return {
			t.Helper()
			got, err := DecodeTableRow(row)
			require.NoError(t, err)
			return got
		}},
		{name: "written again in the binary form", read: func(t *testing.T, row []byte) *Return {
			t.Helper()
			v, err := returnTableCodec{}.Decode(row)
			require.NoError(t, err)
			again, err := returnTableCodec{}.Encode(v)
			require.NoError(t, err)
			got, err := DecodeTableRow(again)
			require.NoError(t, err)
			return got
		}},
	}
	rows := []struct {
		name string
		row  []byte
		want int
	}{
		{name: "JSON row of an earlier version", row: legacy, want: 7},
		{name: "binary row", row: binary, want: 5},
	}
	for _, row := range rows {
		for _, rd := range readers {
			t.Run(row.name+"/"+rd.name, func(t *testing.T) {
				got := rd.read(t, slices.Clone(row.row))
				require.NotNil(t, got)
				require.Equal(t, row.want, got.AuditPublished)
			})
		}
	}
}
