package views_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, method, url, idemKey, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
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

func errorCode(t *testing.T, r response) string {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	require.True(t, ok, "error body: %v", r.body)
	return e["code"].(string)
}

func TestCommandPath(t *testing.T) {
	f := startEcho(t)
	url := f.server.URL + "/v1/echo/key-1"

	t.Run("success returns the result", func(t *testing.T) {
		r := do(t, "POST", url, "cmd-ok-1", `{"hello":"world"}`)
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Equal(t, map[string]any{"hello": "world"}, r.body["said"])
		require.Equal(t, "cmd-ok-1", r.header.Get("Idempotency-Key"))
	})

	t.Run("a repeated command is applied once and answered with the first result", func(t *testing.T) {
		first := do(t, "POST", f.server.URL+"/v1/echo/key-2", "cmd-rep-1", `{"n":1}`)
		require.Equal(t, http.StatusOK, first.status)
		again := do(t, "POST", f.server.URL+"/v1/echo/key-2", "cmd-rep-1", `{"n":1}`)
		require.Equal(t, http.StatusOK, again.status)
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		require.Equal(t, first.body["count"], again.body["count"], "the count did not move")
		next := do(t, "POST", f.server.URL+"/v1/echo/key-2", "cmd-rep-2", `{"n":2}`)
		require.Equal(t, 2.0, next.body["count"])
	})

	t.Run("the same key with another payload is a conflict", func(t *testing.T) {
		require.Equal(t, http.StatusOK, do(t, "POST", url, "cmd-conf-1", `{"n":1}`).status)
		r := do(t, "POST", url, "cmd-conf-1", `{"n":2}`)
		require.Equal(t, http.StatusConflict, r.status)
		require.Equal(t, topics.CodeIdempotencyConflict, errorCode(t, r))
		// Neither the refusal nor a replay replaces the result the command had.
		require.Equal(t, "true", do(t, "POST", url, "cmd-conf-1", `{"n":1}`).header.Get("Idempotent-Replayed"))
		time.Sleep(300 * time.Millisecond) // let the results view take in the transient answers
		g := do(t, "GET", f.server.URL+"/v1/commands/cmd-conf-1", "", "")
		require.Equal(t, http.StatusOK, g.status)
		require.Equal(t, "succeeded", g.body["status"], g.body)
		require.Nil(t, g.body["result"].(map[string]any)["replayed"], "the stored result is the original one")
	})

	t.Run("a typed domain error keeps its code and registered status", func(t *testing.T) {
		r := do(t, "POST", url+"?refuse=1", "cmd-refuse-1", `{}`)
		require.Equal(t, http.StatusConflict, r.status)
		require.Equal(t, codeRefused, errorCode(t, r))
	})

	t.Run("bad bodies are 400 invalid_request", func(t *testing.T) {
		for _, body := range []string{"", "{not json", `["an","array"]`, `{"a":1} xyz`, `{"a":1}{"a":2}`} {
			r := do(t, "POST", url, "", body)
			require.Equal(t, http.StatusBadRequest, r.status, body)
			require.Equal(t, topics.CodeInvalidRequest, errorCode(t, r))
		}
	})

	t.Run("no result in time is 202 with a URL that serves it later", func(t *testing.T) {
		id := cluster.Unique("cmd-late") // results are compacted, not deleted: unique per run
		r := do(t, "POST", url+"?nowhere=1", id, `{}`)
		require.Equal(t, http.StatusAccepted, r.status)
		require.Equal(t, "/v1/commands/"+id, r.header.Get("Location"))
		require.Equal(t, "pending", r.body["status"])

		g := do(t, "GET", f.server.URL+"/v1/commands/"+id, "", "")
		require.Equal(t, http.StatusNotFound, g.status)

		// The result arrives later (here, written by hand).
		res, _ := json.Marshal(topics.CommandResult{CommandID: id, Type: "echo.say", OK: true,
			Result: json.RawMessage(`{"late":true}`), CompletedAt: time.Now()})
		p := cluster.Producer(t)
		require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: topics.CommandResults, Key: []byte(id), Value: res}).FirstErr())
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			return do(t, "GET", f.server.URL+"/v1/commands/"+id, "", "").status == http.StatusOK
		})
		g = do(t, "GET", f.server.URL+"/v1/commands/"+id, "", "")
		require.Equal(t, "succeeded", g.body["status"])
	})

	t.Run("a command the broker did not take is 503, and its key stays free", func(t *testing.T) {
		id := cluster.Unique("cmd-unsent")
		r := do(t, "POST", url+"?absent=1", id, `{"n":1}`)
		require.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
		require.Equal(t, topics.CodeUnavailable, errorCode(t, r))
		require.Empty(t, r.header.Get("Location"), "no result will ever be there")
		require.Equal(t, http.StatusNotFound, do(t, "GET", f.server.URL+"/v1/commands/"+id, "", "").status)

		again := do(t, "POST", url, id, `{"n":1}`)
		require.Equal(t, http.StatusOK, again.status, again.body)
		require.Empty(t, again.header.Get("Idempotent-Replayed"), "the first attempt was never applied")
	})

	t.Run("an undecodable record goes to the DLQ and the processor goes on", func(t *testing.T) {
		p := cluster.Producer(t)
		require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: f.input, Key: []byte("key-dlq"), Value: []byte("garbage")}).FirstErr())
		r := do(t, "POST", f.server.URL+"/v1/echo/key-dlq", "cmd-after-dlq", `{"still":"alive"}`)
		require.Equal(t, http.StatusOK, r.status)

		c := cluster.Producer(t, kgo.ConsumeTopics(topics.DLQ(f.group)))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		fetches := c.PollRecords(ctx, 1)
		require.NoError(t, fetches.Err())
		var dl topics.DeadLetter
		require.NoError(t, json.Unmarshal(fetches.Records()[0].Value, &dl))
		require.Equal(t, f.input, dl.Topic)
		require.Equal(t, "garbage", string(dl.Value), "the original bytes are kept")
		require.Equal(t, "key-dlq", string(dl.Key))
		require.Contains(t, dl.Reason, "not a JSON envelope")
	})

	t.Run("an invalid Idempotency-Key is refused", func(t *testing.T) {
		r := do(t, "POST", url, strings.Repeat("k", 200), `{}`)
		require.Equal(t, http.StatusBadRequest, r.status)
	})
}

