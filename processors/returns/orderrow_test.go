package returns

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// populatedOrderRecord is an order record with every field set (the
// ledger of populatedRecord: results with errors and details).
func populatedOrderRecord(t *testing.T) *OrderRecord {
	t.Helper()
	s := orderState(t)
	s.Order.DeliveredAt = new(time.Time)
	*s.Order.DeliveredAt = tDelivered.In(time.FixedZone("", -5*3600))
	for i := range s.Order.LineItems {
		l := &s.Order.LineItems[i]
		l.FinalSale = true
		if l.SKU == "" {
			l.SKU = "SKU-" + l.LineItemID
		}
		if l.Discount.IsZero() {
			l.Discount = dec("0.10")
		}
		if l.Tax.IsZero() {
			l.Tax = dec("0.010")
		}
	}
	s.Claims = map[string]map[string]int{"ret_2": {"li_shirt": 1, "li_phone": 1}, "ret_1": {"li_shirt": 1}}
	s.ShippingClaimedBy = "ret_1"
	rec := &OrderRecord{OrderState: *s, Commands: populatedRecord(t).Commands,
		Events: []string{"01a22fd1-0943-7161-8a28-65e298764bc6", "event-not-a-uuid"}}
	requireEveryFieldSet(t, "OrderRecord", reflect.ValueOf(rec).Elem())
	return rec
}

func requireSameOrderRecord(t *testing.T, want, got *OrderRecord) {
	t.Helper()
	requireSameValue(t, "OrderRecord", reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem())
	wj, err := orderRecordCodec{}.Encode(want)
	require.NoError(t, err)
	gj, err := orderRecordCodec{}.Encode(got)
	require.NoError(t, err)
	require.JSONEq(t, string(wj), string(gj), "the JSON forms")
}

// TestBinaryOrderRecord: the order table's binary form reads back exactly
// what was written, nil and empty lists and maps apart as the JSON form
// kept them; records stored as JSON by earlier versions still decode (and
// are written back in the binary form); bytes that are no record fail.
func TestBinaryOrderRecord(t *testing.T) {
	c := orderTableCodec{}
	t.Run("a fully populated record round-trips", func(t *testing.T) {
		rec := populatedOrderRecord(t)
		raw, err := c.Encode(rec)
		require.NoError(t, err)
		require.Equal(t, byte(orderFormatBinary), raw[0])
		got, err := c.Decode(raw)
		require.NoError(t, err)
		requireSameOrderRecord(t, rec, got.(*OrderRecord))
		again, err := c.Encode(got)
		require.NoError(t, err)
		require.Equal(t, raw, again, "stable (claims in key order)")
		js, err := orderRecordCodec{}.Encode(rec)
		require.NoError(t, err)
		require.Less(t, len(raw), len(js)*2/3, "binary %d bytes, JSON %d", len(raw), len(js))
	})
	cases := map[string]*OrderRecord{
		"empty":                      {},
		"order without lists":        {OrderState: OrderState{Order: &Order{OrderID: "o"}}},
		"order with empty lists":     {OrderState: OrderState{Order: &Order{OrderID: "o", LineItems: []LineItem{}, Payments: []Payment{}}}},
		"delivered before completed": {OrderState: OrderState{DeliveredAt: &tDelivered}},
		"claims with a nil and an empty map": {OrderState: OrderState{Order: &Order{OrderID: "o"},
			Claims: map[string]map[string]int{"ret_1": nil, "ret_2": {}}}},
	}
	for name, rec := range cases {
		t.Run(name+" round-trips as the JSON form does", func(t *testing.T) {
			raw, err := c.Encode(rec)
			require.NoError(t, err)
			got, err := c.Decode(raw)
			require.NoError(t, err)
			requireSameOrderRecord(t, rec, got.(*OrderRecord))
			js, err := orderRecordCodec{}.Encode(rec)
			require.NoError(t, err)
			viaJSON, err := orderRecordCodec{}.Decode(js)
			require.NoError(t, err)
			requireSameOrderRecord(t, viaJSON.(*OrderRecord), got.(*OrderRecord))
		})
	}
	t.Run("a JSON record an earlier version stored decodes, and is written back binary", func(t *testing.T) {
		rec := populatedOrderRecord(t)
		old, err := orderRecordCodec{}.Encode(rec)
		require.NoError(t, err)
		require.Equal(t, byte('{'), old[0])
		// what the JSON form kept (decimals lose trailing zeros there)
		want, err := orderRecordCodec{}.Decode(old)
		require.NoError(t, err)
		got, err := c.Decode(old)
		require.NoError(t, err)
		requireSameOrderRecord(t, want.(*OrderRecord), got.(*OrderRecord))
		raw, err := c.Encode(got)
		require.NoError(t, err)
		require.Equal(t, byte(orderFormatBinary), raw[0])
		back, err := c.Decode(raw)
		require.NoError(t, err)
		requireSameOrderRecord(t, want.(*OrderRecord), back.(*OrderRecord))
	})
	t.Run("a tombstone", func(t *testing.T) {
		got, err := c.Decode(nil)
		require.NoError(t, err)
		require.Nil(t, got)
	})
	t.Run("a decoded record does not share the stored bytes", func(t *testing.T) {
		rec := populatedOrderRecord(t)
		raw, err := c.Encode(rec)
		require.NoError(t, err)
		got, err := c.Decode(raw)
		require.NoError(t, err)
		clear(raw)
		requireSameOrderRecord(t, rec, got.(*OrderRecord))
	})
	t.Run("truncated, extended or changed bytes fail or decode to what encodes again", func(t *testing.T) {
		raw, err := c.Encode(populatedOrderRecord(t))
		require.NoError(t, err)
		for n := 1; n < len(raw); n++ {
			_, err := decodeOrderRecord(raw[:n])
			require.Error(t, err, "truncated to %d of %d bytes", n, len(raw))
		}
		_, err = decodeOrderRecord(append(raw[:len(raw):len(raw)], 0))
		require.Error(t, err, "a trailing byte")
		rnd := rand.New(rand.NewPCG(5, 6))
		for range 3000 {
			bad := append([]byte(nil), raw...)
			for range 1 + rnd.IntN(3) {
				bad[1+rnd.IntN(len(bad)-1)] = byte(rnd.Uint32())
			}
			got, err := decodeOrderRecord(bad)
			if err != nil {
				continue
			}
			enc, err := c.Encode(got)
			require.NoError(t, err)
			back, err := decodeOrderRecord(enc)
			require.NoError(t, err)
			// field by field only: changed bytes make strings that are
			// not UTF-8, which the JSON form does not keep
			requireSameValue(t, "OrderRecord", reflect.ValueOf(got).Elem(), reflect.ValueOf(back).Elem())
		}
	})
}
