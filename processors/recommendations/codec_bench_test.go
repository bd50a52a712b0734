package recommendations

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchRows is an item row with 250 pair counts and a user row with a full
// history (100), 100 affinities and 256 seen event IDs, with IDs shaped like
// the ingestion benchmark's.
func benchRows(b *testing.B) (*Item, *UserRow) {
	b.Helper()
	it := &Item{ProductID: "ing-123456-7-p42", Users: 900, Increments: 5000, Co: map[string]int64{}}
	for i := range 250 {
		it.Co[fmt.Sprintf("ing-123456-7-p%d", i*7)] = int64(1 + i%5)
	}
	p := Profile{UserID: "ing-123456-7-u42", Version: 300, Interactions: 300, LastAt: t0, Affinity: map[string]Affinity{}}
	for i := range 256 {
		id := fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012d", i)
		p.Seen = append(p.Seen, EventHash(id))
		if i < 100 {
			prod := fmt.Sprintf("ing-123456-7-p%d", i*13)
			p.History = append(p.History, HistoryEntry{ProductID: prod, Type: View, At: t0.Add(time.Duration(i) * time.Second)})
			p.Affinity[prod] = Affinity{Score: 1, At: t0, Count: 1}
		}
	}
	return it, &UserRow{Profile: p}
}

// BenchmarkRowDecode measures what a read of the views costs per row in each
// stored form: go test -run '^$' -bench RowDecode ./processors/recommendations/
func BenchmarkRowDecode(b *testing.B) {
	it, row := benchRows(b)
	itemJSON, _ := json.Marshal(it)
	itemBin, _ := itemCodec{}.Encode(it)
	userJSON, _ := json.Marshal(row)
	userBin, _ := userRowCodec{}.Encode(row)
	cases := []struct {
		name  string
		codec interface{ Decode([]byte) (any, error) }
		raw   []byte
	}{
		{"item/json", itemCodec{}, itemJSON},
		{"item/format1", itemCodec{}, encodeItemFormat1(it)},
		{"item/format2", itemCodec{}, itemBin},
		{"user/json", userRowCodec{}, userJSON},
		{"user/format1", userRowCodec{}, userBin},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tc.codec.Decode(tc.raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(tc.raw)), "bytes/row")
		})
	}
}

// BenchmarkUserRowEncode measures the user processor's write of a row at a
// full history (benchRows), which every interaction pays once, as it pays
// a decode (BenchmarkRowDecode/user): go test -run '^$' -bench
// UserRowEncode ./processors/recommendations/
func BenchmarkUserRowEncode(b *testing.B) {
	_, row := benchRows(b)
	var n int
	for b.Loop() {
		raw, err := userRowCodec{}.Encode(row)
		if err != nil {
			b.Fatal(err)
		}
		n = len(raw)
	}
	b.ReportMetric(float64(n), "bytes/row")
}

// BenchmarkApplyRaw measures the item processor's work per increment on a
// row shaped like the ingestion benchmark's (225 pair counts, between the
// cap of 200 and the trim threshold of 250): go test -run '^$' -bench
// ApplyRaw ./processors/recommendations/
func BenchmarkApplyRaw(b *testing.B) {
	cfg, err := newConfig(nil)
	if err != nil {
		b.Fatal(err)
	}
	id := func(i int) string { return fmt.Sprintf("ing-123456-7-p%d", i) }
	row := func(n int) []byte {
		it := &Item{ProductID: id(1), Users: 900, Increments: 5000, Co: map[string]int64{}, Bought: map[string]int64{}}
		for i := range n {
			it.Co[id(i*7+2)] = int64(1 + i%5)
			if i%4 == 0 {
				it.Bought[id(i*7+2)] = int64(1 + i%3)
			}
		}
		raw, err := itemCodec{}.Encode(it)
		if err != nil {
			b.Fatal(err)
		}
		return raw
	}
	// random is a row of n pairs with products drawn from 2,000, as in
	// the ingestion benchmark.
	random := func(n int) []byte {
		rng := rand.New(rand.NewPCG(1, 2))
		it := &Item{ProductID: id(1), Users: 900, Increments: 5000, Co: map[string]int64{}, Bought: map[string]int64{}}
		for len(it.Co) < n {
			q := id(2 + rng.IntN(1998))
			it.Co[q] = int64(1 + rng.IntN(5))
		}
		raw, err := itemCodec{}.Encode(it)
		if err != nil {
			b.Fatal(err)
		}
		return raw
	}
	some := func(n, step int) []string {
		var out []string
		for i := range n {
			out = append(out, id(i*step+2))
		}
		return out
	}
	cases := []struct {
		name string
		row  []byte
		inc  Increment
	}{
		{"1 partner counted", row(225), Increment{With: []string{id(700)}}},
		{"1 partner new", row(225), Increment{With: []string{id(701)}}},
		{"5 partners", row(225), Increment{With: some(5, 301)}},
		{"20 partners", row(225), Increment{With: some(4, 301), Order: true, Basket: some(20, 79)}},
		{"1 partner new, trimmed", row(250), Increment{With: []string{id(701)}}},
		{"popularity only", row(225), Increment{}},
		{"1 partner, 225 of 2000 products at random", random(225), Increment{With: []string{id(1500)}}},
		{"5 partners, 225 of 2000 products at random", random(225), Increment{With: []string{id(15), id(420), id(999), id(1234), id(1876)}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			inc := tc.inc
			inc.ProductID, inc.Weight, inc.At, inc.NewUser = id(1), 1, t0, true
			pos := &IncrementPosition{Partition: 1}
			for b.Loop() {
				pos.Offset++
				if _, _, err := applyRaw(tc.row, &inc, pos, &cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(tc.row)), "bytes/row")
		})
	}
}
