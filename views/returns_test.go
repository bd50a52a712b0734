package views_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/processors/returns/simulators"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

var (
	returnsOnce sync.Once
	returnsURL  string
	returnsCmd  *topics.Commander
)

// startReturns runs the returns service, its simulators and the HTTP API
// once for the package's returns tests.
func startReturns(t *testing.T) string {
	t.Helper()
	returnsOnce.Do(func() {
		ensureResultsTopic(t)
		cat, err := topics.NewCatalog(kafkatest.Partitions)
		require.NoError(t, err)
		_, err = cat.Ensure(context.Background(), cluster.Admin, 1)
		require.NoError(t, err)
		ctx := context.Background()
		svc, err := returns.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder())
		require.NoError(t, err)
		sims, err := simulators.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), simulators.Config{})
		require.NoError(t, err)
		returnsCmd, err = topics.NewCommander(ctx, cluster.Clients)
		require.NoError(t, err)
		cmds, err := views.NewCommands(cluster.Clients, returnsCmd, storage.MemoryBuilder(), views.WithResultTimeout(20*time.Second))
		require.NoError(t, err)
		api, err := views.NewReturns(cmds, svc)
		require.NoError(t, err)
		srv, err := views.NewServer()
		require.NoError(t, err)
		cmds.Register(srv)
		api.Register(srv)
		for _, run := range []func(context.Context) error{svc.Run, sims.Run, returnsCmd.Run, cmds.Run} {
			go func() { _ = run(ctx) }()
		}
		kafkatest.Eventually(t, 60*time.Second, func() bool { return svc.Ready() && sims.Ready() && cmds.Recovered() })
		returnsURL = httptest.NewServer(srv.Handler()).URL
	})
	require.NotEmpty(t, returnsURL, "returns fixture failed to start")
	return returnsURL
}

func returnsCall(t *testing.T, method, path, actorType string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, returnsURL+path, rd)
	require.NoError(t, err)
	if actorType != "" {
		req.Header.Set("X-Actor-Type", actorType)
		req.Header.Set("X-Actor-Id", actorType+"_1")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), string(b))
	}
	return resp.StatusCode, out
}

// publishOrder produces order.completed delivered a day ago.
func publishOrder(t *testing.T) string {
	t.Helper()
	id := cluster.Unique("order")
	at := time.Now().UTC().Add(-24 * time.Hour)
	env, err := topics.NewEnvelope(topics.OrderCompleted, at, map[string]any{
		"order_id": id, "user_id": "user_1", "currency": "USD", "completed_at": at,
		"line_items": []map[string]any{{"line_item_id": "li_1", "product_id": "p1", "category": "apparel", "quantity": 2,
			"unit_price": "10.00", "discount": "1.00", "tax": "1.52"}},
		"shipping_total": "4.00",
	}, topics.WithActor(topics.Actor{ID: "orders", Type: topics.ActorSystem}))
	require.NoError(t, err)
	require.NoError(t, returnsCmd.Produce(context.Background(), topics.OrderCompleted, id, env))
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		st, _ := returnsCall(t, "GET", "/v1/orders/"+id+"/return-eligibility", "", nil)
		return st == http.StatusOK
	})
	return id
}

func TestReturnsHTTPLifecycle(t *testing.T) {
	startReturns(t)
	orderID := publishOrder(t)

	st, body := returnsCall(t, "GET", "/v1/orders/"+orderID+"/return-eligibility", "", nil)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, body["eligible_items"], 1)

	st, body = returnsCall(t, "POST", "/v1/returns", "customer", map[string]any{"order_id": orderID, "reason": "no_longer_needed",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 2, "condition": "new"}}})
	require.Equal(t, http.StatusCreated, st, body)
	id := body["id"].(string)
	require.Equal(t, "pending", body["status"])

	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/approve", "staff", map[string]any{"refund_method": "original_payment"})
	require.Equal(t, http.StatusOK, st, body)
	require.Equal(t, "24.52", body["estimated_refund"].(map[string]any)["total_refund"]) // 19.00 + 1.52 + shipping 4.00: the whole order comes back

	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/shipping-label", "customer", nil)
	require.Equal(t, http.StatusOK, st, body)
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		st, body = returnsCall(t, "GET", "/v1/returns/"+id, "", nil)
		return st == http.StatusOK && body["shipping_label"] != nil
	}, "the label from the shipping simulator")
	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/receive", "staff", map[string]any{
		"items_received": []map[string]any{{"line_item_id": "li_1", "quantity_received": 2, "actual_condition": "sellable"}}})
	require.Equal(t, http.StatusOK, st, body)

	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/complete", "staff", map[string]any{})
	require.Equal(t, http.StatusAccepted, st, body)
	resultURL := body["result_url"].(string)

	kafkatest.Eventually(t, 30*time.Second, func() bool {
		st, body = returnsCall(t, "GET", "/v1/returns/"+id, "", nil)
		return st == http.StatusOK && body["status"] == "completed"
	})
	require.Equal(t, "24.52", body["actual_refund"].(map[string]any)["total_refund"])
	require.NotEmpty(t, body["audit"])

	kafkatest.Eventually(t, 20*time.Second, func() bool {
		st, body = returnsCall(t, "GET", resultURL, "", nil)
		return st == http.StatusOK && body["status"] == "succeeded"
	}, "the complete command's final result")

	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/cancel", "customer", nil)
	require.Equal(t, http.StatusConflict, st, body)
	require.Equal(t, returns.CodeInvalidState, body["error"].(map[string]any)["code"])
}

func TestReturnsHTTPErrors(t *testing.T) {
	startReturns(t)
	orderID := publishOrder(t)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown return", "GET", "/v1/returns/" + cluster.Unique("nope"), nil, 404, returns.CodeReturnNotFound},
		{"unknown order eligibility", "GET", "/v1/orders/" + cluster.Unique("nope") + "/return-eligibility", nil, 404, returns.CodeOrderNotFound},
		{"unknown order", "POST", "/v1/returns", map[string]any{"order_id": cluster.Unique("nope"), "reason": "other",
			"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}}, 404, returns.CodeOrderNotFound},
		{"too many units", "POST", "/v1/returns", map[string]any{"order_id": orderID, "reason": "other",
			"items": []map[string]any{{"line_item_id": "li_1", "quantity": 5, "condition": "new"}}}, 422, returns.CodeInvalidQuantity},
		{"no order ID", "POST", "/v1/returns", map[string]any{"reason": "other"}, 400, topics.CodeInvalidRequest},
		{"approve an unknown return", "POST", "/v1/returns/" + cluster.Unique("nope") + "/approve", map[string]any{"refund_method": "original_payment"}, 404, returns.CodeReturnNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := returnsCall(t, tc.method, tc.path, "staff", tc.body)
			require.Equal(t, tc.status, st, fmt.Sprint(body))
			require.Equal(t, tc.code, body["error"].(map[string]any)["code"])
		})
	}
}
