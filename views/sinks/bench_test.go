package sinks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
)

// BenchmarkSinkThroughput measures rows per second from Kafka (the embedded
// broker) into PostgreSQL through a whole sink: consume, decode, map, COPY
// and upsert, offsets in the same transaction. b.N is the number of events.
func BenchmarkSinkThroughput(b *testing.B) {
	cases := []struct {
		name  string
		spec  func(topic string) Spec
		event func(i int, run string) *topics.Envelope
		rows  int // rows per event
	}{
		{
			name: "user_interactions (append-only)",
			spec: func(topic string) Spec {
				s := Recommendations()
				s.Topics = []string{topic}
				return s
			},
			event: func(i int, run string) *topics.Envelope {
				env, _ := topics.NewEnvelope(recommendations.TypeInteraction, time.Now(), recommendations.Batch{
					UserID: fmt.Sprintf("u%d", i%5000), OccurredAt: time.Now().UTC(),
					Items: []recommendations.Interaction{{EventID: fmt.Sprintf("%s-%d", run, i),
						ProductID: fmt.Sprintf("p%d", i%997), Type: recommendations.View,
						Metadata: map[string]string{"source": "bench"}}}})
				return env
			},
			rows: 1,
		},
		{
			name: "gift_cards + gift_card_transactions (upsert + append-only)",
			spec: func(topic string) Spec {
				s := GiftCards()
				s.Topics = []string{topic}
				return s
			},
			event: func(i int, run string) *topics.Envelope {
				bal := decimal.New(int64(100000-i%1000), -2)
				amt := topics.Money{Amount: decimal.New(1, 0), Currency: "USD"}
				env, _ := topics.NewEnvelope(giftcards.EventRedeemed, time.Now(), giftcards.CardEvent{
					CardKey: fmt.Sprintf("%s-card-%d", run, i%20000), Last4: "AB12", Status: giftcards.StatusPartiallyRedeemed,
					Amount: &amt, Balance: topics.Money{Amount: bal, Currency: "USD"},
					OrderID: fmt.Sprintf("o%d", i), RedemptionID: fmt.Sprintf("%s-r%d", run, i),
					Transaction: &giftcards.Transaction{ID: fmt.Sprintf("%s-tx-%d", run, i), Type: giftcards.TxRedemption,
						Amount: decimal.New(-1, 0), BalanceBefore: bal.Add(decimal.New(1, 0)), BalanceAfter: bal,
						OrderID: fmt.Sprintf("o%d", i), At: time.Now().UTC()}})
				return env
			},
			rows: 2,
		},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			pool := migrated(&testing.T{})
			if pool == nil {
				b.Skip("no database")
			}
			topic := cluster.Unique("bench")
			dlq := cluster.Unique("bench-dlq")
			cluster.CreateTopic(b, topic, topics.Delete)
			cluster.CreateTopic(b, dlq, topics.Delete)
			prod := cluster.Producer(b, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(200_000))
			run := cluster.Unique("r")
			ctx := context.Background()
			for lo := 0; lo < b.N; lo += 20_000 {
				var recs []*kgo.Record
				for i := lo; i < min(lo+20_000, b.N); i++ {
					env := tc.event(i, run)
					v, err := env.Encode()
					require.NoError(b, err)
					recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 5000)), Value: v})
				}
				require.NoError(b, prod.ProduceSync(ctx, recs...).FirstErr())
			}
			spec := tc.spec(topic)
			spec.Name = run
			s, err := New(spec, pool, cluster.Clients, WithDLQ(dlq))
			require.NoError(b, err)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			b.ResetTimer()
			began := time.Now()
			go func() { done <- s.Run(runCtx) }()
			for s.Stats().Records.Load() < int64(b.N) {
				time.Sleep(2 * time.Millisecond)
			}
			elapsed := time.Since(began)
			b.StopTimer()
			cancel()
			require.NoError(b, <-done)
			require.Zero(b, s.Stats().DeadLetters.Load())
			b.ReportMetric(float64(b.N*tc.rows)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(b.N)/float64(s.Stats().Batches.Load()), "events/batch")
		})
	}
}
