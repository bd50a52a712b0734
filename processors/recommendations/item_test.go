package recommendations

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// capCountsOneByOne is the cap's definition: drop the smallest count (ties:
// the greatest ID) until max are left.
func capCountsOneByOne(m map[string]int64, max int) {
	for len(m) > max {
		var minID string
		var minC int64 = math.MaxInt64
		for id, c := range m {
			if c < minC || (c == minC && id > minID) {
				minID, minC = id, c
			}
		}
		delete(m, minID)
	}
}

func TestCapCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	random := func(n int, spread int64) map[string]int64 {
		m := make(map[string]int64, n)
		for i := range n {
			m[fmt.Sprintf("p%03d", i)] = 1 + rng.Int64N(spread)
		}
		return m
	}
	cases := []struct {
		name string
		m    map[string]int64
		max  int
	}{
		{"under the cap is untouched", random(5, 3), 10},
		{"at the cap is untouched", random(10, 3), 10},
		{"one over", random(11, 3), 10},
		{"many over with ties", random(240, 2), 200},
		{"all equal: the greatest IDs go", random(30, 1), 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := maps.Clone(tc.m)
			capCountsOneByOne(want, tc.max)
			got := maps.Clone(tc.m)
			capCounts(got, tc.max)
			require.Equal(t, want, got)
			require.LessOrEqual(t, len(got), tc.max)
		})
	}
}

func TestItemCodec(t *testing.T) {
	full := &Item{ProductID: "p1", Users: 42, Orders: 7, Increments: 99,
		Popularity: Affinity{Score: 12.625, At: t0, Count: 30},
		Co:         map[string]int64{"p2": 3, "p3": 1, "ünïcode": 1 << 40}, Bought: map[string]int64{"p2": 2}}
	cases := []struct {
		name string
		item *Item
	}{
		{"every field", full},
		{"with the last increment's position", func() *Item { it := *full; it.Last = &IncrementPosition{Partition: 3, Offset: 1 << 40}; return &it }()},
		{"with the positions of increment sets", func() *Item {
			it := *full
			it.Last = &IncrementPosition{Partition: 1, Offset: 5}
			it.Sources = []SourcePosition{{Input: SourceSetRecord, Partition: 3, Offset: 9}, {Input: SourceInteractions, Partition: 0, Offset: 0},
				{Input: SourceInteractions, Partition: 2, Offset: 1 << 40}, {Input: SourceInteractions, Partition: 200, Offset: 7},
				{Input: SourceCommands, Partition: 0, Offset: 3}}
			return &it
		}()},
		{"new item without counts or popularity", &Item{ProductID: "p9"}},
		{"negative and fractional values survive", &Item{ProductID: "p8", Users: -1,
			Popularity: Affinity{Score: math.SmallestNonzeroFloat64, At: time.Unix(0, -5).UTC()}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := itemCodec{}.Encode(tc.item)
			require.NoError(t, err)
			require.Equal(t, byte(itemFormat5), raw[0])
			got, err := itemCodec{}.Decode(raw)
			require.NoError(t, err)
			requireSameItem(t, tc.item, got.(*Item))
			w := *tc.item
			w.Sources = nil // no format before itemFormat5 has them
			old, err := itemCodec{}.Decode(encodeItemFormat4(tc.item))
			require.NoError(t, err, "itemFormat4, written by an earlier version")
			requireSameItem(t, &w, old.(*Item))
			old, err = itemCodec{}.Decode(encodeItemFormat23(tc.item, itemFormat3))
			require.NoError(t, err, "itemFormat3, written by an earlier version")
			requireSameItem(t, &w, old.(*Item))
			w.Last = nil // itemFormat1 and 2 have no position
			old, err = itemCodec{}.Decode(encodeItemFormat1(tc.item))
			require.NoError(t, err, "itemFormat1, written by an earlier version")
			requireSameItem(t, &w, old.(*Item))
			old, err = itemCodec{}.Decode(encodeItemFormat23(tc.item, itemFormat2))
			require.NoError(t, err, "itemFormat2, written by an earlier version")
			requireSameItem(t, &w, old.(*Item))
		})
	}
	t.Run("a count section whose byte length disagrees with its entries is an error", func(t *testing.T) {
		raw, err := itemCodec{}.Encode(&Item{ProductID: "p1", Co: map[string]int64{"p2": 1, "p3": 1}})
		require.NoError(t, err)
		// The row ends with the Co section (2 entries in 9 bytes: 0 2 p2 1,
		// 1 1 3 1) and an empty Bought section (0 entries, 0 bytes).
		at := len(raw) - 2 - 9 - 2
		require.Equal(t, []byte{2, 9}, raw[at:at+2])
		for _, size := range []byte{8, 10} {
			bad := append([]byte(nil), raw...)
			bad[at+1] = size
			_, err := itemCodec{}.Decode(bad)
			require.ErrorIs(t, err, errItemRow, "length %d", size)
		}
	})
	t.Run("rows written as JSON by earlier versions decode", func(t *testing.T) {
		raw, err := json.Marshal(full)
		require.NoError(t, err)
		got, err := itemCodec{}.Decode(raw)
		require.NoError(t, err)
		requireSameItem(t, full, got.(*Item))
	})
	t.Run("an empty row is a tombstone", func(t *testing.T) {
		got, err := itemCodec{}.Decode(nil)
		require.NoError(t, err)
		require.Nil(t, got)
	})
	t.Run("a truncated or padded row is an error", func(t *testing.T) {
		raw, err := itemCodec{}.Encode(full)
		require.NoError(t, err)
		for _, n := range []int{1, 2, 10, len(raw) - 1} {
			_, err := itemCodec{}.Decode(raw[:n])
			require.ErrorIs(t, err, errItemRow, "first %d bytes", n)
		}
		_, err = itemCodec{}.Decode(append(raw, 0))
		require.ErrorIs(t, err, errItemRow)
	})
	t.Run("only items encode", func(t *testing.T) {
		_, err := itemCodec{}.Encode(Item{})
		require.Error(t, err)
		_, err = itemCodec{}.Encode((*Item)(nil))
		require.Error(t, err)
	})
}

