package sinks

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopstream/streams/topics"
)

// DefaultDatabaseURL is the database used when DATABASE_URL is not set: the
// local PostgreSQL, database test.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DatabaseURL returns DATABASE_URL, or DefaultDatabaseURL when it is empty.
func DatabaseURL() string {
	if u := strings.TrimSpace(os.Getenv("DATABASE_URL")); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// Connect opens a pool on url and checks, within timeout, that the
// database answers.
func Connect(ctx context.Context, url string, timeout time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sinks: DATABASE_URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > timeout {
		cfg.ConnConfig.ConnectTimeout = timeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(pctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Redact renders a connection URL without its password, for logs.
func Redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparsable DATABASE_URL)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Specs are every domain's sink.
func Specs() []Spec { return []Spec{GiftCards(), Returns(), Recommendations()} }

// Service runs a sink per spec (default Specs()).
type Service struct {
	sinks []*Sink
}

// NewService builds a sink for every spec of Specs, with opts.
func NewService(pool *pgxpool.Pool, clients *topics.Clients, opts ...Option) (*Service, error) {
	s := &Service{}
	for _, spec := range Specs() {
		k, err := New(spec, pool, clients, opts...)
		if err != nil {
			return nil, err
		}
		s.sinks = append(s.sinks, k)
	}
	return s, nil
}

// Sinks returns the service's sinks.
func (s *Service) Sinks() []*Sink { return s.sinks }

// Run runs every sink until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, k := range s.sinks {
		wg.Go(func() { _ = k.Run(ctx) }) // Run returns nil when ctx ends; it retries failures itself
	}
	wg.Wait()
	return nil
}

// Ready reports whether every sink has caught up once.
func (s *Service) Ready() bool {
	for _, k := range s.sinks {
		if !k.Ready() {
			return false
		}
	}
	return true
}
