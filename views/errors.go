package views

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/shopstream/streams/topics"
)

// ErrorBody is the JSON body of every error response:
// {"error": {"code": "insufficient_balance", "message": "...", "details": {...}}}.
type ErrorBody struct {
	Error *topics.Error `json:"error"`
}

var (
	statusMu     sync.RWMutex
	statusByCode = map[string]int{
		topics.CodeInvalidRequest:      http.StatusBadRequest,
		topics.CodeInvalidAmount:       http.StatusUnprocessableEntity,
		topics.CodeUnsupportedCurrency: http.StatusUnprocessableEntity,
		topics.CodeIdempotencyConflict: http.StatusConflict,
		topics.CodeNotFound:            http.StatusNotFound,
		topics.CodeUnauthorized:        http.StatusUnauthorized,
		topics.CodeForbidden:           http.StatusForbidden,
		topics.CodeRateLimited:         http.StatusTooManyRequests,
		topics.CodeUnavailable:         http.StatusServiceUnavailable,
		topics.CodeInternal:            http.StatusInternalServerError,
	}
)

// RegisterStatus maps an error code to the HTTP status it is answered
// with. Domain route files register their codes at package initialization.
// It returns true so it can initialize a package-level variable.
func RegisterStatus(code string, status int) bool {
	statusMu.Lock()
	defer statusMu.Unlock()
	statusByCode[code] = status
	return true
}

// StatusFor returns the HTTP status for an error code: 422 for a domain
// rule that has no registered status (the request was understood but
// refused), 500 for internal errors.
func StatusFor(code string) int {
	statusMu.RLock()
	defer statusMu.RUnlock()
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError answers with err as a JSON error body. A *topics.Error keeps
// its code and details; any other error is logged and answered as a 500
// whose message says nothing about internals.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var te *topics.Error
	if !errors.As(err, &te) {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		te = topics.NewError(topics.CodeInternal, "internal error")
	}
	WriteJSON(w, StatusFor(te.Code), ErrorBody{Error: te})
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// DecodeJSON decodes r's JSON body into v. Unknown fields are ignored, as
// everywhere in ShopStream's contract. An empty, oversized or malformed
// body, or one with more after its JSON value, is an invalid_request
// error; a typed error from a field's decoder (an amount sent as a number,
// say) is returned as it is.
func DecodeJSON(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *topics.Error
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &te):
			return te
		case errors.Is(err, io.EOF):
			return topics.ErrInvalidRequest.Withf("request body is empty; a JSON object is required")
		case errors.As(err, &mbe):
			return topics.ErrInvalidRequest.Withf("request body is larger than %d bytes", maxBody)
		default:
			return topics.ErrInvalidRequest.Withf("request body is not valid JSON for this route: %v", err)
		}
	}
	// One JSON value is the whole body: anything after it (a second object,
	// a stray character) says the body is not what the client meant to send.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return topics.ErrInvalidRequest.Withf("request body has more after its JSON object")
	}
	return nil
}
