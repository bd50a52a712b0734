package topics_test

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func TestNewEnvelope(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 15, 0, 123e6, time.FixedZone("CET", 3600))
	env, err := topics.NewEnvelope("gift_card.redeem", at, map[string]string{"order_id": "o1"},
		topics.WithCommandID("cmd-1"), topics.WithActor(topics.Actor{ID: "u1", Type: topics.ActorCustomer}))
	require.NoError(t, err)
	id, err := uuid.Parse(env.ID)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(7), id.Version())
	require.Equal(t, time.UTC, env.OccurredAt.Location(), "occurred_at is UTC")
	require.True(t, env.OccurredAt.Equal(at))

	b, err := env.Encode()
	require.NoError(t, err)
	back, err := topics.DecodeEnvelope(b)
	require.NoError(t, err)
	require.Equal(t, env.CommandID, back.CommandID)
	data, err := topics.DecodeData[map[string]string](back)
	require.NoError(t, err)
	require.Equal(t, "o1", data["order_id"])
}

// A payload's raw JSON is validated, and records are written without HTML
// escaping (nothing reads them as HTML).
func TestNewEnvelopePayloadEncoding(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		data    any
		want    string
		wantErr bool
	}{
		{"raw JSON kept", struct {
			R json.RawMessage `json:"r"`
		}{json.RawMessage(`{"a":[1,2]}`)}, `{"r":{"a":[1,2]}}`, false},
		{"raw JSON payload kept", json.RawMessage(`{"a":1}`), `{"a":1}`, false},
		{"nil raw payload is null", json.RawMessage(nil), `null`, false},
		{"invalid raw JSON payload refused", json.RawMessage(`{"a":`), "", true},
		{"no HTML escaping", map[string]string{"message": "I <3 gift cards & more"}, `{"message":"I <3 gift cards & more"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := topics.NewEnvelope("t", at, tc.data)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(env.Data))
			b, err := env.Encode()
			require.NoError(t, err)
			require.Contains(t, string(b), `"data":`+tc.want)
			require.True(t, json.Valid(b))
		})
	}
}

// IDs drawn concurrently from the buffered random source are all distinct
// UUIDv7s.
func TestNewIDConcurrent(t *testing.T) {
	const goroutines, each = 8, 2000
	ids := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids <- topics.NewID()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(7), u.Version())
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
	require.Len(t, seen, goroutines*each)
}

func TestDecodeEnvelopeInboundContract(t *testing.T) {
	// The example from contracts/inbound-events.md, with an unknown field.
	raw := `{"id":"01934f6e-6a1b-7c3d-9e2f-0a1b2c3d4e5f","type":"order.completed","v":1,
	  "occurred_at":"2026-11-20T10:15:00.123Z","actor":{"id":"user_123","type":"customer"},
	  "data":{"order_id":"order_123"},"trace":"ignored"}`
	env, err := topics.DecodeEnvelope([]byte(raw))
	require.NoError(t, err)
	require.Equal(t, "order.completed", env.Type)
	require.Equal(t, 2026, env.OccurredAt.Year())
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	valid := map[string]any{"id": "x", "type": "t", "v": 1, "occurred_at": "2026-11-20T10:15:00Z",
		"actor": map[string]string{"id": "a", "type": "system"}, "data": map[string]any{"k": 1}}
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		raw    string
	}{
		{name: "empty", raw: " "},
		{name: "not json", raw: "{nope"},
		{name: "no id", mutate: func(m map[string]any) { delete(m, "id") }},
		{name: "no type", mutate: func(m map[string]any) { delete(m, "type") }},
		{name: "version 0", mutate: func(m map[string]any) { m["v"] = 0 }},
		{name: "no time", mutate: func(m map[string]any) { delete(m, "occurred_at") }},
		{name: "bad time", mutate: func(m map[string]any) { m["occurred_at"] = "yesterday" }},
		{name: "no data", mutate: func(m map[string]any) { delete(m, "data") }},
		{name: "unknown actor type", mutate: func(m map[string]any) { m["actor"] = map[string]string{"id": "a", "type": "robot"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			if tc.mutate != nil {
				m := map[string]any{}
				for k, v := range valid {
					m[k] = v
				}
				tc.mutate(m)
				raw, _ = json.Marshal(m)
			}
			_, err := topics.DecodeEnvelope(raw)
			require.ErrorIs(t, err, topics.ErrUndecodable)
			var de *topics.DecodeError
			require.True(t, errors.As(err, &de))
			require.NotEmpty(t, de.Reason)
		})
	}
}

func TestErrorMatchingByCode(t *testing.T) {
	err := topics.ErrInvalidAmount.Withf("12.345 has too many places").With("currency", "USD")
	require.ErrorIs(t, err, topics.ErrInvalidAmount)
	require.NotErrorIs(t, err, topics.ErrUnsupportedCurrency)
	require.Equal(t, "USD", err.Details["currency"])
	require.Nil(t, topics.ErrInvalidAmount.Details, "With does not change the sentinel")
	require.Equal(t, topics.CodeInternal, topics.AsError(errors.New("boom")).Code)
}

func TestCatalog(t *testing.T) {
	cat, err := topics.NewCatalog(6)
	require.NoError(t, err)
	res, ok := cat.Lookup(topics.CommandResults)
	require.True(t, ok)
	require.Equal(t, topics.Compact, res.Cleanup)
	require.EqualValues(t, 6, res.Partitions)
	for _, name := range []string{topics.OrderCompleted, topics.OrderRefunded, topics.OrderCancelled,
		topics.ShipmentDelivered, topics.ProductViewed, topics.CartItemAdded, topics.WishlistItemAdded, topics.ProductUpdated} {
		tp, ok := cat.Lookup(name)
		require.True(t, ok, name)
		require.True(t, tp.External, "%s is produced by foreign clients", name)
	}
	for _, tp := range cat.Topics() {
		require.NotEmpty(t, tp.Key, tp.Name)
		require.NotEmpty(t, tp.Message, tp.Name)
		require.NotEmpty(t, tp.Producers, tp.Name)
	}
	_, err = topics.NewCatalog(0)
	require.Error(t, err)
}

// TestReplyTopics: the reply topics the groups offer and the catalog
// agree: every group that offers one is among its producers, and every
// producer of a reply topic offers it.
func TestReplyTopics(t *testing.T) {
	cat, err := topics.NewCatalog(6)
	require.NoError(t, err)
	const replies = "CommandResult of a command that named this reply topic"
	offered := 0
	for _, tp := range cat.Topics() {
		for _, g := range append(slices.Clone(tp.Producers), tp.Consumers...) {
			for _, name := range topics.ReplyTopics(g) {
				offered++
				rt, ok := cat.Lookup(name)
				require.True(t, ok, "%s offers %s, which the catalog lacks", g, name)
				require.Contains(t, rt.Producers, g, "the catalog names %s among %s's producers", g, name)
				require.Equal(t, replies, rt.Message)
			}
		}
		if tp.Message == replies {
			for _, p := range tp.Producers {
				require.True(t, topics.OffersReply(p, tp.Name), "%s writes %s only if it offers it", p, tp.Name)
			}
		}
	}
	require.Positive(t, offered)
	require.Equal(t, []string{topics.GiftCardReplies}, topics.ReplyTopics(topics.GiftCardCardsGroup))
	require.Empty(t, topics.ReplyTopics(topics.ReturnsReturnsGroup))
	require.False(t, topics.OffersReply(topics.ReturnsReturnsGroup, topics.GiftCardReplies))
	require.False(t, topics.OffersReply(topics.GiftCardCardsGroup, topics.CommandResults))
}

func TestReplyTopicEnvelope(t *testing.T) {
	env, err := topics.NewEnvelope("gift_card.create", time.Unix(1700000000, 0), map[string]int{"n": 1},
		topics.WithCommandID("c1"), topics.WithCorrelationID("ret_1"), topics.WithReplyTopic(topics.GiftCardReplies))
	require.NoError(t, err)
	raw, err := env.Encode()
	require.NoError(t, err)
	require.Contains(t, string(raw), `"reply_topic":"gift_card.replies"`)
	back, err := topics.DecodeEnvelope(raw)
	require.NoError(t, err)
	require.Equal(t, topics.GiftCardReplies, back.ReplyTopic)

	t.Run("a result keeps its reply address when handed on", func(t *testing.T) {
		res := topics.Failed(back, topics.ErrInvalidAmount)
		require.Equal(t, topics.GiftCardReplies, res.ReplyTopic)
		require.Equal(t, "ret_1", res.ReplyKey, "keyed by the correlation ID")
		out, err := json.Marshal(res)
		require.NoError(t, err)
		var handed topics.CommandResult
		require.NoError(t, json.Unmarshal(out, &handed))
		require.Equal(t, topics.GiftCardReplies, handed.ReplyTopic)
		require.Equal(t, "ret_1", handed.ReplyKey)
	})
	t.Run("a result of a command that asked for none names none", func(t *testing.T) {
		plain, err := topics.NewEnvelope("gift_card.create", time.Unix(1700000000, 0), 1, topics.WithCommandID("c2"))
		require.NoError(t, err)
		out, err := json.Marshal(topics.Failed(plain, topics.ErrInvalidAmount))
		require.NoError(t, err)
		require.NotContains(t, string(out), "reply")
	})
}
