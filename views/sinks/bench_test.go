package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/processors/returns"
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
			s, elapsed, joined := timeSink(b, spec, pool, dlq, kafkatest.Partitions, int64(b.N))
			b.ReportMetric(float64(b.N*tc.rows)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(b.N)/float64(s.Stats().Batches.Load()), "events/batch")
			b.ReportMetric(float64(joined.Milliseconds()), "join-ms")
		})
	}
}

// timeSink runs a sink of spec on what its topics hold and times it from
// when its consumer group has settled on all partitions (a one-time cost,
// returned as joined) until it has taken records records. The benchmark's
// timer runs only for that span. Nothing may be dead-lettered.
func timeSink(b *testing.B, spec Spec, pool *pgxpool.Pool, dlq string, partitions int, records int64) (s *Sink, elapsed, joined time.Duration) {
	b.Helper()
	hold := make(chan struct{})
	s, err := New(spec, pool, cluster.Clients, WithDLQ(dlq), withHoldAssignments(hold))
	require.NoError(b, err)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	joining := time.Now()
	go func() { done <- s.Run(runCtx) }()
	// The workers join the sink's consumer group first; the records are
	// timed from when the group has settled and the workers may load their
	// offsets.
	for !settled(s, partitions) {
		require.Less(b, time.Since(joining), 30*time.Second, "the sink's group did not settle")
		time.Sleep(time.Millisecond)
	}
	joined = time.Since(joining)
	b.ResetTimer()
	began := time.Now()
	close(hold)
	for s.Stats().Records.Load() < records {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed = time.Since(began)
	b.StopTimer()
	cancel()
	require.NoError(b, <-done)
	require.Zero(b, s.Stats().DeadLetters.Load())
	return s, elapsed, joined
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

// BenchmarkReturnsSink measures the returns sink on what a return's
// lifecycle gives it, as the returns benchmark's lifecycles do
// (docs/returns-benchmarks.md): four events (initiated, approved,
// received, completed, each carrying the audit entries since the previous
// one) and nine rows of the return processor's table changelog, one per
// action, each holding the whole trail so far (binary rows, as the
// processor writes them). b.N is the number of lifecycles; the timing
// starts once the sink's group has settled, with every record produced.
// audit-rows/lifecycle is how many audit rows the mappers gave (9 entries
// each, the rest written again and skipped by their event_id).
func BenchmarkReturnsSink(b *testing.B) {
	pool := migrated(b)
	events, rows := cluster.Unique("bench-ret-events"), cluster.Unique("bench-ret-rows")
	dlq := cluster.Unique("bench-dlq")
	for _, topic := range []string{events, rows, dlq} {
		cluster.CreateTopic(b, topic, topics.Delete)
	}
	run := cluster.Unique("r")
	prod := cluster.Producer(b, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	ctx := context.Background()
	var recs []*kgo.Record
	for k := range b.N {
		recs = append(recs, lifecycleRecords(b, fmt.Sprintf("%s-ret-%d", run, k), events, rows)...)
		if len(recs) >= 20_000 || k == b.N-1 {
			require.NoError(b, prod.ProduceSync(ctx, recs...).FirstErr())
			recs = recs[:0]
		}
	}
	spec := Returns()
	spec.Name, spec.Topics, spec.Raw = run, []string{events, rows}, map[string]RecordMapper{rows: mapReturnRow}
	var auditRows atomic.Int64
	spec.Raw[rows] = func(rec *kgo.Record) ([]Row, error) {
		out, err := mapReturnRow(rec)
		auditRows.Add(int64(countTable(out, ReturnAuditLogsTable)))
		return out, err
	}
	mapEvent := spec.Map
	spec.Map = func(env *topics.Envelope, rec *kgo.Record) ([]Row, error) {
		out, err := mapEvent(env, rec)
		auditRows.Add(int64(countTable(out, ReturnAuditLogsTable)))
		return out, err
	}
	want := int64(b.N * lifecycleRecordCount)
	s, elapsed, _ := timeSink(b, spec, pool, dlq, 2*kafkatest.Partitions, want) // both topics' partitions
	var stored int
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM return_audit_logs WHERE return_request_id LIKE $1",
		run+"-ret-%").Scan(&stored))
	require.Equal(b, b.N*9, stored, "every entry once")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lifecycles/s")
	b.ReportMetric(float64(want)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(auditRows.Load())/float64(b.N), "audit-rows/lifecycle")
	b.ReportMetric(float64(want)/float64(s.Stats().Batches.Load()), "records/batch")
}

// lifecycleRecordCount is how many records lifecycleRecords gives.
const lifecycleRecordCount = 13

// lifecycleRecords are the events and changelog rows of one completed
// return, in the order the processor writes them: initiate, approve (its
// notification and label replies after return.approved), receive, complete
// (refund and restock replies, return.completed), and the completion's
// notification reply after the last event.
func lifecycleRecords(b *testing.B, id, events, rows string) []*kgo.Record {
	b.Helper()
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	r := &returns.Return{ID: id, OrderID: "o-" + id, CustomerID: "c1", Currency: "USD", Status: returns.StatePending,
		Reason: returns.ReasonDefective, RefundMethod: returns.RefundOriginalPayment,
		Items:     []returns.ReturnItem{{LineItemID: "li_1", ProductID: "p1", QuantityRequested: 1, ExpectedCondition: returns.ConditionNew}},
		CreatedAt: at, UpdatedAt: at}
	var out []*kgo.Record
	act := func(action returns.Action, next returns.State, actor topics.Actor) {
		at = at.Add(time.Minute)
		r.Audit = append(r.Audit, returns.AuditEntry{Seq: len(r.Audit) + 1, Action: action, ActorID: actor.ID, ActorType: actor.Type,
			PreviousState: r.Status, NewState: next, Metadata: json.RawMessage(`{"note":"bench"}`), CommandID: topics.NewID(), At: at})
		if len(r.Audit) == 1 {
			r.Audit[0].PreviousState = ""
		}
		r.Status, r.UpdatedAt = next, at
	}
	// write is the row the action wrote: after its event, if it published
	// one (the row records what the event carried, AuditPublished)
	write := func() {
		v, err := returns.EncodeTableRow(r)
		require.NoError(b, err)
		out = append(out, &kgo.Record{Topic: rows, Key: []byte(id), Value: v})
	}
	// publish is the event the action published: its payload is the
	// processor's own (Return.Publish), with the entries it carries
	publish := func(typ string) {
		env, err := topics.NewEnvelope(typ, r.UpdatedAt, r.Publish())
		require.NoError(b, err)
		v, err := env.Encode()
		require.NoError(b, err)
		out = append(out, &kgo.Record{Topic: events, Key: []byte(id), Value: v})
	}
	customer, staff := topics.Actor{ID: "c1", Type: topics.ActorCustomer}, topics.Actor{ID: "s1", Type: topics.ActorStaff}
	system := topics.Actor{ID: "returns-saga", Type: topics.ActorSystem}
	steps := []struct {
		action returns.Action
		state  returns.State
		actor  topics.Actor
		event  string // the event the action publishes, if any
	}{
		{returns.ActionInitiate, returns.StatePending, customer, returns.EventInitiated},
		{returns.ActionApprove, returns.StateApproved, staff, returns.EventApproved},
		{returns.ActionNotified, returns.StateApproved, system, ""},
		{returns.ActionLabelCreated, returns.StateApproved, system, ""},
		{returns.ActionReceive, returns.StateReceived, staff, returns.EventReceived},
		{returns.ActionComplete, returns.StateRefunding, staff, ""},
		{returns.ActionRefundSucceeded, returns.StateRestocking, system, ""},
		{returns.ActionRestockSucceeded, returns.StateCompleted, system, returns.EventCompleted},
		{returns.ActionNotified, returns.StateCompleted, system, ""},
	}
	for _, st := range steps {
		act(st.action, st.state, st.actor)
		if st.event != "" {
			publish(st.event)
		}
		write()
	}
	require.Len(b, out, lifecycleRecordCount)
	return out
}

// countTable is how many of rows are t's.
func countTable(rows []Row, t *Table) int {
	n := 0
	for _, r := range rows {
		if r.Table == t {
			n++
		}
	}
	return n
}
