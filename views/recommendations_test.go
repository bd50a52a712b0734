package views_test

import (
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
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

type recsFixture struct {
	svc    *recommendations.Service
	server *httptest.Server
	kgo    *kgo.Client
	cmds   *views.Commands
	// stop stops svc and returns when its Run has returned.
	stop func()
}

var (
	recsOnce sync.Once
	recs     *recsFixture
	// recsRefresh is the fixture's snapshot refresh; benchmarks raise it.
	recsRefresh = 100 * time.Millisecond
)

// startRecs starts one recommendations service and HTTP server for the
// package's recommendation tests.
func startRecs(t testing.TB) *recsFixture {
	t.Helper()
	recsOnce.Do(func() {
		resultsOnce.Do(func() { cluster.CreateTopic(t, topics.CommandResults, topics.Compact) })
		cat, err := topics.NewCatalog(kafkatest.Partitions)
		require.NoError(t, err)
		cluster.EnsureCatalog(t, cat)
		ctx := context.Background() // runs until the test binary exits
		commander, err := topics.NewCommander(ctx, cluster.Clients)
		require.NoError(t, err)
		go func() { _ = commander.Run(ctx) }()
		cmds, err := views.NewCommands(cluster.Clients, commander, storage.MemoryBuilder())
		require.NoError(t, err)
		go func() { _ = cmds.Run(ctx) }()
		k, err := kgo.NewClient(cluster.Clients.Kgo()...)
		require.NoError(t, err)
		recs = &recsFixture{kgo: k, cmds: cmds}
		recs.startService(t)
	})
	require.NotNil(t, recs, "recommendations fixture failed to start")
	return recs
}

// startService starts the recommendations service, on the fixture's
// Pebble directories, and an HTTP server for it, and waits until both are
// ready.
func (f *recsFixture) startService(t testing.TB) {
	t.Helper()
	// Pebble without its log, as shopstream runs (the benchmarks
	// measure that)
	opts := []recommendations.Option{recommendations.WithIndexRefresh(recsRefresh)}
	if tableReads(t) {
		opts = append(opts, recommendations.WithTableReads())
	}
	svc, err := recommendations.New(cluster.Clients, pebbleStorage(t, "recs-processors"), pebbleStorage(t, "recs-views"), opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	srv, err := views.NewServer(views.WithServerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	views.RegisterRecommendations(srv, svc, f.cmds)
	f.svc, f.server = svc, httptest.NewServer(srv.Handler())
	f.stop = func() { cancel(); <-done }
	kafkatest.Eventually(t, 60*time.Second, func() bool { return svc.Ready() && f.cmds.Recovered() })
}

// restart stops the service and starts it again on the same storage, as
// after a deployment: its processors recover what was written to their
// tables' topics while they ran (a goka processor reads its table's topic
// only when it recovers).
func (f *recsFixture) restart(t testing.TB) {
	t.Helper()
	f.server.Close()
	f.stop()
	f.startService(t)
}

func (f *recsFixture) do(t *testing.T, method, path string, body any, headers ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, f.server.URL+path, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp.StatusCode, out, resp.Header
}

func (f *recsFixture) interact(t *testing.T, user, product, typ string) {
	t.Helper()
	status, body, _ := f.do(t, "POST", "/v1/users/"+user+"/interactions", map[string]any{"product_id": product, "interaction_type": typ})
	require.Equal(t, http.StatusCreated, status, "%v", body)
}

func (f *recsFixture) produceOrder(t *testing.T, user, order string, products ...string) {
	t.Helper()
	var lines []map[string]any
	for i, p := range products {
		lines = append(lines, map[string]any{"line_item_id": fmt.Sprint(i), "product_id": p, "quantity": 1, "unit_price": "1.00"})
	}
	env, err := topics.NewEnvelope(topics.OrderCompleted, time.Now(), map[string]any{"order_id": order, "user_id": user,
		"currency": "USD", "line_items": lines}, topics.WithActor(topics.Actor{ID: user, Type: topics.ActorCustomer}))
	require.NoError(t, err)
	b, err := env.Encode()
	require.NoError(t, err)
	require.NoError(t, f.kgo.ProduceSync(context.Background(), &kgo.Record{Topic: topics.OrderCompleted, Key: []byte(order), Value: b}).FirstErr())
}

func productIDs(body map[string]any, field string) []string {
	var out []string
	list, _ := body[field].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any)["product_id"].(string))
	}
	return out
}

