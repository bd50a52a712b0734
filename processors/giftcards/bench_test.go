package giftcards

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// benchCards creates n cards through Kafka and returns their keys.
func benchCards(b *testing.B, n int, amount string) []string {
	b.Helper()
	g, err := NewCodeGenerator(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for i := range keys {
		code, _ := g.Generate("", 0)
		key, last4, _ := g.Key(code)
		keys[i] = key
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := benchSubmit(key, TypeCreate, CreateCommand{CardKey: key, Last4: last4, Amount: usd(amount), PurchaserID: "bench"}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	return keys
}

func benchSubmit(key, typ string, data any) (time.Duration, error) {
	env, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(topics.NewID()), topics.WithActor(customer))
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := commander.Submit(ctx, topics.GiftCardCommands, key, env)
	if err != nil {
		return 0, err
	}
	if !res.OK {
		return 0, res.Error
	}
	return time.Since(start), nil
}

// report prints throughput, latency and the CPU time of the whole process
// (broker, processors, client) per redemption since cpuBefore: steadier
// than redemptions/s on a shared machine.
func report(b *testing.B, lat []time.Duration, elapsed, cpuBefore time.Duration) {
	b.ReportMetric(float64((kafkatest.ProcessCPU()-cpuBefore).Microseconds())/float64(len(lat)), "cpu-µs/redemption")
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "redemptions/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

// redemptionsPerCard is how many redemptions the throughput benchmark
// sends to each card: the row a redemption reads and writes is that of a
// card with up to this many redemptions behind it, however long the run.
const redemptionsPerCard = 10

// BenchmarkRedemptionsThroughput drives redemptions across many cards as
// fast as the broker and processor take them: command in, result out, with
// many commands in flight. It creates b.N/redemptionsPerCard cards (at
// least 2,000) first, so -benchtime 100000x is 10,000 cards and about five
// seconds of sustained load at the target rate.
func BenchmarkRedemptionsThroughput(b *testing.B) {
	for _, inflight := range []int{64, 512} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			keys := benchCards(b, max(2000, b.N/redemptionsPerCard), "1000000.00")
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start, cpu := time.Now(), kafkatest.ProcessCPU()
			// inflight clients, each sending its next redemption when the
			// last one is answered
			for range inflight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
						key := keys[i%len(keys)]
						d, err := benchSubmit(key, TypeRedeem, RedeemCommand{CardKey: key, OrderID: fmt.Sprintf("bench-%d", i), Amount: amt("0.01")})
						if err != nil {
							b.Error(err)
						}
						lat[i] = d
					}
				}()
			}
			wg.Wait()
			report(b, lat, time.Since(start), cpu)
		})
	}
}

// BenchmarkRedemptionsPaced offers redemptions at a fixed rate and
// measures their latency. rate=5000 is the latency target (p99
// under 50 ms at 5,000/s); run it with -benchtime 20000x (four seconds of
// load), the others with 5000x.
func BenchmarkRedemptionsPaced(b *testing.B) {
	for _, perSec := range []int{250, 500, 1000, 2000, 3000, 5000} {
		b.Run(fmt.Sprintf("rate=%d", perSec), func(b *testing.B) {
			keys := benchCards(b, 2000, "1000000.00")
			lat := make([]time.Duration, b.N)
			interval := time.Second / time.Duration(perSec)
			var wg sync.WaitGroup
			b.ResetTimer()
			start, cpu := time.Now(), kafkatest.ProcessCPU()
			for i := 0; i < b.N; i++ {
				if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
					time.Sleep(wait)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := keys[i%len(keys)]
					d, err := benchSubmit(key, TypeRedeem, RedeemCommand{CardKey: key, OrderID: fmt.Sprintf("bench-%d", i), Amount: amt("0.01")})
					if err != nil {
						b.Error(err)
					}
					lat[i] = d
				}()
			}
			wg.Wait()
			report(b, lat, time.Since(start), cpu)
		})
	}
}
