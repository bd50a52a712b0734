package topics

import (
	"context"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoProducer is goka's Producer on franz-go instead of Sarama. Sarama's
// idempotent producer allows one request in flight per broker, which caps a
// processor's emits (results, events, table writes) at a few thousand
// records a second; franz-go keeps idempotence with up to five requests in
// flight and batches per partition. Records are placed by the shared FNV-1a
// partitioner, exactly where goka's own producer would put them.
type kgoProducer struct {
	client *kgo.Client
}

func newKgoProducer(opts []kgo.Opt) (*kgoProducer, error) {
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &kgoProducer{client: client}, nil
}

// Emit implements goka.Producer.
func (p *kgoProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

// EmitWithHeaders implements goka.Producer. The promise finishes with the
// record's partition and offset, which goka stores as the table offset
// after a table write.
func (p *kgoProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	for k, v := range headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: v})
	}
	p.client.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
		finish(&sarama.ProducerMessage{
			Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
			Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value),
		}, err)
	})
	return promise
}

// Close flushes what is buffered (for up to a minute, as goka's Sarama
// producer waits) and closes the client; every pending promise finishes.
func (p *kgoProducer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.client.Flush(ctx)
	p.client.Close()
	return err
}
