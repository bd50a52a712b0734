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
	"github.com/shopstream/streams/topics/kafkatest"
)

// BenchmarkSinkThroughput measures rows per second from Kafka (the embedded
// broker) into PostgreSQL through a whole sink: consume, decode, map, COPY
// and upsert, offsets in the same transaction. b.N is the number of events.
// The timing starts once the sink's workers have joined their consumer group
// and the group has settled (join-ms reports how long that took), before any
// record is fetched.
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
			pool := migrated(b)
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
			hold := make(chan struct{})
			s, err := New(spec, pool, cluster.Clients, WithDLQ(dlq), withHoldAssignments(hold))
			require.NoError(b, err)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			joining := time.Now()
			go func() { done <- s.Run(runCtx) }()
			// The workers join the sink's consumer group first, a one-time
			// cost (reported as join-ms); the rows are timed from when the
			// group has settled and the workers may load their offsets.
			for !settled(s, kafkatest.Partitions) {
				require.Less(b, time.Since(joining), 30*time.Second, "the sink's group did not settle")
				time.Sleep(time.Millisecond)
			}
			joined := time.Since(joining)
			b.ResetTimer()
			began := time.Now()
			close(hold)
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
			b.ReportMetric(float64(joined.Milliseconds()), "join-ms")
		})
	}
}

// BenchmarkWriteRows measures the PostgreSQL side alone: one transaction of
// 10,000 prepared rows per op (COPY into a staging table, then the
// anti-join insert or the guarded upsert), without Kafka or decoding.
func BenchmarkWriteRows(b *testing.B) {
	const perTx = 10_000
	cases := []struct {
		name string
		row  func(run string, i int) *Row
	}{
		{name: "user_interactions", row: func(run string, i int) *Row {
			return &Row{Table: UserInteractionsTable, Values: []any{fmt.Sprintf("%s-%d", run, i), fmt.Sprintf("u%d", i%5000),
				fmt.Sprintf("p%d", i%997), "view", 1.0, `{"source":"bench"}`, time.Now()}}
		}},
		{name: "gift_card_transactions", row: func(run string, i int) *Row {
			return &Row{Table: GiftCardTransactionsTable, Values: []any{fmt.Sprintf("%s-tx-%d", run, i), fmt.Sprintf("%s-%d", run, i),
				fmt.Sprintf("card-%d", i%20000), "redemption", "-1.00", "10.00", "9.00", "USD", fmt.Sprintf("o%d", i), nil, `{}`, time.Now()}}
		}},
		{name: "gift_cards (guarded upsert)", row: func(run string, i int) *Row {
			now := time.Now()
			return &Row{Table: GiftCardsTable, Values: []any{fmt.Sprintf("%s-card-%d", run, i), "AB12", nil, "9.00", "USD",
				"partially_redeemed", nil, nil, nil, nil, nil, nil, nil, nil, nil, now},
				Order: Order{OccurredAt: now, EventID: fmt.Sprintf("%s-%d", run, i)}}
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			pool := migrated(b)
			run := cluster.Unique("w")
			ctx := context.Background()
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				rows := make([]*Row, perTx)
				for i := range rows {
					rows[i] = tc.row(run, n*perTx+i)
				}
				b.StartTimer()
				tx, err := pool.Begin(ctx)
				require.NoError(b, err)
				require.NoError(b, writeTable(ctx, tx, tc.row("", 0).Table, rows, &tableState{}))
				require.NoError(b, tx.Commit(ctx))
			}
			b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
