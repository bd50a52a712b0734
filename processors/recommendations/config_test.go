package recommendations

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTableCacheBytesOption(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		want int
		ok   bool
	}{
		{"default", nil, DefaultTableCacheBytes, true},
		{"off", []Option{WithTableCacheBytes(0)}, 0, true},
		{"1 MiB", []Option{WithTableCacheBytes(1 << 20)}, 1 << 20, true},
		{"negative", []Option{WithTableCacheBytes(-1)}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newConfig(tc.opts)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.tableCacheBytes)
		})
	}
}
