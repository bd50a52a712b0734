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
	// returnsLogs holds the returns HTTP server's log lines.
	returnsLogs = &syncBuffer{}
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
		// the gift card API's card key secret (startGiftCards), so store
		// credit issued by the saga redeems through that API
		credit, err := returns.NewStoreCredit([]byte("views-test-store-credit-secret-0123456789"), []byte("views-test-secret-views-test-secret!"))
		require.NoError(t, err)
		opts := []returns.Option{returns.WithStoreCredit(credit)}
		if tableReads(t) {
			opts = append(opts, returns.WithTableReads())
		}
		svc, err := returns.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), opts...)
		require.NoError(t, err)
		sims, err := simulators.New(cluster.Clients, storage.MemoryBuilder(), storage.MemoryBuilder(), simulators.Config{})
		require.NoError(t, err)
		returnsCmd, err = topics.NewCommander(ctx, cluster.Clients)
		require.NoError(t, err)
		cmds, err := views.NewCommands(cluster.Clients, returnsCmd, storage.MemoryBuilder(), views.WithResultTimeout(20*time.Second))
		require.NoError(t, err)
		api, err := views.NewReturns(cmds, svc)
		require.NoError(t, err)
		srv, err := views.NewServer(views.WithServerLogger(slog.New(slog.NewTextHandler(returnsLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
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
		req.Header.Set("X-Actor-Id", actorIDs[actorType])
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

// actorIDs are the actor IDs returnsCall sends per actor type: the
// customer is the one publishOrder's orders belong to.
var actorIDs = map[string]string{topics.ActorCustomer: "user_1", topics.ActorStaff: "staff_1", topics.ActorSystem: "system_1"}

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
		st, _ := returnsCall(t, "GET", "/v1/orders/"+id+"/return-eligibility", "customer", nil)
		return st == http.StatusOK
	})
	return id
}

func TestReturnsHTTPLifecycle(t *testing.T) {
	startReturns(t)
	orderID := publishOrder(t)

	st, body := returnsCall(t, "GET", "/v1/orders/"+orderID+"/return-eligibility", "customer", nil)
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
		st, body = returnsCall(t, "GET", "/v1/returns/"+id, "customer", nil)
		return st == http.StatusOK && body["shipping_label"] != nil
	}, "the label from the shipping simulator")
	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/receive", "staff", map[string]any{
		"items_received": []map[string]any{{"line_item_id": "li_1", "quantity_received": 2, "actual_condition": "sellable"}}})
	require.Equal(t, http.StatusOK, st, body)

	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/complete", "staff", map[string]any{})
	require.Equal(t, http.StatusAccepted, st, body)
	resultURL := body["result_url"].(string)

	kafkatest.Eventually(t, 30*time.Second, func() bool {
		st, body = returnsCall(t, "GET", "/v1/returns/"+id, "customer", nil)
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

func TestReturnsHTTPRoles(t *testing.T) {
	startReturns(t)
	orderID := publishOrder(t)
	initiate := map[string]any{"order_id": orderID, "reason": "no_longer_needed",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}}
	call := func(t *testing.T, path, actorID, actorType string, body any) (int, map[string]any) {
		t.Helper()
		b, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest("POST", returnsURL+path, bytes.NewReader(b))
		require.NoError(t, err)
		if actorID != "" {
			req.Header.Set("X-Actor-Id", actorID)
			req.Header.Set("X-Actor-Type", actorType)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	requireForbidden := func(t *testing.T, st int, body map[string]any) {
		t.Helper()
		require.Equal(t, http.StatusForbidden, st, body)
		require.Equal(t, topics.CodeForbidden, body["error"].(map[string]any)["code"])
	}
	t.Run("initiate", func(t *testing.T) {
		st, body := call(t, "/v1/returns", "", "", initiate)
		requireForbidden(t, st, body) // the anonymous default customer
		st, body = call(t, "/v1/returns", "user_2", "customer", initiate)
		requireForbidden(t, st, body)
	})
	st, body := call(t, "/v1/returns", "staff_9", "staff", initiate)
	require.Equal(t, http.StatusCreated, st, body)
	byStaff := body["id"].(string)
	require.Equal(t, "user_1", body["customer_id"], "staff initiate on the order's customer's behalf")
	st, body = call(t, "/v1/returns", "user_1", "customer", initiate)
	require.Equal(t, http.StatusCreated, st, body)
	id := body["id"].(string)

	for _, rt := range []struct {
		path string
		body any
	}{
		{"approve", map[string]any{"refund_method": "original_payment"}},
		{"reject", map[string]any{"reason": "worn"}},
		{"ship", map[string]any{}},
		{"receive", map[string]any{"items_received": []map[string]any{{"line_item_id": "li_1", "quantity_received": 1, "actual_condition": "sellable"}}}},
		{"inspect", map[string]any{}},
		{"complete", map[string]any{"final_refund_amount": "1.00"}},
		{"retry-refund", map[string]any{}},
		{"retry-restock", map[string]any{}},
		{"resolve", map[string]any{"notes": "done"}},
	} {
		t.Run(rt.path+" is refused to customers", func(t *testing.T) {
			for _, who := range []struct{ id, typ string }{{"", ""}, {"user_1", "customer"}, {"user_2", "customer"}} {
				st, body := call(t, "/v1/returns/"+id+"/"+rt.path, who.id, who.typ, rt.body)
				requireForbidden(t, st, body)
			}
		})
	}
	t.Run("another customer cannot cancel or ask for a label", func(t *testing.T) {
		for _, path := range []string{"cancel", "shipping-label"} {
			st, body := call(t, "/v1/returns/"+id+"/"+path, "user_2", "customer", map[string]any{})
			requireForbidden(t, st, body)
			st, body = call(t, "/v1/returns/"+id+"/"+path, "", "", map[string]any{})
			requireForbidden(t, st, body)
		}
	})
	t.Run("staff approve, the customer cancels", func(t *testing.T) {
		st, body := call(t, "/v1/returns/"+id+"/approve", "staff_9", "staff", map[string]any{"refund_method": "original_payment"})
		require.Equal(t, http.StatusOK, st, body)
		st, body = call(t, "/v1/returns/"+id+"/cancel", "user_1", "customer", map[string]any{"reason": "kept it"})
		require.Equal(t, http.StatusOK, st, body)
		// The returns view follows the processor a moment behind: wait for
		// the cancellation to show, then check who the trail names.
		var actors []string
		require.Eventually(t, func() bool {
			st, body = returnsCall(t, "GET", "/v1/returns/"+id, "staff", nil)
			if st != http.StatusOK || body["status"] != "cancelled" {
				return false
			}
			actors = actors[:0]
			for _, e := range body["audit"].([]any) {
				e := e.(map[string]any)
				actors = append(actors, fmt.Sprint(e["action"], ":", e["actor_type"], "/", e["actor_id"]))
			}
			return true
		}, 10*time.Second, 20*time.Millisecond, "the view shows the cancelled return")
		require.Subset(t, actors, []string{"initiate:customer/user_1", "approve:staff/staff_9", "cancel:customer/user_1"})
	})
	t.Run("staff cancel on the customer's behalf", func(t *testing.T) {
		st, body := call(t, "/v1/returns/"+byStaff+"/cancel", "staff_9", "staff", map[string]any{})
		require.Equal(t, http.StatusOK, st, body)
	})
}

func TestReturnsHTTPStoreCredit(t *testing.T) {
	gift := startGiftCards(t) // the gift card service issues the credit
	startReturns(t)
	orderID := publishOrder(t)
	st, body := returnsCall(t, "POST", "/v1/returns", "customer", map[string]any{"order_id": orderID, "reason": "no_longer_needed",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 2, "condition": "new"}}})
	require.Equal(t, http.StatusCreated, st, body)
	id := body["id"].(string)
	creditPath := "/v1/returns/" + id + "/store-credit"
	api := newAPIChecker(t) // every answer is checked against the OpenAPI document
	getCredit := func(t *testing.T, actorID, actorType string) (int, http.Header, map[string]any) {
		t.Helper()
		var hdr []string
		if actorID != "" {
			hdr = []string{"X-Actor-Id", actorID, "X-Actor-Type", actorType}
		}
		r := api.do(t, "GET", returnsURL+creditPath, nil, hdr...)
		return r.status, r.header, r.body
	}

	t.Run("not issued before completion", func(t *testing.T) {
		// The answer reads the returns view, which follows the processor
		// a moment behind: until it has the new return, it answers 404.
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			st, _ := returnsCall(t, "GET", "/v1/returns/"+id, "staff", nil)
			return st == http.StatusOK
		}, "the returns view has the new return")
		st, _, body := getCredit(t, "user_1", "customer")
		require.Equal(t, http.StatusConflict, st, body)
		require.Equal(t, returns.CodeStoreCreditNotIssued, body["error"].(map[string]any)["code"])
	})
	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/approve", "staff", map[string]any{"refund_method": "store_credit"})
	require.Equal(t, http.StatusOK, st, body)
	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/receive", "staff", map[string]any{
		"items_received": []map[string]any{{"line_item_id": "li_1", "quantity_received": 2, "actual_condition": "sellable"}}})
	require.Equal(t, http.StatusOK, st, body)
	st, body = returnsCall(t, "POST", "/v1/returns/"+id+"/complete", "staff", map[string]any{})
	require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, st, body)
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		st, body = returnsCall(t, "GET", "/v1/returns/"+id, "staff", nil)
		return st == http.StatusOK && body["status"] == "completed"
	}, "the store-credit return completes")
	last4 := body["saga"].(map[string]any)["gift_card_last4"].(string)

	t.Run("refused to other actors", func(t *testing.T) {
		for _, a := range []struct{ id, typ string }{{"", ""}, {"user_2", "customer"}, {"svc", "system"}} {
			st, _, body := getCredit(t, a.id, a.typ)
			require.Equal(t, http.StatusForbidden, st, body)
			require.Equal(t, topics.CodeForbidden, body["error"].(map[string]any)["code"])
			require.NotContains(t, fmt.Sprint(body), "CREDIT-")
		}
	})
	st, hdr, credit := getCredit(t, "user_1", "customer")
	require.Equal(t, http.StatusOK, st, credit)
	require.Equal(t, "no-store", hdr.Get("Cache-Control"))
	code := credit["code"].(string)
	require.True(t, strings.HasPrefix(code, returns.StoreCreditPrefix+"-"), code)
	require.Equal(t, last4, credit["last4"])
	require.Equal(t, "24.52", credit["amount"].(map[string]any)["amount"])
	t.Run("staff get the same code", func(t *testing.T) {
		st, _, body := getCredit(t, "staff_1", "staff")
		require.Equal(t, http.StatusOK, st, body)
		require.Equal(t, code, body["code"])
	})
	t.Run("the customer redeems it through the gift card API", func(t *testing.T) {
		r := gift.post(t, call{path: "/v1/gift-cards/balance", body: fmt.Sprintf(`{"code":%q}`, code), actor: "user_1"})
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Equal(t, "24.52", money(t, r.body["current_balance"]).StringFixed(2))
		r = gift.post(t, call{path: "/v1/gift-cards/redeem", body: fmt.Sprintf(`{"code":%q,"order_id":%q,"amount":"24.52"}`, code, cluster.Unique("order"))})
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.True(t, money(t, r.body["remaining_balance"]).IsZero(), r.body)
	})
	t.Run("the code is in no log line", func(t *testing.T) {
		require.Contains(t, returnsLogs.String(), "/store-credit", "the request was logged")
		require.NotContains(t, returnsLogs.String(), code)
		require.NotContains(t, gift.logs.String(), code)
	})
}

