package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
)

func TestRecommendationsOptions(t *testing.T) {
	cases := []struct {
		name, window string
		opts, ok     bool // options returned; the service accepts them
	}{
		{"unset: the default window", "", false, true},
		{"a window", "20ms", true, true},
		{"not a duration", "soon", false, false},
		{"zero", "0s", true, false},
		{"past 10 s", "1m", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := recommendationsOptions(func(k string) string {
				require.Equal(t, "SHOPSTREAM_RECOMMENDATIONS_COMBINE_WINDOW", k)
				return tc.window
			})
			if !tc.opts && !tc.ok {
				require.ErrorContains(t, err, "SHOPSTREAM_RECOMMENDATIONS_COMBINE_WINDOW")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.opts, len(opts) > 0)
			clients, err := topics.NewClients([]string{"127.0.0.1:1"}) // never dialed
			require.NoError(t, err)
			_, err = recommendations.NewCombiner(clients, opts...)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