func TestRecommendationsHTTP(t *testing.T) {
	f := startRecs(t)
	a, b := cluster.Unique("a"), cluster.Unique("b")
	for range 2 {
		u := cluster.Unique("u")
		f.interact(t, u, a, "view")
		f.interact(t, u, b, "cart_add")
	}
	me := cluster.Unique("me")
	f.interact(t, me, a, "view")
	// Until the item view holds a's pair count with b (the combiner sends
	// it up to a window later than a's first increment), a request would
	// compute and cache a list without b: computed here without caching.
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		r, err := f.svc.Engine().Compute(me, recommendations.Request{Limit: 3, Strategy: recommendations.Collaborative})
		return err == nil && len(r.Results) > 0 && r.Results[0].ProductID == b
	})
	path := "/v1/users/" + me + "/recommendations?limit=3&strategy=collaborative"
	var first map[string]any
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		status, body, _ := f.do(t, "GET", path+"&exclude_purchased=false", nil)
		require.Equal(t, http.StatusOK, status)
		first = body
		return len(productIDs(body, "recommendations")) > 0 && productIDs(body, "recommendations")[0] == b
	})

	t.Run("ranked with positions, scores as decimal strings", func(t *testing.T) {
		status, body, _ := f.do(t, "GET", path, nil)
		require.Equal(t, http.StatusOK, status)
		item := body["recommendations"].([]any)[0].(map[string]any)
		require.Equal(t, float64(1), item["position"])
		require.Equal(t, "collaborative", item["reason"])
		require.IsType(t, "", item["score"])
		require.Equal(t, a, item["metadata"].(map[string]any)["because_of"])
		require.NotEmpty(t, body["recommendation_id"])
	})
	t.Run("second request is cached", func(t *testing.T) {
		kafkatest.Eventually(t, 10*time.Second, func() bool {
			_, body, _ := f.do(t, "GET", path, nil)
			return body["cached"] == true
		})
	})
	t.Run("DELETE cache clears it", func(t *testing.T) {
		status, body, _ := f.do(t, "DELETE", "/v1/users/"+me+"/recommendations/cache", nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, true, body["cleared"])
		_, body, _ = f.do(t, "GET", path, nil)
		require.Equal(t, false, body["cached"])
	})
	t.Run("an interaction clears it", func(t *testing.T) {
		kafkatest.Eventually(t, 10*time.Second, func() bool {
			_, body, _ := f.do(t, "GET", path, nil)
			return body["cached"] == true
		})
		f.interact(t, me, cluster.Unique("p"), "wishlist")
		_, body, _ := f.do(t, "GET", path, nil)
		require.Equal(t, false, body["cached"])
	})
	t.Run("click is produced and recorded", func(t *testing.T) {
		status, body, _ := f.do(t, "POST", "/v1/recommendations/"+first["recommendation_id"].(string)+"/clicks",
			map[string]any{"user_id": me, "product_id": b, "position": 1})
		require.Equal(t, http.StatusAccepted, status, "%v", body)
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			p, err := f.svc.Profile(me)
			require.NoError(t, err)
			for _, h := range p.History {
				if h.ProductID == b {
					return true
				}
			}
			return false
		})
	})
}

