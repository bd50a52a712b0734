package recommendations

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
)

// ErrLLRNotStreaming is returned by New with WithSimilarity(LogLikelihood):
// the log-likelihood ratio needs the exact number of users, which the
// streaming service does not keep (see docs/recommendations.md).
var ErrLLRNotStreaming = errors.New("recommendations: the llr similarity needs an exact user count; use jaccard or cosine")

// Service runs the recommendations processors (ingress, users, items,
// catalog), the combiner between users and items, and the views, and
// answers reads: recommendations (cached per user
// in the profile, computed once for concurrent uncached requests),
// frequently bought together and similar products.
type Service struct {
	cfg      config
	procs    []*goka.Processor
	combiner *Combiner
	users    *goka.View // nil: profiles come from the users processor (WithTableReads)
	// getProfile reads a user's row, from users or the users processor's
	// table; readsFrom names it in errors.
	getProfile func(key string) (any, error)
	readsFrom  string
	items      *goka.View
	catalog    *goka.View
	emitter    *goka.Emitter
	// simEmitter publishes recommendations.similarities_updated for the
	// items whose counts changed since the last refresh (published holds
	// the item version last published, under pubMu).
	simEmitter *goka.Emitter
	pubMu      sync.Mutex
	published  map[string]int64
	engine     *Engine
	index      atomic.Pointer[CatalogIndex]
	flight     singleflight.Group
	computes   atomic.Int64

	mu    sync.Mutex
	local map[string]*Recommendations
}

// localCap bounds the service's in-process cache of lists it computed and
// has not yet seen cached in the user view.
const localCap = 100_000

// New builds the recommendations service. procStorage stores the processors'
// tables, viewStorage the views'; they must not share a directory.
func New(clients *topics.Clients, procStorage, viewStorage storage.Builder, opts ...Option) (*Service, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.similarity == LogLikelihood {
		return nil, ErrLLRNotStreaming
	}
	if clients == nil || procStorage == nil || viewStorage == nil {
		return nil, ErrMissingDependency
	}
	brokers := clients.Brokers()
	s := &Service{cfg: cfg, local: make(map[string]*Recommendations), published: make(map[string]int64)}
	usersGraph, err := UsersGraph(opts...)
	if err != nil {
		return nil, err
	}
	itemsGraph, err := ItemsGraph(opts...)
	if err != nil {
		return nil, err
	}
	tables := state.CachedBuilder(procStorage, cfg.tableCacheBytes)
	for _, g := range []*goka.GroupGraph{IngressGraph(), usersGraph, itemsGraph, CatalogGraph()} {
		p, err := goka.NewProcessor(brokers, g, clients.ProcessorOptions(tables)...)
		if err != nil {
			return nil, fmt.Errorf("recommendations: processor %s: %w", g.Group(), err)
		}
		s.procs = append(s.procs, p)
	}
	if s.combiner, err = NewCombiner(clients, opts...); err != nil {
		return nil, err
	}
	s.getProfile, s.readsFrom = s.procs[1].Get, "reading the users table" // the users processor
	if !cfg.tableReads {
		if s.users, err = goka.NewView(brokers, UsersTable, new(userRowCodec), clients.ViewOptions(viewStorage)...); err != nil {
			return nil, err
		}
		s.getProfile, s.readsFrom = s.users.Get, "reading the users view"
	}
	if s.items, err = goka.NewView(brokers, ItemsTable, new(itemCodec), clients.ViewOptions(viewStorage)...); err != nil {
		return nil, err
	}
	if s.catalog, err = goka.NewView(brokers, CatalogTable, new(productCodec), clients.ViewOptions(viewStorage)...); err != nil {
		return nil, err
	}
	if s.emitter, err = goka.NewEmitter(brokers, GeneratedStream, new(topics.EnvelopeCodec), clients.EmitterOptions()...); err != nil {
		return nil, err
	}
	if s.simEmitter, err = goka.NewEmitter(brokers, SimilaritiesStream, new(topics.EnvelopeCodec), clients.EmitterOptions()...); err != nil {
		return nil, err
	}
	if s.engine, err = NewEngine(viewStore{s}, opts...); err != nil {
		return nil, err
	}
	s.index.Store(NewCatalogIndex(nil, nil, time.Time{}, cfg.halfLife, 0))
	return s, nil
}

