package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// proc is one shopstream process started by a test.
type proc struct {
	name, http string
	cmd        *exec.Cmd
	log        string

	mu     sync.Mutex
	exited bool
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log")}
	for i, a := range args {
		if a == "--http" {
			p.http = args[i+1]
		}
	}
	logf, err := os.Create(p.log)
	require.NoError(t, err)
	p.cmd = exec.Command(os.Args[0], args...)
	// run refuses the development secrets; every process and the CLI
	// share these, as in production
	p.cmd.Env = append(os.Environ(), "SHOPSTREAM_TEST_AS_MAIN=1", "SHOPSTREAM_LOG_LEVEL=warn",
		"SHOPSTREAM_GIFT_CARD_SECRET=scale-out-test-gift-card-secret-0123456789",
		"SHOPSTREAM_STORE_CREDIT_SECRET=scale-out-test-store-credit-secret-0123456789")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		if !exited {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("--- %s log ---\n%s", p.name, lastBytes(b, 4000))
		}
	})
	return p
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NoError(t, p.cmd.Process.Kill()) // SIGKILL: no clean shutdown, no offsets committed on the way out
	_ = p.cmd.Wait()
	p.exited = true
}

func (p *proc) ready() bool {
	resp, err := http.Get("http://" + p.http + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// post sends a JSON request; err is set only when the process could not be
// reached (it may be dead).
func (p *proc) post(path, idemKey, actor string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+p.http+path, bytes.NewReader(b))
	req.Header.Set("Idempotency-Key", idemKey)
	if actor != "" {
		req.Header.Set("X-Actor-Id", actor)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// Three processes share the partitions: one hosts the embedded broker
// (dev), two join it over TCP (run). One of the joiners is killed in the
// middle of a redemption burst; clients retry on the survivors with the
// same idempotency keys. The survivors take over its partitions: every
// redemption is applied exactly once, no card loses or gains money, and
// every process answers for every card.
func TestScaleOutSurvivesAKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	kafka := freeAddr(t)
	common := []string{"--partitions", "4", "--lag-interval", "2s", "--result-timeout", "15s"}
	host := startProc(t, "host", append([]string{"dev", "--kafka", kafka, "--http", freeAddr(t), "--data-dir", t.TempDir()}, common...)...)
	require.Eventually(t, host.ready, 60*time.Second, 100*time.Millisecond, "host ready")
	joinA := startProc(t, "join-a", append([]string{"run", "--brokers", kafka, "--http", freeAddr(t), "--data-dir", t.TempDir()}, common...)...)
	joinB := startProc(t, "join-b", append([]string{"run", "--brokers", kafka, "--http", freeAddr(t), "--data-dir", t.TempDir()}, common...)...)
	all := []*proc{host, joinA, joinB}
	require.Eventually(t, func() bool { return joinA.ready() && joinB.ready() }, 90*time.Second, 100*time.Millisecond, "joiners ready")

	// Submit retries a request with the same idempotency key on the next
	// live process until one answers.
	var mu sync.Mutex
	dead := map[*proc]bool{}
	submit := func(path, key string, body any, startAt int) (int, map[string]any) {
		for attempt := 0; attempt < 30; attempt++ {
			p := all[(startAt+attempt)%len(all)]
			mu.Lock()
			isDead := dead[p]
			mu.Unlock()
			if isDead {
				continue
			}
			status, out, err := p.post(path, key, "", body)
			if err == nil && status != http.StatusAccepted && status < 500 {
				return status, out
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("no process answered %s %s", path, key)
		return 0, nil
	}

	const cards, redemptionsPerCard = 12, 8
	codes := make([]string, cards)
	for i := range codes {
		status, out := submit("/v1/gift-cards", fmt.Sprintf("create-%d", i),
			map[string]any{"amount": "100.00", "currency": "USD", "purchaser_id": "scale-test"}, i)
		require.Equal(t, http.StatusCreated, status, out)
		codes[i] = out["code"].(string)
	}

	type redemption struct {
		card int
		key  string
	}
	var work []redemption
	for c := range cards {
		for r := range redemptionsPerCard {
			work = append(work, redemption{c, fmt.Sprintf("redeem-%d-%d", c, r)})
		}
	}
	rand.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })

	var wg sync.WaitGroup
	results := make([]map[string]any, len(work))
	killAt := len(work) / 3
	for i, w := range work {
		if i == killAt {
			wg.Wait() // let the first third land, then kill a process mid-burst
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu.Lock()
				dead[joinB] = true
				mu.Unlock()
				joinB.kill(t)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"code": codes[w.card], "order_id": "order-" + w.key, "amount": "1.00"}
			status, out := submit("/v1/gift-cards/redeem", w.key, body, i)
			if status == http.StatusOK {
				results[i] = out
			} else {
				t.Errorf("redeem %s: %d %v", w.key, status, out)
			}
			// A duplicate delivery of the same command applies nothing more.
			status, again := submit("/v1/gift-cards/redeem", w.key, body, i+1)
			if status != http.StatusOK || again["redemption_id"] != out["redemption_id"] {
				t.Errorf("repeat of %s: %d %v (first %v)", w.key, status, again, out)
			}
		}()
	}
	wg.Wait()

	// Redemption IDs are unique: no command was applied twice.
	ids := map[string]bool{}
	for _, r := range results {
		require.NotNil(t, r)
		id := r["redemption_id"].(string)
		require.False(t, ids[id], "redemption %s applied twice", id)
		ids[id] = true
	}

	requireDeployedMetricsExported(t, host, joinA)

	// Reads come from views that replicate every partition: each survivor
	// serves the result of every redemption, whichever process applied it.
	for _, w := range work {
		for _, p := range []*proc{host, joinA} {
			var status int
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + p.http + "/v1/commands/" + w.key)
				if err != nil {
					return false
				}
				resp.Body.Close()
				status = resp.StatusCode
				return status == http.StatusOK
			}, 20*time.Second, 50*time.Millisecond, "%s serves the result of %s (last status %d)", p.name, w.key, status)
		}
	}

	// Every survivor answers for every card, whichever process owns it now,
	// and the balance is exactly what was redeemed.
	want := decimal.RequireFromString("100.00").Sub(decimal.NewFromInt(redemptionsPerCard))
	for i, code := range codes {
		for _, p := range []*proc{host, joinA} {
			status, out, err := p.post("/v1/gift-cards/balance", fmt.Sprintf("balance-%s-%d", p.name, i), fmt.Sprintf("checker-%s-%d", p.name, i), map[string]any{"code": code})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, out)
			bal := out["current_balance"].(map[string]any)["amount"].(string)
			require.True(t, want.Equal(decimal.RequireFromString(bal)), "card %d on %s: balance %s, want %s", i, p.name, bal, want)
		}
	}
}

// Every metric the Grafana dashboard and the Prometheus alerts query is
// one the processes export.
func requireDeployedMetricsExported(t *testing.T, procs ...*proc) {
	t.Helper()
	var exported strings.Builder
	for _, p := range procs {
		resp, err := http.Get("http://" + p.http + "/metrics")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		exported.Write(b)
	}
	names := regexp.MustCompile(`shopstream_[a-z_]+`)
	for _, f := range []string{"../../deploy/grafana/dashboards/shopstream.json", "../../deploy/prometheus/alerts.yml"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, name := range names.FindAllString(string(b), -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				name = strings.TrimSuffix(name, suffix)
			}
			require.Contains(t, exported.String(), "# TYPE "+name+" ", "%s queries %s", f, name)
		}
	}
}
