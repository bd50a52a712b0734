package main

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGiftCardOptionsFromTheEnvironment(t *testing.T) {
	p := &platform{logger: slog.Default()}
	cases := []struct {
		name    string
		window  string
		options int
		wantErr bool
	}{
		{"unset: the default window", "", 1, false},
		{"a window", "16", 2, false},
		{"one", "1", 2, false},
		{"zero", "0", 0, true},
		{"negative", "-3", 0, true},
		{"not a number", "eight", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := giftCardOptions(p, func(k string) string {
				if k == "SHOPSTREAM_GIFT_CARD_TX_WINDOW" {
					return tc.window
				}
				return ""
			})
			if tc.wantErr {
				require.ErrorContains(t, err, "SHOPSTREAM_GIFT_CARD_TX_WINDOW")
				return
			}
			require.NoError(t, err)
			require.Len(t, opts, tc.options)
		})
	}
}
