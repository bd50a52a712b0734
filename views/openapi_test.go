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
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

// loadOpenAPI loads the served document and validates it (and its
// examples) against the OpenAPI 3 specification.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(views.OpenAPIDocument())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background(), openapi3.EnableExamplesValidation()))
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			t.Run(name, func(t *testing.T) {
				require.NotEmpty(t, op.Summary, "summary")
				require.NotEmpty(t, op.Description, "description")
				require.NotEmpty(t, op.OperationID, "operationId")
				for status, resp := range op.Responses.Map() {
					if status >= "400" && status < "600" {
						require.NotNil(t, resp.Value.Content.Get("application/json"), "%s: errors have the shared JSON body", status)
					}
				}
			})
		}
	}
}

// Money amounts are strings in both directions: the schemas refuse a JSON
// number, as the decoders do.
func TestOpenAPIMoneyIsADecimalString(t *testing.T) {
	doc := loadOpenAPI(t)
	money := doc.Components.Schemas["Money"].Value
	require.NoError(t, money.VisitJSON(map[string]any{"amount": "12.34", "currency": "USD"}))
	require.Error(t, money.VisitJSON(map[string]any{"amount": 12.34, "currency": "USD"}))
	amount := doc.Components.Schemas["Amount"].Value
	require.Error(t, amount.VisitJSON(1.5))
	require.Error(t, amount.VisitJSON("1e3"))
	require.NoError(t, amount.VisitJSON("25.00"))
}

// apiChecker sends requests that must conform to the document and checks
// that every answer does: its status is documented for the operation and
// its body matches the schema. Object schemas of the components are made
// strict (no undocumented property), so a field the server answers but the
// document does not describe fails the test.
type apiChecker struct {
	router routers.Router
}

// htmlOnce registers a decoder for the dashboard's text/html answer.
var htmlOnce sync.Once

func newAPIChecker(t *testing.T) *apiChecker {
	t.Helper()
	doc := loadOpenAPI(t)
	doc.Servers = nil // match any host: the fixtures listen on random ports
	for _, s := range doc.Components.Schemas {
		v := s.Value
		if v.Type.Is("object") && len(v.Properties) > 0 && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
			v.AdditionalProperties = openapi3.AdditionalProperties{Has: openapi3.Ptr(false)}
		}
	}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	htmlOnce.Do(func() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) })
	return &apiChecker{router: router}
}

type checked struct {
	status int
	header http.Header
	body   map[string]any
}

// do sends method url with body (nil: none) and headers (name, value
// pairs); the request must conform to the document.
func (c *apiChecker) do(t *testing.T, method, url string, body any, headers ...string) checked {
	t.Helper()
	return c.send(t, true, method, url, body, headers...)
}

// doInvalid sends a request the document says is invalid (to see the
// error answers); only the answer is checked.
func (c *apiChecker) doInvalid(t *testing.T, method, url string, body any, headers ...string) checked {
	t.Helper()
	return c.send(t, false, method, url, body, headers...)
}

func (c *apiChecker) send(t *testing.T, conforming bool, method, url string, body any, headers ...string) checked {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	route, params, err := c.router.FindRoute(req)
	require.NoError(t, err, "%s %s is described", method, url)
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); conforming {
		require.NoError(t, err, "the test's request conforms")
	} else {
		require.Error(t, err, "the test's request does not conform")
	}
	req.Body = io.NopCloser(bytes.NewReader(raw)) // ValidateRequest read it

	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(got)
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), out), "%s %s answered %d: %s", method, url, resp.StatusCode, got)
	res := checked{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(got) > 0 {
		_ = json.Unmarshal(got, &res.body)
	}
	return res
}

