package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// freeAddr returns a loopback address with a port free now, for dev to
// listen on after this returns. The port is below the kernel's ephemeral
// range: a port from that range (what listening on port 0 gives) can be
// taken in between by any outgoing connection of the other test processes
// ("bind: address already in use"), a port below it only by another
// listener choosing it.
func freeAddr(t *testing.T) string {
	t.Helper()
	low := 32768 // Linux's default; ip_local_port_range has the actual one
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 20000 {
				low = n
			}
		}
	}
	for range 100 {
		port := 20000 + rand.IntN(low-20000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startDev runs `shopstream dev` in-process and waits until /readyz is 200.
// It returns how long that took and a stop function that returns run's error.
func startDev(t *testing.T, dataDir, httpAddr, kafkaAddr string) (time.Duration, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- run(ctx, []string{"dev", "--data-dir", dataDir, "--http", httpAddr, "--kafka", kafkaAddr,
			"--partitions", "4", "--log-level", "warn", "--lag-interval", "500ms"})
	}()
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			done <- err
			return true // fail fast below
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("dev exited early: %v", err)
	default:
	}
	took := time.Since(start)
	return took, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return context.DeadlineExceeded
		}
	}
}

func TestDevStartsStopsAndRestartsOnItsData(t *testing.T) {
	dataDir := t.TempDir()
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)

	took, stop := startDev(t, dataDir, httpAddr, kafkaAddr)
	t.Logf("empty data dir: ready in %v", took)

	// The catalog's topics exist on the embedded broker, which any Kafka
	// client can reach at --kafka.
	k, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	require.NoError(t, err)
	listed, err := kadm.NewClient(k).ListTopics(context.Background())
	require.NoError(t, err)
	k.Close()
	cat, err := topics.NewCatalog(4)
	require.NoError(t, err)
	for _, tp := range cat.Topics() {
		require.True(t, listed.Has(tp.Name), "topic %s exists", tp.Name)
	}

	require.NoError(t, stop(), "a clean stop returns no error")
	for _, sub := range []string{"kafka", "state", "views"} {
		_, err := os.Stat(filepath.Join(dataDir, sub))
		require.NoError(t, err, "%s is kept under --data-dir", sub)
	}

	// Restart on the full data directory: Pebble opens again (no lock left
	// behind) and the broker reloads its log.
	took, stop = startDev(t, dataDir, httpAddr, kafkaAddr)
	t.Logf("full data dir: ready in %v", took)
	require.NoError(t, stop())
}

// parsedConfig is dev's (or run's) configuration from args and the
// environment.
func parsedConfig(dev bool, args ...string) (config, error) {
	var cfg config
	fs := newFlagSet("x")
	cfg.flags(fs, dev)
	return cfg, parseFlags(fs, args)
}

func TestEnvironmentVariablesSetFlags(t *testing.T) {
	t.Setenv("SHOPSTREAM_PARTITIONS", "12")
	t.Setenv("SHOPSTREAM_HTTP", "127.0.0.1:1")
	cfg, err := parsedConfig(true, "--http", "127.0.0.1:2")
	require.NoError(t, err)
	require.Equal(t, 12, cfg.partitions, "from the environment")
	require.Equal(t, "127.0.0.1:2", cfg.httpAddr, "the command line wins")

	t.Setenv("SHOPSTREAM_PARTITIONS", "many")
	_, err = parsedConfig(true)
	require.ErrorContains(t, err, "SHOPSTREAM_PARTITIONS")
}

// dev and run compress with snappy and take another codec from the flag or
// the environment; an unknown one stops dev before its broker starts.
func TestKafkaCompressionFlag(t *testing.T) {
	cases := []struct {
		name string
		dev  bool
		env  string
		want topics.Compression
	}{
		{"dev default", true, "", topics.CompressionSnappy},
		{"run default", false, "", topics.CompressionSnappy},
		{"dev from the environment", true, "zstd", topics.CompressionZstd},
		{"run from the environment", false, "none", topics.CompressionNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SHOPSTREAM_KAFKA_COMPRESSION", tc.env)
			}
			cfg, err := parsedConfig(tc.dev)
			require.NoError(t, err)
			opts, err := cfg.clientOptions(slog.Default())
			require.NoError(t, err)
			require.Len(t, opts, 2)
			c, err := topics.ParseCompression(cfg.compression)
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
	t.Run("unknown codec", func(t *testing.T) {
		err := run(context.Background(), []string{"dev", "--kafka-compression", "brotli", "--data-dir", t.TempDir()})
		require.ErrorIs(t, err, topics.ErrUnknownCompression)
	})
}

// dev reads the processors' tables and run reads views unless told
// otherwise by --reads or SHOPSTREAM_READS; anything else is refused.
func TestReadsFlag(t *testing.T) {
	cases := []struct {
		name    string
		dev     bool
		args    []string
		env     string
		tables  bool
		wantErr bool
	}{
		{"dev default", true, nil, "", true, false},
		{"run default", false, nil, "", false, false},
		{"dev told views", true, []string{"--reads", "views"}, "", false, false},
		{"run told tables by the environment", false, nil, "tables", true, false},
		{"neither", false, []string{"--reads", "replicas"}, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SHOPSTREAM_READS", tc.env)
			}
			cfg, err := parsedConfig(tc.dev, tc.args...)
			if tc.wantErr {
				require.ErrorContains(t, err, "tables or views")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.tables, cfg.tableReads)
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	require.ErrorContains(t, run(context.Background(), []string{"frobnicate"}), "unknown command")
}

// Operands may come before the flags of recs and lag: the flag package
// alone stops at the first operand.
func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		limit    int
		json     bool
		operands []string
	}{
		{"flags first", []string{"--limit", "2", "u4"}, 2, false, []string{"u4"}},
		{"operand first", []string{"u4", "--limit", "2"}, 2, false, []string{"u4"}},
		{"a bool flag takes no value", []string{"g1", "--json", "g2"}, 10, true, []string{"g1", "g2"}},
		{"name=value", []string{"u4", "-limit=3"}, 3, false, []string{"u4"}},
		{"after --, all operands", []string{"--", "-odd", "--limit"}, 10, false, []string{"-odd", "--limit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlagSet("x")
			limit := fs.Int("limit", 10, "")
			asJSON := fs.Bool("json", false, "")
			require.NoError(t, parseInterspersed(fs, tc.args))
			require.Equal(t, tc.limit, *limit)
			require.Equal(t, tc.json, *asJSON)
			require.Equal(t, tc.operands, fs.Args())
		})
	}
}
