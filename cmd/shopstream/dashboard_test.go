package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// chromiumPath finds Debian's chromium (installed by .ci/ensure-chromium,
// which `make test` runs). Without it the test skips, or fails under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: .ci/ensure-chromium should have installed it")
		}
		t.Skip("chromium is not installed (run .ci/ensure-chromium as root)")
	}
	return p
}

// loadGenerator produces to a topic continuously and has a consumer group
// read it in slow, uneven bursts, so its lag keeps changing.
func loadGenerator(t *testing.T, ctx context.Context, kafkaAddr, topic, group string) {
	t.Helper()
	clients, err := topics.NewClients([]string{kafkaAddr})
	require.NoError(t, err)
	adm, err := kgo.NewClient(clients.Kgo()...)
	require.NoError(t, err)
	_, err = kadm.NewClient(adm).CreateTopic(ctx, 2, 1, nil, topic)
	require.NoError(t, err)
	adm.Close()

	prod, err := kgo.NewClient(clients.Kgo(kgo.DefaultProduceTopic(topic))...)
	require.NoError(t, err)
	cons, err := kgo.NewClient(clients.Kgo(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())...)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // ~400 records/s
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			prod.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 10)), Value: []byte("x")}, nil)
			time.Sleep(2500 * time.Microsecond)
		}
	}()
	go func() { // reads 40 records, commits, pauses 100-400 ms
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			fs := cons.PollRecords(ctx, 40)
			if ctx.Err() != nil {
				return
			}
			_ = cons.CommitRecords(ctx, fs.Records()...)
			time.Sleep(time.Duration(100+(i%4)*100) * time.Millisecond)
		}
	}()
	t.Cleanup(func() { wg.Wait(); prod.Close(); cons.Close() })
}

// With dev running and traffic flowing, the dashboard in a real browser
// shows the group's lag, and the value changes over time.
func TestDashboardShowsChangingLagInABrowser(t *testing.T) {
	chromium := chromiumPath(t)
	dataDir := t.TempDir()
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	_, stop := startDev(t, dataDir, httpAddr, kafkaAddr)
	defer func() { require.NoError(t, stop()) }()

	loadCtx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	group := "dashboard-load"
	loadGenerator(t, loadCtx, kafkaAddr, "dashboard.load", group)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()

	_, err := chromedp.Run(bctx, chromedp.Navigate("http://"+httpAddr+"/dashboard"))
	require.NoError(t, err)

	// The lag of our group's partitions, as the page shows it.
	readLag := func() (int64, bool) {
		js := fmt.Sprintf(`[...document.querySelectorAll('tr[data-group=%q] td.lag')].map(td => td.textContent)`, group)
		cells, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](js))
		if err != nil || len(cells) == 0 {
			return 0, false
		}
		var sum int64
		for _, c := range cells {
			n, err := strconv.ParseInt(strings.ReplaceAll(c, ",", ""), 10, 64)
			if err != nil {
				return 0, false
			}
			sum += n
		}
		return sum, true
	}
	seen := map[int64]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && len(seen) < 3 {
		if v, ok := readLag(); ok {
			seen[v] = true
		}
		time.Sleep(700 * time.Millisecond)
	}
	require.GreaterOrEqual(t, len(seen), 3, "the page showed changing lag values for %s: %v", group, seen)
	var nonzero bool
	for v := range seen {
		nonzero = nonzero || v > 0
	}
	require.True(t, nonzero, "the page showed real lag, not only zeros: %v", seen)

	ready, err := chromedp.Run(bctx, chromedp.Text("#ready"))
	require.NoError(t, err)
	require.Equal(t, "ready", ready)

	if dir := os.Getenv("SHOPSTREAM_SCREENSHOT_DIR"); dir != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dir+"/dashboard.png", png, 0o644))
	}
}
