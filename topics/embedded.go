package topics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Embedded is an in-process Kafka broker (franz-go's kfake) for
// `shopstream dev` and tests. With a data directory it keeps its log and
// committed offsets on disk, so a restart resumes where it stopped. Any Kafka
// client can reach it at Addrs().
type Embedded struct {
	cluster *kfake.Cluster
}

type embeddedConfig struct {
	addr       string
	dataDir    string
	partitions int32
}

// EmbeddedOption configures the embedded broker.
type EmbeddedOption func(*embeddedConfig)

// EmbeddedAddr sets where the broker listens, "127.0.0.1:9092" by default.
// Port 0 picks a free port (tests).
func EmbeddedAddr(addr string) EmbeddedOption { return func(c *embeddedConfig) { c.addr = addr } }

// EmbeddedDataDir keeps the broker's data under dir; empty keeps it in memory.
func EmbeddedDataDir(dir string) EmbeddedOption { return func(c *embeddedConfig) { c.dataDir = dir } }

// EmbeddedPartitions sets the partition count of topics created without
// one (default 8).
func EmbeddedPartitions(n int32) EmbeddedOption {
	return func(c *embeddedConfig) { c.partitions = n }
}

func (c *embeddedConfig) validate() (host string, port int, err error) {
	h, p, err := net.SplitHostPort(c.addr)
	if err != nil {
		return "", 0, fmt.Errorf("topics: embedded broker address %q: %w", c.addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("topics: embedded broker port %q is not a port", p)
	}
	if c.partitions < 1 {
		return "", 0, errors.New("topics: embedded broker needs at least one partition per topic")
	}
	return h, port, nil
}

// StartEmbedded starts the broker; it listens when this returns.
func StartEmbedded(opts ...EmbeddedOption) (*Embedded, error) {
	cfg := embeddedConfig{addr: "127.0.0.1:9092", partitions: 8}
	for _, o := range opts {
		o(&cfg)
	}
	host, port, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(int(cfg.partitions)),
		kfake.ClusterID("shopstream-dev"),
		// Let consumer groups use short sessions in tests.
		kfake.GroupMinSessionTimeout(0),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.MaxVersions(withoutClientTelemetry()),
	}
	if cfg.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(cfg.dataDir))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("topics: starting embedded broker on %s: %w", cfg.addr, err)
	}
	return &Embedded{cluster: c}, nil
}

// Addrs returns the addresses clients bootstrap from.
func (e *Embedded) Addrs() []string { return e.cluster.ListenAddrs() }

// Run serves until ctx is done, then closes the broker (flushing its data
// directory).
func (e *Embedded) Run(ctx context.Context) error {
	<-ctx.Done()
	e.Close()
	return nil
}

// Close stops the broker; it is safe to call more than once.
func (e *Embedded) Close() { e.cluster.Close() }

// withoutClientTelemetry is every Kafka request but KIP-714's client
// telemetry (GetTelemetrySubscriptions, PushTelemetry). The embedded broker
// would discard what clients push, and a franz-go client that is offered a
// subscription compresses and pushes its metrics every 30 s, taking 4 MiB
// buffers from an lz4 pool each time (~2% of the allocations of the returns
// benchmark). Offered nothing, clients send nothing.
func withoutClientTelemetry() *kversion.Versions {
	v := kversion.Tip()
	v.SetMaxKeyVersion(int16(kmsg.GetTelemetrySubscriptions), -1)
	v.SetMaxKeyVersion(int16(kmsg.PushTelemetry), -1)
	return v
}
