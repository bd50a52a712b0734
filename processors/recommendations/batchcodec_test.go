package recommendations

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestIncrementSetCodec(t *testing.T) {
	long := make([]string, 12) // more than 127 bytes: a two-byte length
	for i := range long {
		long[i] = fmt.Sprintf("product-with-a-long-id-%02d", i)
	}
	cases := []struct {
		name string
		set  []Increment
	}{
		{"one increment", []Increment{{ProductID: "p1", Weight: 1, At: t0, NewUser: true}}},
		{"a view's fan-out", []Increment{{ProductID: "p1", Weight: 1, At: t0, NewUser: true, With: []string{"p2", "p3"}},
			{ProductID: "p2", At: t0, With: []string{"p1"}}, {ProductID: "p3", At: t0, With: []string{"p1"}}}},
		{"an order", []Increment{{ProductID: "p1", Weight: 5, Order: true, Basket: []string{"p2"}},
			{ProductID: "p2", Weight: 5, Order: true, Basket: []string{"p1"}}}},
		{"an increment longer than 127 bytes", []Increment{{ProductID: "p1", At: t0, With: long}, {ProductID: "p2"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := incrementSetCodec{}.Encode(tc.set)
			require.NoError(t, err)
			got, err := incrementSetCodec{}.Decode(raw)
			require.NoError(t, err)
			require.Equal(t, tc.set, got)
			var products []string
			require.NoError(t, splitIncrementSet(raw, func(product string, inc []byte) error {
				products = append(products, product)
				i := len(products) - 1
				require.Equal(t, appendIncrement(nil, &tc.set[i]), inc, "the increment's bytes, unchanged")
				return nil
			}))
			require.Len(t, products, len(tc.set))
			for n := range len(raw) {
				_, err := incrementSetCodec{}.Decode(raw[:n])
				require.ErrorIs(t, err, errIncrementSet, "first %d bytes", n)
			}
			_, err = incrementSetCodec{}.Decode(append(raw, 0))
			require.ErrorIs(t, err, errIncrementSet, "a trailing byte")
		})
	}
	t.Run("only sets encode; an increment or JSON is not a set", func(t *testing.T) {
		_, err := incrementSetCodec{}.Encode(&Increment{})
		require.Error(t, err)
		inc, err := incrementCodec{}.Encode(&Increment{ProductID: "p1"})
		require.NoError(t, err)
		_, err = incrementSetCodec{}.Decode(append([]byte{incrementSetFormat1, 1, byte(len(inc) - 1)}, inc[1:]...))
		require.NoError(t, err, "(the same increment inside a set)")
		for _, bad := range [][]byte{inc, []byte(`{"product_id":"p1"}`), {incrementSetFormat1, 1, 1, 0}} {
			_, err = incrementSetCodec{}.Decode(bad)
			require.ErrorIs(t, err, errIncrementSet, "%q", bad)
		}
	})
}

func TestIncrementBatchCodec(t *testing.T) {
	b := &IncrementBatch{ProductID: "p1", Entries: []BatchEntry{
		{Source: IncrementPosition{Partition: 3, Offset: 1 << 40}, Increment: Increment{ProductID: "p1", Weight: 1, At: t0, NewUser: true, With: []string{"p2"}}},
		{Source: IncrementPosition{Partition: 0, Offset: 0}, Increment: Increment{ProductID: "p1", Order: true, Basket: []string{"p2", "p3"}}},
	}}
	raw, err := incrementBatchCodec{}.Encode(b)
	require.NoError(t, err)
	got, err := incrementBatchCodec{}.Decode(raw)
	require.NoError(t, err)
	require.Equal(t, b, got)
	for n := range len(raw) {
		_, err := incrementBatchCodec{}.Decode(raw[:n])
		require.ErrorIs(t, err, errIncrementBatch, "first %d bytes", n)
	}
	_, err = incrementBatchCodec{}.Decode(append(raw, 0))
	require.ErrorIs(t, err, errIncrementBatch, "a trailing byte")
	_, err = incrementBatchCodec{}.Encode(b.Entries)
	require.Error(t, err)
}

// setRecord is the increment set incs as the combiner reads it at
// partition p, offset o.
func setRecord(t *testing.T, p int32, o int64, incs ...Increment) *kgo.Record {
	t.Helper()
	raw, err := incrementSetCodec{}.Encode(incs)
	require.NoError(t, err)
	return &kgo.Record{Topic: "sets", Partition: p, Offset: o, Key: []byte("u"), Value: raw}
}

func TestCombineWindowBatchesPerProduct(t *testing.T) {
	w := newCombineWindow()
	w.add("g", setRecord(t, 1, 10, Increment{ProductID: "a", With: []string{"b"}}, Increment{ProductID: "b", With: []string{"a"}}))
	w.add("g", &kgo.Record{Topic: "sets", Partition: 0, Offset: 4, Key: []byte("k"),
		Value: []byte{incrementSetFormat1, 2, 3, 1, 'c', 0}}) // the second increment is missing
	w.add("g", setRecord(t, 0, 5, Increment{ProductID: "a", Weight: 2}))
	w.add("g", setRecord(t, 1, 11, Increment{ProductID: "a", Order: true}))
	require.Equal(t, 4, w.records)
	require.Equal(t, 4, w.entries)
	require.Len(t, w.dead, 1, "the unreadable set")
	require.Equal(t, "g.dlq", w.dead[0].Topic)
	require.NotContains(t, w.batches, "c", "nothing of a set that cannot be read is batched")
	got := map[string][]IncrementPosition{}
	for product, bb := range w.batches {
		v, err := incrementBatchCodec{}.Decode(bb.record(product))
		require.NoError(t, err)
		b := v.(*IncrementBatch)
		require.Equal(t, product, b.ProductID)
		for _, e := range b.Entries {
			require.Equal(t, product, e.Increment.ProductID)
			got[product] = append(got[product], e.Source)
		}
	}
	require.Equal(t, map[string][]IncrementPosition{
		"a": {{Partition: 1, Offset: 10}, {Partition: 0, Offset: 5}, {Partition: 1, Offset: 11}},
		"b": {{Partition: 1, Offset: 10}},
	}, got, "one batch per product, its entries in the order read")
}

func TestApplyBatchRaw(t *testing.T) {
	cfg, err := newConfig([]Option{WithCandidates(4), WithNeighbours(2), WithSeeds(2)})
	require.NoError(t, err)
	at := func(p int32, o int64) IncrementPosition { return IncrementPosition{Partition: p, Offset: o} }
	stored := &Item{ProductID: "p1", Users: 4, Orders: 1, Increments: 9, Popularity: Affinity{Score: 2.5, At: t0, Count: 3},
		Co: map[string]int64{"p2": 3, "p3": 1}, Bought: map[string]int64{"p2": 1},
		Last: &IncrementPosition{Partition: 0, Offset: 70}, Sources: []IncrementPosition{at(1, 10), at(3, 5)}}
	entry := func(pos IncrementPosition, with ...string) BatchEntry {
		return BatchEntry{Source: pos, Increment: Increment{ProductID: "p1", Weight: 1, At: t0.Add(time.Hour), NewUser: true, With: with}}
	}
	cases := []struct {
		name    string
		row     func() []byte
		entries []BatchEntry
		applied []int // indexes of the entries applied
		sources []IncrementPosition
	}{
		{"a new item", func() []byte { return nil }, []BatchEntry{entry(at(2, 1), "p2"), entry(at(0, 4), "p2", "p4")},
			[]int{0, 1}, []IncrementPosition{at(0, 4), at(2, 1)}},
		{"entries after the positions", rowOf(t, stored), []BatchEntry{entry(at(1, 11), "p3"), entry(at(3, 6)), entry(at(1, 12), "p5")},
			[]int{0, 1, 2}, []IncrementPosition{at(1, 12), at(3, 6)}},
		{"entries at or before their partition's position are skipped", rowOf(t, stored),
			[]BatchEntry{entry(at(1, 9), "p9"), entry(at(1, 10), "p9"), entry(at(3, 6), "p4"), entry(at(1, 10), "p9")},
			[]int{2}, []IncrementPosition{at(1, 10), at(3, 6)}},
		{"consecutive entries of one set are applied together", rowOf(t, stored),
			[]BatchEntry{entry(at(3, 6), "p4"), entry(at(3, 6), "p5"), entry(at(1, 11)), entry(at(3, 6), "p6")},
			[]int{0, 1, 2}, []IncrementPosition{at(1, 11), at(3, 6)}},
		{"consecutive entries of one set applied already are skipped together", rowOf(t, stored),
			[]BatchEntry{entry(at(3, 5), "p4"), entry(at(3, 5), "p5"), entry(at(3, 6), "p6"), entry(at(3, 6), "p7")},
			[]int{2, 3}, []IncrementPosition{at(1, 10), at(3, 6)}},
		{"a new partition is inserted in order", rowOf(t, stored), []BatchEntry{entry(at(2, 0), "p4")},
			[]int{0}, []IncrementPosition{at(1, 10), at(2, 0), at(3, 5)}},
		{"past the trim threshold: trimmed once, after the batch", rowOf(t, stored),
			[]BatchEntry{entry(at(1, 11), "p4", "p5"), entry(at(1, 12), "p6", "p7"), entry(at(1, 13), "p4")},
			[]int{0, 1, 2}, []IncrementPosition{at(1, 13), at(3, 5)}},
		{"an itemFormat4 row of an earlier version", func() []byte { return encodeItemFormat4(stored) },
			[]BatchEntry{entry(at(1, 0), "p3")}, []int{0}, []IncrementPosition{at(1, 0)}},
		{"an itemFormat3 row of an earlier version", func() []byte { return encodeItemFormat23(stored, itemFormat3) },
			[]BatchEntry{entry(at(1, 0), "p3"), entry(at(2, 4), "p3")}, []int{0, 1}, []IncrementPosition{at(1, 0), at(2, 4)}},
		{"everything applied already: the row unchanged", rowOf(t, stored), []BatchEntry{entry(at(1, 10), "p4"), entry(at(3, 0))},
			nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			row := tc.row()
			out, applied, err := applyBatchRaw(row, &IncrementBatch{ProductID: "p1", Entries: tc.entries}, &cfg)
			require.NoError(t, err)
			require.Equal(t, len(tc.applied), applied)
			if applied == 0 {
				require.Equal(t, row, out)
				return
			}
			want := &Item{}
			if len(row) > 0 {
				v, err := itemCodec{}.Decode(row)
				require.NoError(t, err)
				want = v.(*Item)
			}
			var incs []*Increment
			for _, i := range tc.applied {
				incs = append(incs, &tc.entries[i].Increment)
			}
			want.ApplyAll(incs, &cfg)
			want.Sources = tc.sources
			enc, err := itemCodec{}.Encode(want)
			require.NoError(t, err)
			require.Equal(t, enc, out, "the bytes Encode writes for ApplyAll")
			require.Equal(t, byte(itemFormat5), out[0])
			require.LessOrEqual(t, len(want.Co), 4+4/trimSlack)
		})
	}
	t.Run("a corrupted row is an error, not a reset", func(t *testing.T) {
		row := rowOf(t, stored)()
		for n := 1; n < len(row); n++ {
			_, _, err := applyBatchRaw(row[:n], &IncrementBatch{ProductID: "p1", Entries: []BatchEntry{entry(at(1, 11), "p2")}}, &cfg)
			require.ErrorIs(t, err, errItemRow, "first %d bytes", n)
		}
	})
}