// Run runs the processors, the combiner, the views and the snapshot
// refresher until ctx is done. The views close last, after the refresher that iterates them
// has stopped (goka's View is not safe to read while it closes).
func (s *Service) Run(ctx context.Context) error {
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	viewCtx, stopViews := context.WithCancel(context.WithoutCancel(ctx))
	defer stopViews()
	var views errgroup.Group
	for _, v := range []*goka.View{s.users, s.items, s.catalog} {
		if v == nil {
			continue
		}
		views.Go(func() error {
			err := v.Run(viewCtx)
			if err != nil {
				fail(err) // a view that fails stops the service
			}
			return err
		})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range s.procs {
		g.Go(func() error { return p.Run(gctx) })
	}
	g.Go(func() error { return s.combiner.Run(gctx) })
	g.Go(func() error {
		t := time.NewTicker(s.cfg.refresh)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if s.items.Recovered() && s.catalog.Recovered() {
					if err := s.RefreshIndex(); err != nil {
						s.cfg.logger.Warn("recommendations: refreshing the catalog snapshot", "err", err)
					}
				}
			}
		}
	})
	err := g.Wait()
	stopViews()
	if verr := views.Wait(); err == nil {
		err = verr
	}
	if cerr := s.emitter.Finish(); err == nil && cerr != nil {
		err = cerr
	}
	if cerr := s.simEmitter.Finish(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// Ready reports whether every processor and view has recovered its state.
func (s *Service) Ready() bool {
	for _, p := range s.procs {
		if !p.Recovered() {
			return false
		}
	}
	return (s.users == nil || s.users.Recovered()) && s.items.Recovered() && s.catalog.Recovered()
}

// RefreshIndex rebuilds the catalog and popularity snapshot from the views
// now (Run does it periodically), then publishes
// recommendations.similarities_updated for every item whose counts changed
// since it was last published (every item, after a start).
func (s *Service) RefreshIndex() error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	var products []*Product
	it, err := s.catalog.Iterator()
	if err != nil {
		return err
	}
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Release()
			return err
		}
		if p, ok := v.(*Product); ok && p != nil {
			products = append(products, p)
		}
	}
	it.Release()
	var items, changed []*Item
	var at time.Time
	ii, err := s.items.Iterator()
	if err != nil {
		return err
	}
	for ii.Next() {
		v, err := ii.Value()
		if err != nil {
			ii.Release()
			return err
		}
		if item, ok := v.(*Item); ok && item != nil {
			if s.published[item.ProductID] != item.Increments && len(changed) < maxPublishPerRefresh {
				changed = append(changed, item)
			}
			// Only what the snapshot needs: the pair counts stay in the view.
			items = append(items, &Item{ProductID: item.ProductID, Users: item.Users, Popularity: item.Popularity})
			if item.Popularity.At.After(at) {
				at = item.Popularity.At
			}
		}
	}
	ii.Release()
	// The catalog rarely changes between refreshes: the next snapshot then
	// shares this one's content part and its memo of similar products.
	ix := NextCatalogIndex(s.index.Load(), products, items, at, s.cfg.halfLife, 0)
	s.index.Store(ix)
	now := time.Now()
	for _, it := range changed {
		env, err := NewSimilaritiesUpdated(it, ix, s.cfg.similarity, s.cfg.neighbours, now)
		if err != nil {
			return err
		}
		if _, err := s.simEmitter.Emit(it.ProductID, env); err != nil {
			return fmt.Errorf("recommendations: publishing similarities of %s: %w", it.ProductID, err)
		}
		s.published[it.ProductID] = it.Increments
	}
	return nil
}

// maxPublishPerRefresh bounds the similarity lists one refresh publishes
// (and the full items it holds for them); the rest are still unpublished,
// so the next refreshes publish them.
const maxPublishPerRefresh = 10_000

// viewStore reads the views (the users processor's table for profiles,
// with WithTableReads) for the engine.
type viewStore struct{ s *Service }

func (v viewStore) Profile(userID string) (*Profile, error) {
	val, err := v.s.getProfile(userID)
	if err != nil {
		return nil, &UnavailableError{Op: v.s.readsFrom, Err: err}
	}
	if val == nil {
		return nil, nil
	}
	r, _ := val.(*UserRow)
	if r == nil {
		return nil, nil
	}
	return &r.Profile, nil
}

func (v viewStore) Item(productID string) (*Item, error) {
	val, err := v.s.items.Get(productID)
	if err != nil {
		return nil, &UnavailableError{Op: "reading the items view", Err: err}
	}
	if val == nil {
		return nil, nil
	}
	it, _ := val.(*Item)
	return it, nil
}

