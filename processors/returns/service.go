package returns

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"golang.org/x/sync/errgroup"

	"github.com/shopstream/streams/processors/gokavisit"
	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
)

type config struct {
	policy      *Policy
	storeCredit *StoreCredit
	ledgerSize  int
	// tableCacheBytes bounds each table partition's cache of the bytes
	// last written (state.CachedBuilder; 0: none).
	tableCacheBytes int
	gokaOptions     []goka.ProcessorOption
	reads           reads
	// linger is how long the processors' producers wait to fill a batch.
	linger time.Duration
	// sagaTimeout and sagaTimeoutInterval drive the saga timeout ticker.
	sagaTimeout         time.Duration
	sagaTimeoutInterval time.Duration
	logger              *slog.Logger
}

// Option configures the returns Service.
type Option func(*config)

// WithPolicy sets the return policy (default: policy.default.json). Load an
// operator's file with LoadPolicy.
func WithPolicy(p *Policy) Option { return func(c *config) { c.policy = p } }

// WithStoreCredit sets how store-credit gift cards are derived; without it
// store_credit and gift_card refunds fail (refund_failed).
func WithStoreCredit(s *StoreCredit) Option { return func(c *config) { c.storeCredit = s } }

// WithLedgerSize sets how many command IDs each order and return remembers
// (default command.DefaultLedgerSize).
func WithLedgerSize(n int) Option { return func(c *config) { c.ledgerSize = n } }

// DefaultTableCacheBytes bounds each order and return table partition's
// cache of the bytes last written (WithTableCacheBytes).
const DefaultTableCacheBytes = 8 << 20

// WithTableCacheBytes gives each partition of the order and return tables
// a write-through cache of at most n bytes of the values last written
// (default DefaultTableCacheBytes; 0 turns it off), so the read of the next
// message for a return or order does not go to Pebble (state.CachedBuilder).
func WithTableCacheBytes(n int) Option { return func(c *config) { c.tableCacheBytes = n } }

// DefaultProducerLinger is how long the returns processors' producers wait
// for more records to a partition before sending a batch
// (WithProducerLinger).
const DefaultProducerLinger = 5 * time.Millisecond

// WithProducerLinger sets how long the order and return processors'
// producers wait for more records to a partition before sending a batch
// (default DefaultProducerLinger; 0 sends at once; topics.Clients.
// ProducerLinger). A lifecycle's ~15 hops each take up to that much
// longer, which a workflow measured in days does not notice, and each
// record costs less CPU: about 9% less per lifecycle at 5 ms than at 1 ms
// (docs/returns-benchmarks.md).
func WithProducerLinger(d time.Duration) Option { return func(c *config) { c.linger = d } }

// WithProcessorOptions adds goka options to every processor (tests).
func WithProcessorOptions(opts ...goka.ProcessorOption) Option {
	return func(c *config) { c.gokaOptions = append(c.gokaOptions, opts...) }
}

// reads is where the service's reads (Return, OrderEligibility) come from.
type reads int

const (
	readViews  reads = iota // views of the order and return tables (default)
	readTables              // the processors' own tables (WithTableReads)
	readNone                // nowhere (WithoutViews)
)

// WithoutViews skips the table views the HTTP API reads (workers that
// serve no HTTP): the read methods return ErrNoViews.
func WithoutViews() Option { return func(c *config) { c.reads = readNone } }

// WithTableReads serves the read methods from the order and return
// processors' own tables instead of views of them. A processor's table
// holds only the partitions this instance owns, so this is for a
// deployment of one instance (shopstream dev, a single shopstream run):
// there it drops a second copy of both tables and the consumption of their
// changelogs that keeps it (~8% of a lifecycle's CPU,
// docs/returns-benchmarks.md), and a read sees a command's effect as soon
// as its result is out. With several instances, a read of a key another
// instance owns fails as unavailable. The last of WithTableReads and
// WithoutViews given wins.
func WithTableReads() Option { return func(c *config) { c.reads = readTables } }

// WithSagaTimeout sets how long the saga waits for the reply to a refund
// or restock request before it treats the request as failed
// (return.saga_timeout; default DefaultSagaTimeout).
func WithSagaTimeout(d time.Duration) Option { return func(c *config) { c.sagaTimeout = d } }

// WithSagaTimeoutInterval sets how often the ticker looks for requests
// that waited longer than the saga timeout (default
// DefaultSagaTimeoutInterval).
func WithSagaTimeoutInterval(d time.Duration) Option {
	return func(c *config) { c.sagaTimeoutInterval = d }
}

// WithLogger sets the logger of the saga timeout ticker (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

func (c *config) validate() error {
	if c.sagaTimeout <= 0 || c.sagaTimeoutInterval <= 0 {
		return errors.New("returns: the saga timeout and its interval must be positive")
	}
	if c.logger == nil {
		return errors.New("returns: nil logger")
	}
	if c.policy == nil {
		return errors.New("returns: nil policy")
	}
	if err := c.policy.Validate(); err != nil {
		return err
	}
	if c.ledgerSize < 0 {
		return errors.New("returns: negative ledger size")
	}
	if c.tableCacheBytes < 0 {
		return errors.New("returns: negative table cache size")
	}
	if c.linger < 0 {
		return errors.New("returns: negative producer linger")
	}
	return nil
}

func defaultConfig() config {
	return config{policy: DefaultPolicy(), reads: readViews, sagaTimeout: DefaultSagaTimeout,
		sagaTimeoutInterval: DefaultSagaTimeoutInterval, logger: slog.Default(),
		tableCacheBytes: DefaultTableCacheBytes, linger: DefaultProducerLinger}
}