// rowOf returns a function returning it encoded.
func rowOf(t *testing.T, it *Item) func() []byte {
	t.Helper()
	raw, err := itemCodec{}.Encode(it)
	require.NoError(t, err)
	return func() []byte { return raw }
}

// TestCombinedRedeliveriesApplyOnce runs the combiner's windows over random
// increment sets from three partitions, with crashes between a window's
// produce and its commit (the window's batches are delivered, then the sets
// since the last commit are read and batched again, in other windows), and
// folds every batch delivered into item rows: each row must equal the
// sets applied once each.
func TestCombinedRedeliveriesApplyOnce(t *testing.T) {
	cfg, err := newConfig([]Option{WithCandidates(40), WithNeighbours(5)})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 8))
	product := func() string { return fmt.Sprintf("ing-1-p%d", rng.IntN(40)) }
	var sets [3][]*kgo.Record // per partition, in offset order
	want := map[string]*Item{}
	for range 600 {
		p := int32(rng.IntN(3))
		var incs []Increment
		for range 1 + rng.IntN(5) {
			// (a product may occur twice in a set: the user processor
			// merges them, but the combiner and the items do not rely on it)
			id := product()
			inc := Increment{ProductID: id, Weight: float64(rng.IntN(3)), At: t0.Add(time.Duration(rng.IntN(100)) * time.Minute),
				NewUser: rng.IntN(2) == 0, Order: rng.IntN(6) == 0}
			for range rng.IntN(6) {
				inc.With = append(inc.With, product())
			}
			if inc.Order {
				inc.Basket = []string{product()}
			}
			incs = append(incs, inc)
		}
		sets[p] = append(sets[p], setRecord(t, p, int64(len(sets[p])), incs...))
		for i := range incs {
			if want[incs[i].ProductID] == nil {
				want[incs[i].ProductID] = &Item{}
			}
			// The trimming of a batch differs from one by one only
			// past the threshold, which 39 partners with a cap of 40
			// never reach.
			want[incs[i].ProductID].Apply(&incs[i], &cfg)
		}
	}
	rows := map[string][]byte{}
	deliver := func(w *combineWindow) {
		for product, bb := range w.batches {
			v, err := incrementBatchCodec{}.Decode(bb.record(product))
			require.NoError(t, err)
			out, _, err := applyBatchRaw(rows[product], v.(*IncrementBatch), &cfg)
			require.NoError(t, err)
			rows[product] = out
		}
	}
	var committed, next [3]int // per partition: the next offset committed, and read
	crashes := 0
	for committed != [3]int{len(sets[0]), len(sets[1]), len(sets[2])} {
		w := newCombineWindow()
		for range 1 + rng.IntN(20) { // a window: records polled from the partitions
			p := rng.IntN(3)
			if next[p] < len(sets[p]) {
				w.add("g", sets[p][next[p]])
				next[p]++
			}
		}
		deliver(w)
		if rng.IntN(4) == 0 { // crash after the produce, before the commit
			crashes++
			next = committed
			continue
		}
		committed = next
	}
	require.Greater(t, crashes, 5)
	require.Len(t, rows, len(want))
	for product, it := range want {
		v, err := itemCodec{}.Decode(rows[product])
		require.NoError(t, err)
		got := v.(*Item)
		require.Equal(t, it.Co, got.Co, "%s", product)
		require.Equal(t, it.Bought, got.Bought, "%s", product)
		require.Equal(t, it.Users, got.Users, "%s", product)
		require.Equal(t, it.Orders, got.Orders, "%s", product)
		require.Equal(t, it.Increments, got.Increments, "%s", product)
		require.InDelta(t, it.Popularity.Score, got.Popularity.Score, 1e-9, "%s", product)
	}
}
