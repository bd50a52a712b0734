package returns

import (
	"testing"
	"time"

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

// TestReturnTableCodec: the return table codec hands goka the bytes
// undecoded, and they decode to what it encoded, whichever form wrote them.
func TestReturnTableCodec(t *testing.T) {
	c := returnTableCodec{}
	t.Run("what it encoded decodes when read, equal to a plain decode", func(t *testing.T) {
		rec := recordOf(t, received(t, ReasonDefective, RefundOriginalPayment, ActualSellable), "c1", "c2")
		b, err := c.Encode(rec)
		require.NoError(t, err)
		got, err := c.Decode(b)
		require.NoError(t, err)
		lazy := got.(*ReturnRecord)
		require.Nil(t, lazy.Return, "decoded when a handler reads it")
		require.NoError(t, lazy.load())
		want, err := decodeReturnRecord(b)
		require.NoError(t, err)
		requireSameRecord(t, want, lazy)
		require.Equal(t, []string{"c1", "c2"}, ledgerIDs(lazy))
	})
	t.Run("a loaded record's own fields do not share the stored bytes", func(t *testing.T) {
		// what it keeps of its stored form aliases them, never written
		// (TestLoadedRecord); its decoded fields are its own
		r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
		b, err := c.Encode(recordOf(t, r, "c1"))
		require.NoError(t, err)
		got, err := c.Decode(b)
		require.NoError(t, err)
		lazy := got.(*ReturnRecord)
		require.NoError(t, lazy.load())
		clear(b)
		require.Equal(t, []string{"c1"}, ledgerIDs(lazy))
		require.Equal(t, r.ID, lazy.Return.ID)
		require.Equal(t, r.Items[0].LineItemID, lazy.Return.Items[0].LineItemID)
		require.Equal(t, r.Status, lazy.Return.Status)
	})
	t.Run("JSON bytes of earlier versions", func(t *testing.T) {
		r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
		older, err := returnRecordCodec{}.Encode(recordOf(t, r, "c1"))
		require.NoError(t, err)
		got, err := c.Decode(older)
		require.NoError(t, err)
		lazy := got.(*ReturnRecord)
		require.NoError(t, lazy.load())
		require.Equal(t, r.ID, lazy.Return.ID)
		require.Equal(t, []string{"c1"}, ledgerIDs(lazy))
	})
	t.Run("a tombstone", func(t *testing.T) {
		got, err := c.Decode(nil)
		require.NoError(t, err)
		require.Nil(t, got)
	})
}

// TestUndecodedRecord: a record the table codec did not decode answers the
// saga's outstanding request from its status and saga alone, exactly as
// the decoded return does, and decodes in full on load.
func TestUndecodedRecord(t *testing.T) {
	r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
	refunding, out := apply(t, r, Complete{}, staff)
	restocking, _ := apply(t, refunding, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system)
	_, approved := newReturn(t, ReasonDefective)
	approved, _ = apply(t, approved, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7"}, staff)
	cases := map[string]*Return{"received": r, "refunding": refunding, "restocking": restocking, "approved, label requested": approved,
		"completed": completedRecord(t).Return}
	for name, ret := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := returnTableCodec{}.Encode(recordOf(t, ret, "c1"))
			require.NoError(t, err)
			got, err := returnTableCodec{}.Decode(raw)
			require.NoError(t, err)
			lazy := got.(*ReturnRecord)
			require.NotNil(t, lazy.stored)
			wantID, wantAt, wantOK := ret.Outstanding()
			id, at, ok, err := lazy.outstanding()
			require.NoError(t, err)
			require.Equal(t, wantOK, ok)
			require.Equal(t, wantID, id)
			require.True(t, wantAt.Equal(at), "%v, want %v", at, wantAt)
			require.NoError(t, lazy.load())
			require.Nil(t, lazy.stored)
			require.Equal(t, ret.Status, lazy.Return.Status)
			require.Equal(t, []string{"c1"}, ledgerIDs(lazy))
			id, _, ok, err = lazy.outstanding()
			require.NoError(t, err)
			require.Equal(t, wantOK, ok)
			require.Equal(t, wantID, id)
		})
	}
	require.True(t, func() bool { _, _, ok := refunding.Outstanding(); return ok }(), "the cases include outstanding requests")
	t.Run("bytes that are no record fail when read, as decoding them did", func(t *testing.T) {
		got, err := returnTableCodec{}.Decode([]byte(`{"return":{"status":`))
		require.NoError(t, err)
		lazy := got.(*ReturnRecord)
		_, _, _, err = lazy.outstanding()
		require.Error(t, err)
		require.Error(t, lazy.load())
	})
}

