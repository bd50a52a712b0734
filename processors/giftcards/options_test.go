package giftcards

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStateCacheOptions checks the stored-bytes cache's bound: on by
// default, settable, 0 turns it off, never negative.
func TestStateCacheOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    []Option
		want    int
		wantErr bool
	}{
		{"default", nil, DefaultStateCacheBytes, false},
		{"set", []Option{WithStateCacheBytes(8 << 20)}, 8 << 20, false},
		{"off", []Option{WithStateCacheBytes(0)}, 0, false},
		{"negative", []Option{WithStateCacheBytes(-1)}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			for _, o := range tc.opts {
				o(&cfg)
			}
			err := cfg.validate()
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, cfg.stateCache)
		})
	}
}
