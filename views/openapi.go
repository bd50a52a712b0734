package views

import (
	_ "embed"
	"net/http"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3 description of the HTTP API.
func OpenAPIDocument() []byte { return openAPIDocument }

// RegisterOpenAPI serves the OpenAPI 3 description at /openapi.json.
func RegisterOpenAPI(s *Server) {
	s.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPIDocument)
	})
}