func requireSameItem(t *testing.T, want, got *Item) {
	t.Helper()
	require.True(t, want.Popularity.At.Equal(got.Popularity.At), "popularity time %v, got %v", want.Popularity.At, got.Popularity.At)
	w, g := *want, *got
	w.Popularity.At, g.Popularity.At = time.Time{}, time.Time{}
	require.Equal(t, w, g)
}

func TestTrimCounts(t *testing.T) {
	counts := func(n int) map[string]int64 {
		m := make(map[string]int64, n)
		for i := range n {
			m[fmt.Sprintf("p%03d", i)] = int64(1 + i%5)
		}
		return m
	}
	cases := []struct {
		name    string
		n, max  int
		wantLen int
	}{
		{"within the slack is kept", 250, 200, 250},
		{"past the slack is trimmed to the cap", 251, 200, 200},
		{"a cap too small for slack trims at once", 3, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := counts(tc.n)
			trimCounts(m, tc.max)
			require.Len(t, m, tc.wantLen)
			if tc.wantLen == tc.max {
				want := counts(tc.n)
				capCountsOneByOne(want, tc.max)
				require.Equal(t, want, m, "the least frequent went first")
			}
		})
	}
}

// encodeItemFormat23 is the itemFormat2 and itemFormat3 encoder of earlier
// versions: the count sections without their byte length, and in
// itemFormat2 no position.
func encodeItemFormat23(it *Item, format byte) []byte {
	b := encodeHeaderFormat234(it, format)
	for _, m := range []map[string]int64{it.Co, it.Bought} {
		ids := slices.Sorted(maps.Keys(m))
		b = binary.AppendUvarint(b, uint64(len(ids)))
		prev := ""
		for _, q := range ids {
			b = appendFrontCoded(b, prev, q)
			b = binary.AppendVarint(b, m[q])
			prev = q
		}
	}
	return b
}

// encodeHeaderFormat234 is the header of an itemFormat2, 3 or 4 row of it
// as earlier versions wrote it (no Sources; no position in itemFormat2).
func encodeHeaderFormat234(it *Item, format byte) []byte {
	h := it.header()
	h.sources = nil
	if format == itemFormat2 {
		h.last = nil
	}
	b := h.append(nil)
	b = b[:len(b)-1] // the uvarint 0 of no sources
	if format == itemFormat2 {
		b = b[:len(b)-1] // the uvarint 0 of the unknown position
	}
	b[0] = format
	return b
}

// encodeItemFormat4 is the itemFormat4 encoder of earlier versions.
func encodeItemFormat4(it *Item) []byte {
	b := encodeHeaderFormat234(it, itemFormat4)
	b = appendSortedCounts(b, it.Co)
	return appendSortedCounts(b, it.Bought)
}

// encodeItemFormat1 is the itemFormat1 encoder of earlier versions (the
// pair counts unsorted, not front-coded).
func encodeItemFormat1(it *Item) []byte {
	b := []byte{itemFormat1}
	b = appendString(b, it.ProductID)
	b = binary.AppendVarint(b, it.Users)
	b = binary.AppendVarint(b, it.Orders)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(it.Popularity.Score))
	if it.Popularity.At.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, it.Popularity.At.UnixNano())
	}
	b = binary.AppendVarint(b, int64(it.Popularity.Count))
	b = binary.AppendVarint(b, it.Increments)
	for _, m := range []map[string]int64{it.Co, it.Bought} {
		b = binary.AppendUvarint(b, uint64(len(m)))
		for q, c := range m {
			b = appendString(b, q)
			b = binary.AppendVarint(b, c)
		}
	}
	return b
}