func (v viewStore) Index() *CatalogIndex { return v.s.index.Load() }

// Profile returns a user's profile from the view (or the users
// processor's table, WithTableReads), nil when unknown.
func (s *Service) Profile(userID string) (*Profile, error) { return viewStore{s}.Profile(userID) }

// Computes counts the lists the service computed (cache misses).
func (s *Service) Computes() int64 { return s.computes.Load() }

// Recommend returns the user's recommendations: the list cached in the
// profile when it is valid for the profile's current version, else a list
// computed now — once for all concurrent requests — announced on
// recommendations.generated (which caches it in the profile).
func (s *Service) Recommend(ctx context.Context, userID string, req Request) (*Recommendations, error) {
	if err := ValidateUser(userID); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Strategy, _ = ParseStrategy(string(req.Strategy))
	p, err := s.Profile(userID)
	if err != nil {
		return nil, err // an UnavailableError
	}
	var version int64
	if p != nil {
		version = p.Version
		if c, ok := p.Cached(req.Strategy, req.ExcludePurchased); ok && !c.Expired(time.Now()) &&
			(len(c.Results) >= req.Limit || len(c.Results) < s.cfg.cacheDepth) {
			return cut(&Recommendations{RecommendationID: c.RecommendationID, UserID: userID, Strategy: c.Strategy,
				ExcludePurchased: c.ExcludePurchased, Version: c.Version, Results: c.Results, Cached: true,
				ExpiresAt: c.ExpiresAt}, req.Limit), nil
		}
	}
	key := userID + "|" + CacheKey(req.Strategy, req.ExcludePurchased) + "|" + strconv.FormatInt(version, 10)
	if r := s.localGet(key, req.Limit); r != nil {
		return r, nil
	}
	v, err, _ := s.flight.Do(key+"|"+strconv.Itoa(max(req.Limit, s.cfg.cacheDepth)), func() (any, error) {
		if r := s.localGet(key, req.Limit); r != nil {
			return r, nil
		}
		s.computes.Add(1)
		r, err := s.engine.ComputeFor(userID, p, Request{Limit: req.Limit, Strategy: req.Strategy, ExcludePurchased: req.ExcludePurchased})
		if err != nil {
			return nil, err
		}
		now := time.Now()
		r.ExpiresAt = now.Add(s.cfg.cacheTTL)
		env, err := NewGenerated(r, now)
		if err != nil {
			return nil, err
		}
		if _, err := s.emitter.Emit(userID, env); err != nil {
			return nil, &UnavailableError{Op: "producing recommendations.generated", Err: err}
		}
		s.localPut(key, r)
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	r := *v.(*Recommendations)
	return cut(&r, req.Limit), nil
}

func cut(r *Recommendations, limit int) *Recommendations {
	if len(r.Results) > limit {
		c := *r
		c.Results = r.Results[:limit]
		return &c
	}
	return r
}

func (s *Service) localGet(key string, limit int) *Recommendations {
	s.mu.Lock()
	r := s.local[key]
	s.mu.Unlock()
	if r == nil || (len(r.Results) < limit && len(r.Results) >= s.cfg.cacheDepth) || !time.Now().Before(r.ExpiresAt) {
		return nil
	}
	c := *r
	c.Cached = true
	return cut(&c, limit)
}

func (s *Service) localPut(key string, r *Recommendations) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.local) >= localCap {
		clear(s.local)
	}
	s.local[key] = r
}

// FrequentlyBoughtTogether returns the products most often in the same
// order as productID.
func (s *Service) FrequentlyBoughtTogether(productID string, limit int) ([]Result, error) {
	return s.engine.FrequentlyBoughtTogether(productID, limit)
}

// SimilarProducts returns the active products most similar to productID.
func (s *Service) SimilarProducts(productID string, limit int) ([]Result, error) {
	return s.engine.SimilarProducts(productID, limit)
}

// Engine returns the engine reading the service's views.
func (s *Service) Engine() *Engine { return s.engine }

// WaitVersion waits until the user view shows at least version for userID
// (after a command whose result carried that version), so that a read
// right after a write sees it. It gives up when ctx is done.
func (s *Service) WaitVersion(ctx context.Context, userID string, version int64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		p, err := s.Profile(userID)
		if err != nil {
			return err
		}
		if p != nil && p.Version >= version {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