// Service runs the returns processors: the ingress, the order processor and
// the return processor, and the views of their tables that its read methods
// use (unless WithTableReads or WithoutViews).
type Service struct {
	cfg        config
	procs      []*goka.Processor
	returnProc *goka.Processor
	returns    *goka.View
	orders     *goka.View
	// getReturn and getOrder are the reads of Return and OrderEligibility:
	// the views' or the processors' (WithTableReads); nil WithoutViews.
	getReturn, getOrder func(key string) (any, error)
	visits              gokavisit.Gate // saga timeout visits
}

// New builds the returns processors on clients, with procStorage for their
// tables and viewStorage for the views the HTTP API reads (two Pebble
// builders over different directories in production: a view and a
// processor of the same table cannot share one).
func New(clients *topics.Clients, procStorage, viewStorage storage.Builder, opts ...Option) (*Service, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg}
	popts := append(clients.ProcessorOptions(state.CachedBuilder(procStorage, cfg.tableCacheBytes)), clients.ProducerLinger(cfg.linger))
	popts = append(popts, cfg.gokaOptions...)
	for _, g := range []*goka.GroupGraph{ingressGraph(), s.orderGraph(), s.returnGraph()} {
		p, err := goka.NewProcessor(clients.Brokers(), g, popts...)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, p)
	}
	orderProc := s.procs[1]
	s.returnProc = s.procs[2]
	switch cfg.reads {
	case readViews:
		var err error
		if s.returns, err = goka.NewView(clients.Brokers(), goka.GroupTable(goka.Group(topics.ReturnsReturnsGroup)),
			new(returnViewCodec), clients.ViewOptions(viewStorage)...); err != nil {
			return nil, err
		}
		if s.orders, err = goka.NewView(clients.Brokers(), goka.GroupTable(goka.Group(topics.ReturnsOrdersGroup)),
			new(orderTableCodec), clients.ViewOptions(viewStorage)...); err != nil {
			return nil, err
		}
		s.getReturn, s.getOrder = s.returns.Get, s.orders.Get
	case readTables:
		s.getReturn, s.getOrder = s.returnProc.Get, orderProc.Get
	}
	return s, nil
}

// Run runs the processors, the views and the saga timeout ticker until ctx
// is done or one fails.
func (s *Service) Run(ctx context.Context) error {
	// The processors stop once ctx is done and a saga timeout visit in
	// progress has finished (gokavisit.Gate).
	pctx, stop := s.visits.Hold(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(pctx)
	for _, p := range s.procs {
		g.Go(func() error { return p.Run(gctx) })
	}
	for _, v := range []*goka.View{s.returns, s.orders} {
		if v != nil {
			g.Go(func() error { return v.Run(gctx) })
		}
	}
	g.Go(func() error { return s.tickTimeouts(gctx) })
	return g.Wait()
}

// Ready reports whether every processor and view has recovered.
func (s *Service) Ready() bool {
	for _, p := range s.procs {
		if !p.Recovered() {
			return false
		}
	}
	for _, v := range []*goka.View{s.returns, s.orders} {
		if v != nil && !v.Recovered() {
			return false
		}
	}
	return true
}

// Policy is the policy the service applies.
func (s *Service) Policy() *Policy { return s.cfg.policy }

// StoreCredit is the store-credit deriver, nil when not configured.
func (s *Service) StoreCredit() *StoreCredit { return s.cfg.storeCredit }

// ErrNoViews is returned by the read methods of a Service built WithoutViews.
var ErrNoViews = errors.New("returns: service built without views")

// Return reads a return from the view, or the return processor's table
// (WithTableReads) (GET /v1/returns/{id}).
func (s *Service) Return(id string) (*Return, error) {
	v, err := read(s.getReturn, id)
	if err != nil {
		return nil, err
	}
	rec, _ := v.(*ReturnRecord)
	if err := rec.load(); err != nil { // the processor's codec leaves it encoded
		return nil, unavailable(err)
	}
	if rec == nil || rec.Return == nil {
		return nil, ErrReturnNotFound.Withf("return %q not found", id).With("return_id", id)
	}
	return rec.Return, nil
}

// read gets key's value through get (getReturn, getOrder); ErrNoViews
// when the service reads nothing (WithoutViews).
func read(get func(string) (any, error), key string) (any, error) {
	if get == nil {
		return nil, ErrNoViews
	}
	v, err := get(key)
	if err != nil {
		return nil, unavailable(err)
	}
	return v, nil
}

// Eligibility checks an order's items at time at from the view.
func (s *Service) Eligibility(orderID string, at time.Time) (EligibilityResult, error) {
	res, _, err := s.OrderEligibility(orderID, at)
	return res, err
}

// OrderEligibility is Eligibility with the order's customer, the one
// customer who may read the answer (CanRead; GET
// /v1/orders/{id}/return-eligibility). It reads the order from the view, or
// the order processor's table (WithTableReads).
func (s *Service) OrderEligibility(orderID string, at time.Time) (res EligibilityResult, customerID string, err error) {
	v, err := read(s.getOrder, orderID)
	if err != nil {
		return EligibilityResult{}, "", err
	}
	rec, _ := v.(*OrderRecord)
	if rec == nil || rec.Order == nil {
		return EligibilityResult{}, "", ErrOrderNotFound.Withf("order %q not found", orderID).With("order_id", orderID)
	}
	res, err = rec.OrderState.Eligibility(s.cfg.policy, at)
	return res, rec.Order.UserID, err
}

func unavailable(err error) error {
	return topics.NewError(topics.CodeUnavailable, "returns table: "+err.Error())
}
