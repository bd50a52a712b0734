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
	interaction := SourcePosition{Input: SourceInteractions, Partition: 2, Offset: 41}
	cases := []struct {
		name string
		set  *IncrementSet
	}{
		{"one increment", &IncrementSet{Source: interaction, Increments: []Increment{{ProductID: "p1", Weight: 1, At: t0, NewUser: true}}}},
		{"a view's fan-out", &IncrementSet{Source: interaction, Increments: []Increment{
			{ProductID: "p1", Weight: 1, At: t0, NewUser: true, With: []string{"p2", "p3"}},
			{ProductID: "p2", At: t0, With: []string{"p1"}}, {ProductID: "p3", At: t0, With: []string{"p1"}}}}},
		{"an order", &IncrementSet{Source: SourcePosition{Input: SourceInteractions, Partition: 0, Offset: 0}, Increments: []Increment{
			{ProductID: "p1", Weight: 5, Order: true, Basket: []string{"p2"}},
			{ProductID: "p2", Weight: 5, Order: true, Basket: []string{"p1"}}}}},
		{"a command's", &IncrementSet{Source: SourcePosition{Input: SourceCommands, Partition: 1 << 20, Offset: 1 << 50},
			Increments: []Increment{{ProductID: "p1", Weight: 3, At: t0, NewUser: true}}}},
		{"without a source", &IncrementSet{Increments: []Increment{{ProductID: "p1", Weight: 1, At: t0, NewUser: true}}}},
		{"an increment longer than 127 bytes", &IncrementSet{Source: interaction, Increments: []Increment{{ProductID: "p1", At: t0, With: long}, {ProductID: "p2"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := incrementSetCodec{}.Encode(tc.set)
			require.NoError(t, err)
			got, err := incrementSetCodec{}.Decode(raw)
			require.NoError(t, err)
			require.Equal(t, tc.set, got)
			var products []string
			src, err := splitIncrementSet(raw, func(product string, inc []byte) error {
				products = append(products, product)
				i := len(products) - 1
				require.Equal(t, appendIncrement(nil, &tc.set.Increments[i]), inc, "the increment's bytes, unchanged")
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, tc.set.Source, src)
			require.Len(t, products, len(tc.set.Increments))
			for n := range len(raw) {
				_, err := incrementSetCodec{}.Decode(raw[:n])
				require.ErrorIs(t, err, errIncrementSet, "first %d bytes", n)
			}
			_, err = incrementSetCodec{}.Decode(append(raw, 0))
			require.ErrorIs(t, err, errIncrementSet, "a trailing byte")
		})
	}
	t.Run("only sets encode; an increment, JSON or an unknown source is not a set", func(t *testing.T) {
		for _, v := range []any{&Increment{}, []Increment{{ProductID: "p1"}}, (*IncrementSet)(nil),
			&IncrementSet{Source: SourcePosition{Input: maxSourceInput + 1}}} {
			_, err := incrementSetCodec{}.Encode(v)
			require.Error(t, err, "%#v", v)
		}
		inc, err := incrementCodec{}.Encode(&Increment{ProductID: "p1"})
		require.NoError(t, err)
		_, err = incrementSetCodec{}.Decode(append([]byte{incrementSetFormat1, 0, 1, byte(len(inc) - 1)}, inc[1:]...))
		require.NoError(t, err, "(the same increment inside a set)")
		_, err = incrementSetCodec{}.Decode(append([]byte{incrementSetFormat1, byte(SourceCommands), 0, 0, 1, byte(len(inc) - 1)}, inc[1:]...))
		require.NoError(t, err, "(the same increment inside a set with a source)")
		for _, bad := range [][]byte{inc, []byte(`{"product_id":"p1"}`), {incrementSetFormat1, 0, 1, 1, 0},
			append([]byte{incrementSetFormat1, byte(maxSourceInput + 1), 0, 0, 1, byte(len(inc) - 1)}, inc[1:]...)} {
			_, err = incrementSetCodec{}.Decode(bad)
			require.ErrorIs(t, err, errIncrementSet, "%q", bad)
		}
	})
}

func TestIncrementBatchCodec(t *testing.T) {
	b := &IncrementBatch{ProductID: "p1", Entries: []BatchEntry{
		{Source: SourcePosition{Input: SourceInteractions, Partition: 3, Offset: 1 << 40},
			Increment: Increment{ProductID: "p1", Weight: 1, At: t0, NewUser: true, With: []string{"p2"}}},
		{Source: SourcePosition{Input: SourceInteractions, Partition: 3, Offset: 1 << 40}, Continues: true,
			Increment: Increment{ProductID: "p1", With: []string{"p4"}}},
		{Source: SourcePosition{Input: SourceSetRecord, Partition: 0, Offset: 0}, Increment: Increment{ProductID: "p1", Order: true, Basket: []string{"p2", "p3"}}},
		{Source: SourcePosition{Input: SourceCommands, Partition: 0, Offset: 0}, Increment: Increment{ProductID: "p1", Weight: 3, At: t0}},
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
	t.Run("an entry continues the set of the entry before it", func(t *testing.T) {
		for i, entries := range [][]BatchEntry{
			{{Continues: true, Increment: Increment{ProductID: "p1"}}},
			{b.Entries[0], {Source: SourcePosition{Input: SourceInteractions, Partition: 3, Offset: 1<<40 + 1}, Continues: true, Increment: Increment{ProductID: "p1"}}},
			{b.Entries[0], {Source: SourcePosition{Input: SourceCommands, Partition: 3, Offset: 1 << 40}, Continues: true, Increment: Increment{ProductID: "p1"}}},
		} {
			_, err := incrementBatchCodec{}.Encode(&IncrementBatch{ProductID: "p1", Entries: entries})
			require.Error(t, err, "case %d", i)
			// The same bytes written by hand do not decode either.
			var bb batchBuilder
			for _, e := range entries {
				bb.add(e.Source, e.Continues, appendIncrement(nil, &e.Increment))
			}
			_, err = incrementBatchCodec{}.Decode(bb.record("p1"))
			require.ErrorIs(t, err, errIncrementBatch, "case %d", i)
		}
		var bb batchBuilder
		bb.add(SourcePosition{Input: maxSourceInput + 1}, false, appendIncrement(nil, &Increment{ProductID: "p1"}))
		_, err := incrementBatchCodec{}.Decode(bb.record("p1"))
		require.ErrorIs(t, err, errIncrementBatch, "an unknown input")
	})
}

// setRecord is the increment set of src and incs as the combiner reads it
// at partition p, offset o.
func setRecord(t *testing.T, p int32, o int64, src SourcePosition, incs ...Increment) *kgo.Record {
	t.Helper()
	raw, err := incrementSetCodec{}.Encode(&IncrementSet{Source: src, Increments: incs})
	require.NoError(t, err)
	return &kgo.Record{Topic: "sets", Partition: p, Offset: o, Key: []byte("u"), Value: raw}
}

// noSource is the source of a set that carries none.
var noSource SourcePosition

func TestCombineWindowBatchesPerProduct(t *testing.T) {
	w := newCombineWindow()
	w.add("g", setRecord(t, 1, 10, noSource, Increment{ProductID: "a", With: []string{"b"}}, Increment{ProductID: "b", With: []string{"a"}}))
	w.add("g", &kgo.Record{Topic: "sets", Partition: 0, Offset: 4, Key: []byte("k"),
		Value: []byte{incrementSetFormat1, 0, 2, 3, 1, 'c', 0}}) // the second increment is missing
	w.add("g", setRecord(t, 0, 5, noSource, Increment{ProductID: "a", Weight: 2}))
	w.add("g", setRecord(t, 1, 11, noSource, Increment{ProductID: "a", Order: true}))
	require.Equal(t, 4, w.records)
	require.Equal(t, 4, w.entries)
	require.Len(t, w.dead, 1, "the unreadable set")
	require.Equal(t, "g.dlq", w.dead[0].Topic)
	require.NotContains(t, w.batches, "c", "nothing of a set that cannot be read is batched")
	got := map[string][]SourcePosition{}
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
	require.Equal(t, map[string][]SourcePosition{
		"a": {{Partition: 1, Offset: 10}, {Partition: 0, Offset: 5}, {Partition: 1, Offset: 11}},
		"b": {{Partition: 1, Offset: 10}},
	}, got, "one batch per product, its entries in the order read, sets without a source at their own positions")
}

// TestCombineWindowCarriesSourcePositions checks the entries the combiner
// makes of sets that carry the position of the user processor's input
// message: that position, whatever the set record's; a further increment
// of a set to one product continues its entry, and a set emitted again
// right after it does not.
func TestCombineWindowCarriesSourcePositions(t *testing.T) {
	in := func(o int64) SourcePosition {
		return SourcePosition{Input: SourceInteractions, Partition: 1, Offset: o}
	}
	cmd := func(o int64) SourcePosition { return SourcePosition{Input: SourceCommands, Partition: 1, Offset: o} }
	rec := func(o int64) SourcePosition { return SourcePosition{Input: SourceSetRecord, Partition: 1, Offset: o} }
	a, b := Increment{ProductID: "a", With: []string{"b"}}, Increment{ProductID: "b", With: []string{"a"}}
	type entry struct {
		Source    SourcePosition
		Continues bool
	}
	cases := []struct {
		name string
		sets []*kgo.Record
		want map[string][]entry
	}{
		{"an interaction's set: its message's position, not the set's",
			[]*kgo.Record{setRecord(t, 1, 500, in(7), a, b)},
			map[string][]entry{"a": {{in(7), false}}, "b": {{in(7), false}}}},
		{"a command's set",
			[]*kgo.Record{setRecord(t, 1, 500, cmd(7), a, b)},
			map[string][]entry{"a": {{cmd(7), false}}, "b": {{cmd(7), false}}}},
		{"a set emitted again (another record, the same position) starts its own entry",
			[]*kgo.Record{setRecord(t, 1, 500, in(7), a, b), setRecord(t, 1, 501, in(7), a, b)},
			map[string][]entry{"a": {{in(7), false}, {in(7), false}}, "b": {{in(7), false}, {in(7), false}}}},
		{"two increments of one set to a product: the second continues the first",
			[]*kgo.Record{setRecord(t, 1, 500, in(7), a, b, a), setRecord(t, 1, 501, cmd(3), a)},
			map[string][]entry{"a": {{in(7), false}, {in(7), true}, {cmd(3), false}}, "b": {{in(7), false}}}},
		{"sets with and without a source",
			[]*kgo.Record{setRecord(t, 1, 500, noSource, a), setRecord(t, 1, 501, in(8), a), setRecord(t, 1, 502, noSource, a, a)},
			map[string][]entry{"a": {{rec(500), false}, {in(8), false}, {rec(502), false}, {rec(502), true}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newCombineWindow()
			for _, r := range tc.sets {
				w.add("g", r)
			}
			require.Empty(t, w.dead)
			got := map[string][]entry{}
			for product, bb := range w.batches {
				v, err := incrementBatchCodec{}.Decode(bb.record(product))
				require.NoError(t, err)
				for _, e := range v.(*IncrementBatch).Entries {
					got[product] = append(got[product], entry{e.Source, e.Continues})
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestReemittedSetsApplyOnce plays what reaches an item row after the user
// processor crashed with a set produced and its user row's write lost: it
// handles the message again and emits the set again (another record on
// the sets topic, the same source position). For either input, the item
// row counts the set once, whether its copy is in the same window or a
// later one, and counts new sets and the other input's; a set without a
// source emitted twice counts twice (nothing tells the copies apart).
func TestReemittedSetsApplyOnce(t *testing.T) {
	cfg, err := newConfig(nil)
	require.NoError(t, err)
	inc := func(partner string) Increment {
		return Increment{ProductID: "a", Weight: 1, At: t0, NewUser: true, With: []string{partner}}
	}
	other := map[SourceInput]SourceInput{SourceInteractions: SourceCommands, SourceCommands: SourceInteractions}
	for _, input := range []SourceInput{SourceInteractions, SourceCommands} {
		at := func(o int64) SourcePosition { return SourcePosition{Input: input, Partition: 2, Offset: o} }
		cases := []struct {
			name    string
			windows [][]*kgo.Record // the set records, per window
			want    map[string]int64
		}{
			{"the copy in the same window, right after the set", [][]*kgo.Record{
				{setRecord(t, 2, 10, at(7), inc("b")), setRecord(t, 2, 11, at(7), inc("b"))},
			}, map[string]int64{"b": 1}},
			{"the copy in a later window", [][]*kgo.Record{
				{setRecord(t, 2, 10, at(7), inc("b"))},
				{setRecord(t, 2, 14, at(7), inc("b"))},
			}, map[string]int64{"b": 1}},
			{"copies of two sets after the crash, then a new set", [][]*kgo.Record{
				{setRecord(t, 2, 10, at(6), inc("b")), setRecord(t, 2, 11, at(7), inc("c"))},
				{setRecord(t, 2, 12, at(6), inc("b")), setRecord(t, 2, 13, at(7), inc("c")), setRecord(t, 2, 14, at(8), inc("d"))},
			}, map[string]int64{"b": 1, "c": 1, "d": 1}},
			{"a set of two increments to the product and its copy", [][]*kgo.Record{
				{setRecord(t, 2, 10, at(7), inc("b"), inc("c")), setRecord(t, 2, 11, at(7), inc("b"), inc("c"))},
			}, map[string]int64{"b": 1, "c": 1}},
			{"the same position on the other input is another message", [][]*kgo.Record{
				{setRecord(t, 2, 10, at(7), inc("b")),
					setRecord(t, 2, 11, SourcePosition{Input: other[input], Partition: 2, Offset: 7}, inc("b"))},
			}, map[string]int64{"b": 2}},
			{"the same offset on another partition is another message", [][]*kgo.Record{
				{setRecord(t, 2, 10, at(7), inc("b"))},
				{setRecord(t, 3, 10, SourcePosition{Input: input, Partition: 3, Offset: 7}, inc("b"))},
			}, map[string]int64{"b": 2}},
			{"a set without a source emitted twice counts twice", [][]*kgo.Record{
				{setRecord(t, 2, 10, noSource, inc("b")), setRecord(t, 2, 11, noSource, inc("b"))},
			}, map[string]int64{"b": 2}},
		}
		for _, tc := range cases {
			t.Run(map[SourceInput]string{SourceInteractions: "interactions", SourceCommands: "commands"}[input]+"/"+tc.name, func(t *testing.T) {
				var row []byte
				for _, recs := range tc.windows {
					w := newCombineWindow()
					for _, r := range recs {
						w.add("g", r)
					}
					v, err := incrementBatchCodec{}.Decode(w.batches["a"].record("a"))
					require.NoError(t, err)
					row, _, err = applyBatchRaw(row, v.(*IncrementBatch), &cfg)
					require.NoError(t, err)
				}
				v, err := itemCodec{}.Decode(row)
				require.NoError(t, err)
				it := v.(*Item)
				require.Equal(t, tc.want, it.Co)
				var n int64
				for _, c := range tc.want {
					n += c
				}
				require.Equal(t, n, it.Users, "each set applied counts its user once")
			})
		}
	}
}

func TestApplyBatchRaw(t *testing.T) {
	cfg, err := newConfig([]Option{WithCandidates(4), WithNeighbours(2), WithSeeds(2)})
	require.NoError(t, err)
	at := func(p int32, o int64) SourcePosition {
		return SourcePosition{Input: SourceInteractions, Partition: p, Offset: o}
	}
	cmd := func(p int32, o int64) SourcePosition {
		return SourcePosition{Input: SourceCommands, Partition: p, Offset: o}
	}
	stored := &Item{ProductID: "p1", Users: 4, Orders: 1, Increments: 9, Popularity: Affinity{Score: 2.5, At: t0, Count: 3},
		Co: map[string]int64{"p2": 3, "p3": 1}, Bought: map[string]int64{"p2": 1},
		Last: &IncrementPosition{Partition: 0, Offset: 70}, Sources: []SourcePosition{at(1, 10), at(3, 5)}}
	entry := func(pos SourcePosition, with ...string) BatchEntry {
		return BatchEntry{Source: pos, Increment: Increment{ProductID: "p1", Weight: 1, At: t0.Add(time.Hour), NewUser: true, With: with}}
	}
	cont := func(pos SourcePosition, with ...string) BatchEntry { // a further increment of the previous entry's set
		e := entry(pos, with...)
		e.Continues = true
		return e
	}
	cases := []struct {
		name    string
		row     func() []byte
		entries []BatchEntry
		applied []int // indexes of the entries applied
		sources []SourcePosition
	}{
		{"a new item", func() []byte { return nil }, []BatchEntry{entry(at(2, 1), "p2"), entry(at(0, 4), "p2", "p4")},
			[]int{0, 1}, []SourcePosition{at(0, 4), at(2, 1)}},
		{"entries after the positions", rowOf(t, stored), []BatchEntry{entry(at(1, 11), "p3"), entry(at(3, 6)), entry(at(1, 12), "p5")},
			[]int{0, 1, 2}, []SourcePosition{at(1, 12), at(3, 6)}},
		{"entries at or before their partition's position are skipped", rowOf(t, stored),
			[]BatchEntry{entry(at(1, 9), "p9"), entry(at(1, 10), "p9"), entry(at(3, 6), "p4"), entry(at(1, 10), "p9")},
			[]int{2}, []SourcePosition{at(1, 10), at(3, 6)}},
		{"consecutive entries of one set are applied together", rowOf(t, stored),
			[]BatchEntry{entry(at(3, 6), "p4"), cont(at(3, 6), "p5"), entry(at(1, 11)), entry(at(3, 6), "p6")},
			[]int{0, 1, 2}, []SourcePosition{at(1, 11), at(3, 6)}},
		{"consecutive entries of one set applied already are skipped together", rowOf(t, stored),
			[]BatchEntry{entry(at(3, 5), "p4"), cont(at(3, 5), "p5"), entry(at(3, 6), "p6"), cont(at(3, 6), "p7")},
			[]int{2, 3}, []SourcePosition{at(1, 10), at(3, 6)}},
		{"a set emitted again right after it (the same position, not continuing it) is skipped", rowOf(t, stored),
			[]BatchEntry{entry(at(1, 11), "p4"), cont(at(1, 11), "p5"), entry(at(1, 11), "p4"), cont(at(1, 11), "p5")},
			[]int{0, 1}, []SourcePosition{at(1, 11), at(3, 5)}},
		{"the inputs are separate sources, ordered by input then partition", rowOf(t, stored),
			[]BatchEntry{entry(cmd(1, 10), "p4"), entry(cmd(0, 2), "p5"), entry(at(1, 11), "p6"), entry(cmd(1, 10), "p4")},
			[]int{0, 1, 2}, []SourcePosition{at(1, 11), at(3, 5), cmd(0, 2), cmd(1, 10)}},
		{"sets without a source at their records' positions are a source of their own", rowOf(t, stored),
			[]BatchEntry{entry(SourcePosition{Partition: 1, Offset: 10}, "p4"), entry(at(1, 10), "p5")},
			[]int{0}, []SourcePosition{{Partition: 1, Offset: 10}, at(1, 10), at(3, 5)}},
		{"a new partition is inserted in order", rowOf(t, stored), []BatchEntry{entry(at(2, 0), "p4")},
			[]int{0}, []SourcePosition{at(1, 10), at(2, 0), at(3, 5)}},
		{"past the trim threshold: trimmed once, after the batch", rowOf(t, stored),
			[]BatchEntry{entry(at(1, 11), "p4", "p5"), entry(at(1, 12), "p6", "p7"), entry(at(1, 13), "p4")},
			[]int{0, 1, 2}, []SourcePosition{at(1, 13), at(3, 5)}},
		{"an itemFormat4 row of an earlier version", func() []byte { return encodeItemFormat4(stored) },
			[]BatchEntry{entry(at(1, 0), "p3")}, []int{0}, []SourcePosition{at(1, 0)}},
		{"an itemFormat3 row of an earlier version", func() []byte { return encodeItemFormat23(stored, itemFormat3) },
			[]BatchEntry{entry(at(1, 0), "p3"), entry(at(2, 4), "p3")}, []int{0, 1}, []SourcePosition{at(1, 0), at(2, 4)}},
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
// increment sets from three partitions (each of the user processor's two
// inputs, interactions and commands, with its partitions), with the user
// processor crashing after it produced sets and before their user rows'
// writes landed (it emits the last sets of the input partition again: new
// records, the same source positions), and crashes of the combiner between
// a window's produce and its commit (the window's batches are delivered,
// then the sets since the last commit are read and batched again, in other
// windows); it folds every batch delivered into item rows: each row must
// equal the sets applied once each.
func TestCombinedRedeliveriesApplyOnce(t *testing.T) {
	cfg, err := newConfig([]Option{WithCandidates(40), WithNeighbours(5)})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 8))
	product := func() string { return fmt.Sprintf("ing-1-p%d", rng.IntN(40)) }
	var sets [3][]*kgo.Record // per partition, in offset order
	type emitted struct {
		src  SourcePosition
		incs []Increment
	}
	var recent [3][maxSourceInput + 1][]emitted // per partition and input: the sets emitted
	want := map[string]*Item{}
	reemitted := 0
	for range 600 {
		p := int32(rng.IntN(3))
		input := SourceInteractions
		if rng.IntN(3) == 0 {
			input = SourceCommands
		}
		src := SourcePosition{Input: input, Partition: p, Offset: int64(len(recent[p][input]))}
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
		sets[p] = append(sets[p], setRecord(t, p, int64(len(sets[p])), src, incs...))
		recent[p][input] = append(recent[p][input], emitted{src, incs})
		if rng.IntN(8) == 0 { // the user processor crashes: the last sets of the input partition again
			last := recent[p][input]
			for _, e := range last[max(0, len(last)-1-rng.IntN(3)):] {
				sets[p] = append(sets[p], setRecord(t, p, int64(len(sets[p])), e.src, e.incs...))
				reemitted++
			}
		}
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
	require.Greater(t, reemitted, 50)
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
