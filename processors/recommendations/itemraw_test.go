package recommendations

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestApplyRawMatchesItemApply applies the same random increments to a
// decoded Item (Item.Apply) and to its encoded row (applyRaw), and checks
// after each one that the row decodes to the Item: counts raised, partners
// inserted before, between and after the sorted entries (IDs of different
// lengths sharing prefixes of different lengths, so an insertion changes
// how the next entry is front-coded), self-pairs and repeated partners,
// and trims past the slack.
func TestApplyRawMatchesItemApply(t *testing.T) {
	cases := []struct {
		name   string
		cap    int
		basket int // the most partners of an order
		ids    func(*rand.Rand) string
	}{
		{"numbered IDs, cap 8 (trims past 10)", 8, 4, func(rng *rand.Rand) string { return fmt.Sprintf("p%d", rng.IntN(120)) }},
		{"short IDs over two letters, cap 40", 40, 4, func(rng *rand.Rand) string {
			b := make([]byte, 1+rng.IntN(5))
			for i := range b {
				b[i] = "ab"[rng.IntN(2)]
			}
			return string(b)
		}},
		{"the ingestion benchmark's IDs, baskets of up to 24, cap 30", 30, 24, func(rng *rand.Rand) string {
			return fmt.Sprintf("ing-123456-7-p%d", rng.IntN(300))
		}},
		// Shared prefixes and rests of 128 bytes or more, and counts past
		// 63, take two-byte varints.
		{"IDs longer than 128 bytes, counts past 63, cap 30", 30, 4, func(rng *rand.Rand) string {
			n := rng.IntN(40) // half of them among 4: counts past 63
			if rng.IntN(2) == 0 {
				n %= 4
			}
			return strings.Repeat("x", rng.IntN(2)*140) + fmt.Sprintf("%d", n) + strings.Repeat("y", rng.IntN(2)*130)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := newConfig([]Option{WithCandidates(tc.cap), WithNeighbours(5)})
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(11, 12))
			pick := func(n int) []string {
				var out []string
				for range n {
					out = append(out, tc.ids(rng))
				}
				return out
			}
			for _, self := range []string{"p0", "ab", tc.ids(rng)} {
				want := &Item{}
				var row []byte
				trims := 0
				for i := range 800 {
					inc := &Increment{ProductID: self, At: t0.Add(time.Duration(rng.IntN(1000)-200) * time.Minute)}
					if rng.IntN(3) > 0 {
						inc.Weight = float64(1 + rng.IntN(5))
					}
					inc.NewUser = rng.IntN(2) == 0
					inc.Order = rng.IntN(5) == 0
					inc.With = pick(rng.IntN(6))
					if inc.Order {
						inc.Basket = pick(rng.IntN(tc.basket))
					}
					before := len(want.Co)
					want.Apply(inc, &cfg)
					if len(want.Co) < before {
						trims++
					}
					var applied bool
					row, applied, err = applyRaw(row, inc, nil, &cfg)
					require.NoError(t, err, "increment %d", i)
					require.True(t, applied)
					got, err := itemCodec{}.Decode(row)
					require.NoError(t, err, "increment %d", i)
					requireSameItem(t, want, got.(*Item))
					enc, err := itemCodec{}.Encode(want)
					require.NoError(t, err)
					require.Equal(t, enc, row, "increment %d: the bytes Encode writes (sorted, shortest front coding)", i)
				}
				require.Positive(t, trims, "the sequence crossed the trim threshold")
				if strings.HasPrefix(tc.name, "IDs longer") {
					require.Greater(t, slices.Max(slices.Collect(maps.Values(want.Co))), int64(63), "a count takes two bytes")
				}
			}
		})
	}
}