func errCode(r checked) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestOpenAPIMatchesGiftCardAnswers(t *testing.T) {
	c := newAPIChecker(t)
	f := startGiftCards(t)
	u := func(p string) string { return f.url + p }
	actor := func() []string { return []string{"X-Actor-Id", cluster.Unique("oa-actor"), "X-Actor-Type", "customer"} }

	r := c.do(t, "POST", u("/v1/gift-cards"), map[string]any{"amount": "100.00", "currency": "USD", "purchaser_id": "user_oa"}, actor()...)
	require.Equal(t, http.StatusCreated, r.status)
	code := r.body["code"].(string)
	r = c.do(t, "POST", u("/v1/gift-cards"), map[string]any{"amount": "10.00", "currency": "EUR", "purchaser_id": "user_oa"})
	require.Equal(t, http.StatusCreated, r.status)
	eur := r.body["code"].(string)
	r = c.do(t, "POST", u("/v1/gift-cards"), map[string]any{"amount": "10.00", "currency": "USD", "purchaser_id": "user_oa"})
	require.Equal(t, http.StatusCreated, r.status)
	other := r.body["code"].(string)

	redeemKey := cluster.Unique("oa-redeem")
	r = c.do(t, "POST", u("/v1/gift-cards/redeem"), map[string]any{"code": code, "order_id": "order_oa", "amount": "40.00"}, "Idempotency-Key", redeemKey)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, redeemKey, r.header.Get("Idempotency-Key"))
	rid := r.body["redemption_id"].(string)
	r = c.do(t, "POST", u("/v1/gift-cards/redeem"), map[string]any{"code": code, "order_id": "order_oa", "amount": "40.00"}, "Idempotency-Key", redeemKey)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
	r = c.do(t, "GET", u("/v1/commands/"+redeemKey), nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "succeeded", r.body["status"])
	r = c.do(t, "POST", u("/v1/gift-cards/redeem"), map[string]any{"code": code, "order_id": "order_oa", "amount": "41.00"}, "Idempotency-Key", redeemKey)
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, topics.CodeIdempotencyConflict, errCode(r))
	r = c.do(t, "GET", u("/v1/commands/"+cluster.Unique("oa-none")), nil)
	require.Equal(t, http.StatusNotFound, r.status)

	r = c.do(t, "POST", u("/v1/gift-cards/balance"), map[string]any{"code": code}, actor()...)
	require.Equal(t, http.StatusOK, r.status)
	r = c.do(t, "POST", u("/v1/gift-cards/refunds"), map[string]any{"redemption_id": rid, "amount": "5.00", "reason": "damaged"})
	require.Equal(t, http.StatusOK, r.status)
	r = c.do(t, "POST", u("/v1/gift-cards/transfers"), map[string]any{"from_code": code, "to_code": other, "amount": "5.00"})
	require.Equal(t, http.StatusOK, r.status)
	r = c.do(t, "POST", u("/v1/gift-cards/holds"), map[string]any{"code": code, "order_id": "order_oa_hold", "amount": "10.00"})
	require.Equal(t, http.StatusCreated, r.status)
	hold := r.body["hold_id"].(string)
	r = c.do(t, "POST", u("/v1/gift-cards/holds/"+hold+"/capture"), map[string]any{"code": code, "amount": "4.00"})
	require.Equal(t, http.StatusOK, r.status)
	r = c.do(t, "POST", u("/v1/gift-cards/void"), map[string]any{"code": other, "reason": "fraud", "admin_id": "admin_oa"}, "Authorization", "Bearer "+adminToken)
	require.Equal(t, http.StatusOK, r.status)

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			body       any
			headers    []string
			invalid    bool // the request breaks the document on purpose
			status     int
			code       string
		}{
			{"too precise", "/v1/gift-cards/redeem", map[string]any{"code": code, "order_id": "o", "amount": "1.005"}, nil, false, 422, topics.CodeInvalidAmount},
			{"amount as a number", "/v1/gift-cards/redeem", map[string]any{"code": code, "order_id": "o", "amount": 1.5}, nil, true, 422, topics.CodeInvalidAmount},
			{"over-redeem", "/v1/gift-cards/redeem", map[string]any{"code": code, "order_id": "o", "amount": "999.00"}, nil, false, 422, "insufficient_balance"},
			{"unknown code", "/v1/gift-cards/redeem", map[string]any{"code": "GIFT-AAAA-AAAA-AAAA-AAAA-B", "order_id": "o"}, nil, false, 404, "invalid_code"},
			{"bad currency", "/v1/gift-cards", map[string]any{"amount": "5.00", "currency": "ZZZ", "purchaser_id": "u"}, nil, false, 422, topics.CodeUnsupportedCurrency},
			{"unknown redemption", "/v1/gift-cards/refunds", map[string]any{"redemption_id": "nope"}, nil, false, 404, "redemption_not_found"},
			{"currency mismatch", "/v1/gift-cards/transfers", map[string]any{"from_code": code, "to_code": eur, "amount": "1.00"}, nil, false, 422, "currency_mismatch"},
			{"hold not active", "/v1/gift-cards/holds/" + hold + "/release", map[string]any{"code": code}, nil, false, 409, "hold_not_active"},
			{"hold not found", "/v1/gift-cards/holds/nope/capture", map[string]any{"code": code}, nil, false, 404, "hold_not_found"},
			{"balance of a voided card", "/v1/gift-cards/balance", map[string]any{"code": other}, actor(), false, 200, ""},
			{"redeem a voided card", "/v1/gift-cards/redeem", map[string]any{"code": other, "order_id": "o"}, nil, false, 422, "card_voided"},
			{"void without token", "/v1/gift-cards/void", map[string]any{"code": code, "reason": "r", "admin_id": "a"}, nil, false, 403, topics.CodeForbidden},
			{"bulk without token", "/v1/gift-cards/bulk", map[string]any{"count": 1, "amount": "5.00"}, nil, false, 403, topics.CodeForbidden},
			{"unknown actor type", "/v1/gift-cards/balance", map[string]any{"code": code}, []string{"X-Actor-Type", "robot"}, true, 400, topics.CodeInvalidRequest},
			{"Idempotency-Key too long", "/v1/gift-cards/redeem", map[string]any{"code": code, "order_id": "o"}, []string{"Idempotency-Key", strings.Repeat("k", 129)}, true, 400, topics.CodeInvalidRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				send := c.do
				if tc.invalid {
					send = c.doInvalid
				}
				r := send(t, "POST", u(tc.path), tc.body, tc.headers...)
				require.Equal(t, tc.status, r.status, r.body)
				require.Equal(t, tc.code, errCode(r))
			})
		}
	})

	t.Run("bulk", func(t *testing.T) {
		key := cluster.Unique("oa-bulk")
		auth := []string{"Authorization", "Bearer " + adminToken, "Idempotency-Key", key}
		r := c.do(t, "POST", u("/v1/gift-cards/bulk"), map[string]any{"count": 3, "amount": "5.00", "prefix": "OAPI"}, auth...)
		require.Equal(t, http.StatusAccepted, r.status)
		require.Equal(t, "/v1/gift-cards/bulk/"+key, r.header.Get("Location"))
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			r = c.do(t, "GET", u("/v1/gift-cards/bulk/"+key), nil, auth[:2]...)
			return r.status == http.StatusOK && r.body["status"] != "running"
		}, "the bulk job finishes")
		require.Len(t, r.body["codes"], 3)
		r = c.do(t, "GET", u("/v1/gift-cards/bulk/"+cluster.Unique("oa-nojob")), nil, auth[:2]...)
		require.Equal(t, http.StatusNotFound, r.status)
	})
}

