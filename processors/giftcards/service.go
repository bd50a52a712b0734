package giftcards

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"golang.org/x/sync/errgroup"

	"github.com/shopstream/streams/processors/gokavisit"
	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
)

// Service runs every gift card processor: the card processor, the
// creation, redemption and order indexes, the ingress and the expiry ticker.
type Service struct {
	cfg    config
	cards  *goka.Processor
	others []*goka.Processor
	visits gokavisit.Gate // expiry visits
}

// New builds the gift card processors on clients, with sb for their
// tables (the Pebble builder in production).
func New(clients *topics.Clients, sb storage.Builder, opts ...Option) (*Service, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	popts := append(clients.ProcessorOptions(sb), cfg.gokaOptions...)
	build := func(g *goka.GroupGraph) (*goka.Processor, error) {
		return goka.NewProcessor(clients.Brokers(), g, popts...)
	}
	s := &Service{cfg: cfg}
	var err error
	// The card table's reads are served from the bytes last written when
	// it can (state.CachedBuilder); the option comes last, so it wraps sb
	// even when the goka options name a builder of their own.
	cardOpts := append(slices.Clone(popts), goka.WithStorageBuilder(state.CachedBuilder(sb, cfg.stateCache/4)))
	if s.cards, err = goka.NewProcessor(clients.Brokers(), newCardProcessor(cfg).graph(), cardOpts...); err != nil {
		return nil, err
	}
	for _, g := range []*goka.GroupGraph{(&creationIndex{cfg: cfg}).graph(), redemptionIndexGraph(), orderIndexGraph(), ingressGraph()} {
		p, err := build(g)
		if err != nil {
			return nil, err
		}
		s.others = append(s.others, p)
	}
	return s, nil
}

// Run runs the processors and the expiry ticker until ctx is done or one
// of them fails.
func (s *Service) Run(ctx context.Context) error {
	// The processors stop once ctx is done and an expiry visit in progress
	// has finished (gokavisit.Gate).
	pctx, stop := s.visits.Hold(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(pctx)
	for _, p := range append([]*goka.Processor{s.cards}, s.others...) {
		g.Go(func() error { return p.Run(gctx) })
	}
	g.Go(func() error { return s.tick(gctx) })
	return g.Wait()
}

// Ready reports whether every processor has recovered its table.
func (s *Service) Ready() bool {
	for _, p := range append([]*goka.Processor{s.cards}, s.others...) {
		if !p.Recovered() {
			return false
		}
	}
	return true
}

// ExpireDue visits every card this instance owns and sends an expire
// command, stamped at, to each card with an expiry or hold expiry due at
// that time. The ticker calls it; tests call it with a chosen time.
func (s *Service) ExpireDue(ctx context.Context, at time.Time) (int64, error) {
	if !s.visits.Enter() {
		return 0, gokavisit.ErrClosed
	}
	defer s.visits.Leave()
	return s.cards.VisitAllWithStats(ctx, visitExpiry, at.UTC())
}

// tick runs ExpireDue every expiry interval with the wall-clock time: the
// scheduler is an edge, like the HTTP API, and the time it stamps is what
// the cards use.
func (s *Service) tick(ctx context.Context) error {
	t := time.NewTicker(s.cfg.expiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if !s.Ready() {
				continue
			}
			if _, err := s.ExpireDue(ctx, now); err != nil && !errors.Is(err, context.Canceled) {
				s.cfg.logger.Warn("gift card expiry visit failed", "err", err)
			}
		}
	}
}
