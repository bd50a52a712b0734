package command

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/state/binrow"
	"github.com/shopstream/streams/topics"
)

func TestEntryCodecRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 15, 0, 123000000, time.UTC)
	const id = "0194f6c2-7a3b-7c4d-8e5f-0123456789ab"
	digest := Digest(&topics.Envelope{Type: "t", Data: json.RawMessage(`{}`)})
	tests := []struct {
		name string
		e    Entry
	}{
		{"no result", Entry{ID: id, Digest: digest}},
		{"ok", Entry{ID: id, Digest: digest, Result: &topics.CommandResult{CommandID: id, EnvelopeID: "env-1",
			Type: "gift_card.redeem", OK: true, Result: json.RawMessage(`{"remaining":"5.00"}`), CompletedAt: at}}},
		{"replayed and pending", Entry{ID: "cmd-1", Digest: digest, Result: &topics.CommandResult{CommandID: "cmd-1",
			EnvelopeID: id, Type: "return.complete", OK: true, Replayed: true, Pending: true, CompletedAt: at}}},
		{"error with details", Entry{ID: id, Digest: digest, Result: &topics.CommandResult{CommandID: id, EnvelopeID: "e",
			Type: "gift_card.redeem", Error: &topics.Error{Code: "insufficient_balance", Message: "not enough",
				Details: map[string]any{"available": "1.00", "n": float64(2)}}, CompletedAt: at}}},
		{"error without details", Entry{ID: id, Digest: digest, Result: &topics.CommandResult{CommandID: id,
			Type: "x", Error: &topics.Error{Code: "invalid_state", Message: "no"}, CompletedAt: at}}},
		{"result of another command ID", Entry{ID: "cmd-2", Digest: "", Result: &topics.CommandResult{CommandID: "other",
			EnvelopeID: "e", Type: "x", OK: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendEntry(nil, &tc.e)
			rd := binrow.NewReader(b)
			var got Entry
			ReadEntry(rd, &got, "gift_card.redeem")
			require.NoError(t, rd.Done())
			require.Equal(t, tc.e, got)

			// Skipping ends where reading does.
			rd = binrow.NewReader(append(b, 0x2a))
			require.Equal(t, tc.e.ID, rd.ID())
			rd.SkipID()
			SkipEntryResult(rd)
			require.Equal(t, byte(0x2a), rd.Byte())
			require.NoError(t, rd.Done())

			// The result's bytes are the entry's own, not the row's.
			if got.Result != nil && len(got.Result.Result) > 0 {
				clear(b)
				require.Equal(t, tc.e.Result.Result, got.Result.Result)
			}
		})
	}
}

func TestReadEntryReusesNothingOfTheTarget(t *testing.T) {
	e := Entry{ID: "a", Result: &topics.CommandResult{CommandID: "a", OK: true}}
	rd := binrow.NewReader(AppendEntry(nil, &Entry{ID: "b", Digest: "00"}))
	ReadEntry(rd, &e)
	require.NoError(t, rd.Done())
	require.Equal(t, Entry{ID: "b", Digest: "00"}, e, "a read without result clears the old one")
}

func TestReadEntryCorrupt(t *testing.T) {
	full := AppendEntry(nil, &Entry{ID: "c", Digest: "ab", Result: &topics.CommandResult{CommandID: "c", Type: "t",
		Error: &topics.Error{Code: "x", Message: "y", Details: map[string]any{"k": "v"}}}})
	for n := range len(full) {
		rd := binrow.NewReader(full[:n])
		var e Entry
		ReadEntry(rd, &e)
		require.Error(t, rd.Done(), "truncated at %d", n)
		rd = binrow.NewReader(full[:n])
		rd.SkipID()
		rd.SkipID()
		SkipEntryResult(rd)
		require.Error(t, rd.Done(), "skipping, truncated at %d", n)
	}
	bad := AppendEntry(nil, &Entry{ID: "c", Result: &topics.CommandResult{CommandID: "c",
		Error: &topics.Error{Code: "x", Details: map[string]any{"k": "v"}}}})
	// Replace the details' JSON with bytes of its length that are not JSON.
	i := bytes.Index(bad, []byte(`{"k":"v"}`))
	require.Positive(t, i)
	copy(bad[i:], "{{{{{{{{{")
	rd := binrow.NewReader(bad)
	var e Entry
	ReadEntry(rd, &e)
	require.ErrorContains(t, rd.Err(), "error details")
}
