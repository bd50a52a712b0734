package state_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// cluster is the embedded broker the end-to-end tests of this package share.
var cluster *kafkatest.Cluster

func TestMain(m *testing.M) { kafkatest.Main(m, &cluster) }

// counter is the fixture's per-key state: how many messages were applied
// and the highest sequence number seen. It counts naively on purpose: a
// message applied twice after a restart shows up as Count > Last.
type counter struct {
	Count int64 `json:"count"`
	Last  int64 `json:"last"`
}

// counterApp is a stateful goka processor over Pebble, a view of its table,
// and a franz-go producer using the shared partitioner.
type counterApp struct {
	t        *testing.T
	input    string
	group    goka.Group
	stateDir string
	applied  atomic.Int64
}

func newCounterApp(t *testing.T, c *kafkatest.Cluster) *counterApp {
	t.Helper()
	a := &counterApp{t: t, input: c.Unique("e2e-in"), group: goka.Group(c.Unique("e2e-counter")), stateDir: t.TempDir()}
	c.CreateTopic(t, a.input, topics.Delete)
	c.CreateTopic(t, string(goka.GroupTable(a.group)), topics.Compact)
	return a
}

// startProcessor runs the processor on Pebble under stateDir until the
// returned stop is called; stop waits for a clean shutdown.
func (a *counterApp) startProcessor(c *kafkatest.Cluster) (stop func()) {
	a.t.Helper()
	sb, err := state.NewBuilder(a.stateDir)
	require.NoError(a.t, err)
	g := goka.DefineGroup(a.group,
		goka.Input(goka.Stream(a.input), new(topics.BytesCodec), func(ctx goka.Context, msg any) {
			seq, err := strconv.ParseInt(string(msg.([]byte)), 10, 64)
			if err != nil {
				ctx.Fail(err)
			}
			st := &counter{}
			if v := ctx.Value(); v != nil {
				st = v.(*counter)
			}
			st.Count++
			st.Last = max(st.Last, seq)
			ctx.SetValue(st)
			a.applied.Add(1)
		}),
		goka.Persist(new(topics.JSONCodec[counter])),
	)
	proc, err := goka.NewProcessor(c.Clients.Brokers(), g, c.Clients.ProcessorOptions(sb)...)
	require.NoError(a.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(a.t, err, "processor stops cleanly")
		case <-time.After(60 * time.Second):
			a.t.Fatal("processor did not stop")
		}
	}
}

func (a *counterApp) startView(c *kafkatest.Cluster) *goka.View {
	a.t.Helper()
	sb, err := state.NewBuilder(a.t.TempDir())
	require.NoError(a.t, err)
	v, err := goka.NewView(c.Clients.Brokers(), goka.GroupTable(a.group), new(topics.JSONCodec[counter]), c.Clients.ViewOptions(sb)...)
	require.NoError(a.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = v.Run(ctx) }()
	a.t.Cleanup(func() { cancel(); wg.Wait() })
	return v
}

// produce sends sequence numbers from..to (inclusive) for every key.
func (a *counterApp) produce(p *kgo.Client, keys []string, from, to int) {
	a.t.Helper()
	for seq := from; seq <= to; seq++ {
		for _, k := range keys {
			p.Produce(context.Background(), &kgo.Record{Topic: a.input, Key: []byte(k), Value: []byte(strconv.Itoa(seq))}, func(_ *kgo.Record, err error) {
				if err != nil {
					a.t.Errorf("produce: %v", err)
				}
			})
		}
	}
	require.NoError(a.t, p.Flush(context.Background()))
}

// waitExact waits until the view shows exactly want applications for every
// key, then checks that none was applied twice.
func (a *counterApp) waitExact(v *goka.View, keys []string, want int64) {
	a.t.Helper()
	kafkatest.Eventually(a.t, 90*time.Second, func() bool {
		for _, k := range keys {
			got, err := v.Get(k)
			if err != nil || got == nil || got.(*counter).Last < want {
				return false
			}
		}
		return true
	}, "every key reached %d", want)
	for _, k := range keys {
		got, err := v.Get(k)
		require.NoError(a.t, err)
		require.Equal(a.t, counter{Count: want, Last: want}, *got.(*counter), "key %s: nothing lost, nothing applied twice", k)
	}
}

func keysFor(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	return keys
}

// The processor is stopped and started again mid-stream: nothing is lost or
// counted twice, its state comes back from its Pebble databases, and a view
// serves the table throughout.
func TestProcessorRestartMidStream(t *testing.T) {
	a := newCounterApp(t, cluster)
	keys := keysFor(40)
	p := cluster.Producer(t)
	view := a.startView(cluster)

	stop := a.startProcessor(cluster)
	a.produce(p, keys, 1, 50)
	// Stop while the stream is still flowing in.
	flowing := make(chan struct{})
	go func() { defer close(flowing); a.produce(p, keys, 51, 100) }()
	kafkatest.Eventually(t, 60*time.Second, func() bool { return a.applied.Load() >= 1000 })
	stop()
	before := a.applied.Load()
	// 51..100 are all produced before 101..150: waitExact waits for the
	// last sequence number, which must come last on every key.
	<-flowing

	entries, err := os.ReadDir(a.stateDir)
	require.NoError(t, err)
	require.NotEmpty(t, entries, "the processor kept its table in Pebble")

	stop = a.startProcessor(cluster)
	defer stop()
	a.produce(p, keys, 101, 150)
	a.waitExact(view, keys, 150)
	require.Equal(t, int64(len(keys)*150), a.applied.Load(), "every message applied exactly once across the restart (%d before it)", before)
}

// With its local Pebble data deleted, the processor rebuilds its table from
// the changelog topic alone and goes on counting from there.
func TestProcessorRecoversFromChangelogAlone(t *testing.T) {
	a := newCounterApp(t, cluster)
	keys := keysFor(25)
	p := cluster.Producer(t)
	view := a.startView(cluster)

	stop := a.startProcessor(cluster)
	a.produce(p, keys, 1, 40)
	a.waitExact(view, keys, 40)
	stop()

	require.NoError(t, os.RemoveAll(a.stateDir))
	require.NoError(t, os.MkdirAll(a.stateDir, 0o755))

	stop = a.startProcessor(cluster)
	defer stop()
	a.produce(p, keys, 41, 60)
	a.waitExact(view, keys, 60)
}
