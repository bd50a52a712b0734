package views

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopstream/streams/topics"
)

// Server is the HTTP edge: /v1 routes added by each domain, /healthz,
// /readyz, request logging and JSON errors.
type Server struct {
	cfg serverConfig
	mux *http.ServeMux

	mu       sync.Mutex
	checks   map[string]func() bool
	patterns []string
}

type serverConfig struct {
	addr            string
	logger          *slog.Logger
	shutdownTimeout time.Duration
}

// ServerOption configures a Server.
type ServerOption func(*serverConfig)

// WithAddr sets the listen address (default 127.0.0.1:8080).
func WithAddr(addr string) ServerOption { return func(c *serverConfig) { c.addr = addr } }

// WithServerLogger sets the request logger (default slog.Default()).
func WithServerLogger(l *slog.Logger) ServerOption { return func(c *serverConfig) { c.logger = l } }

// WithShutdownTimeout bounds how long Run waits for requests in flight
// when it stops (default 10 s).
func WithShutdownTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.shutdownTimeout = d }
}

func (c *serverConfig) validate() error {
	if c.addr == "" {
		return errors.New("views: empty listen address")
	}
	if c.logger == nil {
		return errors.New("views: nil logger")
	}
	if c.shutdownTimeout <= 0 {
		return errors.New("views: shutdown timeout must be positive")
	}
	return nil
}

// NewServer returns a server with /healthz and /readyz registered.
func NewServer(opts ...ServerOption) (*Server, error) {
	cfg := serverConfig{addr: "127.0.0.1:8080", logger: slog.Default(), shutdownTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), checks: make(map[string]func() bool)}
	s.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("/", s.noRoute)
	return s, nil
}

// noRoute answers a request no route took: 405 method_not_allowed, with
// Allow, when the path has routes for other methods, else 404 not_found.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); m != r.Method && pattern != "/" && pattern != "" {
			allow = append(allow, m)
			if m == http.MethodGet && r.Method != http.MethodHead {
				allow = append(allow, http.MethodHead) // GET routes answer HEAD too
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, r, errMethodNotAllowed.Withf("%s %s: this path takes %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	WriteError(w, r, topics.ErrNotFound.Withf("no route for %s %s", r.Method, r.URL.Path))
}

// codeMethodNotAllowed: the path exists, but not for this method (405).
const codeMethodNotAllowed = "method_not_allowed"

var (
	errMethodNotAllowed = topics.NewError(codeMethodNotAllowed, "method not allowed")
	_                   = RegisterStatus(codeMethodNotAllowed, http.StatusMethodNotAllowed)
)

// Handle registers h for a Go 1.22 mux pattern such as "POST /v1/gift-cards".
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mu.Lock()
	s.patterns = append(s.patterns, pattern)
	s.mu.Unlock()
	s.mux.Handle(pattern, h)
}

// HandleFunc registers f for pattern.
func (s *Server) HandleFunc(pattern string, f http.HandlerFunc) { s.Handle(pattern, f) }

// Routes returns every registered pattern, sorted.
func (s *Server) Routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := slices.Clone(s.patterns)
	sort.Strings(r)
	return r
}

// AddReadiness adds a check to /readyz: the server is ready only when every
// check returns true (every processor and view has recovered).
func (s *Server) AddReadiness(name string, check func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

// Ready reports whether every readiness check passes, and which do not.
func (s *Server) Ready() (bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var waiting []string
	for name, check := range s.checks {
		if !check() {
			waiting = append(waiting, name)
		}
	}
	sort.Strings(waiting)
	return len(waiting) == 0, waiting
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, waiting := s.Ready()
	if !ok {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "recovering", "waiting_for": waiting})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

// Handler returns the server's handler with request logging.
func (s *Server) Handler() http.Handler { return logRequests(s.cfg.logger, s.mux) }

// Run listens on the configured address and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("views: listening on %s: %w", s.cfg.addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.cfg.logger.Info("http listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("views: serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("views: shutting down: %w", err)
	}
	return nil
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs method, path, status and duration of every request and
// records its latency in the HTTP metrics.
// Bodies and query strings are never logged: secrets such as gift card
// codes travel in bodies.
func logRequests(l *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		observeHTTP(r, rec.status, time.Since(start))
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			level = slog.LevelDebug
		}
		l.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
	})
}