func TestRawItemCodec(t *testing.T) {
	cfg, err := newConfig(nil)
	require.NoError(t, err)
	full := &Item{ProductID: "p1", Users: 4, Orders: 1, Increments: 9,
		Popularity: Affinity{Score: 2.5, At: t0, Count: 3},
		Co:         map[string]int64{"p2": 3, "p3": 1}, Bought: map[string]int64{"p2": 1}}
	inc := &Increment{ProductID: "p1", Weight: 1, At: t0.Add(time.Hour), NewUser: true, With: []string{"p3", "p4", "p1"}}
	want := func() *Item {
		w := *full
		w.Co = map[string]int64{"p2": 3, "p3": 2, "p4": 1}
		w.Apply(&Increment{ProductID: "p1", Weight: 1, At: t0.Add(time.Hour), NewUser: true}, &cfg)
		return &w
	}()
	t.Run("a JSON row of an earlier version is read and rewritten in the binary form", func(t *testing.T) {
		raw, err := json.Marshal(full)
		require.NoError(t, err)
		v, err := rawItemCodec{}.Decode(raw)
		require.NoError(t, err)
		row := v.(*itemBytes).b
		require.Equal(t, byte(itemFormat5), row[0])
		out, _, err := applyRaw(row, inc, nil, &cfg)
		require.NoError(t, err)
		enc, err := rawItemCodec{}.Encode(&itemBytes{b: out})
		require.NoError(t, err)
		got, err := itemCodec{}.Decode(enc)
		require.NoError(t, err)
		requireSameItem(t, want, got.(*Item))
	})
	t.Run("an itemFormat1 row of an earlier version is read and rewritten in itemFormat5", func(t *testing.T) {
		v, err := rawItemCodec{}.Decode(encodeItemFormat1(full))
		require.NoError(t, err)
		row := v.(*itemBytes).b
		require.Equal(t, byte(itemFormat5), row[0])
		out, _, err := applyRaw(row, inc, nil, &cfg)
		require.NoError(t, err)
		got, err := itemCodec{}.Decode(out)
		require.NoError(t, err)
		requireSameItem(t, want, got.(*Item))
	})
	t.Run("a row whose pair counts are out of order is an error", func(t *testing.T) {
		for _, order := range [][]string{{"p3", "p2"}, {"p3", "p3"}, {"p3", "p"}} {
			raw := (&itemHeader{productID: "p1"}).append(nil)
			at := len(raw)
			raw = append(raw, make([]byte, sectionGap)...)
			raw = appendFrontCoded(raw, "", order[0])
			raw = binary.AppendVarint(raw, 1)
			raw = appendFrontCoded(raw, order[0], order[1])
			raw = binary.AppendVarint(raw, 1)
			raw = closeSection(raw, at, 2)
			raw = append(raw, 0, 0)
			_, _, err := applyRaw(raw, inc, nil, &cfg)
			require.ErrorIs(t, err, errItemRow, "%q", order)
			_, err = itemCodec{}.Decode(raw)
			require.ErrorIs(t, err, errItemRow, "the views' codec refuses %q too", order)
		}
	})
	t.Run("a new item", func(t *testing.T) {
		out, _, err := applyRaw(nil, inc, nil, &cfg)
		require.NoError(t, err)
		got, err := itemCodec{}.Decode(out)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"p3": 1, "p4": 1}, got.(*Item).Co)
		require.Equal(t, int64(1), got.(*Item).Users)
	})
	t.Run("a truncated, padded or foreign row is an error, not a reset", func(t *testing.T) {
		raw, err := itemCodec{}.Encode(full)
		require.NoError(t, err)
		for n := 1; n < len(raw); n++ {
			_, _, err := applyRaw(raw[:n], inc, nil, &cfg)
			require.ErrorIs(t, err, errItemRow, "first %d bytes", n)
		}
		_, _, err = applyRaw(append(raw, 0), inc, nil, &cfg)
		require.ErrorIs(t, err, errItemRow)
		_, _, err = applyRaw([]byte(`{"product_id":"p1"}`), inc, nil, &cfg)
		require.ErrorIs(t, err, errItemRow)
	})
	t.Run("a corrupted row is an error or a row, never a panic", func(t *testing.T) {
		raw, err := itemCodec{}.Encode(&Item{ProductID: "p1", Co: map[string]int64{"p2": 3, "p3": 1, "p30": 2, "q": 1}, Bought: map[string]int64{"p2": 1},
			Sources: []SourcePosition{{Input: SourceInteractions, Partition: 0, Offset: 5}, {Input: SourceCommands, Partition: 2, Offset: 300}}})
		require.NoError(t, err)
		small, err := newConfig([]Option{WithCandidates(2), WithNeighbours(1), WithSeeds(1)}) // trims every row
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(5, 6))
		for range 5000 {
			bad := append([]byte(nil), raw...)
			for range 1 + rng.IntN(3) {
				bad[1+rng.IntN(len(bad)-1)] = byte(rng.IntN(256))
			}
			for _, inc := range []*Increment{inc, {ProductID: "p1", With: []string{"p0", "p25", "p4", "z"}, Basket: []string{"p3"}}} {
				require.NotPanics(t, func() { _, _, _ = applyRaw(bad, inc, nil, &cfg) }, "%x", bad)
				require.NotPanics(t, func() { _, _, _ = applyRaw(bad, inc, nil, &small) }, "%x", bad)
				batch := &IncrementBatch{ProductID: "p1", Entries: []BatchEntry{{Source: SourcePosition{Input: SourceInteractions, Partition: 1, Offset: 9}, Increment: *inc},
					{Source: SourcePosition{Input: SourceCommands, Partition: 0, Offset: 3}, Increment: *inc}}}
				require.NotPanics(t, func() { _, _, _ = applyBatchRaw(bad, batch, &small) }, "%x", bad)
			}
		}
	})
	t.Run("the row read is not modified", func(t *testing.T) {
		raw, err := itemCodec{}.Encode(full)
		require.NoError(t, err)
		keep := append([]byte(nil), raw...)
		_, _, err = applyRaw(raw, inc, nil, &cfg)
		require.NoError(t, err)
		require.Equal(t, keep, raw)
	})
	t.Run("only rows and items encode", func(t *testing.T) {
		_, err := rawItemCodec{}.Encode(&itemBytes{})
		require.Error(t, err)
		_, err = rawItemCodec{}.Encode("x")
		require.Error(t, err)
		raw, err := rawItemCodec{}.Encode(full)
		require.NoError(t, err)
		require.Equal(t, byte(itemFormat5), raw[0])
	})
}

