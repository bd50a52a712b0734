package topics_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

var cluster *kafkatest.Cluster

func TestMain(m *testing.M) { kafkatest.Main(m, &cluster) }

func TestPartitionForMatchesSarama(t *testing.T) {
	for _, n := range []int{1, 3, 4, 8, 10, 12, 32, 64} {
		p := sarama.NewCustomHashPartitioner(topics.Hasher())("t")
		for i := range 2000 {
			key := fmt.Sprintf("key-%d", i)
			want, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, int32(n))
			require.NoError(t, err)
			require.Equal(t, int(want), topics.PartitionFor([]byte(key), n), "key %s, %d partitions", key, n)
		}
	}
}

// A key produced by franz-go with the shared partitioner lands in the
// partition where goka's processor owns it and where goka's view looks it up.
func TestFranzGoProducerAgreesWithGoka(t *testing.T) {
	input := cluster.Unique("partitioner-in")
	group := goka.Group(cluster.Unique("partitioner"))
	cluster.CreateTopic(t, input, topics.Delete)
	cluster.CreateTopic(t, string(goka.GroupTable(group)), topics.Compact)

	var mu sync.Mutex
	seenIn := map[string]int32{} // key -> partition goka processed it in
	g := goka.DefineGroup(group,
		goka.Input(goka.Stream(input), new(codec.String), func(ctx goka.Context, msg any) {
			mu.Lock()
			seenIn[ctx.Key()] = ctx.Partition()
			mu.Unlock()
			n := int64(0)
			if v := ctx.Value(); v != nil {
				n = v.(int64)
			}
			ctx.SetValue(n + 1)
		}),
		goka.Persist(new(codec.Int64)),
	)
	proc, err := goka.NewProcessor(cluster.Clients.Brokers(), g, cluster.Clients.ProcessorOptions(storage.MemoryBuilder())...)
	require.NoError(t, err)
	view, err := goka.NewView(cluster.Clients.Brokers(), goka.GroupTable(group), new(codec.Int64), cluster.Clients.ViewOptions(storage.MemoryBuilder())...)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = proc.Run(ctx) }()
	go func() { defer wg.Done(); _ = view.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	prod := cluster.Producer(t, kgo.DefaultProduceTopic(input))
	const keys = 200
	landed := map[string]int32{}
	for i := range keys {
		key := fmt.Sprintf("user-%d", i)
		res := prod.ProduceSync(context.Background(), &kgo.Record{Key: []byte(key), Value: []byte("x")})
		require.NoError(t, res.FirstErr())
		rec, _ := res.First()
		landed[key] = rec.Partition
		require.Equal(t, topics.PartitionFor([]byte(key), kafkatest.Partitions), int(rec.Partition), key)
	}

	kafkatest.Eventually(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seenIn) == keys
	}, "goka processed every key")
	mu.Lock()
	for key, p := range landed {
		require.Equal(t, p, seenIn[key], "goka owns %s in the partition franz-go wrote it to", key)
	}
	mu.Unlock()

	require.EqualValues(t, keys, counterValue(t, "shopstream_processor_messages_in_total",
		map[string]string{"group": string(group), "topic": input}), "every record is counted in the processor metrics")

	kafkatest.Eventually(t, 30*time.Second, view.Recovered)
	for key := range landed {
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			v, err := view.Get(key)
			return err == nil && v != nil && v.(int64) == 1
		}, "view finds %s", key)
	}
}

// counterValue reads a counter with the given labels from the default
// Prometheus registry.
func counterValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
