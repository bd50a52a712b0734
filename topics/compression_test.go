package topics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// Producers compress batches with the configured codec, and goka's Sarama
// consumers read every codec back.
func TestCompressionRoundTrip(t *testing.T) {
	cases := []struct {
		codec topics.Compression
		attr  uint8 // the batch attribute Kafka records for the codec
	}{
		{topics.CompressionNone, 0},
		{topics.CompressionGzip, 1},
		{topics.CompressionSnappy, 2},
		{topics.CompressionLZ4, 3},
		{topics.CompressionZstd, 4},
	}
	for _, tc := range cases {
		t.Run(string(tc.codec), func(t *testing.T) {
			clients, err := topics.NewClients(cluster.Clients.Brokers(), topics.WithCompression(tc.codec))
			require.NoError(t, err)
			topic := cluster.Unique("compression")
			cluster.CreateTopic(t, topic, topics.Delete)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			prod, err := kgo.NewClient(clients.Kgo(kgo.DefaultProduceTopic(topic))...)
			require.NoError(t, err)
			defer prod.Close()
			// compressible: franz-go sends a batch uncompressed when the
			// codec would not make it smaller
			value := []byte(`{"type":"x","data":"` + strings.Repeat("gift card ", 100) + `"}`)
			res := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: value})
			require.NoError(t, res.FirstErr())
			rec, _ := res.First()

			cons, err := kgo.NewClient(clients.Kgo(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
				topic: {rec.Partition: kgo.NewOffset().At(rec.Offset)}}))...)
			require.NoError(t, err)
			defer cons.Close()
			fetches := cons.PollRecords(ctx, 1)
			require.NoError(t, fetches.Err())
			got := fetches.Records()
			require.Len(t, got, 1)
			require.Equal(t, tc.attr, got[0].Attrs.CompressionType())

			sc, err := sarama.NewConsumer(clients.Brokers(), clients.Sarama())
			require.NoError(t, err)
			defer func() { require.NoError(t, sc.Close()) }()
			pc, err := sc.ConsumePartition(topic, rec.Partition, rec.Offset)
			require.NoError(t, err)
			defer func() { require.NoError(t, pc.Close()) }()
			select {
			case msg := <-pc.Messages():
				require.Equal(t, value, msg.Value)
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatal("no message through Sarama")
			}
		})
	}
}