// Rows of itemFormat2 and itemFormat3 (written by earlier versions) are
// applied to through the decoded Item and rewritten in itemFormat5, the
// bytes Encode writes; an itemFormat3 row's position still tells a
// redelivery apart.
func TestApplyRawUpgradesEarlierFormats(t *testing.T) {
	cfg, err := newConfig([]Option{WithCandidates(4), WithNeighbours(2), WithSeeds(2)})
	require.NoError(t, err)
	at := func(p int32, o int64) *IncrementPosition { return &IncrementPosition{Partition: p, Offset: o} }
	stored := &Item{ProductID: "p1", Users: 4, Orders: 1, Increments: 9,
		Popularity: Affinity{Score: 2.5, At: t0, Count: 3},
		Co:         map[string]int64{"p2": 3, "p3": 1, "p30": 2, "q": 1, "r": 1}, Bought: map[string]int64{"p2": 1}, Last: at(2, 7)}
	cases := []struct {
		name   string
		format byte
		inc    Increment
		pos    *IncrementPosition
	}{
		{"itemFormat2, counts raised and inserted", itemFormat2, Increment{With: []string{"p3", "p4", "p1"}}, at(2, 5)},
		{"itemFormat2, position unknown", itemFormat2, Increment{Order: true, Basket: []string{"p2", "p5"}}, nil},
		{"itemFormat3, the next offset", itemFormat3, Increment{With: []string{"p3", "p4"}}, at(2, 8)},
		{"itemFormat3, trimmed past the slack", itemFormat3, Increment{With: []string{"s", "t"}}, at(2, 9)},
		{"itemFormat3, another partition", itemFormat3, Increment{}, at(0, 1)},
		{"itemFormat3, a redelivery", itemFormat3, Increment{With: []string{"p3"}}, at(2, 7)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inc := tc.inc
			inc.ProductID, inc.Weight, inc.At, inc.NewUser = "p1", 1, t0.Add(time.Hour), true
			row := encodeItemFormat23(stored, tc.format)
			out, applied, err := applyRaw(row, &inc, tc.pos, &cfg)
			require.NoError(t, err)
			want := *stored
			want.Co, want.Bought = maps.Clone(stored.Co), maps.Clone(stored.Bought)
			if tc.format == itemFormat2 {
				want.Last = nil
			}
			if want.Last.applied(tc.pos) {
				require.False(t, applied)
				require.Equal(t, row, out, "unchanged")
				return
			}
			require.True(t, applied)
			want.Apply(&inc, &cfg)
			if tc.pos != nil {
				want.Last = tc.pos
			}
			enc, err := itemCodec{}.Encode(&want)
			require.NoError(t, err)
			require.Equal(t, enc, out, "rewritten in itemFormat5")
			require.Equal(t, byte(itemFormat5), out[0])
			// The next increment takes the raw path on the upgraded row.
			next := &Increment{ProductID: "p1", With: []string{"p2", "p6"}}
			want.Apply(next, &cfg)
			want.Last = at(3, 1)
			enc, err = itemCodec{}.Encode(&want)
			require.NoError(t, err)
			out, applied, err = applyRaw(out, next, at(3, 1), &cfg)
			require.NoError(t, err)
			require.True(t, applied)
			require.Equal(t, enc, out)
		})
	}
}

