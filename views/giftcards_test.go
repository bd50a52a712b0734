package views_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

const adminToken = "s3cret-admin-token"

type giftFixture struct {
	url  string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	giftOnce sync.Once
	gift     *giftFixture
)

// startGiftCards runs the gift card service and its HTTP API once for the
// package's gift card tests.
func startGiftCards(t *testing.T) *giftFixture {
	t.Helper()
	giftOnce.Do(func() {
		ensureResultsTopic(t)
		cat, err := topics.NewCatalog(kafkatest.Partitions)
		require.NoError(t, err)
		_, err = cat.Ensure(context.Background(), cluster.Admin, 1)
		require.NoError(t, err)
		logs := &syncBuffer{}
		logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		svc, err := giftcards.New(cluster.Clients, storage.MemoryBuilder(), giftcards.WithLogger(logger))
		require.NoError(t, err)
		ctx := context.Background()
		commander, err := topics.NewCommander(ctx, cluster.Clients)
		require.NoError(t, err)
		cmds, err := views.NewCommands(cluster.Clients, commander, storage.MemoryBuilder(), views.WithResultTimeout(20*time.Second))
		require.NoError(t, err)
		codes, err := giftcards.NewCodeGenerator([]byte("views-test-secret-views-test-secret!"))
		require.NoError(t, err)
		api, err := views.NewGiftCards(cmds, codes, views.WithAdminToken(adminToken),
			views.WithBalanceRateLimits(rate.Limit(5), 5, rate.Limit(2), 3), views.WithBulkMax(100))
		require.NoError(t, err)
		srv, err := views.NewServer(views.WithServerLogger(logger))
		require.NoError(t, err)
		cmds.Register(srv)
		api.Register(srv)
		for _, run := range []func(context.Context) error{svc.Run, commander.Run, cmds.Run} {
			go func() { _ = run(ctx) }()
		}
		kafkatest.Eventually(t, 60*time.Second, func() bool { return svc.Ready() && cmds.Recovered() })
		hs := httptest.NewServer(srv.Handler())
		gift = &giftFixture{url: hs.URL, logs: logs}
	})
	require.NotNil(t, gift, "gift card fixture failed to start")
	return gift
}

type call struct {
	path, body, idem, actor, token string
}

func (f *giftFixture) post(t *testing.T, c call) response {
	t.Helper()
	req, err := http.NewRequest("POST", f.url+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	if c.idem != "" {
		req.Header.Set("Idempotency-Key", c.idem)
	}
	if c.actor != "" {
		req.Header.Set("X-Actor-Id", c.actor)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := response{status: resp.StatusCode, header: resp.Header}
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out.body), string(b))
	}
	return out
}

func (f *giftFixture) createCard(t *testing.T, amount, cur string) string {
	t.Helper()
	r := f.post(t, call{path: "/v1/gift-cards", body: fmt.Sprintf(`{"amount":%q,"currency":%q,"purchaser_id":"user_1"}`, amount, cur)})
	require.Equal(t, http.StatusCreated, r.status, r.body)
	code := r.body["code"].(string)
	require.True(t, giftcards.ValidFormat(code))
	return code
}

func money(t *testing.T, v any) decimal.Decimal {
	t.Helper()
	m := v.(map[string]any)
	return decimal.RequireFromString(m["amount"].(string))
}

