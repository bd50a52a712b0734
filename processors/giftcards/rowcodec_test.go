package giftcards

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// fullRow is a card row with every field of every type it holds set, and
// values that exercise the encoding: non-UTC offsets, a decimal with
// trailing zeros, IDs that are UUIDs, hex digests and neither.
func fullRow(t *testing.T) *CardState {
	t.Helper()
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	voided := at.Add(time.Hour).In(time.FixedZone("", -5*3600))
	uuid := "0194f6c2-7a3b-7c4d-8e5f-0123456789ab"
	digest := testKey("digest")
	c := &Card{
		Key: testKey("full-row"), Last4: "AB2C", Currency: "KWD",
		OriginalAmount: dec("100.000"), Balance: decimal.New(4250, -3), Status: StatusVoided,
		PurchaserID: "user_1", RecipientEmail: "a+b@example.com", Message: "Joyeux anniversaire <3 & \"merci\"",
		CreatedAt: at, ExpiresAt: at.AddDate(1, 0, 0), VoidedAt: &voided, VoidedBy: "admin-7", VoidReason: "fraud",
		Transactions: TxWindow{{ID: uuid, Type: TxRedemption, Amount: dec("-1.500"), BalanceBefore: dec("5.750"),
			BalanceAfter: dec("4.250"), OrderID: "order-9", ReferenceID: digest, CommandID: "cmd 1", At: at}},
		Checkpoint: &Checkpoint{Count: 12, Balance: dec("5.750")},
		Redemptions: []Redemption{{ID: digest, OrderID: "order-9", Amount: dec("1.500"), Refunded: dec("0.250"), HoldID: uuid,
			Refunds: []string{DeriveID("refund-1"), "refund 2"}}},
		Holds: []Hold{{ID: uuid, OrderID: "order-10", Amount: dec("2"), Captured: dec("1.5"), Status: HoldCaptured,
			RedemptionID: digest, At: at, ExpiresAt: at.Add(7 * 24 * time.Hour)}},
		Transfers: []Transfer{{ID: "tr-1", ToKey: testKey("to"), Amount: dec("3"), Status: TransferReversed,
			ToBalance: dec("0"), FromBalance: dec("2.75"),
			Error:  &topics.Error{Code: "currency_mismatch", Message: "no", Details: map[string]any{"currency": "EUR"}},
			Origin: Origin{CommandID: uuid, Type: TypeTransfer, Data: json.RawMessage(`{"to":"x"}`)}, At: at}},
		Credits: []string{"0194f6c2-7a3b-7c4d-8e5f-00000000000c"},
		Seq:     42,
	}
	st := &CardState{Card: c}
	st.Commands.Entries = []command.Entry{
		{ID: uuid, Digest: digest, Result: &topics.CommandResult{OK: true, Result: json.RawMessage(`{"balance":"4.25"}`), CompletedAt: at}},
		{ID: "cmd-2", Digest: digest, Result: &topics.CommandResult{CommandID: "cmd-2", EnvelopeID: uuid, Type: TypeRefund,
			Error: &topics.Error{Code: "refund_exceeds_redemption", Message: "too much"}, Replayed: true, Pending: true, CompletedAt: voided}},
		{ID: "cmd-3", Digest: digest, Result: &topics.CommandResult{CommandID: "another", Type: TypeVoid, OK: true, CompletedAt: at}},
		{ID: "cmd-4", Digest: digest},
	}
	return st
}