func TestReadiness(t *testing.T) {
	srv, err := views.NewServer()
	require.NoError(t, err)
	ready := false
	srv.AddReadiness("table", func() bool { return ready })
	ok, waiting := srv.Ready()
	require.False(t, ok)
	require.Equal(t, []string{"table"}, waiting)
	ready = true
	ok, _ = srv.Ready()
	require.True(t, ok)
}

// A path served for other methods answers 405 with Allow, so a client
// that used the wrong method is told so; an unknown path is 404.
func TestUnroutedRequests(t *testing.T) {
	srv, err := views.NewServer()
	require.NoError(t, err)
	srv.HandleFunc("POST /v1/things/{id}/poke", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv.HandleFunc("DELETE /v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	cases := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"a route", "POST", "/v1/things/7/poke", http.StatusNoContent, "", ""},
		{"wrong method", "GET", "/v1/things/7/poke", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"wrong method, two allowed", "PUT", "/v1/things/7", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, DELETE"},
		{"unknown path", "GET", "/v1/nothing", http.StatusNotFound, topics.CodeNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, hs.URL+tc.path, "", "")
			require.Equal(t, tc.status, r.status, r.body)
			require.Equal(t, tc.allow, r.header.Get("Allow"))
			if tc.code != "" {
				require.Equal(t, tc.code, errorCode(t, r))
			}
		})
	}
}

func TestStatusFor(t *testing.T) {
	require.Equal(t, http.StatusUnprocessableEntity, views.StatusFor(topics.CodeInvalidAmount))
	require.Equal(t, http.StatusTooManyRequests, views.StatusFor(topics.CodeRateLimited))
	require.Equal(t, http.StatusUnprocessableEntity, views.StatusFor("some_unregistered_rule"))
}

func TestActorFrom(t *testing.T) {
	r, _ := http.NewRequest("POST", "/", nil)
	a, err := views.ActorFrom(r)
	require.NoError(t, err)
	require.Equal(t, topics.Actor{ID: "anonymous", Type: topics.ActorCustomer}, a)
	r.Header.Set("X-Actor-Id", "staff-7")
	r.Header.Set("X-Actor-Type", "staff")
	a, err = views.ActorFrom(r)
	require.NoError(t, err)
	require.Equal(t, "staff-7", a.ID)
	r.Header.Set("X-Actor-Type", "robot")
	_, err = views.ActorFrom(r)
	require.ErrorIs(t, err, topics.ErrInvalidRequest)
}