func TestGiftCardsHTTPFlow(t *testing.T) {
	f := startGiftCards(t)
	code := f.createCard(t, "100.00", "USD")
	r := f.post(t, call{path: "/v1/gift-cards/redeem", body: fmt.Sprintf(`{"code":%q,"order_id":"order_1","amount":"40.00"}`, strings.ToLower(code))})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "60.00", money(t, r.body["remaining_balance"]).StringFixed(2))
	rid := r.body["redemption_id"].(string)

	r = f.post(t, call{path: "/v1/gift-cards/refunds", body: fmt.Sprintf(`{"redemption_id":%q,"amount":"15.00"}`, rid)})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "75.00", money(t, r.body["new_balance"]).StringFixed(2))

	r = f.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, code), actor: "flow"})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "partially_redeemed", r.body["status"])
	require.Equal(t, "****-"+strings.ReplaceAll(code, "-", "")[len(strings.ReplaceAll(code, "-", ""))-4:], r.body["code"])

	t.Run("errors have codes and statuses", func(t *testing.T) {
		cases := []struct {
			name, path, body string
			status           int
			code             string
		}{
			{"over-redeem", "/v1/gift-cards/redeem", fmt.Sprintf(`{"code":%q,"order_id":"o","amount":"75.01"}`, code), 422, giftcards.CodeInsufficientBalance},
			{"float amount", "/v1/gift-cards/redeem", fmt.Sprintf(`{"code":%q,"order_id":"o","amount":1.5}`, code), 422, topics.CodeInvalidAmount},
			{"typo in code", "/v1/gift-cards/redeem", `{"code":"GIFT-AAAA-AAAA-AAAA-AAAA-B","order_id":"o"}`, 404, giftcards.CodeInvalidCode},
			{"unknown redemption", "/v1/gift-cards/refunds", `{"redemption_id":"nope"}`, 404, giftcards.CodeRedemptionNotFound},
			{"over-refund", "/v1/gift-cards/refunds", fmt.Sprintf(`{"redemption_id":%q,"amount":"25.01"}`, rid), 422, giftcards.CodeRefundExceedsRedemption},
			{"bad currency", "/v1/gift-cards", `{"amount":"5","currency":"ZZZ","purchaser_id":"u"}`, 422, topics.CodeUnsupportedCurrency},
			// refused by the processor, not rounded to 5.00 on the way to it
			{"create more precise than cents", "/v1/gift-cards", `{"amount":"5.001","currency":"USD","purchaser_id":"u"}`, 422, topics.CodeInvalidAmount},
			{"redeem more precise than cents", "/v1/gift-cards/redeem", fmt.Sprintf(`{"code":%q,"order_id":"o","amount":"1.005"}`, code), 422, topics.CodeInvalidAmount},
			{"refund more precise than cents", "/v1/gift-cards/refunds", fmt.Sprintf(`{"redemption_id":%q,"amount":"0.001"}`, rid), 422, topics.CodeInvalidAmount},
			{"malformed body", "/v1/gift-cards/redeem", `{`, 400, topics.CodeInvalidRequest},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := f.post(t, call{path: tc.path, body: tc.body})
				require.Equal(t, tc.status, r.status, r.body)
				require.Equal(t, tc.code, errorCode(t, r))
			})
		}
	})
}

func TestGiftCardsHTTPTransferAndHolds(t *testing.T) {
	f := startGiftCards(t)
	a, b, eur := f.createCard(t, "50.00", "USD"), f.createCard(t, "10.00", "USD"), f.createCard(t, "10.00", "EUR")
	r := f.post(t, call{path: "/v1/gift-cards/transfers", body: fmt.Sprintf(`{"from_code":%q,"to_code":%q,"amount":"20.00"}`, a, b)})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "30.00", money(t, r.body["to_balance"]).StringFixed(2))
	r = f.post(t, call{path: "/v1/gift-cards/transfers", body: fmt.Sprintf(`{"from_code":%q,"to_code":%q,"amount":"5.00"}`, a, eur)})
	require.Equal(t, 422, r.status)
	require.Equal(t, giftcards.CodeCurrencyMismatch, errorCode(t, r))

	r = f.post(t, call{path: "/v1/gift-cards/holds", body: fmt.Sprintf(`{"code":%q,"order_id":"oh","amount":"20.00"}`, a)})
	require.Equal(t, http.StatusCreated, r.status, r.body)
	hold := r.body["hold_id"].(string)
	r = f.post(t, call{path: "/v1/gift-cards/holds/" + hold + "/capture", body: fmt.Sprintf(`{"code":%q,"amount":"5.00"}`, a)})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "captured", r.body["status"])
	r = f.post(t, call{path: "/v1/gift-cards/holds/" + hold + "/release", body: fmt.Sprintf(`{"code":%q}`, a)})
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, giftcards.CodeHoldNotActive, errorCode(t, r))
}

// Security: void needs the admin token.
func TestGiftCardsHTTPVoidAuthorization(t *testing.T) {
	f := startGiftCards(t)
	code := f.createCard(t, "50.00", "USD")
	body := fmt.Sprintf(`{"code":%q,"reason":"fraud","admin_id":"admin_1"}`, code)
	for name, token := range map[string]string{"no token": "", "wrong token": "guess", "prefix of the token": adminToken[:5]} {
		r := f.post(t, call{path: "/v1/gift-cards/void", body: body, token: token})
		require.Equal(t, http.StatusForbidden, r.status, name)
		require.Equal(t, topics.CodeForbidden, errorCode(t, r))
	}
	r := f.post(t, call{path: "/v1/gift-cards/void", body: body, token: adminToken})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, true, r.body["voided"])
	r = f.post(t, call{path: "/v1/gift-cards/redeem", body: fmt.Sprintf(`{"code":%q,"order_id":"o"}`, code)})
	require.Equal(t, giftcards.CodeCardVoided, errorCode(t, r))
}