// A redelivered increment (at or before the last position the row applied,
// in the same partition) changes nothing; the next one, or one from another
// partition (the topic was repartitioned), is applied. The trimming path
// keeps the position too.
func TestApplyRawSkipsRedeliveries(t *testing.T) {
	cfg, err := newConfig(nil)
	require.NoError(t, err)
	inc := &Increment{ProductID: "p1", Weight: 1, At: t0, NewUser: true, With: []string{"p2"}}
	at := func(p int32, o int64) *IncrementPosition { return &IncrementPosition{Partition: p, Offset: o} }
	row, applied, err := applyRaw(nil, inc, at(3, 10), &cfg)
	require.NoError(t, err)
	require.True(t, applied)
	cases := []struct {
		name    string
		pos     *IncrementPosition
		applied bool
	}{
		{"the same offset again", at(3, 10), false},
		{"an earlier offset", at(3, 4), false},
		{"the next offset", at(3, 11), true},
		{"another partition", at(5, 0), true},
		{"position unknown", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, applied, err := applyRaw(row, inc, tc.pos, &cfg)
			require.NoError(t, err)
			require.Equal(t, tc.applied, applied)
			got, err := itemCodec{}.Decode(out)
			require.NoError(t, err)
			it := got.(*Item)
			if !tc.applied {
				require.Equal(t, row, out, "unchanged")
				require.Equal(t, int64(1), it.Increments)
				return
			}
			require.Equal(t, int64(2), it.Increments)
			require.Equal(t, int64(2), it.Co["p2"])
			want := tc.pos
			if want == nil {
				want = at(3, 10) // kept
			}
			require.Equal(t, want, it.Last)
		})
	}
	t.Run("through the trimming path", func(t *testing.T) {
		small, err := newConfig([]Option{WithCandidates(2), WithNeighbours(1), WithSeeds(1)})
		require.NoError(t, err)
		row, _, err := applyRaw(nil, &Increment{ProductID: "p1", With: []string{"a", "b"}}, at(0, 1), &small)
		require.NoError(t, err)
		out, applied, err := applyRaw(row, &Increment{ProductID: "p1", With: []string{"c", "d", "e"}}, at(0, 2), &small)
		require.NoError(t, err)
		require.True(t, applied)
		got, err := itemCodec{}.Decode(out)
		require.NoError(t, err)
		require.LessOrEqual(t, len(got.(*Item).Co), 2, "trimmed")
		require.Equal(t, at(0, 2), got.(*Item).Last)
		again, applied, err := applyRaw(out, &Increment{ProductID: "p1", With: []string{"c", "d", "e"}}, at(0, 2), &small)
		require.NoError(t, err)
		require.False(t, applied)
		require.Equal(t, out, again)
	})
}

func TestIncrementCodec(t *testing.T) {
	full := &Increment{ProductID: "p1", Weight: 3.25, At: t0, NewUser: true, Order: true,
		With: []string{"p2", "ünïcode"}, Basket: []string{"p3"}}
	cases := []struct {
		name string
		inc  *Increment
	}{
		{"every field", full},
		{"popularity only", &Increment{ProductID: "p2", Weight: 1, At: t0}},
		{"no time", &Increment{ProductID: "p3", With: []string{"p1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := incrementCodec{}.Encode(tc.inc)
			require.NoError(t, err)
			require.Equal(t, byte(incrementFormat1), raw[0])
			v, err := incrementCodec{}.Decode(raw)
			require.NoError(t, err)
			got := v.(*Increment)
			require.True(t, tc.inc.At.Equal(got.At))
			w, g := *tc.inc, *got
			w.At, g.At = time.Time{}, time.Time{}
			require.Equal(t, w, g)
		})
	}
	t.Run("JSON increments of earlier versions decode", func(t *testing.T) {
		raw, err := json.Marshal(full)
		require.NoError(t, err)
		v, err := incrementCodec{}.Decode(raw)
		require.NoError(t, err)
		require.Equal(t, full.With, v.(*Increment).With)
		require.True(t, v.(*Increment).Order)
	})
	t.Run("a truncated or padded increment is an error", func(t *testing.T) {
		raw, err := incrementCodec{}.Encode(*full)
		require.NoError(t, err)
		for n := 1; n < len(raw); n++ {
			_, err := incrementCodec{}.Decode(raw[:n])
			require.Error(t, err, "first %d bytes", n)
		}
		_, err = incrementCodec{}.Decode(append(raw, 0))
		require.ErrorIs(t, err, errIncrement)
	})
	t.Run("only increments encode", func(t *testing.T) {
		_, err := incrementCodec{}.Encode((*Increment)(nil))
		require.Error(t, err)
		_, err = incrementCodec{}.Encode("x")
		require.Error(t, err)
	})
}
