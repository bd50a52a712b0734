package topics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// BenchmarkHop measures the transport floor every processor of this project
// stands on, on this machine: records produced by a franz-go client into the
// embedded broker, one processing hop, and the hop's output read back by a
// franz-go consumer. No domain code runs, so the figure bounds every
// pipeline: a domain operation that needs k hops cannot go faster than
// roughly records/s ÷ k on the same machine.
//
//   - broker: produce and consume only (no hop): the broker and the two
//     franz-go clients.
//   - goka-emit: a goka processor that emits one 100-byte record per input
//     record (stateless).
//   - goka-table: the same, plus a 100-byte table write per record on Pebble
//     (a state read, a Pebble write and a changelog record), keys spread over
//     10,000 keys as a keyed processor's would be.
//   - goka-table-nowal: goka-table on Pebble without its write-ahead log, as
//     shopstream runs its tables (state.WithoutWAL, with its write buffer).
//   - goka-table-nowal/row=N: the same with table rows of N bytes written
//     whole on every record, as goka's table model writes a row: product
//     IDs and numbers, compressing as the project's rows do, not the zeros
//     of the 100-byte rows.
//
// Input values are 200 bytes. cpu-µs/record is the process's CPU (the
// broker, the clients and the processor) per input record. Run with
// -benchtime Nx (N records).
func BenchmarkHop(b *testing.B) {
	for _, mode := range []string{"broker", "goka-emit", "goka-table", "goka-table-nowal"} {
		b.Run(mode, func(b *testing.B) { benchHop(b, mode, make([]byte, 100)) })
	}
	for _, size := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("goka-table-nowal/row=%d", size), func(b *testing.B) { benchHop(b, "goka-table-nowal", rowLike(size)) })
	}
}

// rowLike is n bytes shaped like a table row: product IDs with counts and
// times, from a fixed seed.
func rowLike(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	row := make([]byte, 0, n+32)
	for len(row) < n {
		row = fmt.Appendf(row, "prod-%06d%d%d", rng.IntN(5000), rng.IntN(100), 1_764_000_000+rng.IntN(1_000_000))
	}
	return row[:n]
}

func benchHop(b *testing.B, mode string, row []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := cluster.Unique("hop-in"), cluster.Unique("hop-out")
	cluster.CreateTopic(b, in, topics.Delete)
	cluster.CreateTopic(b, out, topics.Delete)
	read := in
	if mode != "broker" {
		read = out
		group := goka.Group(cluster.Unique("hop"))
		cluster.CreateTopic(b, string(goka.GroupTable(group)), topics.Compact)
		value := make([]byte, 100)
		edges := []goka.Edge{
			goka.Input(goka.Stream(in), new(topics.BytesCodec), func(gctx goka.Context, _ any) {
				if mode != "goka-emit" {
					_ = gctx.Value()
					gctx.SetValue(row)
				}
				gctx.Emit(goka.Stream(out), gctx.Key(), value)
			}),
			goka.Output(goka.Stream(out), new(topics.BytesCodec)),
			goka.Persist(new(topics.BytesCodec)),
		}
		opts := []state.Option{state.WithLogger(quietPebble{})}
		if mode == "goka-table-nowal" {
			opts = append(opts, state.WithoutWAL())
		}
		sb, err := state.NewBuilder(b.TempDir(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		if mode == "goka-emit" {
			sb = storage.MemoryBuilder()
		}
		p, err := goka.NewProcessor(cluster.Clients.Brokers(), goka.DefineGroup(group, edges...),
			cluster.Clients.ProcessorOptions(sb)...)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		defer func() { cancel(); <-done }()
		if err := p.WaitForReadyContext(ctx); err != nil {
			b.Fatal(err)
		}
	}

	consumer, err := kgo.NewClient(cluster.Clients.Kgo(kgo.ConsumeTopics(read))...)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	producer := cluster.Producer(b)

	value := make([]byte, 200)
	var seen atomic.Int64
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for seen.Load() < int64(b.N) {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			seen.Add(int64(fs.NumRecords()))
		}
	}()

	b.ResetTimer()
	start, cpu := time.Now(), kafkatest.ProcessCPU()
	for i := range b.N {
		rec := &kgo.Record{Topic: in, Key: []byte("key-" + strconv.Itoa(i%10000)), Value: value}
		producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	select {
	case <-consumed:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%s: %d of %d records after 5 minutes", mode, seen.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64((kafkatest.ProcessCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/record")
	b.ReportMetric(0, "ns/op")
}

// quietPebble drops Pebble's informational messages and fails loudly on its
// fatal ones.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