// Security: balance checks are limited per client and per card.
func TestGiftCardsHTTPBalanceRateLimit(t *testing.T) {
	f := startGiftCards(t)
	code := f.createCard(t, "10.00", "USD")
	t.Run("per card, across clients", func(t *testing.T) {
		statuses := map[int]int{}
		for i := 0; i < 6; i++ {
			r := f.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, code), actor: fmt.Sprintf("client-%d", i)})
			statuses[r.status]++
		}
		require.Equal(t, 3, statuses[http.StatusOK], "card burst of 3")
		require.Equal(t, 3, statuses[http.StatusTooManyRequests])
	})
	t.Run("per client, guessing codes", func(t *testing.T) {
		limited := 0
		for i := 0; i < 8; i++ {
			r := f.post(t, call{path: "/v1/gift-cards/balance", body: `{"code":"GIFT-2222-2222-2222-2222-3"}`, actor: "guesser"})
			if r.status == http.StatusTooManyRequests {
				limited++
				require.Equal(t, topics.CodeRateLimited, errorCode(t, r))
			} else {
				require.Equal(t, giftcards.CodeInvalidCode, errorCode(t, r))
			}
		}
		require.Equal(t, 3, limited, "client burst of 5")
	})
}

func TestGiftCardsHTTPConcurrentRedemptionsNeverOverspend(t *testing.T) {
	f := startGiftCards(t)
	code := f.createCard(t, "50.00", "USD")
	const n = 200
	var mu sync.Mutex
	spent, ok := decimal.Zero, 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := f.post(t, call{path: "/v1/gift-cards/redeem", body: fmt.Sprintf(`{"code":%q,"order_id":"o-%d","amount":"0.30"}`, code, i)})
			mu.Lock()
			defer mu.Unlock()
			if r.status == http.StatusOK {
				spent = spent.Add(money(t, r.body["redeemed_amount"]))
				ok++
			} else {
				require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	require.True(t, spent.LessThanOrEqual(decimal.NewFromInt(50)))
	require.Equal(t, 166, ok)
	r := f.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, code), actor: "checker"})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.True(t, money(t, r.body["current_balance"]).Equal(decimal.NewFromInt(50).Sub(spent)))
}

func TestGiftCardsHTTPBulk(t *testing.T) {
	f := startGiftCards(t)
	body := `{"count":25,"amount":"10.00","currency":"USD","prefix":"PROMO"}`
	r := f.post(t, call{path: "/v1/gift-cards/bulk", body: body})
	require.Equal(t, http.StatusForbidden, r.status)
	r = f.post(t, call{path: "/v1/gift-cards/bulk", body: body, token: adminToken, idem: "bulk-" + topics.NewID()})
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	statusURL := r.body["status_url"].(string)
	get := func() response {
		req, _ := http.NewRequest("GET", f.url+statusURL, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out := response{status: resp.StatusCode}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out.body))
		return out
	}
	var done response
	kafkatest.Eventually(t, 60*time.Second, func() bool {
		done = get()
		return done.body["status"] != "running"
	})
	require.Equal(t, "completed", done.body["status"], done.body)
	require.EqualValues(t, 25, done.body["created"])
	codes := done.body["codes"].([]any)
	require.Len(t, codes, 25)
	first := codes[0].(map[string]any)["code"].(string)
	require.True(t, strings.HasPrefix(first, "PROMO-"))
	again := get()
	require.Nil(t, again.body["codes"], "codes are returned once")
	require.Equal(t, true, again.body["codes_delivered"])
	r = f.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, first), actor: "bulk-check"})
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "10.00", money(t, r.body["current_balance"]).StringFixed(2))
}

