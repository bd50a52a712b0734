package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

const testOrder = `{"order_id":"order_pub","user_id":"user_pub","currency":"USD",
 "completed_at":"2026-11-30T10:00:00Z","shipping_total":"5.00",
 "line_items":[{"line_item_id":"li_1","product_id":"prod_9","category":"apparel","quantity":2,
  "unit_price":"19.99","discount":"2.00","tax":"3.04"}]}`

func TestInboundEnvelope(t *testing.T) {
	customer := topics.Actor{ID: "user_1", Type: topics.ActorCustomer}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		key, id string
		at      string
		actor   topics.Actor
		wantKey string
		wantErr string
	}{
		{name: "order keyed by its order ID", args: []string{topics.OrderCompleted, testOrder}, actor: customer, wantKey: "order_pub"},
		{name: "view keyed by its user ID", args: []string{topics.ProductViewed, `{"user_id":"u7","product_id":"p1"}`}, actor: customer, wantKey: "u7"},
		{name: "delivery keyed by its shipment ID", args: []string{topics.ShipmentDelivered, `{"shipment_id":"s1","order_id":"o1"}`}, actor: customer, wantKey: "s1"},
		{name: "explicit key", args: []string{topics.OrderCompleted, testOrder}, key: "partner-key", actor: customer, wantKey: "partner-key"},
		{name: "data from stdin", args: []string{topics.ProductUpdated, "-"}, stdin: `{"product_id":"p9","name":"Tee"}`, actor: customer, wantKey: "p9"},
		{name: "data from stdin without dash", args: []string{topics.ProductUpdated}, stdin: " {\"product_id\":\"p9\"}\n", actor: customer, wantKey: "p9"},
		{name: "chosen ID and time", args: []string{topics.CartItemAdded, `{"user_id":"u1","product_id":"p1","quantity":1}`},
			id: "evt-1", at: "2026-11-20T10:15:00.123Z", actor: customer, wantKey: "u1"},
		{name: "no topic", actor: customer, wantErr: "want TOPIC"},
		{name: "not an inbound topic", args: []string{topics.ReturnsCommands, `{}`}, actor: customer, wantErr: "not an inbound topic"},
		{name: "not JSON", args: []string{topics.OrderCompleted, `order_pub`}, actor: customer, wantErr: "JSON object"},
		{name: "an array", args: []string{topics.OrderCompleted, `[1]`}, actor: customer, wantErr: "JSON object"},
		{name: "null", args: []string{topics.OrderCompleted, `null`}, actor: customer, wantErr: "JSON object"},
		{name: "no key field", args: []string{topics.OrderCompleted, `{"user_id":"u"}`}, actor: customer, wantErr: "no order_id"},
		{name: "bad time", args: []string{topics.OrderCompleted, testOrder}, at: "yesterday", actor: customer, wantErr: "--occurred-at"},
		{name: "bad actor type", args: []string{topics.OrderCompleted, testOrder}, actor: topics.Actor{ID: "x", Type: "robot"}, wantErr: "actor.type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := stdin
			stdin = strings.NewReader(tc.stdin)
			defer func() { stdin = old }()
			env, key, err := inboundEnvelope(tc.args, tc.key, tc.id, tc.at, tc.actor)
			if tc.wantErr != "" {
				// what is wrong with the data is said alone; a wrong command
				// line comes with the usage
				dataErr := strings.Contains(tc.wantErr, "JSON object") || strings.HasPrefix(tc.wantErr, "no ")
				require.Equal(t, !dataErr, errors.Is(err, errPublishUsage), err)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantKey, key)
			// What a consumer reads back is the contract's envelope.
			raw, err := env.Encode()
			require.NoError(t, err)
			got, err := topics.DecodeEnvelope(raw)
			require.NoError(t, err)
			require.Equal(t, tc.args[0], got.Type)
			require.Equal(t, 1, got.V)
			require.Equal(t, tc.actor, got.Actor)
			require.True(t, json.Valid(got.Data))
			if tc.id != "" {
				require.Equal(t, tc.id, got.ID)
			}
			if tc.at != "" {
				want, _ := time.Parse(time.RFC3339Nano, tc.at)
				require.True(t, want.Equal(got.OccurredAt), "%v != %v", want, got.OccurredAt)
			}
		})
	}
}

// TestPublishKeysByTheCatalogsKeyField: for every inbound topic, publish
// keys the record by the value of the field the catalog names (KeyField),
// and refuses data without it.
func TestPublishKeysByTheCatalogsKeyField(t *testing.T) {
	customer := topics.Actor{ID: "user_1", Type: topics.ActorCustomer}
	inbound := topics.Inbound()
	require.NotEmpty(t, inbound)
	for _, tp := range inbound {
		t.Run(tp.Name, func(t *testing.T) {
			require.NotEmpty(t, tp.KeyField)
			data, err := json.Marshal(map[string]string{tp.KeyField: "key-of-" + tp.Name, "other_id": "not-the-key"})
			require.NoError(t, err)
			_, key, err := inboundEnvelope([]string{tp.Name, string(data)}, "", "", "", customer)
			require.NoError(t, err)
			require.Equal(t, "key-of-"+tp.Name, key)

			_, _, err = inboundEnvelope([]string{tp.Name, `{"other_id":"x"}`}, "", "", "", customer)
			require.ErrorContains(t, err, "no "+tp.KeyField)
		})
	}
}

// In dev nothing publishes orders: `publish` puts one in as the orders
// service would, and the return the README walks through can start.
func TestPublishAnOrderThenReturnIt(t *testing.T) {
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	_, stop := startDev(t, t.TempDir(), httpAddr, kafkaAddr)
	defer func() { require.NoError(t, stop()) }()

	// The return window counts from completed_at: the order completed a
	// day before the test runs (testOrder's fixed date runs out of window).
	at := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second).Format(time.RFC3339)
	order := strings.Replace(testOrder, `"completed_at":"2026-11-30T10:00:00Z"`, `"completed_at":"`+at+`"`, 1)
	require.NotEqual(t, testOrder, order)
	out, err := capture(t, "publish", "--brokers", kafkaAddr, "--occurred-at", at, topics.OrderCompleted, order)
	require.NoError(t, err, out)
	var produced struct {
		Topic string `json:"topic"`
		Key   string `json:"key"`
		ID    string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &produced), out)
	require.Equal(t, topics.OrderCompleted, produced.Topic)
	require.Equal(t, "order_pub", produced.Key)
	require.NotEmpty(t, produced.ID)

	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/v1/orders/order_pub/return-eligibility", nil)
		req.Header.Set("X-Actor-Id", "user_pub")
		req.Header.Set("X-Actor-Type", topics.ActorCustomer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"li_1"`)
	}, 30*time.Second, 50*time.Millisecond, "the published order reaches the order processor")

	out, err = capture(t, "send", "--brokers", kafkaAddr, "return", "initiate", "--id", "ret_pub",
		"--order", "order_pub", "--reason", "defective", "--item", "li_1:1:opened")
	require.NoError(t, err, out)
	require.Contains(t, out, `"status": "pending"`)

	_, err = capture(t, "publish", "--brokers", kafkaAddr, "returns.commands", `{}`)
	require.ErrorIs(t, err, errPublishUsage, "only inbound topics")
}
