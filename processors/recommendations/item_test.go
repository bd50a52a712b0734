package recommendations

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"testing"

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
