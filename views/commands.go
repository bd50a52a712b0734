package views

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/shopstream/streams/topics"
)

// Commands is the HTTP side of the command path: it submits commands
// through a topics.Commander and answers with their results, and it serves
// GET /v1/commands/{id} from a goka view of the results topic, so a result
// can be read after the request that produced the command gave up waiting.
type Commands struct {
	commander *topics.Commander
	results   *goka.View
	timeout   time.Duration
}

// CommandsOption configures Commands.
type CommandsOption func(*Commands)

// WithResultTimeout sets how long a request waits for its command's result
// before answering 202 (default 5 s).
func WithResultTimeout(d time.Duration) CommandsOption {
	return func(c *Commands) { c.timeout = d }
}

// NewCommands builds the command path for the HTTP API. sb stores the
// results view.
func NewCommands(clients *topics.Clients, commander *topics.Commander, sb storage.Builder, opts ...CommandsOption) (*Commands, error) {
	view, err := goka.NewView(clients.Brokers(), goka.Table(topics.CommandResults),
		new(topics.JSONCodec[topics.CommandResult]), clients.ViewOptions(sb)...)
	if err != nil {
		return nil, err
	}
	c := &Commands{commander: commander, results: view, timeout: 5 * time.Second}
	for _, o := range opts {
		o(c)
	}
	if c.timeout <= 0 {
		return nil, errors.New("views: result timeout must be positive")
	}
	return c, nil
}

// Run keeps the results view up to date until ctx is done.
func (c *Commands) Run(ctx context.Context) error { return c.results.Run(ctx) }

// Recovered reports whether the results view has caught up.
func (c *Commands) Recovered() bool { return c.results.Recovered() }

// Commander returns the commander, for routes that produce events.
func (c *Commands) Commander() *topics.Commander { return c.commander }

// Register adds GET /v1/commands/{id} and the view's readiness to s.
func (c *Commands) Register(s *Server) {
	s.AddReadiness("command-results", c.Recovered)
	s.HandleFunc("GET /v1/commands/{id}", c.getResult)
}

// CommandResponse is the body of GET /v1/commands/{id} and of a 202.
type CommandResponse struct {
	CommandID string `json:"command_id"`
	// Status is "pending", "succeeded" or "failed".
	Status string                `json:"status"`
	Result *topics.CommandResult `json:"result,omitempty"`
	// ResultURL is where the result can be read.
	ResultURL string `json:"result_url"`
}

func resultURL(id string) string { return "/v1/commands/" + id }

func (c *Commands) getResult(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !c.results.Recovered() {
		WriteError(w, r, topics.NewError(topics.CodeUnavailable, "command results are still being recovered"))
		return
	}
	v, err := c.results.Get(id)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if v == nil {
		WriteError(w, r, topics.ErrNotFound.Withf("no result for command %s (yet)", id))
		return
	}
	res := v.(*topics.CommandResult)
	status := "failed"
	switch {
	case res.Pending:
		status = "pending"
	case res.OK:
		status = "succeeded"
	}
	WriteJSON(w, http.StatusOK, CommandResponse{CommandID: id, Status: status, Result: res, ResultURL: resultURL(id)})
}

// storedResult returns the result stored for a command ID, or nil when
// there is none yet (or the results are still being recovered).
func (c *Commands) storedResult(id string) *topics.CommandResult {
	if !c.results.Recovered() {
		return nil
	}
	v, err := c.results.Get(id)
	if err != nil || v == nil {
		return nil
	}
	return v.(*topics.CommandResult)
}

// Submit produces env to topic under key and answers the request: okStatus
// and the result object on success (with Idempotent-Replayed: true when it
// repeats an earlier command), the typed error's status and body on
// failure, or 202 with Location /v1/commands/{id} when the result did not
// come within the timeout or the command started a saga that goes on.
func (c *Commands) Submit(w http.ResponseWriter, r *http.Request, topic, key string, env *topics.Envelope, okStatus int) {
	res, err := c.SubmitWait(r.Context(), topic, key, env)
	w.Header().Set("Idempotency-Key", env.CommandID)
	switch {
	case errors.Is(err, topics.ErrResultPending) || (err == nil && res.Pending):
		w.Header().Set("Location", resultURL(env.CommandID))
		WriteJSON(w, http.StatusAccepted, CommandResponse{CommandID: env.CommandID, Status: "pending", Result: res, ResultURL: resultURL(env.CommandID)})
	case err != nil:
		WriteError(w, r, err)
	case !res.OK:
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		WriteError(w, r, res.Error)
	default:
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(okStatus)
		_, _ = w.Write(append(res.Result, '\n'))
	}
}

// SubmitWait produces env and waits up to the configured timeout for its
// result, for routes that post-process the result before answering. A
// command the broker did not take is an error matching
// topics.ErrNotSubmitted (503: send it again), logged with its cause.
func (c *Commands) SubmitWait(ctx context.Context, topic, key string, env *topics.Envelope) (*topics.CommandResult, error) {
	waitCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.commander.Submit(waitCtx, topic, key, env)
	if errors.Is(err, topics.ErrNotSubmitted) {
		slog.WarnContext(ctx, "command not submitted", "type", env.Type, "command_id", env.CommandID, "topic", topic, "err", err)
	}
	return res, err
}

// CommandRequest reads what every command route needs, in this order: the
// command ID (CommandID), the JSON body into body unless body is nil
// (DecodeJSON), and the actor (ActorFrom). On the first error it answers
// the request and returns ok false.
func CommandRequest(w http.ResponseWriter, r *http.Request, body any) (id string, actor topics.Actor, ok bool) {
	id, err := CommandID(r)
	if err == nil && body != nil {
		err = DecodeJSON(r, body)
	}
	if err == nil {
		actor, err = ActorFrom(r)
	}
	if err != nil {
		WriteError(w, r, err)
		return "", topics.Actor{}, false
	}
	return id, actor, true
}

// CommandID returns the request's Idempotency-Key header, or a new ID when
// there is none. A key that is too long or not printable ASCII is an
// invalid_request.
func CommandID(r *http.Request) (string, error) {
	k := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if k == "" {
		return topics.NewID(), nil
	}
	if len(k) > 128 {
		return "", topics.ErrInvalidRequest.Withf("Idempotency-Key is longer than 128 characters")
	}
	for _, ch := range k {
		if ch > unicode.MaxASCII || !unicode.IsPrint(ch) {
			return "", topics.ErrInvalidRequest.Withf("Idempotency-Key must be printable ASCII")
		}
	}
	return k, nil
}

// ActorFrom returns who makes the request, from the X-Actor-Id and
// X-Actor-Type headers that the API gateway in front of ShopStream sets
// after authenticating the caller. Without them the actor is an anonymous
// customer; an unknown type is an invalid_request.
func ActorFrom(r *http.Request) (topics.Actor, error) {
	a := topics.Actor{ID: strings.TrimSpace(r.Header.Get("X-Actor-Id")), Type: strings.TrimSpace(r.Header.Get("X-Actor-Type"))}
	if a.ID == "" {
		a.ID = "anonymous"
	}
	if a.Type == "" {
		a.Type = topics.ActorCustomer
	}
	switch a.Type {
	case topics.ActorCustomer, topics.ActorStaff, topics.ActorSystem:
		return a, nil
	default:
		return topics.Actor{}, topics.ErrInvalidRequest.Withf("X-Actor-Type %q is not customer, staff or system", a.Type)
	}
}
