// Package pgtest gives a test package its own PostgreSQL schema.
//
// A test package declares one DB and runs its tests through it:
//
//	var db = pgtest.New("sinks")
//
//	func TestMain(m *testing.M) { os.Exit(db.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		pool := db.Pool(t) // skips the test when PostgreSQL is unreachable
//		...
//	}
//
// Run connects to DATABASE_URL (default DefaultURL), creates a fresh schema,
// gives every connection of the pool that schema as its search_path, runs
// the tests and drops the schema. When the database cannot be reached the
// tests that need it are skipped with the reason, except under CI=true,
// where the run fails: a CI run must never pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the database used when DATABASE_URL is not set: the local
// PostgreSQL, database test.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns DATABASE_URL, or DefaultURL when it is empty.
func URL() string {
	if u := strings.TrimSpace(os.Getenv("DATABASE_URL")); u != "" {
		return u
	}
	return DefaultURL
}

// ErrUnreachable is the error Pool reports (through the skip message) when
// the database could not be reached.
var ErrUnreachable = errors.New("pgtest: PostgreSQL is unreachable")

// DB is one test package's schema.
type DB struct {
	prefix string
	url    string
	schema string
	pool   *pgxpool.Pool
	err    error
}

// New returns a DB whose schema name starts with prefix. Call Run from
// TestMain.
func New(prefix string) *DB { return &DB{prefix: prefix} }

// Run connects, creates the schema, runs m and drops the schema. It returns
// the exit code for os.Exit: 1 when the database is unreachable under
// CI=true, m.Run's code otherwise.
func (d *DB) Run(m *testing.M) int {
	d.url = URL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := d.open(ctx)
	cancel()
	if err != nil {
		d.err = fmt.Errorf("%w at %s: %v", ErrUnreachable, redact(d.url), err)
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: %v (CI=true: PostgreSQL is required; set DATABASE_URL)\n", d.err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "pgtest: %v: tests that need PostgreSQL are skipped (set DATABASE_URL)\n", d.err)
		return m.Run()
	}
	code := m.Run()
	if err := d.close(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: dropping schema %s: %v\n", d.schema, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func (d *DB) open(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, d.url)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	d.schema = fmt.Sprintf("%s_%s", sanitize(d.prefix), hex.EncodeToString(suffix[:]))
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{d.schema}.Sanitize()); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = d.schema
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		_, _ = admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{d.schema}.Sanitize()+" CASCADE")
		return err
	}
	d.pool = pool
	return nil
}

func (d *DB) close() error {
	d.pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, d.url)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	_, err = admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{d.schema}.Sanitize()+" CASCADE")
	return err
}

// Pool returns the package's pool (search_path set to its schema), or skips
// t with the reason when the database is unreachable.
func (d *DB) Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	d.need(t)
	return d.pool
}

// Schema returns the package's schema name, or skips t like Pool.
func (d *DB) Schema(t testing.TB) string {
	t.Helper()
	d.need(t)
	return d.schema
}

// Config returns a new pool configuration for the package's schema, for
// code under test that builds its own pool; it skips t like Pool.
func (d *DB) Config(t testing.TB) *pgxpool.Config {
	t.Helper()
	d.need(t)
	cfg, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = d.schema
	return cfg
}

func (d *DB) need(t testing.TB) {
	t.Helper()
	switch {
	case d.err != nil:
		t.Skipf("%v", d.err)
	case d.pool == nil:
		t.Fatal("pgtest: DB.Run was not called from TestMain")
	}
}

// sanitize keeps a schema prefix to lower-case letters, digits and '_'.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 || (b.String()[0] >= '0' && b.String()[0] <= '9') {
		return "t_" + b.String()
	}
	return b.String()
}

// redact hides a password in a connection URL for messages.
func redact(u string) string {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return "(unparsable DATABASE_URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