func TestRecommendationsHTTPValidation(t *testing.T) {
	f := startRecs(t)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"blank user", "GET", "/v1/users/%20/recommendations", nil, 400, recommendations.CodeInvalidUser},
		{"limit not a number", "GET", "/v1/users/u/recommendations?limit=ten", nil, 400, recommendations.CodeInvalidLimit},
		{"limit too big", "GET", "/v1/users/u/recommendations?limit=1000", nil, 400, recommendations.CodeInvalidLimit},
		{"unknown strategy", "GET", "/v1/users/u/recommendations?strategy=magic", nil, 400, recommendations.CodeInvalidStrategy},
		{"exclude_purchased not a boolean", "GET", "/v1/users/u/recommendations?exclude_purchased=maybe", nil, 400, topics.CodeInvalidRequest},
		{"unknown interaction type", "POST", "/v1/users/u/interactions", map[string]any{"product_id": "p", "interaction_type": "like"}, 400, recommendations.CodeInvalidInteraction},
		{"interaction without product", "POST", "/v1/users/u/interactions", map[string]any{"interaction_type": "view"}, 400, recommendations.CodeInvalidProduct},
		{"interaction for blank user", "POST", "/v1/users/%20/interactions", map[string]any{"product_id": "p", "interaction_type": "view"}, 400, recommendations.CodeInvalidUser},
		{"click without user", "POST", "/v1/recommendations/r1/clicks", map[string]any{"product_id": "p"}, 400, recommendations.CodeInvalidUser},
		{"similar of an unknown product", "GET", "/v1/products/nothing-here/similar", nil, 404, topics.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := f.do(t, tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, "%v", body)
			require.Equal(t, tc.code, body["error"].(map[string]any)["code"])
		})
	}
}

func TestRecommendationsHTTPInteractionIdempotency(t *testing.T) {
	f := startRecs(t)
	user, key := cluster.Unique("u"), cluster.Unique("key")
	body := map[string]any{"product_id": "p1", "interaction_type": "purchase"}
	status, res, _ := f.do(t, "POST", "/v1/users/"+user+"/interactions", body, "Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, true, res["recorded"])
	status, _, h := f.do(t, "POST", "/v1/users/"+user+"/interactions", body, "Idempotency-Key", key)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "true", h.Get("Idempotent-Replayed"))
	status, _, _ = f.do(t, "POST", "/v1/users/"+user+"/interactions", map[string]any{"product_id": "p2", "interaction_type": "view"}, "Idempotency-Key", key)
	require.Equal(t, http.StatusConflict, status)
}

func TestRecommendationsHTTPProductRoutes(t *testing.T) {
	f := startRecs(t)
	tent, stakes := cluster.Unique("tent"), cluster.Unique("stakes")
	f.produceOrder(t, cluster.Unique("u"), cluster.Unique("o"), tent, stakes)
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		status, body, _ := f.do(t, "GET", "/v1/products/"+tent+"/frequently-bought-together?limit=3", nil)
		return status == http.StatusOK && len(productIDs(body, "results")) == 1 && productIDs(body, "results")[0] == stakes
	})
	status, body, _ := f.do(t, "GET", "/v1/products/"+cluster.Unique("none")+"/frequently-bought-together", nil)
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, body["results"])
}

// Concurrent uncached requests for one user over HTTP compute once.
func TestRecommendationsHTTPStampede(t *testing.T) {
	f := startRecs(t)
	user := cluster.Unique("u")
	f.interact(t, user, cluster.Unique("p"), "view")
	// The interaction's answer waits for the user view a bounded while
	// only: requests made before the view shows it and after compute the
	// list for two profile versions, twice.
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		p, err := f.svc.Profile(user)
		return err == nil && p != nil && p.Version >= 1
	}, "the user view shows the interaction")
	before := f.svc.Computes()
	var wg sync.WaitGroup
	ids := make(chan string, 30)
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, _ := f.do(t, "GET", "/v1/users/"+user+"/recommendations?strategy=content_based", nil)
			require.Equal(t, http.StatusOK, status)
			ids <- body["recommendation_id"].(string)
		}()
	}
	wg.Wait()
	close(ids)
	distinct := map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	require.Len(t, distinct, 1)
	require.Equal(t, int64(1), f.svc.Computes()-before)
}
