// Package kafkatest starts an embedded broker for a test package and gives
// tests what they need around it: configured clients, topics, producers and
// waiting helpers. Starting a broker costs time, so a package starts one in
// TestMain and isolates its tests by unique keys and topic names.
package kafkatest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// Partitions is the partition count of topics the fixture creates.
const Partitions = 4

// Cluster is one embedded broker and clients configured for it.
type Cluster struct {
	Broker  *topics.Embedded
	Clients *topics.Clients
	Admin   *kadm.Client
	admKgo  *kgo.Client
	seq     atomic.Int64
}

// Start starts a broker on a free loopback port, keeping its data in
// memory. Call Close when the package's tests are done.
func Start() (*Cluster, error) {
	b, err := topics.StartEmbedded(topics.EmbeddedAddr("127.0.0.1:0"), topics.EmbeddedPartitions(Partitions))
	if err != nil {
		return nil, err
	}
	return Connect(b)
}

// Main is a test package's TestMain: it starts a broker, stores it in *c,
// runs the package's tests, closes the broker, runs cleanup (removing what
// the package's fixtures left, say) and exits with the tests' code.
func Main(m *testing.M, c **Cluster, cleanup ...func()) {
	cl, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkatest: starting the embedded broker:", err)
		os.Exit(1)
	}
	*c = cl
	code := m.Run()
	cl.Close()
	for _, f := range cleanup {
		f()
	}
	os.Exit(code)
}

// Connect builds clients for a running broker.
func Connect(b *topics.Embedded) (*Cluster, error) {
	level := slog.LevelWarn
	if os.Getenv("SHOPSTREAM_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cl, err := topics.NewClients(b.Addrs(), topics.WithLogger(logger),
		topics.WithGroupTimings(6*time.Second, 500*time.Millisecond, 6*time.Second))
	if err != nil {
		b.Close()
		return nil, err
	}
	k, err := kgo.NewClient(cl.Kgo()...)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Cluster{Broker: b, Clients: cl, Admin: kadm.NewClient(k), admKgo: k}, nil
}

// Close stops the admin client and the broker.
func (c *Cluster) Close() {
	c.admKgo.Close()
	c.Broker.Close()
}

// Unique returns a name unique in this process, for topics, groups and keys.
func (c *Cluster) Unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, c.seq.Add(1))
}

// CreateTopic creates a topic with Partitions partitions.
func (c *Cluster) CreateTopic(t testing.TB, name string, cleanup topics.Cleanup) {
	t.Helper()
	policy := string(cleanup)
	resp, err := c.Admin.CreateTopic(context.Background(), Partitions, 1, map[string]*string{"cleanup.policy": &policy}, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err, "creating %s", name)
}

// EnsureCatalog creates every topic of the catalog.
func (c *Cluster) EnsureCatalog(t testing.TB, cat *topics.Catalog) {
	t.Helper()
	_, err := cat.Ensure(context.Background(), c.Admin, 1)
	require.NoError(t, err)
}

// Producer returns a franz-go client with the shared configuration, closed
// when the test ends.
func (c *Cluster) Producer(t testing.TB, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	k, err := kgo.NewClient(c.Clients.Kgo(extra...)...)
	require.NoError(t, err)
	t.Cleanup(k.Close)
	return k
}

// Eventually polls cond every 20 ms until it is true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, timeout, 20*time.Millisecond, msgAndArgs...)
}

// RecordsByTopic is, per topic, the sum of its partitions' end offsets: how
// many records the topic has received. A benchmark diffs two of these to
// count what a run produced where (RecordsSince).
func (c *Cluster) RecordsByTopic(t testing.TB) map[string]int64 {
	t.Helper()
	offs, err := c.Admin.ListEndOffsets(context.Background())
	require.NoError(t, err)
	n := map[string]int64{}
	offs.Each(func(o kadm.ListedOffset) { n[o.Topic] += o.Offset })
	return n
}

// RecordsSince is what each topic received after before was taken (by
// RecordsByTopic), leaving out the topics that received nothing, and the
// total over all topics.
func (c *Cluster) RecordsSince(t testing.TB, before map[string]int64) (map[string]int64, int64) {
	t.Helper()
	d := map[string]int64{}
	var total int64
	for topic, n := range c.RecordsByTopic(t) {
		if n -= before[topic]; n > 0 {
			d[topic] = n
			total += n
		}
	}
	return d, total
}

// ReadToEnd hands each record of topic, from the start up to the topic's
// end offsets when it is called, to each. The offsets come through the
// consumer's own new client: the fixture's Admin caches metadata and may
// still hold a topic as unknown from before it was created.
func (c *Cluster) ReadToEnd(t testing.TB, topic string, each func(r *kgo.Record)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := c.Producer(t, kgo.ConsumeTopics(topic))
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, ends.Error())
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	seen := int64(0)
	for seen < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			seen++
			each(r)
		})
	}
	require.GreaterOrEqual(t, seen, want, "records read from %s", topic)
}