func ledgerIDs(rec *ReturnRecord) []string {
	var ids []string
	for _, e := range rec.Commands.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}

// completedRecord is a return taken through a whole lifecycle (approve,
// receive, complete, refund, restock, both notifications) with a ledger of
// its four commands, as the return table holds it at the end.
func completedRecord(tb testing.TB) *ReturnRecord {
	_, r := newReturn(tb, ReasonNoLongerNeeded)
	rec := &ReturnRecord{}
	step := func(c Command, a topics.Actor, cmd string) Outcome {
		next, out, err := Apply(r, c, meta(tDelivered.Add(72*time.Hour), a, cmd))
		if err != nil {
			tb.Fatal(err)
		}
		r = next
		if cmd != "" {
			env, err := topics.NewEnvelope(TypeApprove, tDelivered, c, topics.WithCommandID(cmd))
			if err != nil {
				tb.Fatal(err)
			}
			res, err := topics.Succeeded(env, out.Result)
			if err != nil {
				tb.Fatal(err)
			}
			rec.Commands.Remember(env, res, 0)
		}
		return out
	}
	out := step(Approve{RefundMethod: RefundOriginalPayment, ApproverID: "staff_7"}, staff, "cmd-approve")
	notified := requestOf(tb, out, ServiceNotifications).ID
	step(ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 2, ActualCondition: ActualSellable}}, ReceiverID: "wh_1"}, staff, "cmd-receive")
	out = step(Complete{}, staff, "cmd-complete")
	step(NotificationResult{Reply{RequestID: notified, OK: true}}, system, "")
	out = step(RefundResult{Reply{RequestID: requestOf(tb, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system, "")
	out = step(RestockResult{Reply{RequestID: requestOf(tb, out, ServiceInventory).ID, OK: true}}, system, "")
	step(NotificationResult{Reply{RequestID: requestOf(tb, out, ServiceNotifications).ID, OK: true}}, system, "")
	rec.Return = r
	return rec
}

// BenchmarkTableEncode: encoding a completed return's record, what the
// return processor does on every message, in the binary form it stores
// and, for comparison, the JSON form earlier versions stored.
func BenchmarkTableEncode(b *testing.B) {
	for _, form := range []struct {
		name  string
		codec interface{ Encode(any) ([]byte, error) }
	}{{"binary", returnTableCodec{}}, {"json", returnRecordCodec{}}} {
		b.Run(form.name, func(b *testing.B) {
			rec := completedRecord(b)
			var n int
			for b.Loop() {
				raw, err := form.codec.Encode(rec)
				if err != nil {
					b.Fatal(err)
				}
				n = len(raw)
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}

// BenchmarkTableDecode: decoding a completed return's record in full (a
// record the codec did not write itself), binary and JSON.
func BenchmarkTableDecode(b *testing.B) {
	rec := completedRecord(b)
	for _, form := range []struct {
		name  string
		codec interface{ Encode(any) ([]byte, error) }
	}{{"binary", returnTableCodec{}}, {"json", returnRecordCodec{}}} {
		b.Run(form.name, func(b *testing.B) {
			raw, err := form.codec.Encode(rec)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := decodeReturnRecord(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
