package recommendations

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

func fullUserRow(t *testing.T) *UserRow {
	t.Helper()
	p := Profile{UserID: "u1", Version: 7, Interactions: 9, LastAt: t0.Add(time.Hour),
		History: []HistoryEntry{{EventID: "e1", ProductID: "p1", Type: View, At: t0},
			{EventID: "e2", ProductID: "ünïcode", Type: Purchase, At: t0.Add(time.Minute)},
			{EventID: "e3", ProductID: "p3", Type: "legacy_type", At: t0.Add(2 * time.Minute)}},
		Affinity:  map[string]Affinity{"p1": {Score: 1.5, At: t0, Count: 2}, "ünïcode": {Score: 5, At: t0.Add(time.Minute), Count: 1}},
		Purchased: map[string]time.Time{"ünïcode": t0.Add(time.Minute)},
		Seen:      []string{"e1", "e2", "e3"},
		Cache: map[string]CachedList{CacheKey(Hybrid, true): {RecommendationID: "r1", Version: 7, Strategy: Hybrid,
			ExcludePurchased: true, GeneratedAt: t0, ExpiresAt: t0.Add(time.Hour),
			Results: []Result{{ProductID: "p9", Score: decimal.RequireFromString("0.5"), Reason: ReasonCollaborative,
				Metadata: map[string]any{"because_of": "p1", "count": 3}}}}},
	}
	env, err := topics.NewEnvelope(TypeInvalidateCache, t0, map[string]string{"user_id": "u1"}, topics.WithCommandID("c1"))
	require.NoError(t, err)
	res, err := topics.Succeeded(env, InvalidateResult{Cleared: true, UserID: "u1"})
	require.NoError(t, err)
	r := &UserRow{Profile: p}
	r.Commands.Remember(env, res, 0)
	return r
}

// sameJSON compares rows by their JSON form (maps sorted, times and
// metadata as the API shows them).
func sameJSON(t *testing.T, want, got *UserRow) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g))
}

func TestUserRowCodec(t *testing.T) {
	full := fullUserRow(t)
	cases := []struct {
		name string
		row  *UserRow
	}{
		{"every field, a cached list and a command", full},
		{"a new user", &UserRow{Profile: Profile{UserID: "u2"}}},
		{"history without a cache or commands", &UserRow{Profile: Profile{UserID: "u3", Version: 1, Interactions: 1,
			LastAt: t0, History: []HistoryEntry{{EventID: "e", ProductID: "p", Type: CartAdd, At: t0}},
			Affinity: map[string]Affinity{"p": {Score: 3, At: t0, Count: 1}}, Seen: []string{"e"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := userRowCodec{}.Encode(tc.row)
			require.NoError(t, err)
			require.Equal(t, byte(userFormat1), raw[0])
			got, err := userRowCodec{}.Decode(raw)
			require.NoError(t, err)
			sameJSON(t, tc.row, got.(*UserRow))
			again, err := userRowCodec{}.Encode(got)
			require.NoError(t, err)
			require.Len(t, again, len(raw), "a decoded row encodes to as many bytes")
		})
	}
	t.Run("the binary row is smaller than the JSON one", func(t *testing.T) {
		raw, err := userRowCodec{}.Encode(full)
		require.NoError(t, err)
		js, err := json.Marshal(full)
		require.NoError(t, err)
		require.Less(t, len(raw), len(js))
	})
	t.Run("rows written as JSON by earlier versions decode", func(t *testing.T) {
		raw, err := json.Marshal(full)
		require.NoError(t, err)
		got, err := userRowCodec{}.Decode(raw)
		require.NoError(t, err)
		sameJSON(t, full, got.(*UserRow))
		require.Equal(t, full.Commands.Entries[0].Digest, got.(*UserRow).Commands.Entries[0].Digest)
	})
	t.Run("an empty row is a tombstone", func(t *testing.T) {
		got, err := userRowCodec{}.Decode(nil)
		require.NoError(t, err)
		require.Nil(t, got)
	})
	t.Run("a truncated or padded row is an error", func(t *testing.T) {
		raw, err := userRowCodec{}.Encode(full)
		require.NoError(t, err)
		for n := 1; n < len(raw); n++ {
			_, err := userRowCodec{}.Decode(raw[:n])
			require.ErrorIs(t, err, errUserRow, "first %d bytes", n)
		}
		_, err = userRowCodec{}.Decode(append(raw, 0))
		require.ErrorIs(t, err, errUserRow)
	})
	t.Run("only user rows encode", func(t *testing.T) {
		_, err := userRowCodec{}.Encode((*UserRow)(nil))
		require.Error(t, err)
		_, err = userRowCodec{}.Encode(command.Ledger{})
		require.Error(t, err)
		raw, err := userRowCodec{}.Encode(*full)
		require.NoError(t, err)
		require.Equal(t, byte(userFormat1), raw[0])
	})
}

// TestUserRowDecodeOwnsItsStrings: the decoded row's strings are slices of
// one copy of the row, not of the buffer it was read from (the storage may
// reuse it), and a row decodes to the same profile after that buffer is
// overwritten.
func TestUserRowDecodeOwnsItsStrings(t *testing.T) {
	full := fullUserRow(t)
	raw, err := userRowCodec{}.Encode(full)
	require.NoError(t, err)
	got, err := userRowCodec{}.Decode(raw)
	require.NoError(t, err)
	for i := range raw {
		raw[i] = 'x'
	}
	sameJSON(t, full, got.(*UserRow))
	row := got.(*UserRow)
	row.Profile.History = append(row.Profile.History, HistoryEntry{EventID: "e4", ProductID: "p4", Type: View, At: t0})
	row.Profile.Seen = append(row.Profile.Seen, "e4")
	again, err := userRowCodec{}.Encode(row)
	require.NoError(t, err)
	back, err := userRowCodec{}.Decode(again)
	require.NoError(t, err)
	sameJSON(t, row, back.(*UserRow))
}