func TestOpenAPIMatchesReturnAnswers(t *testing.T) {
	c := newAPIChecker(t)
	base := startReturns(t)
	orderID := publishOrder(t)
	staff := []string{"X-Actor-Id", "staff_oa", "X-Actor-Type", "staff"}

	r := c.do(t, "GET", base+"/v1/orders/"+orderID+"/return-eligibility", nil, "X-Actor-Id", "user_1")
	require.Equal(t, http.StatusOK, r.status)
	r = c.do(t, "POST", base+"/v1/returns", map[string]any{"order_id": orderID, "reason": "defective",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 2, "condition": "opened"}}}, "X-Actor-Id", "user_1")
	require.Equal(t, http.StatusCreated, r.status)
	id := r.body["id"].(string)
	ret := base + "/v1/returns/" + id

	require.Equal(t, http.StatusOK, c.do(t, "POST", ret+"/approve", map[string]any{"refund_method": "original_payment", "notes": "ok"}, staff...).status)
	require.Equal(t, http.StatusOK, c.do(t, "POST", ret+"/shipping-label", nil, "X-Actor-Id", "user_1").status)
	require.Equal(t, http.StatusOK, c.do(t, "POST", ret+"/ship", map[string]any{"tracking_number": "1Z999"}, staff...).status)
	require.Equal(t, http.StatusOK, c.do(t, "POST", ret+"/receive", map[string]any{"items_received": []map[string]any{
		{"line_item_id": "li_1", "quantity_received": 1, "actual_condition": "sellable"}}}, staff...).status)
	require.Equal(t, http.StatusOK, c.do(t, "POST", ret+"/receive", map[string]any{"items_received": []map[string]any{
		{"line_item_id": "li_1", "quantity_received": 1, "actual_condition": "damaged", "notes": "scratched"}}}, staff...).status)
	require.Equal(t, http.StatusOK, c.do(t, "POST", ret+"/inspect", map[string]any{"notes": "checked"}, staff...).status)
	completeKey := cluster.Unique("oa-complete")
	r = c.do(t, "POST", ret+"/complete", map[string]any{}, append(staff, "Idempotency-Key", completeKey)...)
	require.Equal(t, http.StatusAccepted, r.status)
	require.Equal(t, "/v1/commands/"+completeKey, r.header.Get("Location"))
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		r = c.do(t, "GET", base+"/v1/commands/"+completeKey, nil)
		return r.status == http.StatusOK && r.body["status"] == "succeeded"
	}, "the completion saga's final result")
	r = c.do(t, "POST", ret+"/complete", map[string]any{}, append(staff, "Idempotency-Key", completeKey)...)
	require.Equal(t, http.StatusOK, r.status, "a repeat answers the final result")
	require.Equal(t, "completed", r.body["status"])
	// The return is read from the returns view, which may show it a moment
	// after the command's result (another topic) has arrived.
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		r = c.do(t, "GET", ret, nil, "X-Actor-Id", "user_1")
		return r.status == http.StatusOK && r.body["status"] == "completed"
	}, "the returns view shows the completed return")
	require.Equal(t, http.StatusForbidden, c.do(t, "GET", ret, nil, "X-Actor-Id", "user_2").status)
	r = c.doInvalid(t, "POST", base+"/v1/returns", map[string]any{"order_id": orderID, "reason": "bored",
		"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}}, "X-Actor-Id", "user_1")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, topics.CodeInvalidRequest, errCode(r))

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, url string
			body              any
			status            int
			code              string
		}{
			{"cancel completed", "POST", ret + "/cancel", map[string]any{"reason": "changed my mind"}, 409, "invalid_state"},
			{"reject completed", "POST", ret + "/reject", map[string]any{"reason": "late"}, 409, "invalid_state"},
			{"resolve completed", "POST", ret + "/resolve", map[string]any{"notes": "n"}, 409, "invalid_state"},
			{"retry refund", "POST", ret + "/retry-refund", nil, 409, "invalid_state"},
			{"retry restock", "POST", ret + "/retry-restock", nil, 409, "invalid_state"},
			{"unknown return", "GET", base + "/v1/returns/" + cluster.Unique("oa-none"), nil, 404, "return_not_found"},
			{"unknown order", "GET", base + "/v1/orders/" + cluster.Unique("oa-none") + "/return-eligibility", nil, 404, "order_not_found"},
			{"unknown order initiate", "POST", base + "/v1/returns", map[string]any{"order_id": cluster.Unique("oa-none"), "reason": "defective",
				"items": []map[string]any{{"line_item_id": "li_1", "quantity": 1, "condition": "new"}}}, 404, "order_not_found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(t, tc.method, tc.url, tc.body, staff...)
				require.Equal(t, tc.status, r.status, r.body)
				require.Equal(t, tc.code, errCode(r))
			})
		}
	})
}

