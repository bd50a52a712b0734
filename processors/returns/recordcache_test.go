package returns

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func recordOf(t *testing.T, r *Return, commands ...string) *ReturnRecord {
	t.Helper()
	rec := &ReturnRecord{Return: r}
	for _, id := range commands {
		env, err := topics.NewEnvelope(TypeApprove, tDelivered, map[string]string{"x": id}, topics.WithCommandID(id))
		require.NoError(t, err)
		rec.Commands.Remember(env, &topics.CommandResult{CommandID: id, Type: TypeApprove, OK: true}, 0)
	}
	return rec
}

// TestRecordCache: the return table codec answers what plain decoding
// would, shares nothing a handler changes, and keeps a bounded number of
// records.
func TestRecordCache(t *testing.T) {
	plain := returnRecordCodec{}
	t.Run("decoding what it encoded answers the record without parsing, equal to a plain decode", func(t *testing.T) {
		c := newReturnTableCodec(4)
		rec := recordOf(t, received(t, ReasonDefective, RefundOriginalPayment, ActualSellable), "c1", "c2")
		b, err := c.Encode(rec)
		require.NoError(t, err)
		got, err := c.Decode(b)
		require.NoError(t, err)
		require.Same(t, rec.Return, got.(*ReturnRecord).Return, "answered from the cache")
		want, err := plain.Decode(b)
		require.NoError(t, err)
		again, err := plain.Encode(got)
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(again))
		require.Equal(t, want.(*ReturnRecord).Commands, got.(*ReturnRecord).Commands)
	})
	t.Run("changes to a decoded record do not reach the cache", func(t *testing.T) {
		c := newReturnTableCodec(4)
		rec := recordOf(t, received(t, ReasonDefective, RefundOriginalPayment, ActualSellable), "c1", "c2", "c3")
		b, err := c.Encode(rec)
		require.NoError(t, err)
		rec.Commands.Entries[0].ID = "changed after encoding"
		first, err := c.Decode(b)
		require.NoError(t, err)
		r1 := first.(*ReturnRecord)
		require.Equal(t, "c1", r1.Commands.Entries[0].ID)
		// what a handler does: ledger changes in place, Return replaced
		env, err := topics.NewEnvelope(TypeApprove, tDelivered, map[string]string{"x": "c2"}, topics.WithCommandID("c2"))
		require.NoError(t, err)
		r1.Commands.Remember(env, &topics.CommandResult{CommandID: "c2", Type: TypeApprove}, 0)
		r1.Commands.Entries[0].Result = nil
		r1.Return = nil
		second, err := c.Decode(b)
		require.NoError(t, err)
		r2 := second.(*ReturnRecord)
		require.NotNil(t, r2.Return)
		require.Equal(t, []string{"c1", "c2", "c3"}, ledgerIDs(r2))
		require.NotNil(t, r2.Commands.Entries[0].Result)
	})
	t.Run("other bytes are decoded", func(t *testing.T) {
		c := newReturnTableCodec(4)
		r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
		b, err := c.Encode(recordOf(t, r))
		require.NoError(t, err)
		older, err := plain.Encode(recordOf(t, r, "c1"))
		require.NoError(t, err)
		got, err := c.Decode(older)
		require.NoError(t, err)
		require.NotSame(t, r, got.(*ReturnRecord).Return)
		require.Equal(t, []string{"c1"}, ledgerIDs(got.(*ReturnRecord)))
		got, err = c.Decode(b)
		require.NoError(t, err)
		require.Same(t, r, got.(*ReturnRecord).Return)
		got, err = c.Decode(nil)
		require.NoError(t, err)
		require.Nil(t, got, "a tombstone")
	})
	t.Run("bounded: the oldest encodings are forgotten first", func(t *testing.T) {
		c := newReturnTableCodec(3)
		base := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
		var raws [][]byte
		var recs []*ReturnRecord
		for i := range 5 {
			r := base.Clone()
			r.Description = string(rune('a' + i))
			rec := recordOf(t, r)
			b, err := c.Encode(rec)
			require.NoError(t, err)
			raws, recs = append(raws, b), append(recs, rec)
		}
		require.Equal(t, 3, c.cache.len())
		for i, b := range raws {
			got, err := c.Decode(b)
			require.NoError(t, err)
			if i < 2 {
				require.NotSame(t, recs[i].Return, got.(*ReturnRecord).Return, "record %d was forgotten", i)
			} else {
				require.Same(t, recs[i].Return, got.(*ReturnRecord).Return, "record %d is kept", i)
			}
			require.Equal(t, string(rune('a'+i)), got.(*ReturnRecord).Return.Description)
		}
		// the same bytes encoded again are kept once, and not evicted by
		// their own earlier slot
		for range 3 {
			_, err := c.Encode(recs[4])
			require.NoError(t, err)
		}
		require.Equal(t, 1, c.cache.len())
		got, err := c.Decode(raws[4])
		require.NoError(t, err)
		require.Same(t, recs[4].Return, got.(*ReturnRecord).Return)
	})
	t.Run("size 0 turns it off", func(t *testing.T) {
		c := newReturnTableCodec(0)
		rec := recordOf(t, received(t, ReasonDefective, RefundOriginalPayment, ActualSellable))
		b, err := c.Encode(rec)
		require.NoError(t, err)
		got, err := c.Decode(b)
		require.NoError(t, err)
		require.NotSame(t, rec.Return, got.(*ReturnRecord).Return)
	})
}

func ledgerIDs(rec *ReturnRecord) []string {
	var ids []string
	for _, e := range rec.Commands.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}
