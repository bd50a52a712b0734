package returns

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The service's cache options: on by default, settable, 0 turns them off,
// never negative.
func TestCacheOptions(t *testing.T) {
	cases := []struct {
		name           string
		opts           []Option
		records, bytes int
		wantErr        bool
	}{
		{"defaults", nil, DefaultRecordCacheSize, DefaultTableCacheBytes, false},
		{"set", []Option{WithRecordCacheSize(8), WithTableCacheBytes(1 << 20)}, 8, 1 << 20, false},
		{"off", []Option{WithRecordCacheSize(0), WithTableCacheBytes(0)}, 0, 0, false},
		{"negative record cache", []Option{WithRecordCacheSize(-1)}, 0, 0, true},
		{"negative table cache", []Option{WithTableCacheBytes(-1)}, 0, 0, true},
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
			require.Equal(t, tc.records, cfg.recordCacheSize)
			require.Equal(t, tc.bytes, cfg.tableCacheBytes)
		})
	}
}
