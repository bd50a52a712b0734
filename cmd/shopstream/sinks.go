package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shopstream/streams/views/sinks"
	"github.com/shopstream/streams/views/sinks/migrations"
)

func init() {
	modules = append(modules, module{name: "sinks", wire: wireSinks})
	subcommands["migrate"] = migrateCommand
}

// dbConnectTimeout bounds how long dev and run wait for PostgreSQL before
// going on without the sinks.
const dbConnectTimeout = 3 * time.Second

// wireSinks runs the PostgreSQL sinks when DATABASE_URL (default: the local
// PostgreSQL) reaches a database: it applies the migrations first. When the
// database cannot be reached, the rest runs and the log says that the sinks
// are off and why.
func wireSinks(p *platform) ([]runner, error) {
	url := sinks.DatabaseURL()
	pool, err := sinks.Connect(context.Background(), url, dbConnectTimeout)
	if err != nil {
		p.logger.Warn("PostgreSQL sinks are OFF: the database is unreachable (set DATABASE_URL to enable them)",
			"database", sinks.Redact(url), "err", err)
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := migrations.Up(ctx, pool, p.logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating %s: %w", sinks.Redact(url), err)
	}
	svc, err := sinks.NewService(pool, p.clients, sinks.WithLogger(p.logger))
	if err != nil {
		pool.Close()
		return nil, err
	}
	p.logger.Info("PostgreSQL sinks are on", "database", sinks.Redact(url), "sinks", len(svc.Sinks()))
	return []runner{&sinkRunner{svc: svc, close: pool.Close}}, nil
}

// sinkRunner runs the sinks and closes their pool when they stop.
type sinkRunner struct {
	svc   *sinks.Service
	close func()
}

func (r *sinkRunner) Run(ctx context.Context) error {
	defer r.close()
	return r.svc.Run(ctx)
}

// migrateCommand is `shopstream migrate`: it applies the read models'
// migrations to DATABASE_URL (default: the local PostgreSQL) and prints the
// schema version.
func migrateCommand(ctx context.Context, args []string) error {
	fs := newFlagSet("migrate")
	status := fs.Bool("status", false, "print the schema version without migrating")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the database")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: shopstream migrate [--status]\n\nApplies the PostgreSQL read models' migrations to DATABASE_URL (default %s).\n\n", sinks.DefaultDatabaseURL)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate takes no arguments, got %q", fs.Args())
	}
	url := sinks.DatabaseURL()
	pool, err := sinks.Connect(ctx, url, *timeout)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s is unreachable: %w", sinks.Redact(url), err)
	}
	defer pool.Close()
	if !*status {
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		applied, err := migrations.Up(ctx, pool, logger)
		if err != nil {
			return err
		}
		fmt.Printf("applied %d migration(s)\n", len(applied))
	}
	cur, latest, err := migrations.Version(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Printf("%s: schema version %d (latest %d)\n", sinks.Redact(url), cur, latest)
	return nil
}