func TestOpenAPIMatchesRecommendationAnswers(t *testing.T) {
	c := newAPIChecker(t)
	f := startRecs(t)
	base := f.server.URL
	user := cluster.Unique("oa-user")
	key := cluster.Unique("oa-interaction")
	body := map[string]any{"product_id": "oa-p1", "interaction_type": "view", "metadata": map[string]string{"source": "search"}}
	r := c.do(t, "POST", base+"/v1/users/"+user+"/interactions", body, "Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, r.status)
	r = c.do(t, "POST", base+"/v1/users/"+user+"/interactions", body, "Idempotency-Key", key)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
	r = c.do(t, "GET", base+"/v1/users/"+user+"/recommendations?limit=5&strategy=collaborative&exclude_purchased=false", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.NotEmpty(t, r.body["recommendation_id"])
	require.Equal(t, http.StatusOK, c.do(t, "GET", base+"/v1/products/oa-p1/frequently-bought-together?limit=3", nil).status)
	require.Equal(t, http.StatusOK, c.do(t, "DELETE", base+"/v1/users/"+user+"/recommendations/cache", nil).status)
	r = c.do(t, "POST", base+"/v1/recommendations/"+r.body["recommendation_id"].(string)+"/clicks",
		map[string]any{"user_id": user, "product_id": "oa-p1", "position": 1})
	require.Equal(t, http.StatusAccepted, r.status)

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown interaction type", "POST", "/v1/users/" + user + "/interactions", map[string]any{"product_id": "p", "interaction_type": "like"}, 400, "invalid_interaction"},
		{"limit not a number", "GET", "/v1/users/" + user + "/recommendations?limit=abc", nil, 400, "invalid_limit"},
		{"limit too large", "GET", "/v1/products/oa-p1/similar?limit=500", nil, 400, "invalid_limit"},
		{"unknown strategy", "GET", "/v1/users/" + user + "/recommendations?strategy=random", nil, 400, "invalid_strategy"},
		{"click without product", "POST", "/v1/recommendations/rec_1/clicks", map[string]any{"user_id": user, "product_id": "", "position": 0}, 400, "invalid_product"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.doInvalid(t, tc.method, base+tc.path, tc.body)
			require.Equal(t, tc.status, r.status, r.body)
			require.Equal(t, tc.code, errCode(r))
		})
	}
	r = c.do(t, "GET", base+"/v1/products/"+cluster.Unique("oa-none")+"/similar", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, topics.CodeNotFound, errCode(r))
}

func TestOpenAPIMatchesOperationsAnswers(t *testing.T) {
	c := newAPIChecker(t)
	srv, err := views.NewServer(views.WithServerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	lag := views.NewLagMonitor(cluster.Admin, time.Hour, 3, slog.Default())
	lag.Sample(context.Background())
	views.RegisterOps(srv, lag)
	views.RegisterDashboard(srv)
	views.RegisterOpenAPI(srv)
	ready := false
	srv.AddReadiness("oa-check", func() bool { return ready })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	var got []string
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/dashboard", "/v1/ops/lag"} {
		r := c.do(t, "GET", hs.URL+p, nil)
		got = append(got, fmt.Sprintf("%s %d", p, r.status))
	}
	ready = true
	r := c.do(t, "GET", hs.URL+"/readyz", nil)
	got = append(got, fmt.Sprintf("/readyz %d", r.status))
	sort.Strings(got)
	require.Equal(t, []string{"/dashboard 200", "/healthz 200", "/metrics 200", "/openapi.json 200", "/readyz 200", "/readyz 503", "/v1/ops/lag 200"}, got)
}
