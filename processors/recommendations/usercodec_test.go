package recommendations

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
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
		History: []HistoryEntry{{ProductID: "p1", Type: View, At: t0},
			{ProductID: "ünïcode", Type: Purchase, At: t0.Add(time.Minute)},
			{ProductID: "p3", Type: "legacy_type", At: t0.Add(2 * time.Minute)}},
		Affinity:  map[string]Affinity{"p1": {Score: 1.5, At: t0, Count: 2}, "ünïcode": {Score: 5, At: t0.Add(time.Minute), Count: 1}},
		Purchased: map[string]time.Time{"ünïcode": t0.Add(time.Minute)},
		Seen:      SeenEvents{EventHash("e1"), EventHash("e2"), EventHash("e3")},
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

// userRowCases are rows of every shape the codec writes.
func userRowCases(t *testing.T) []struct {
	name string
	row  *UserRow
} {
	t.Helper()
	full := fullUserRow(t)
	return []struct {
		name string
		row  *UserRow
	}{
		{"every field, a cached list and a command", full},
		{"a new user", &UserRow{Profile: Profile{UserID: "u2"}}},
		{"history without a cache or commands", &UserRow{Profile: Profile{UserID: "u3", Version: 1, Interactions: 1,
			LastAt: t0, History: []HistoryEntry{{ProductID: "p", Type: CartAdd, At: t0}},
			Affinity: map[string]Affinity{"p": {Score: 3, At: t0, Count: 1}}, Seen: SeenEvents{EventHash("e")}}}},
		{"products outside the history, repeated products, times out of order and zero", &UserRow{Profile: Profile{UserID: "u4",
			LastAt: t0, History: []HistoryEntry{{ProductID: "p", Type: View, At: t0}, {ProductID: "q", Type: View},
				{ProductID: "p", Type: Wishlist, At: t0.Add(-72 * time.Hour)}, {ProductID: "q", Type: View, At: t0.Add(time.Nanosecond)}},
			Affinity:  map[string]Affinity{"p": {Score: 3, At: t0, Count: 2}, "gone-from-history": {Score: 0.25, At: t0.Add(-time.Hour), Count: 1}},
			Purchased: map[string]time.Time{"q": t0, "bought-long-ago": t0.Add(-1000 * time.Hour)}}}},
		{"no last interaction time, an affinity without a time", &UserRow{Profile: Profile{UserID: "u5",
			Affinity:  map[string]Affinity{"p": {Score: 1, At: t0, Count: 1}, "q": {Score: 2, Count: 1}},
			Purchased: map[string]time.Time{"p": t0}}}},
		{"times after the last interaction", &UserRow{Profile: Profile{UserID: "u6", LastAt: t0,
			Affinity: map[string]Affinity{"p": {Score: 1, At: t0.Add(time.Hour), Count: 1}}}}},
	}
}

func TestUserRowCodec(t *testing.T) {
	full := fullUserRow(t)
	cases := userRowCases(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := userRowCodec{}.Encode(tc.row)
			require.NoError(t, err)
			require.Equal(t, byte(userFormat2), raw[0])
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
		require.Equal(t, byte(userFormat2), raw[0])
	})
}

// TestUserRowDecodeReusesReleasedRows: a row decoded into the containers
// of a released one (releaseUserRow, as the user processor does after each
// interaction) is the same as one decoded into new containers, whatever
// the released row held: nothing of it is left over.
func TestUserRowDecodeReusesReleasedRows(t *testing.T) {
	cases := userRowCases(t)
	decode := func(t *testing.T, row *UserRow) *UserRow {
		t.Helper()
		raw, err := userRowCodec{}.Encode(row)
		require.NoError(t, err)
		got, err := userRowCodec{}.Decode(raw)
		require.NoError(t, err)
		return got.(*UserRow)
	}
	for _, before := range cases {
		for _, tc := range cases {
			t.Run(before.name+" then "+tc.name, func(t *testing.T) {
				for userRows.Get() != nil { // an empty pool: new containers
				}
				fresh := decode(t, tc.row)
				released := decode(t, before.row)
				releaseUserRow(released)
				got := decode(t, tc.row)
				require.Equal(t, fresh, got)
				sameJSON(t, tc.row, got)
			})
		}
	}
	t.Run("released rows give their containers", func(t *testing.T) {
		for userRows.Get() != nil {
		}
		big := decode(t, cases[0].row)
		history, affinity := &big.Profile.History[:1][0], big.Profile.Affinity
		releaseUserRow(big)
		got := decode(t, cases[0].row)
		if got == big { // sync.Pool may drop what it was given
			require.Same(t, history, &got.Profile.History[:1][0], "the history's array is reused")
			require.Equal(t, reflect.ValueOf(affinity).Pointer(), reflect.ValueOf(got.Profile.Affinity).Pointer(), "the affinity map is reused")
		}
	})
}