// requireEveryFieldSet fails when a field of v (or of a struct, pointer or
// slice element it holds) has its zero value: fullRow must set every field,
// so a field added to the row without being added to its encoding fails
// TestRowCodecRoundTrip.
func requireEveryFieldSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		require.False(t, v.IsNil(), "%s is nil", path)
		requireEveryFieldSet(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[decimal.Decimal]() || v.Type() == reflect.TypeFor[time.Time]() {
			require.False(t, v.IsZero(), "%s is zero", path)
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				requireEveryFieldSet(t, v.Field(i), path+"."+f.Name)
			}
		}
	case reflect.Slice:
		require.Positive(t, v.Len(), "%s is empty", path)
		if v.Type().Elem().Kind() != reflect.Uint8 {
			for i := range v.Len() {
				requireEveryFieldSet(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case reflect.Map, reflect.Interface:
		require.False(t, v.IsNil(), "%s is nil", path)
	default:
		require.False(t, v.IsZero(), "%s is zero", path)
	}
}

func TestRowCodecRoundTrip(t *testing.T) {
	st := fullRow(t)
	requireEveryFieldSet(t, reflect.ValueOf(st.Card), "Card")
	// Every remembered-result field is set by one entry or another.
	for _, f := range reflect.VisibleFields(reflect.TypeFor[topics.CommandResult]()) {
		if f.Name == "ReplyTopic" || f.Name == "ReplyKey" {
			continue // the delivery's address, not remembered: a replay takes the repeat's
		}
		set := false
		for _, e := range st.Commands.Entries {
			if e.Result != nil && !reflect.ValueOf(*e.Result).FieldByIndex(f.Index).IsZero() {
				set = true
			}
		}
		require.True(t, set, "no entry sets CommandResult.%s", f.Name)
	}

	raw, err := rowCodec{}.Encode(st)
	require.NoError(t, err)
	require.Equal(t, rowFormat, raw[0])
	v, err := rowCodec{}.Decode(raw)
	require.NoError(t, err)
	back := v.(*CardState)

	// Decimals keep coefficient and exponent, times their instant and
	// offset: the decoded row is the row.
	requireSameValue(t, reflect.ValueOf(st), reflect.ValueOf(back), "CardState")
	require.Equal(t, st.Card.CreatedAt, back.Card.CreatedAt, "a UTC time reads back identical")
	require.Equal(t, "cmd-2", back.Commands.Entries[1].Result.CommandID, "the entry's own ID, stored once")
	require.Empty(t, back.Commands.Entries[0].Result.CommandID)
	again, err := rowCodec{}.Encode(back)
	require.NoError(t, err)
	require.Equal(t, raw, again, "encoding is stable")
}

// requireSameValue compares two values field by field: decimals by value
// and exponent, times by instant and UTC offset, everything else exactly.
func requireSameValue(t *testing.T, want, got reflect.Value, path string) {
	t.Helper()
	require.Equal(t, want.Kind(), got.Kind(), path)
	switch want.Kind() {
	case reflect.Pointer, reflect.Interface:
		require.Equal(t, want.IsNil(), got.IsNil(), "%s: nil", path)
		if !want.IsNil() {
			requireSameValue(t, want.Elem(), got.Elem(), path)
		}
	case reflect.Struct:
		switch w := want.Interface().(type) {
		case decimal.Decimal:
			g := got.Interface().(decimal.Decimal)
			require.True(t, w.Equal(g) && w.Exponent() == g.Exponent(), "%s: %s (exp %d) != %s (exp %d)", path, w, w.Exponent(), g, g.Exponent())
			return
		case time.Time:
			g := got.Interface().(time.Time)
			_, wo := w.Zone()
			_, gotOff := g.Zone()
			require.True(t, w.Equal(g) && wo == gotOff, "%s: %s != %s", path, w, g)
			return
		}
		for i := range want.NumField() {
			if f := want.Type().Field(i); f.IsExported() {
				requireSameValue(t, want.Field(i), got.Field(i), path+"."+f.Name)
			}
		}
	case reflect.Slice:
		require.Equal(t, want.Len(), got.Len(), "%s: length", path)
		for i := range want.Len() {
			requireSameValue(t, want.Index(i), got.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		require.Equal(t, want.Interface(), got.Interface(), path)
	default:
		require.Equal(t, want.Interface(), got.Interface(), path)
	}
}

// A row earlier versions stored as JSON decodes to the same state as its
// binary form, and is rewritten in the binary form.
// TestRowCodecReadsFormat1Rows: rows written before the ledger entries
// took processors/command's form (format 0x01; testdata has fullRow as
// the version of 2026-12-01 09:00 wrote it) read back as they were, and
// are rewritten in the current form.
func TestRowCodecReadsFormat1Rows(t *testing.T) {
	hexRow, err := os.ReadFile("testdata/card-row-v1.hex")
	require.NoError(t, err)
	old, err := hex.DecodeString(strings.TrimSpace(string(hexRow)))
	require.NoError(t, err)
	require.Equal(t, rowFormatV1, old[0])
	v, err := rowCodec{}.Decode(old)
	require.NoError(t, err)
	requireSameValue(t, reflect.ValueOf(fullRow(t)), reflect.ValueOf(v), "CardState")

	now, err := rowCodec{}.Encode(v)
	require.NoError(t, err)
	require.Equal(t, rowFormat, now[0])
	again, err := rowCodec{}.Decode(now)
	require.NoError(t, err)
	requireSameValue(t, reflect.ValueOf(v), reflect.ValueOf(again), "CardState")
	for n := 1; n < len(old); n++ {
		_, err := rowCodec{}.Decode(old[:n])
		require.Error(t, err, "a 0x01 row truncated to %d of %d bytes", n, len(old))
	}
}

func TestRowCodecReadsJSONRows(t *testing.T) {
	c := newCard(t, "50.00", "USD")
	for range 3 {
		c, _ = redeem(t, c, "1.25")
	}
	st := &CardState{Card: c}
	st.Commands.Remember(&topics.Envelope{CommandID: "c1", Type: TypeRedeem, Data: json.RawMessage(`{}`)},
		&topics.CommandResult{OK: true, CompletedAt: t0}, 64)
	old, err := topics.JSONCodec[CardState]{}.Encode(st)
	require.NoError(t, err)
	require.Equal(t, byte('{'), old[0])

	fromJSON, err := rowCodec{}.Decode(old)
	require.NoError(t, err)
	bin, err := rowCodec{}.Encode(fromJSON)
	require.NoError(t, err)
	require.Less(t, len(bin), len(old)*2/3, "the binary row is smaller")
	fromBin, err := rowCodec{}.Decode(bin)
	require.NoError(t, err)
	requireSameValue(t, reflect.ValueOf(fromJSON), reflect.ValueOf(fromBin), "CardState")
	require.Equal(t, "46.25", fromBin.(*CardState).Card.Balance.StringFixed(2))
}

func TestRowCodecEdges(t *testing.T) {
	t.Run("a tombstone decodes to nil", func(t *testing.T) {
		v, err := rowCodec{}.Decode(nil)
		require.NoError(t, err)
		require.Nil(t, v)
	})
	t.Run("a state without a card", func(t *testing.T) {
		raw, err := rowCodec{}.Encode(CardState{})
		require.NoError(t, err)
		v, err := rowCodec{}.Decode(raw)
		require.NoError(t, err)
		require.Equal(t, &CardState{}, v)
	})
	t.Run("each encoded row owns its bytes, sized to fit", func(t *testing.T) {
		// the table's write buffer and cache keep what Encode returns
		// while the next rows are built in the same pooled buffer
		full, err := rowCodec{}.Encode(fullRow(t))
		require.NoError(t, err)
		kept := bytes.Clone(full)
		empty, err := rowCodec{}.Encode(CardState{})
		require.NoError(t, err)
		_, err = rowCodec{}.Encode(fullRow(t))
		require.NoError(t, err)
		require.Equal(t, kept, full)
		// no spare capacity beyond the allocator's size class (<= 1/8)
		require.LessOrEqual(t, cap(full), len(full)+len(full)/8, "%d bytes kept for a %d-byte row", cap(full), len(full))
		require.LessOrEqual(t, cap(empty), 8, "%d bytes kept for a %d-byte row", cap(empty), len(empty))
	})
	t.Run("another type is refused", func(t *testing.T) {
		_, err := rowCodec{}.Encode("card")
		require.ErrorContains(t, err, "cannot store string")
	})
	t.Run("every truncation of a row is an error, never a panic", func(t *testing.T) {
		raw, err := rowCodec{}.Encode(fullRow(t))
		require.NoError(t, err)
		for n := 1; n < len(raw); n++ {
			_, err := rowCodec{}.Decode(raw[:n])
			require.Error(t, err, "truncated to %d of %d bytes", n, len(raw))
		}
		_, err = rowCodec{}.Decode(append(raw, 0))
		require.ErrorContains(t, err, "after the last field")
	})
}

// The index tables' codecs: a fully populated value reads back exactly and
// re-encodes to the same bytes, a JSON value of an earlier version decodes
// to the same value, every truncation is an error, a tombstone is nil.
func TestIndexCodecs(t *testing.T) {
	uuid := "0194f6c2-7a3b-7c4d-8e5f-0123456789ab"
	total := usd("120.00")
	cases := []struct {
		name  string
		codec goka.Codec
		value any
	}{
		{"redemption entry", RedemptionIndexCodec(), &RedemptionEntry{RedemptionID: uuid, CardKey: testKey("c"), OrderID: "order-1", Amount: usd("12.50")}},
		{"order state", OrderIndexCodec(), &OrderState{
			OrderID: "order-1", Total: &total,
			Redemptions: []OrderRedemption{{RedemptionID: uuid, CardKey: testKey("c"), Amount: usd("12.50"), Requested: dec("2.50")}},
			Holds:       []OrderHold{{HoldID: uuid, CardKey: testKey("c"), Status: HoldReleased}},
			Refunds:     []string{"refund-1"},
			Open:        []OpenRefund{{RefundID: "refund-2", EventID: uuid, Amount: moneyIn("KWD", "1.125"), Requested: dec("0.500")}},
			Cancelled:   true,
			Seen:        []string{uuid, "event 2"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireEveryFieldSet(t, reflect.ValueOf(tc.value), "value")
			raw, err := tc.codec.Encode(tc.value)
			require.NoError(t, err)
			back, err := tc.codec.Decode(raw)
			require.NoError(t, err)
			requireSameValue(t, reflect.ValueOf(tc.value), reflect.ValueOf(back), "value")
			again, err := tc.codec.Encode(back)
			require.NoError(t, err)
			require.Equal(t, raw, again)

			old, err := json.Marshal(tc.value) // as earlier versions stored it
			require.NoError(t, err)
			fromJSON, err := tc.codec.Decode(old)
			require.NoError(t, err)
			require.Equal(t, jsonString(t, tc.value), jsonString(t, fromJSON))
			require.Less(t, len(raw), len(old))

			for n := 1; n < len(raw); n++ {
				_, err := tc.codec.Decode(raw[:n])
				require.Error(t, err, "truncated to %d of %d bytes", n, len(raw))
			}
			v, err := tc.codec.Decode(nil)
			require.NoError(t, err)
			require.Nil(t, v)
			_, err = tc.codec.Encode("x")
			require.Error(t, err)
		})
	}
}

func moneyIn(cur, amount string) topics.Money {
	return topics.Money{Amount: dec(amount), Currency: cur}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
