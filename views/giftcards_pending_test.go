package views_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

// A card's code is stored nowhere, so a creation whose result is late must
// still show it: the 202 of POST /v1/gift-cards and a bulk job's pending
// cards carry the code of the card the produced command creates. Before,
// the answer had no code and the card, once created, could be reached by
// nobody. No gift card processor runs here (on a broker of its own), so
// every creation is produced and none is answered (a second is the wait:
// producing takes milliseconds, so the command is always out before it ends).
func TestGiftCardCreationsWithLateResultsShowTheirCodes(t *testing.T) {
	own, err := kafkatest.Start()
	require.NoError(t, err)
	defer own.Close()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	require.NoError(t, err)
	own.EnsureCatalog(t, cat)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	commander, err := topics.NewCommander(ctx, own.Clients)
	require.NoError(t, err)
	cmds, err := views.NewCommands(own.Clients, commander, storage.MemoryBuilder(), views.WithResultTimeout(time.Second))
	require.NoError(t, err)
	codes, err := giftcards.NewCodeGenerator([]byte("views-test-secret-views-test-secret!"))
	require.NoError(t, err)
	api, err := views.NewGiftCards(cmds, codes, views.WithAdminToken(adminToken), views.WithBulkSubmitWait(time.Second))
	require.NoError(t, err)
	srv, err := views.NewServer()
	require.NoError(t, err)
	cmds.Register(srv)
	api.Register(srv)
	for _, run := range []func(context.Context) error{commander.Run, cmds.Run} {
		go func() { _ = run(ctx) }()
	}
	kafkatest.Eventually(t, 30*time.Second, cmds.Recovered)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	f := &giftFixture{url: hs.URL}

	// created reads the creation commands produced, by command ID.
	created := func(t *testing.T) map[string]giftcards.CreateCommand {
		t.Helper()
		out := map[string]giftcards.CreateCommand{}
		own.ReadToEnd(t, topics.GiftCardCreations, func(r *kgo.Record) {
			env, err := topics.DecodeEnvelope(r.Value)
			require.NoError(t, err)
			var c giftcards.CreateCommand
			require.NoError(t, json.Unmarshal(env.Data, &c))
			out[env.CommandID] = c
		})
		return out
	}
	requireCodeOf := func(t *testing.T, code string, cmd giftcards.CreateCommand) {
		t.Helper()
		key, last4, err := codes.Key(code)
		require.NoError(t, err, "a valid code")
		require.Equal(t, cmd.CardKey, key, "the code of the card the command creates")
		require.Equal(t, cmd.Last4, last4)
	}

	t.Run("create: 202 with the code", func(t *testing.T) {
		id := "late-create-" + topics.NewID()
		r := f.post(t, call{path: "/v1/gift-cards", body: `{"amount":"25.00","currency":"USD","purchaser_id":"u1"}`, idem: id})
		require.Equal(t, http.StatusAccepted, r.status, r.body)
		require.Equal(t, "pending", r.body["status"])
		require.Equal(t, "/v1/commands/"+id, r.header.Get("Location"))
		code, _ := r.body["code"].(string)
		require.NotEmpty(t, code, "the only answer that can show the code")
		cmd, ok := created(t)[id]
		require.True(t, ok, "the creation was produced")
		requireCodeOf(t, code, cmd)
	})

	t.Run("create again under a key that created a card: 409, no new code", func(t *testing.T) {
		id := "done-create-" + topics.NewID()
		res, err := json.Marshal(topics.CommandResult{CommandID: id, Type: giftcards.TypeCreate, OK: true,
			Result: json.RawMessage(`{"last4":"AB7Q"}`), CompletedAt: time.Now()})
		require.NoError(t, err)
		p := own.Producer(t)
		require.NoError(t, p.ProduceSync(ctx, &kgo.Record{Topic: topics.CommandResults, Key: []byte(id), Value: res}).FirstErr())
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			resp, err := http.Get(hs.URL + "/v1/commands/" + id)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		r := f.post(t, call{path: "/v1/gift-cards", body: `{"amount":"25.00","currency":"USD","purchaser_id":"u1"}`, idem: id})
		require.Equal(t, http.StatusConflict, r.status, r.body)
		require.Equal(t, topics.CodeIdempotencyConflict, errorCode(t, r))
		require.Nil(t, r.body["code"])
		_, sent := created(t)[id]
		require.False(t, sent, "nothing was produced: its code would have been no card's")
	})

	t.Run("bulk: late cards are delivered pending, with their codes", func(t *testing.T) {
		r := f.post(t, call{path: "/v1/gift-cards/bulk", body: `{"count":3,"amount":"5.00","currency":"USD"}`,
			token: adminToken, idem: "late-bulk-" + topics.NewID()})
		require.Equal(t, http.StatusAccepted, r.status, r.body)
		statusURL := r.body["status_url"].(string)
		var done map[string]any
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			req, _ := http.NewRequest("GET", hs.URL+statusURL, nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			done = nil
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&done))
			return done["status"] != "running"
		})
		require.Equal(t, "completed_with_errors", done["status"], done)
		require.EqualValues(t, 3, done["pending"])
		require.EqualValues(t, 0, done["created"])
		require.EqualValues(t, 0, done["failed"])
		cards := done["codes"].([]any)
		require.Len(t, cards, 3)
		commands := created(t)
		for _, c := range cards {
			card := c.(map[string]any)
			require.Equal(t, true, card["pending"])
			cmd, ok := commands[card["command_id"].(string)]
			require.True(t, ok, "its creation was produced under the command ID it names")
			requireCodeOf(t, card["code"].(string), cmd)
			require.Equal(t, cmd.CardKey, card["card_key"])
		}
	})
}
