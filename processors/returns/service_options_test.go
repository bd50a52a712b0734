package returns

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The service's table cache option: on by default, settable, 0 turns it
// off, never negative.
func TestCacheOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    []Option
		bytes   int
		wantErr bool
	}{
		{"defaults", nil, DefaultTableCacheBytes, false},
		{"set", []Option{WithTableCacheBytes(1 << 20)}, 1 << 20, false},
		{"off", []Option{WithTableCacheBytes(0)}, 0, false},
		{"negative", []Option{WithTableCacheBytes(-1)}, 0, true},
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
			require.Equal(t, tc.bytes, cfg.tableCacheBytes)
		})
	}
}

func TestProducerLingerOption(t *testing.T) {
	cfg := defaultConfig()
	require.Equal(t, DefaultProducerLinger, cfg.linger)
	WithProducerLinger(0)(&cfg)
	require.NoError(t, cfg.validate())
	require.Zero(t, cfg.linger)
	WithProducerLinger(-time.Millisecond)(&cfg)
	require.Error(t, cfg.validate())
}

// Where the read methods read: views by default; the processors' tables
// or nowhere on request, the last option given winning.
func TestReadsOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want reads
	}{
		{"views by default", nil, readViews},
		{"the processors' tables", []Option{WithTableReads()}, readTables},
		{"none", []Option{WithoutViews()}, readNone},
		{"the last one given", []Option{WithoutViews(), WithTableReads()}, readTables},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			for _, o := range tc.opts {
				o(&cfg)
			}
			require.NoError(t, cfg.validate())
			require.Equal(t, tc.want, cfg.reads)
		})
	}
}
