package topics

import (
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Clients is the one place where Kafka clients are configured: goka's Sarama
// consumers, producers and topic manager, and franz-go clients. Everything
// that talks to Kafka takes its options from here.
type Clients struct {
	cfg clientsConfig
}

type clientsConfig struct {
	brokers     []string
	clientID    string
	version     sarama.KafkaVersion
	compression Compression
	logger      *slog.Logger
	// sessionTimeout and rebalanceTimeout shape how fast a group notices a
	// member joining or leaving.
	sessionTimeout   time.Duration
	heartbeat        time.Duration
	rebalanceTimeout time.Duration
}

// ClientOption configures Clients.
type ClientOption func(*clientsConfig)

// WithClientID sets the client ID prefix (default "shopstream").
func WithClientID(id string) ClientOption { return func(c *clientsConfig) { c.clientID = id } }

// WithLogger sets the logger goka and Sarama report to (default slog.Default()).
func WithLogger(l *slog.Logger) ClientOption { return func(c *clientsConfig) { c.logger = l } }

// WithKafkaVersion sets the protocol version Sarama speaks (default 3.6.0).
func WithKafkaVersion(v sarama.KafkaVersion) ClientOption {
	return func(c *clientsConfig) { c.version = v }
}

// Compression is the codec producers compress record batches with.
type Compression string

// The codecs Kafka knows.
const (
	CompressionNone   Compression = "none"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
	CompressionGzip   Compression = "gzip"
)

// ErrUnknownCompression is returned for a codec Kafka does not know.
var ErrUnknownCompression = errors.New("topics: unknown compression codec")

// ParseCompression reads a codec's name: none, snappy, lz4, zstd or gzip.
func ParseCompression(s string) (Compression, error) {
	c := Compression(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := compressionCodecs[c]; !ok {
		return "", fmt.Errorf("%w: %q (none, snappy, lz4, zstd, gzip)", ErrUnknownCompression, s)
	}
	return c, nil
}

// compressionCodecs maps a codec to what Sarama and franz-go call it.
var compressionCodecs = map[Compression]struct {
	sarama sarama.CompressionCodec
	kgo    kgo.CompressionCodec
}{
	CompressionNone:   {sarama.CompressionNone, kgo.NoCompression()},
	CompressionSnappy: {sarama.CompressionSnappy, kgo.SnappyCompression()},
	CompressionLZ4:    {sarama.CompressionLZ4, kgo.Lz4Compression()},
	CompressionZstd:   {sarama.CompressionZSTD, kgo.ZstdCompression()},
	CompressionGzip:   {sarama.CompressionGZIP, kgo.GzipCompression()},
}

// WithCompression sets the codec every producer compresses batches with
// (default snappy). Compression pays even against the embedded broker in
// the same process: it copies every byte of a batch into its log and back
// out to consumers, and the returns lifecycle benchmark cost ~40% more CPU
// uncompressed than with snappy (docs/transport-benchmarks.md).
func WithCompression(c Compression) ClientOption {
	return func(cfg *clientsConfig) { cfg.compression = c }
}

// WithGroupTimings sets the consumer-group session, heartbeat and rebalance
// timeouts (defaults 10 s, 1 s, 10 s). Shorter timings make a group react
// faster to a member that died, at the price of false alarms under load.
func WithGroupTimings(session, heartbeat, rebalance time.Duration) ClientOption {
	return func(c *clientsConfig) {
		c.sessionTimeout, c.heartbeat, c.rebalanceTimeout = session, heartbeat, rebalance
	}
}

func (c *clientsConfig) validate() error {
	if len(c.brokers) == 0 {
		return errors.New("topics: no brokers given")
	}
	for _, b := range c.brokers {
		if strings.TrimSpace(b) == "" {
			return errors.New("topics: empty broker address")
		}
	}
	if c.clientID == "" {
		return errors.New("topics: empty client ID")
	}
	if c.heartbeat <= 0 || c.sessionTimeout < 3*c.heartbeat {
		return fmt.Errorf("topics: session timeout %v must be at least three heartbeats (%v)", c.sessionTimeout, c.heartbeat)
	}
	if c.logger == nil {
		return errors.New("topics: nil logger")
	}
	if _, ok := compressionCodecs[c.compression]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownCompression, c.compression)
	}
	return nil
}