func TestReturnsHTTPRepeatedInitiate(t *testing.T) {
	startReturns(t)
	api := newAPIChecker(t)
	orderID := publishOrder(t)
	key := cluster.Unique("initiate")
	body := map[string]any{"order_id": orderID, "reason": "no_longer_needed",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}}
	customer := []string{"X-Actor-Id", "user_1", "X-Actor-Type", "customer", "Idempotency-Key", key}
	first := api.do(t, "POST", returnsURL+"/v1/returns", body, customer...)
	require.Equal(t, http.StatusCreated, first.status, first.body)
	require.Equal(t, "pending", first.body["status"])
	for i := range 2 {
		t.Run(fmt.Sprintf("repeat %d answers 201 with the return", i+1), func(t *testing.T) {
			again := api.do(t, "POST", returnsURL+"/v1/returns", body, customer...)
			require.Equal(t, http.StatusCreated, again.status, again.body)
			require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
			require.Equal(t, first.body, again.body)
		})
	}
	t.Run("another payload under the key is a conflict", func(t *testing.T) {
		other := map[string]any{"order_id": orderID, "reason": "defective",
			"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}}
		r := api.do(t, "POST", returnsURL+"/v1/returns", other, customer...)
		require.Equal(t, http.StatusConflict, r.status, r.body)
		require.Equal(t, topics.CodeIdempotencyConflict, r.body["error"].(map[string]any)["code"])
	})
	t.Run("the result at the command URL is still the created return", func(t *testing.T) {
		r := api.do(t, "GET", returnsURL+"/v1/commands/"+key, nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Equal(t, "succeeded", r.body["status"])
	})
}

// TestReturnsHTTPReadAccess: a return and its order's eligibility are read
// by the order's customer, staff and system actors; anybody else gets 403
// forbidden, an unknown ID 404 for everybody.
func TestReturnsHTTPReadAccess(t *testing.T) {
	startReturns(t)
	orderID := publishOrder(t)
	st, body := returnsCall(t, "POST", "/v1/returns", "customer", map[string]any{"order_id": orderID, "reason": "no_longer_needed",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}})
	require.Equal(t, http.StatusCreated, st, body)
	id := body["id"].(string)
	get := func(t *testing.T, path, actorID, actorType string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest("GET", returnsURL+path, nil)
		require.NoError(t, err)
		if actorID != "" {
			req.Header.Set("X-Actor-Id", actorID)
		}
		if actorType != "" {
			req.Header.Set("X-Actor-Type", actorType)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	// The returns view follows the processor a moment behind.
	require.Eventually(t, func() bool {
		st, _ := get(t, "/v1/returns/"+id, "staff_7", "staff")
		return st == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "the returns view has the new return")
	for _, route := range []struct{ name, path, idField, want string }{
		{"return", "/v1/returns/" + id, "id", id},
		{"eligibility", "/v1/orders/" + orderID + "/return-eligibility", "order_id", orderID},
	} {
		for _, tc := range []struct {
			name, actorID, actorType string
			status                   int
		}{
			{"the customer", "user_1", "customer", http.StatusOK},
			{"staff", "staff_7", "staff", http.StatusOK},
			{"system", "reports", "system", http.StatusOK},
			{"another customer", "user_2", "customer", http.StatusForbidden},
			{"anonymous", "", "", http.StatusForbidden},
		} {
			t.Run(route.name+"/"+tc.name, func(t *testing.T) {
				st, body := get(t, route.path, tc.actorID, tc.actorType)
				require.Equal(t, tc.status, st, body)
				if tc.status == http.StatusOK {
					require.Equal(t, route.want, body[route.idField])
				} else {
					require.Equal(t, topics.CodeForbidden, body["error"].(map[string]any)["code"])
					require.NotContains(t, body, route.idField, "nothing of the return leaks")
				}
			})
		}
	}
	t.Run("unknown return is 404 for another customer too", func(t *testing.T) {
		st, body := get(t, "/v1/returns/"+cluster.Unique("nope"), "user_2", "customer")
		require.Equal(t, http.StatusNotFound, st, body)
	})
	t.Run("bad actor type", func(t *testing.T) {
		st, body := get(t, "/v1/returns/"+id, "x", "robot")
		require.Equal(t, http.StatusBadRequest, st, body)
	})
}
