package returns_test

import (
	"context"
	"flag"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// BenchmarkLifecycle drives whole returns through Kafka: initiate ->
// approve -> receive -> complete, the completion saga answered by the
// payment, inventory, label and notification simulators, until
// return.completed is published for every return. Orders are published before the timer starts.
// -returns.clients lifecycles run concurrently; each waits for every
// result, so throughput is bound by clients / lifecycle latency.
func BenchmarkLifecycle(b *testing.B) {
	ctx := context.Background()
	p, err := kgo.NewClient(cluster.Clients.Kgo()...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	orders := make([]string, b.N)
	at := now.Add(-24 * time.Hour)
	for i := range orders {
		orders[i] = cluster.Unique("bench-order")
		env, _ := topics.NewEnvelope(topics.OrderCompleted, at, map[string]any{
			"order_id": orders[i], "user_id": "u", "currency": "USD", "completed_at": at,
			"line_items": []map[string]any{{"line_item_id": "li_1", "product_id": "p", "category": "apparel", "quantity": 1,
				"unit_price": "10.00", "discount": "0", "tax": "0.80"}}, "shipping_total": "0"},
			topics.WithActor(topics.Actor{ID: "orders", Type: topics.ActorSystem}))
		v, _ := env.Encode()
		p.Produce(ctx, &kgo.Record{Topic: topics.OrderCompleted, Key: []byte(orders[i]), Value: v}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, o := range orders {
		for {
			if _, err := svc.Eligibility(o, now); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The gift card processors index every order.completed too (for the
	// refunds of orders paid with cards): that is setup as well, so the
	// timer waits for it.
	for {
		lags, err := cluster.Admin.Lag(ctx, topics.GiftCardIngressGroup, topics.GiftCardOrderIndexGroup)
		caughtUp := err == nil
		for _, g := range []string{topics.GiftCardIngressGroup, topics.GiftCardOrderIndexGroup} {
			l, ok := lags[g]
			caughtUp = caughtUp && ok && l.Error() == nil && l.Lag.Total() == 0
		}
		if caughtUp {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// completions are counted from return.completed, not by polling views
	want := make(map[string]bool, b.N)
	for _, o := range orders {
		want[o+"-ret"] = true
	}
	c, err := kgo.NewClient(cluster.Clients.Kgo(kgo.ConsumeTopics(topics.ReturnCompletedTopic), kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	completed := make(chan struct{})
	go func() {
		seen := 0
		for seen < len(want) {
			fs := c.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				if want[string(r.Key)] {
					delete(want, string(r.Key))
					seen++
				}
			})
			if len(want) == 0 {
				break
			}
		}
		close(completed)
	}()
	recordsBefore, cpuBefore, faultsBefore := cluster.RecordsByTopic(b), kafkatest.ProcessCPU(), kafkatest.MinorFaults()
	stopProfile := startTimedProfile(b)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	latencies := make([]time.Duration, b.N)
	for range *lifecycleClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t := time.Now()
				if !lifecycle(orders[i], orders[i]+"-ret") {
					failed.Add(1)
				}
				latencies[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	if failed.Load() == 0 {
		select {
		case <-completed:
		case <-time.After(120 * time.Second):
			b.Fatalf("%d returns did not complete", len(want))
		}
	}
	b.StopTimer()
	stopProfile()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d lifecycles failed (a result or the completion did not come within 60 s)", failed.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "returns/s")
	// a lifecycle's four commands, each submitted when the previous
	// result arrived (not the saga after complete)
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[b.N/2].Microseconds())/1000, "lifecycle-p50-ms")
	b.ReportMetric(float64(latencies[b.N*99/100].Microseconds())/1000, "lifecycle-p99-ms")
	// CPU time of the whole process (broker, processors, simulators,
	// clients) per lifecycle: steadier than returns/s on a shared machine
	b.ReportMetric(float64((kafkatest.ProcessCPU()-cpuBefore).Microseconds())/float64(b.N), "cpu-µs/return")
	// memory pages touched for the first time (the heap growing): on a VM
	// each can cost ~10 µs (docs/returns-benchmarks.md)
	b.ReportMetric(float64(kafkatest.MinorFaults()-faultsBefore)/float64(b.N), "faults/return")
	// every record any topic received while the lifecycles ran (commands,
	// results, table updates, events, requests, replies), per lifecycle:
	// what bounds throughput below the domain code
	time.Sleep(200 * time.Millisecond) // notification replies after return.completed
	perTopic, total := cluster.RecordsSince(b, recordsBefore)
	b.ReportMetric(float64(total)/float64(b.N), "records/return")
	if testing.Verbose() {
		for _, t := range slices.Sorted(maps.Keys(perTopic)) {
			b.Logf("%-45s %6.2f records/return", t, float64(perTopic[t])/float64(b.N))
		}
	}
}

func lifecycle(orderID, id string) bool {
	send := func(topic, key, typ string, data any) *topics.CommandResult {
		env, _ := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(topics.NewID()), topics.WithActor(staff))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := commander.Submit(ctx, topic, key, env)
		if err != nil || (!res.OK && !res.Pending) {
			return nil
		}
		return res
	}
	if send(topics.ReturnsOrders, orderID, returns.TypeInitiate, returns.InitiateRequest{ReturnID: id, OrderID: orderID,
		Reason: returns.ReasonNoLongerNeeded, Items: []returns.InitiateItem{{LineItemID: "li_1", Quantity: 1, Condition: returns.ConditionNew}}}) == nil ||
		send(topics.ReturnsCommands, id, returns.TypeApprove, returns.Approve{RefundMethod: returns.RefundOriginalPayment, ApproverID: "s"}) == nil ||
		send(topics.ReturnsCommands, id, returns.TypeReceive, returns.ReceiveItems{Items: []returns.ReceivedItem{{LineItemID: "li_1", QuantityReceived: 1, ActualCondition: returns.ActualSellable}}}) == nil ||
		send(topics.ReturnsCommands, id, returns.TypeComplete, returns.Complete{}) == nil {
		return false
	}
	return true
}

// startTimedProfile starts a CPU profile into -returns.cpuprofile, if
// given, and returns what stops it. Unlike -test.cpuprofile it holds only
// the timed lifecycles, not the orders published before them or the
// fixture's start, so shares of it are shares of a lifecycle's CPU.
func startTimedProfile(b *testing.B) (stop func()) {
	b.Helper()
	if *lifecycleProfile == "" {
		return func() {}
	}
	f, err := os.Create(*lifecycleProfile)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

var lifecycleProfile = flag.String("returns.cpuprofile", "", "BenchmarkLifecycle: write a CPU profile of the timed lifecycles only to this file")

// lifecycleClients is how many lifecycles are in flight at once. Each
// waits for every hop of its lifecycle, so by Little's law the rate is at
// most clients / lifecycle latency: 1,024 keeps the processors, not the
// clients, the bound at 5,000 returns/s (256 capped it at ~4,600/s with
// lifecycles of ~55 ms). The latency percentiles are reported beside it.
var lifecycleClients = flag.Int("returns.clients", 1024, "BenchmarkLifecycle: lifecycles in flight at once")