// NewClients validates the configuration for brokers.
func NewClients(brokers []string, opts ...ClientOption) (*Clients, error) {
	cfg := clientsConfig{
		brokers:          brokers,
		clientID:         "shopstream",
		version:          sarama.V3_6_0_0,
		compression:      CompressionSnappy,
		logger:           slog.Default(),
		sessionTimeout:   10 * time.Second,
		heartbeat:        time.Second,
		rebalanceTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Clients{cfg: cfg}, nil
}

// Brokers returns the bootstrap brokers.
func (c *Clients) Brokers() []string { return slices.Clone(c.cfg.brokers) }

// Sarama returns a fresh Sarama configuration for goka. Every call returns a
// new value, because goka's builders write into the configuration they get.
//
// New consumer groups start at the oldest offset: goka's default, the newest,
// silently skips whatever was produced before a group first joined.
// Producers wait for all in-sync replicas and are idempotent.
func (c *Clients) Sarama() *sarama.Config {
	s := goka.DefaultConfig()
	s.ClientID = c.cfg.clientID
	s.Version = c.cfg.version
	s.Consumer.Offsets.Initial = sarama.OffsetOldest
	s.Consumer.Group.Session.Timeout = c.cfg.sessionTimeout
	s.Consumer.Group.Heartbeat.Interval = c.cfg.heartbeat
	s.Consumer.Group.Rebalance.Timeout = c.cfg.rebalanceTimeout
	s.Producer.RequiredAcks = sarama.WaitForAll
	s.Producer.Idempotent = true
	s.Net.MaxOpenRequests = 1 // required by Sarama's idempotent producer
	s.Producer.Compression = compressionCodecs[c.cfg.compression].sarama
	s.Producer.Partitioner = sarama.NewCustomHashPartitioner(Hasher())
	return s
}

// ProcessorOptions returns the goka options every processor uses: this
// configuration for every Sarama client goka builds, the shared hasher,
// topics never created by goka (they come from the catalog), sb for the
// processor's table, and the metrics of metrics.go.
func (c *Clients) ProcessorOptions(sb storage.Builder) []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithStorageBuilder(sb),
		goka.WithHasher(Hasher()),
		goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
			s := c.Sarama()
			s.ClientID = clientID
			return sarama.NewConsumerGroup(brokers, group, s)
		}),
		goka.WithConsumerSaramaBuilder(c.saramaConsumerBuilder()),
		goka.WithProducerBuilder(c.producerBuilder()),
		goka.WithTopicManagerBuilder(c.topicManagerBuilder()),
		goka.WithLogger(gokaLogger{c.cfg.logger}),
		goka.WithContextWrapper(instrument),
	}
}

// ViewOptions returns the goka options every view uses.
func (c *Clients) ViewOptions(sb storage.Builder) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewStorageBuilder(sb),
		goka.WithViewHasher(Hasher()),
		goka.WithViewConsumerSaramaBuilder(c.saramaConsumerBuilder()),
		goka.WithViewTopicManagerBuilder(c.topicManagerBuilder()),
		goka.WithViewLogger(gokaLogger{c.cfg.logger}),
		goka.WithViewAutoReconnect(),
	}
}

// EmitterOptions returns the goka options every emitter uses.
func (c *Clients) EmitterOptions() []goka.EmitterOption {
	return []goka.EmitterOption{
		goka.WithEmitterHasher(Hasher()),
		goka.WithEmitterProducerBuilder(c.producerBuilder()),
		goka.WithEmitterTopicManagerBuilder(c.topicManagerBuilder()),
		goka.WithEmitterLogger(gokaLogger{c.cfg.logger}),
	}
}

func (c *Clients) saramaConsumerBuilder() goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		s := c.Sarama()
		s.ClientID = clientID
		return sarama.NewConsumer(brokers, s)
	}
}

// producerBuilder builds goka's producers on franz-go (see kgoProducer),
// lingering as Kgo's clients do unless extra says otherwise. goka passes
// its hasher; ours is the same FNV-1a, so it is not needed.
func (c *Clients) producerBuilder(extra ...kgo.Opt) goka.ProducerBuilder {
	return func(_ []string, clientID string, _ func() hash.Hash32) (goka.Producer, error) {
		return newKgoProducer(c.Kgo(append([]kgo.Opt{kgo.ClientID(clientID)}, extra...)...))
	}
}

// ProducerLinger is a processor option, given after ProcessorOptions, for
// a processor whose throughput matters more than its latency: its producers
// wait up to d (instead of 1 ms) for more records to a partition before
// sending a batch. Every hop through it can take up to d longer; in return
// a batch carries more records, and each record costs the producer, the
// broker and every consumer less CPU. Kafka's own default (linger.ms) has
// been 5 ms since 4.0.
func (c *Clients) ProducerLinger(d time.Duration) goka.ProcessorOption {
	return goka.WithProducerBuilder(c.producerBuilder(kgo.ProducerLinger(d)))
}

func (c *Clients) topicManagerBuilder() goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		tm := goka.NewTopicManagerConfig()
		tm.NoCreate = true // topics come from the catalog only
		tm.MismatchBehavior = goka.TMConfigMismatchBehaviorFail
		tm.Table.Replication = 1
		tm.Stream.Replication = 1
		s := c.Sarama()
		s.ClientID = c.cfg.clientID + "-topic-manager"
		return goka.NewTopicManager(brokers, s, tm)
	}
}

// Kgo returns franz-go options: these brokers, the shared partitioner, acks
// from all in-sync replicas with an idempotent producer (franz-go's default,
// kept explicit), the configured compression, consumers starting at the
// oldest offset, and extra.
func (c *Clients) Kgo(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.brokers...),
		kgo.ClientID(c.cfg.clientID),
		kgo.RecordPartitioner(Partitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.ProducerBatchCompression(compressionCodecs[c.cfg.compression].kgo),
		kgo.SessionTimeout(c.cfg.sessionTimeout),
		kgo.HeartbeatInterval(c.cfg.heartbeat),
		kgo.RebalanceTimeout(c.cfg.rebalanceTimeout),
	}
	return append(opts, extra...)
}

// gokaLogger sends goka's and Sarama's messages to slog at debug level;
// goka is chatty about every partition state change.
type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) Print(v ...any)   { g.l.Debug(fmt.Sprint(v...), "component", "goka") }
func (g gokaLogger) Println(v ...any) { g.l.Debug(fmt.Sprint(v...), "component", "goka") }
func (g gokaLogger) Printf(format string, v ...any) {
	g.l.Debug(fmt.Sprintf(format, v...), "component", "goka")
}