// TestUserRowFormat1 reads a row as the previous version wrote it
// (testdata/user-row-format1.bin: fullUserRow's profile with event IDs e1,
// e2, e3 in its history and its seen list, encoded by that version's
// codec): the history keeps its products, types and times, the seen IDs
// become their hashes, so a redelivered e2 is still recognised, and the
// row is rewritten in the current format.
func TestUserRowFormat1(t *testing.T) {
	raw, err := os.ReadFile("testdata/user-row-format1.bin")
	require.NoError(t, err)
	require.Equal(t, byte(userFormat1), raw[0])
	v, err := userRowCodec{}.Decode(raw)
	require.NoError(t, err)
	got := v.(*UserRow)
	want := fullUserRow(t)
	require.Equal(t, want.Profile.History, got.Profile.History)
	require.Equal(t, want.Profile.Affinity, got.Profile.Affinity)
	require.Equal(t, want.Profile.Purchased, got.Profile.Purchased)
	require.Equal(t, want.Profile.Seen, got.Profile.Seen)
	wantCache, err := json.Marshal(want.Profile.Cache)
	require.NoError(t, err)
	gotCache, err := json.Marshal(got.Profile.Cache)
	require.NoError(t, err)
	require.JSONEq(t, string(wantCache), string(gotCache))
	require.Len(t, got.Commands.Entries, 1)
	require.Equal(t, []string{"u1", "9"}, []string{got.Profile.UserID, strconv.FormatInt(got.Profile.Interactions, 10)})

	cfg, err := newConfig(nil)
	require.NoError(t, err)
	eff := got.Profile.Apply(&Batch{UserID: "u1", OccurredAt: t0.Add(2 * time.Hour),
		Items: []Interaction{{EventID: "e2", ProductID: "ünïcode", Type: Purchase}}}, &cfg)
	require.Zero(t, eff.Recorded, "e2 was seen before the upgrade")

	again, err := userRowCodec{}.Encode(got)
	require.NoError(t, err)
	require.Equal(t, byte(userFormat2), again[0])
}

func TestSeenEventsJSON(t *testing.T) {
	cases := []struct {
		name string
		json string
		want SeenEvents
	}{
		{"hashes, as rows are written now", `[1,18446744073709551615]`, SeenEvents{1, 18446744073709551615}},
		{"event IDs, as earlier versions wrote them", `["e1","e2"]`, SeenEvents{EventHash("e1"), EventHash("e2")}},
		{"empty", `[]`, SeenEvents{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got SeenEvents
			require.NoError(t, json.Unmarshal([]byte(tc.json), &got))
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("anything else is an error", func(t *testing.T) {
		var got SeenEvents
		require.Error(t, json.Unmarshal([]byte(`[{"id":"e1"}]`), &got))
		require.Error(t, json.Unmarshal([]byte(`"e1"`), &got))
	})
	t.Run("a JSON row round-trips its hashes", func(t *testing.T) {
		row := fullUserRow(t)
		raw, err := json.Marshal(row)
		require.NoError(t, err)
		v, err := userRowCodec{}.Decode(raw)
		require.NoError(t, err)
		require.Equal(t, row.Profile.Seen, v.(*UserRow).Profile.Seen)
	})
}

func TestEventHash(t *testing.T) {
	// FNV-1a 64 test vectors: a stored hash must never change meaning
	require.Equal(t, uint64(0xcbf29ce484222325), EventHash(""))
	require.Equal(t, uint64(0xaf63dc4c8601ec8c), EventHash("a"))
	require.Equal(t, uint64(0x85944171f73967e8), EventHash("foobar"))
	require.NotEqual(t, EventHash("e1"), EventHash("e2"))
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
	row.Profile.History = append(row.Profile.History, HistoryEntry{ProductID: "p4", Type: View, At: t0})
	row.Profile.Seen = append(row.Profile.Seen, EventHash("e4"))
	again, err := userRowCodec{}.Encode(row)
	require.NoError(t, err)
	back, err := userRowCodec{}.Decode(again)
	require.NoError(t, err)
	sameJSON(t, row, back.(*UserRow))
}
