package views

import (
	_ "embed"
	"net/http"
)

//go:embed dashboard/index.html
var dashboardPage []byte

// RegisterDashboard serves the consumer-lag dashboard at /dashboard: one
// self-contained page (no CDN) that polls /v1/ops/lag and /readyz.
func RegisterDashboard(s *Server) {
	s.HandleFunc("GET /dashboard", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(dashboardPage)
	})
}
