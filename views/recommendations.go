package views

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
)

// The recommendations domain's error codes are client errors.
var _ = func() bool {
	for _, code := range []string{recommendations.CodeInvalidUser, recommendations.CodeInvalidProduct,
		recommendations.CodeInvalidInteraction, recommendations.CodeInvalidStrategy,
		recommendations.CodeInvalidLimit, recommendations.CodeInvalidEvent} {
		RegisterStatus(code, http.StatusBadRequest)
	}
	return true
}()

// Recommendations serves the recommendation routes from a
// recommendations.Service (reads) and the command path (writes).
type Recommendations struct {
	svc      *recommendations.Service
	commands *Commands
	// visibility bounds how long a write waits for the user view to show
	// it, so that a read right after the write sees it.
	visibility time.Duration
}

// RegisterRecommendations adds the recommendation routes and the service's
// readiness to s:
//
//	GET    /v1/users/{id}/recommendations?limit&strategy&exclude_purchased
//	GET    /v1/products/{id}/frequently-bought-together?limit
//	GET    /v1/products/{id}/similar?limit
//	POST   /v1/users/{id}/interactions
//	DELETE /v1/users/{id}/recommendations/cache
//	POST   /v1/recommendations/{id}/clicks
func RegisterRecommendations(s *Server, svc *recommendations.Service, commands *Commands) *Recommendations {
	h := &Recommendations{svc: svc, commands: commands, visibility: 2 * time.Second}
	s.HandleFunc("GET /v1/users/{id}/recommendations", h.get)
	s.HandleFunc("GET /v1/products/{id}/frequently-bought-together", h.boughtTogether)
	s.HandleFunc("GET /v1/products/{id}/similar", h.similar)
	s.HandleFunc("POST /v1/users/{id}/interactions", h.record)
	s.HandleFunc("DELETE /v1/users/{id}/recommendations/cache", h.invalidate)
	s.HandleFunc("POST /v1/recommendations/{id}/clicks", h.click)
	s.AddReadiness("recommendations", svc.Ready)
	return h
}

// RecommendationItem is one entry of a recommendations response.
type RecommendationItem struct {
	Position int `json:"position"`
	recommendations.Result
}

// RecommendationsResponse is the body of GET /v1/users/{id}/recommendations.
type RecommendationsResponse struct {
	RecommendationID string                   `json:"recommendation_id"`
	UserID           string                   `json:"user_id"`
	Strategy         recommendations.Strategy `json:"strategy"`
	ExcludePurchased bool                     `json:"exclude_purchased"`
	Cached           bool                     `json:"cached"`
	Fallback         bool                     `json:"fallback"`
	Recommendations  []RecommendationItem     `json:"recommendations"`
}

// ProductResultsResponse is the body of the product routes.
type ProductResultsResponse struct {
	ProductID string                   `json:"product_id"`
	Results   []recommendations.Result `json:"results"`
}

func queryLimit(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, recommendations.ErrInvalidLimit.Withf("limit %q is not a number", s).With("limit", s)
	}
	return n, nil
}

