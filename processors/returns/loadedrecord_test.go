package returns

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// loaded is the record a handler reads from raw: undecoded, then loaded.
func loaded(t *testing.T, raw []byte) *ReturnRecord {
	t.Helper()
	v, err := returnTableCodec{}.Decode(raw)
	require.NoError(t, err)
	rec := v.(*ReturnRecord)
	require.NoError(t, rec.load())
	return rec
}

// TestLoadedRecord: a record loaded for a handler keeps its audit trail
// and its ledger results as the stored bytes (aliased, never written), decodes a
// result only when asked, and encodes exactly as the fully decoded record
// does, before and after an action.
func TestLoadedRecord(t *testing.T) {
	t.Run("results stay undecoded until resolved, then equal the decoded ones", func(t *testing.T) {
		raw, err := returnTableCodec{}.Encode(populatedRecord(t))
		require.NoError(t, err)
		want, err := decodeReturnRecord(raw)
		require.NoError(t, err)
		rec := loaded(t, raw)
		for i, e := range rec.Commands.Entries {
			require.Nil(t, e.Result, "entry %d", i)
			require.Empty(t, e.Digest, "entry %d", i)
			require.Equal(t, want.Commands.Entries[i].ID, e.ID)
		}
		require.NoError(t, rec.resolve(want.Commands.Entries[1].ID))
		require.Nil(t, rec.Commands.Entries[0].Result, "only the entry asked for")
		require.Empty(t, rec.Commands.Entries[0].Digest, "only the entry asked for")
		require.Equal(t, want.Commands.Entries[1].Result, rec.Commands.Entries[1].Result)
		require.Equal(t, want.Commands.Entries[1].Digest, rec.Commands.Entries[1].Digest)
		requireSameRecord(t, want, rec)
	})
	for name, rec := range map[string]*ReturnRecord{"populated": populatedRecord(t), "completed": completedRecord(t)} {
		t.Run(name+": unchanged, it encodes to the stored bytes", func(t *testing.T) {
			raw, err := returnTableCodec{}.Encode(rec)
			require.NoError(t, err)
			again, err := returnTableCodec{}.Encode(loaded(t, raw))
			require.NoError(t, err)
			require.Equal(t, raw, again)
		})
	}
	t.Run("after actions it encodes as the decoded record does", func(t *testing.T) {
		r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
		raw, err := returnTableCodec{}.Encode(recordOf(t, r, "c1", "c2"))
		require.NoError(t, err)
		full, err := decodeReturnRecord(raw)
		require.NoError(t, err)
		rec := loaded(t, raw)
		env, err := topics.NewEnvelope(TypeComplete, tDelivered, Complete{}, topics.WithCommandID("c3"))
		require.NoError(t, err)
		// a command remembered again replaces its entry (a saga's final
		// result replacing the pending one)
		again, err := topics.NewEnvelope(TypeApprove, tDelivered, map[string]string{"c": "c1"}, topics.WithCommandID("c1"))
		require.NoError(t, err)
		for _, x := range []*ReturnRecord{full, rec} {
			next, out, err := Apply(x.Return, Complete{}, meta(tDelivered.Add(80*time.Hour), staff, "c3"))
			require.NoError(t, err)
			x.Return = next
			res, err := topics.Succeeded(env, out.Result)
			require.NoError(t, err)
			x.Commands.Remember(env, res, 0)
			x.Commands.Remember(again, topics.Failed(again, ErrForbidden), 0)
		}
		want, err := returnTableCodec{}.Encode(full)
		require.NoError(t, err)
		got, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "the loaded record encodes as the decoded one")
		back, err := decodeReturnRecord(got)
		require.NoError(t, err)
		requireSameRecord(t, full, back)
		require.Equal(t, []string{"c2", "c3", "c1"}, ledgerIDs(back))
	})
	t.Run("a ledger trimmed to its size keeps the newest entries", func(t *testing.T) {
		raw, err := returnTableCodec{}.Encode(recordOf(t, received(t, ReasonDefective, RefundOriginalPayment, ActualSellable), "c1", "c2", "c3"))
		require.NoError(t, err)
		rec := loaded(t, raw)
		env, err := topics.NewEnvelope(TypeComplete, tDelivered, Complete{}, topics.WithCommandID("c4"))
		require.NoError(t, err)
		rec.Commands.Remember(env, topics.Failed(env, ErrForbidden), 2)
		got, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		back, err := decodeReturnRecord(got)
		require.NoError(t, err)
		require.Equal(t, []string{"c3", "c4"}, ledgerIDs(back))
		require.NotNil(t, back.Commands.Entries[0].Result)
		require.Equal(t, "c3", back.Commands.Entries[0].Result.CommandID)
	})
	t.Run("another return in the record is encoded from its fields", func(t *testing.T) {
		raw, err := returnTableCodec{}.Encode(completedRecord(t))
		require.NoError(t, err)
		rec := loaded(t, raw)
		other := populatedRecord(t)
		rec.Return = other.Return
		got, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		back, err := decodeReturnRecord(got)
		require.NoError(t, err)
		requireSameValue(t, "Return", reflect.ValueOf(other.Return).Elem(), reflect.ValueOf(back.Return).Elem())
	})
	t.Run("loading, changing and encoding a record never writes into the stored bytes", func(t *testing.T) {
		for name, rec := range map[string]*ReturnRecord{"populated": populatedRecord(t), "completed": completedRecord(t)} {
			raw, err := returnTableCodec{}.Encode(rec)
			require.NoError(t, err)
			before := bytes.Clone(raw)
			lr := loaded(t, raw)
			full, err := decodeReturnRecord(before)
			require.NoError(t, err)
			requireSameRecord(t, full, lr)

			// what a handler does: answer a repeat, change the return
			// (audit appended), remember a command, encode
			require.NoError(t, lr.resolve(""))
			for i := range lr.Return.Audit {
				lr.Return.Audit[i].Metadata = append(lr.Return.Audit[i].Metadata, ' ')
			}
			lr.Return = lr.Return.Clone()
			lr.Return.Audit = append(lr.Return.Audit, AuditEntry{Seq: len(lr.Return.Audit) + 1, Action: ActionSagaTimeout,
				ActorID: "returns-saga", ActorType: topics.ActorSystem, PreviousState: lr.Return.Status, NewState: lr.Return.Status,
				Metadata: []byte(`{"note":"x"}`), At: tDelivered})
			env, err := topics.NewEnvelope(TypeComplete, tDelivered, Complete{}, topics.WithCommandID("c-new"))
			require.NoError(t, err)
			lr.Commands.Remember(env, topics.Failed(env, ErrForbidden), 0)
			_, err = returnTableCodec{}.Encode(lr)
			require.NoError(t, err)
			require.Equal(t, before, raw, "%s: the stored bytes are as stored", name)
		}
	})
	t.Run("a replayed command is answered from the kept result", func(t *testing.T) {
		r := received(t, ReasonDefective, RefundOriginalPayment, ActualSellable)
		rec := &ReturnRecord{Return: r}
		env, err := topics.NewEnvelope(TypeComplete, tDelivered, Complete{}, topics.WithCommandID("c1"))
		require.NoError(t, err)
		first := topics.Failed(env, ErrForbidden.Withf("no"))
		rec.Commands.Remember(env, first, 0)
		raw, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)

		lr := loaded(t, raw)
		require.NoError(t, lr.resolve(env.CommandID))
		prev, err := lr.Commands.Check(env)
		require.NoError(t, err)
		require.True(t, prev.Replayed)
		require.Equal(t, first.Error, prev.Error)
		changed, err := topics.NewEnvelope(TypeComplete, tDelivered, map[string]int{"x": 1}, topics.WithCommandID("c1"))
		require.NoError(t, err)
		lr = loaded(t, raw)
		require.NoError(t, lr.resolve(changed.CommandID))
		_, err = lr.Commands.Check(changed)
		require.ErrorIs(t, err, topics.ErrIdempotencyConflict)
	})
}

