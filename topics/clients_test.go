package topics

import (
	"log/slog"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNewClientsValidates(t *testing.T) {
	brokers := []string{"127.0.0.1:9092"}
	cases := []struct {
		name    string
		brokers []string
		opts    []ClientOption
	}{
		{"no brokers", nil, nil},
		{"empty broker", []string{" "}, nil},
		{"empty client ID", brokers, []ClientOption{WithClientID("")}},
		{"session shorter than three heartbeats", brokers, []ClientOption{WithGroupTimings(2*time.Second, time.Second, 10*time.Second)}},
		{"nil logger", brokers, []ClientOption{WithLogger(nil)}},
		{"unknown compression", brokers, []ClientOption{WithCompression("brotli")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClients(tc.brokers, tc.opts...)
			require.Error(t, err)
		})
	}
	t.Run("valid", func(t *testing.T) {
		_, err := NewClients(brokers, WithClientID("x"), WithLogger(slog.Default()))
		require.NoError(t, err)
	})
}

func TestParseCompression(t *testing.T) {
	cases := []struct {
		in   string
		want Compression
	}{
		{"none", CompressionNone},
		{"snappy", CompressionSnappy},
		{" LZ4 ", CompressionLZ4},
		{"zstd", CompressionZstd},
		{"gzip", CompressionGzip},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCompression(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"", "brotli", "snapy"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			_, err := ParseCompression(bad)
			require.ErrorIs(t, err, ErrUnknownCompression)
		})
	}
}

// TestProducerLinger: processors' producers linger 1 ms, as every client
// Kgo builds, and lingering as asked with the option ProducerLinger gives
// goka (its producer builder with kgo.ProducerLinger).
func TestProducerLinger(t *testing.T) {
	c, err := NewClients([]string{"127.0.0.1:1"})
	require.NoError(t, err)
	linger := func(t *testing.T, build goka.ProducerBuilder) time.Duration {
		t.Helper()
		p, err := build(nil, "test", nil)
		require.NoError(t, err)
		defer func() { require.NoError(t, p.Close()) }()
		return p.(*kgoProducer).client.OptValue(kgo.ProducerLinger).(time.Duration)
	}
	require.Equal(t, time.Millisecond, linger(t, c.producerBuilder()))
	require.Equal(t, 5*time.Millisecond, linger(t, c.producerBuilder(kgo.ProducerLinger(5*time.Millisecond))))
	require.Equal(t, time.Duration(0), linger(t, c.producerBuilder(kgo.ProducerLinger(0))))
}