func (h *Recommendations) get(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("id")
	req := recommendations.DefaultRequest()
	var err error
	if req.Limit, err = queryLimit(r, recommendations.DefaultLimit); err != nil {
		WriteError(w, r, err)
		return
	}
	if req.Strategy, err = recommendations.ParseStrategy(r.URL.Query().Get("strategy")); err != nil {
		WriteError(w, r, err)
		return
	}
	if s := r.URL.Query().Get("exclude_purchased"); s != "" {
		if req.ExcludePurchased, err = strconv.ParseBool(s); err != nil {
			WriteError(w, r, topics.ErrInvalidRequest.Withf("exclude_purchased %q is not a boolean", s))
			return
		}
	}
	recs, err := h.svc.Recommend(r.Context(), user, req)
	if err != nil {
		writeServiceError(w, r, err)
		return
	}
	resp := RecommendationsResponse{RecommendationID: recs.RecommendationID, UserID: recs.UserID, Strategy: recs.Strategy,
		ExcludePurchased: recs.ExcludePurchased, Cached: recs.Cached, Fallback: recs.Fallback,
		Recommendations: make([]RecommendationItem, len(recs.Results))}
	for i, res := range recs.Results {
		resp.Recommendations[i] = RecommendationItem{Position: i + 1, Result: res}
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *Recommendations) productRoute(w http.ResponseWriter, r *http.Request, def int,
	f func(id string, limit int) ([]recommendations.Result, error)) {
	limit, err := queryLimit(r, def)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	id := r.PathValue("id")
	res, err := f(id, limit)
	if err != nil {
		writeServiceError(w, r, err)
		return
	}
	if res == nil {
		res = []recommendations.Result{}
	}
	WriteJSON(w, http.StatusOK, ProductResultsResponse{ProductID: id, Results: res})
}

func (h *Recommendations) boughtTogether(w http.ResponseWriter, r *http.Request) {
	h.productRoute(w, r, 5, h.svc.FrequentlyBoughtTogether)
}

func (h *Recommendations) similar(w http.ResponseWriter, r *http.Request) {
	h.productRoute(w, r, 10, h.svc.SimilarProducts)
}

// interactionRequest is the body of POST /v1/users/{id}/interactions.
type interactionRequest struct {
	ProductID       string            `json:"product_id"`
	InteractionType string            `json:"interaction_type"`
	Quantity        int               `json:"quantity"`
	Metadata        map[string]string `json:"metadata"`
}

// submitVisible submits a command, then waits (bounded) until the user view
// shows the version its result reports, and answers with the result.
func (h *Recommendations) submitVisible(w http.ResponseWriter, r *http.Request, user string, env *topics.Envelope,
	version func(json.RawMessage) int64, okStatus func(*topics.CommandResult) int) {
	res, err := h.commands.SubmitWait(r.Context(), topics.RecommendationsCommands, user, env)
	w.Header().Set("Idempotency-Key", env.CommandID)
	switch {
	case errors.Is(err, topics.ErrResultPending):
		w.Header().Set("Location", resultURL(env.CommandID))
		WriteJSON(w, http.StatusAccepted, CommandResponse{CommandID: env.CommandID, Status: "pending", ResultURL: resultURL(env.CommandID)})
		return
	case err != nil:
		WriteError(w, r, err)
		return
	case !res.OK:
		WriteError(w, r, res.Error)
		return
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.visibility)
	_ = h.svc.WaitVersion(ctx, user, version(res.Result))
	cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(okStatus(res))
	_, _ = w.Write(append(res.Result, '\n'))
}

func (h *Recommendations) record(w http.ResponseWriter, r *http.Request) {
	var body interactionRequest
	id, actor, ok := CommandRequest(w, r, &body)
	if !ok {
		return
	}
	user := r.PathValue("id")
	env, err := recommendations.NewRecordInteraction(recommendations.RecordInteraction{UserID: user, ProductID: body.ProductID,
		InteractionType: recommendations.InteractionType(strings.TrimSpace(body.InteractionType)), Quantity: body.Quantity,
		Metadata: body.Metadata}, id, time.Now(), actor)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	h.submitVisible(w, r, user, env, func(raw json.RawMessage) int64 {
		var rr recommendations.RecordResult
		_ = json.Unmarshal(raw, &rr)
		return rr.Version
	}, func(res *topics.CommandResult) int {
		if res.Replayed {
			return http.StatusOK
		}
		return http.StatusCreated
	})
}

func (h *Recommendations) invalidate(w http.ResponseWriter, r *http.Request) {
	id, actor, ok := CommandRequest(w, r, nil)
	if !ok {
		return
	}
	user := r.PathValue("id")
	env, err := recommendations.NewInvalidateCache(user, id, time.Now(), actor)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	h.submitVisible(w, r, user, env, func(raw json.RawMessage) int64 {
		var ir recommendations.InvalidateResult
		_ = json.Unmarshal(raw, &ir)
		return ir.Version
	}, func(*topics.CommandResult) int { return http.StatusOK })
}

// clickRequest is the body of POST /v1/recommendations/{id}/clicks.
type clickRequest struct {
	UserID    string `json:"user_id"`
	ProductID string `json:"product_id"`
	Position  int    `json:"position"`
}

// ClickResponse is the body of an accepted click.
type ClickResponse struct {
	EventID          string `json:"event_id"`
	RecommendationID string `json:"recommendation_id"`
	UserID           string `json:"user_id"`
	ProductID        string `json:"product_id"`
}

func (h *Recommendations) click(w http.ResponseWriter, r *http.Request) {
	var body clickRequest
	if err := DecodeJSON(r, &body); err != nil {
		WriteError(w, r, err)
		return
	}
	actor, err := ActorFrom(r)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	c := recommendations.Click{RecommendationID: r.PathValue("id"), UserID: body.UserID, ProductID: body.ProductID, Position: body.Position}
	env, err := recommendations.NewClick(c, time.Now(), actor)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if err := h.commands.Commander().Produce(r.Context(), topics.RecommendationsClicked, c.UserID, env); err != nil {
		slog.ErrorContext(r.Context(), "producing recommendations.clicked failed", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, r, errRecommendationsUnavailable)
		return
	}
	WriteJSON(w, http.StatusAccepted, ClickResponse{EventID: env.ID, RecommendationID: c.RecommendationID, UserID: c.UserID, ProductID: c.ProductID})
}

// errRecommendationsUnavailable answers a request the recommender's
// infrastructure (its views, the broker) failed; the cause is logged, never
// sent to the client.
var errRecommendationsUnavailable = topics.NewError(topics.CodeUnavailable, "recommendations are temporarily unavailable; retry later")

// writeServiceError answers an error of the recommendations service: a
// domain refusal (bad user, limit, strategy ...) as it is; an untyped error
// through WriteError (logged, generic 500); an unavailable or internal
// error, which carries the raw cause in its message, is logged and answered
// with its code and a generic message.
func writeServiceError(w http.ResponseWriter, r *http.Request, err error) {
	var te *topics.Error
	if !errors.As(err, &te) {
		WriteError(w, r, err)
		return
	}
	switch te.Code {
	case topics.CodeUnavailable:
		slog.ErrorContext(r.Context(), "recommendations unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, r, errRecommendationsUnavailable)
	case topics.CodeInternal:
		slog.ErrorContext(r.Context(), "recommendations failed", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, r, topics.NewError(topics.CodeInternal, "internal error"))
	default:
		WriteError(w, r, err)
	}
}