// TestLoadedRecordCorrupted: changed bytes never make loading panic; what
// loading accepts, decoding in full accepts too unless a kept result is
// broken (resolving it fails then), and it encodes to what decodes as the
// full decode did.
func TestLoadedRecordCorrupted(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, rec := range []*ReturnRecord{populatedRecord(t), completedRecord(t)} {
		raw, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		for range 3000 {
			bad := append([]byte(nil), raw...)
			for range 1 + rnd.IntN(3) {
				bad[1+rnd.IntN(len(bad)-1)] = byte(rnd.Uint32())
			}
			full, errFull := decodeReturnRecord(bad)
			lr, errLoad := loadReturnRecord(bad)
			if errLoad != nil {
				require.Error(t, errFull, "loading failed where decoding did not")
				continue
			}
			if errFull != nil {
				require.Error(t, lr.resolve(""), "loading accepted what decoding refused: a kept result is broken")
				continue
			}
			require.NoError(t, lr.resolve(""))
			requireSameRecord(t, full, lr)
			enc, err := returnTableCodec{}.Encode(lr)
			require.NoError(t, err)
			back, err := decodeReturnRecord(enc)
			require.NoError(t, err)
			requireSameRecord(t, full, back)
		}
	}
}

// BenchmarkTableLoadEncode: what the return processor does to its record
// on every message, loading the stored bytes and encoding the record back.
func BenchmarkTableLoadEncode(b *testing.B) {
	raw, err := returnTableCodec{}.Encode(completedRecord(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := &ReturnRecord{stored: raw}
		if err := rec.load(); err != nil {
			b.Fatal(err)
		}
		if _, err := (returnTableCodec{}).Encode(rec); err != nil {
			b.Fatal(err)
		}
	}
}