// Security: the clear code is in no topic, no table and no log line.
func TestGiftCardsHTTPNoClearCodeAnywhere(t *testing.T) {
	f := startGiftCards(t)
	code := f.createCard(t, "30.00", "USD")
	r := f.post(t, call{path: "/v1/gift-cards/redeem", body: fmt.Sprintf(`{"code":%q,"order_id":"o-sec","amount":"1.00"}`, code)})
	require.Equal(t, http.StatusOK, r.status)
	f.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, code), actor: "sec"})
	secret := strings.ReplaceAll(code, "-", "")
	secret = secret[4 : len(secret)-4] // everything but the prefix and the last four
	needles := [][]byte{[]byte(code), []byte(strings.ToLower(code)), []byte(secret)}

	cat, err := topics.NewCatalog(kafkatest.Partitions)
	require.NoError(t, err)
	var names []string
	for _, tp := range cat.Topics() {
		names = append(names, tp.Name)
	}
	ends, err := cluster.Admin.ListEndOffsets(context.Background(), names...)
	require.NoError(t, err)
	cl := cluster.Producer(t, kgo.ConsumeTopics(names...))
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	seen := int64(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for seen < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			seen++
			for _, n := range needles {
				require.False(t, bytes.Contains(rec.Value, n) || bytes.Contains(rec.Key, n), "clear code in %s", rec.Topic)
			}
		})
	}
	require.GreaterOrEqual(t, seen, want, "read every record of every topic (tables included)")
	logs := f.logs.String()
	require.NotEmpty(t, logs)
	for _, n := range needles {
		require.NotContains(t, logs, string(n))
	}
}

// createdEvents counts the gift_card.created events of command id, reading
// the topic up to its end once at least one is there (the event and the
// result travel on different partitions).
func createdEvents(t *testing.T, id string) int {
	t.Helper()
	count := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ends, err := cluster.Admin.ListEndOffsets(ctx, topics.GiftCardCreated)
		require.NoError(t, err)
		want := int64(0)
		ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
		cl := cluster.Producer(t, kgo.ConsumeTopics(topics.GiftCardCreated))
		n, seen := 0, int64(0)
		for seen < want && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				seen++
				env, err := topics.DecodeEnvelope(rec.Value)
				require.NoError(t, err)
				if env.CommandID == id {
					n++
				}
			})
		}
		require.GreaterOrEqual(t, seen, want)
		return n
	}
	n := count()
	for deadline := time.Now().Add(20 * time.Second); n == 0 && time.Now().Before(deadline); n = count() {
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// Creating with the same Idempotency-Key twice issues one card: the retry
// gets a new code at the edge, and the creation index refuses it.
func TestGiftCardsHTTPCreateIdempotency(t *testing.T) {
	f := startGiftCards(t)
	body := `{"amount":"25.00","currency":"USD","purchaser_id":"user_1"}`

	t.Run("the repeat answers 409 and creates nothing", func(t *testing.T) {
		key := "create-" + topics.NewID()
		first := f.post(t, call{path: "/v1/gift-cards", body: body, idem: key})
		require.Equal(t, http.StatusCreated, first.status, first.body)
		require.Equal(t, key, first.header.Get("Idempotency-Key"))
		code := first.body["code"].(string)

		again := f.post(t, call{path: "/v1/gift-cards", body: body, idem: key})
		require.Equal(t, http.StatusConflict, again.status, again.body)
		require.Equal(t, topics.CodeIdempotencyConflict, errorCode(t, again))
		require.Contains(t, again.body["error"].(map[string]any)["message"], "shown once")
		require.Equal(t, key, again.header.Get("Idempotency-Key"))
		require.NotContains(t, again.body, "code", "no code revealed")
		require.Equal(t, 1, createdEvents(t, key), "exactly one card")

		r := f.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, code), actor: "idem-check"})
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Equal(t, "25.00", money(t, r.body["current_balance"]).StringFixed(2))
	})

	t.Run("concurrent creates with one key make one card", func(t *testing.T) {
		key := "create-" + topics.NewID()
		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := f.post(t, call{path: "/v1/gift-cards", body: body, idem: key})
				statuses[i] = r.status
				if r.status == http.StatusConflict {
					require.Equal(t, topics.CodeIdempotencyConflict, errorCode(t, r))
				}
			}()
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		require.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}, count)
		require.Equal(t, 1, createdEvents(t, key), "exactly one card")
	})

	t.Run("without a key the generated one is in the header", func(t *testing.T) {
		r := f.post(t, call{path: "/v1/gift-cards", body: body})
		require.Equal(t, http.StatusCreated, r.status, r.body)
		id := r.header.Get("Idempotency-Key")
		require.NotEmpty(t, id)
		require.Equal(t, 1, createdEvents(t, id))
	})
}
