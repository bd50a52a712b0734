package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/views"
)

// runner is a long-lived component: it runs until ctx is done.
type runner interface {
	Run(ctx context.Context) error
}

// platform is what a domain's wiring gets: configured clients, the topic
// catalog, storage for its processors and views, the HTTP server to add
// routes to and the command path.
type platform struct {
	cfg         *config
	logger      *slog.Logger
	clients     *topics.Clients
	catalog     *topics.Catalog
	procStorage storage.Builder
	viewStorage storage.Builder
	server      *views.Server
	commands    *views.Commands
}

// module is one domain's wiring: it registers routes and readiness on the
// platform and returns the components to run.
type module struct {
	name string
	wire func(p *platform) ([]runner, error)
}

// modules are the domains this binary runs, registered by the domain files
// of this package (giftcards.go, returns.go, recommendations.go).
var modules []module

// ensureTopics creates the catalog's topics that do not exist yet.
func ensureTopics(ctx context.Context, clients *topics.Clients, cat *topics.Catalog, replication int16, logger *slog.Logger) error {
	k, err := kgo.NewClient(clients.Kgo()...)
	if err != nil {
		return err
	}
	defer k.Close()
	created, err := cat.Ensure(ctx, kadm.NewClient(k), replication)
	if err != nil {
		return err
	}
	if len(created) > 0 {
		logger.Info("created topics", "count", len(created))
	}
	return nil
}

// build constructs the platform against brokers (topics must exist) and
// every module's components (the HTTP server apart: p.server), without
// starting them. close releases what
// build opened; call it after the components stopped.
func build(ctx context.Context, cfg *config, logger *slog.Logger, clients *topics.Clients, cat *topics.Catalog) (p *platform, runners []runner, close func(), err error) {
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	pebbleLog := state.WithLogger(pebbleLogger{logger.With("component", "pebble")})
	// Every table here is rebuilt from its changelog topic, so Pebble's own
	// write-ahead log would only log every write twice (state.WithoutWAL:
	// a crash costs a longer catch-up from Kafka, never data).
	// The tables' own needs (a larger write buffer for the recommendations
	// users table) apply to the processors' copies and the views' alike.
	stateOpts := append([]state.Option{pebbleLog, state.WithoutWAL()}, recommendations.StorageOptions()...)
	procStorage, err := state.NewBuilder(cfg.stateDir(), stateOpts...)
	if err != nil {
		return nil, nil, close, err
	}
	viewStorage, err := state.NewBuilder(cfg.viewDir(), stateOpts...)
	if err != nil {
		return nil, nil, close, err
	}
	server, err := views.NewServer(views.WithAddr(cfg.httpAddr), views.WithServerLogger(logger))
	if err != nil {
		return nil, nil, close, err
	}
	commander, err := topics.NewCommander(ctx, clients)
	if err != nil {
		return nil, nil, close, err
	}
	commands, err := views.NewCommands(clients, commander, viewStorage, views.WithResultTimeout(cfg.resultTimeout))
	if err != nil {
		return nil, nil, close, err
	}
	commands.Register(server)
	admClient, err := kgo.NewClient(clients.Kgo()...)
	if err != nil {
		return nil, nil, close, err
	}
	closers = append(closers, admClient.Close)
	lag := views.NewLagMonitor(kadm.NewClient(admClient), cfg.lagInterval, 360, logger)
	views.RegisterOps(server, lag)
	views.RegisterDashboard(server)
	views.RegisterOpenAPI(server)

	p = &platform{cfg: cfg, logger: logger, clients: clients, catalog: cat,
		procStorage: procStorage, viewStorage: viewStorage, server: server, commands: commands}
	runners = []runner{commander, commands, lag}
	sort.Slice(modules, func(i, j int) bool { return modules[i].name < modules[j].name })
	for _, m := range modules {
		rs, err := m.wire(p)
		if err != nil {
			return nil, nil, close, fmt.Errorf("wiring %s: %w", m.name, err)
		}
		runners = append(runners, rs...)
	}
	return p, runners, close, nil
}

// serve builds the platform and runs every module, the command path and
// the HTTP server until ctx is done or one of them fails. Every Pebble
// database is closed before it returns.
func serve(ctx context.Context, cfg *config, logger *slog.Logger, clients *topics.Clients, cat *topics.Catalog) error {
	// what packages log without a logger of their own (a dead-lettered
	// record, say) goes where the process logs, at its level
	slog.SetDefault(logger)
	p, runners, close, err := build(ctx, cfg, logger, clients, cat)
	if err != nil {
		return err
	}
	defer close()
	names := make([]string, 0, len(modules))
	for _, m := range modules {
		names = append(names, m.name)
	}
	logger.Info("starting", "modules", names, "http", cfg.httpAddr, "brokers", clients.Brokers())

	// On shutdown the HTTP server stops first, letting requests in flight
	// finish; only then do processors and views stop, so no request reads
	// a view that is closing. A component that fails stops everything.
	g, gctx := errgroup.WithContext(ctx)
	rest, stopRest := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRest()
	g.Go(func() error {
		select {
		case <-gctx.Done():
		case <-rest.Done(): // the server ended on its own
		}
		if ctx.Err() != nil { // a signal, not a failing component (that one logs itself)
			logger.Info("stopping: the HTTP server first, then the processors and views")
		}
		return nil
	})
	g.Go(func() error {
		defer stopRest()
		return p.server.Run(gctx)
	})
	for _, r := range runners {
		g.Go(func() error { return r.Run(rest) })
	}
	return g.Wait()
}

// pebbleLogger sends Pebble's messages to slog: its routine reports (WAL
// replay, compactions) at debug level, its errors as errors.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any)  { p.l.Debug(fmt.Sprintf(format, args...)) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Error(fmt.Sprintf(format, args...)) }
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
