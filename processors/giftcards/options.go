package giftcards

import (
	"errors"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
)

type config struct {
	ledgerSize     int
	txWindow       int
	stateCache     int
	cardTTL        time.Duration
	holdTTL        time.Duration
	expiryInterval time.Duration
	logger         *slog.Logger
	gokaOptions    []goka.ProcessorOption
}

// Option configures the gift card processors (New).
type Option func(*config)

// WithLedgerSize sets how many command IDs each card remembers for
// idempotency (default 64). A retry older than that is applied again.
func WithLedgerSize(n int) Option { return func(c *config) { c.ledgerSize = n } }

// DefaultTransactionWindow is how many recent ledger transactions a card's
// row keeps by default (WithTransactionWindow).
const DefaultTransactionWindow = 8

// WithTransactionWindow sets how many of its most recent ledger
// transactions a card's row keeps (default DefaultTransactionWindow, at
// least 1). Older ones are folded into the row's checkpoint (their count
// and the balance after them), so a command's cost does not grow with the
// card's history; transaction IDs do not depend on it. The whole ledger
// is the gift card events, and gift_card_transactions in PostgreSQL.
func WithTransactionWindow(n int) Option { return func(c *config) { c.txWindow = n } }

// DefaultStateCacheBytes is four times the bound of each card table
// partition's cache of stored state bytes (WithStateCacheBytes).
const DefaultStateCacheBytes = 64 << 20

// WithStateCacheBytes gives each card table partition a write-through
// cache of a quarter of n for the stored bytes of card states (default
// DefaultStateCacheBytes; 0 turns it off). A hit saves Pebble's read of the
// state a command reads; see state.CachedBuilder for why it is never stale.
func WithStateCacheBytes(n int) Option { return func(c *config) { c.stateCache = n } }

// WithCardTTL sets the lifetime of a card created without expires_at
// (default one year).
func WithCardTTL(d time.Duration) Option { return func(c *config) { c.cardTTL = d } }

// WithHoldTTL sets how long an uncaptured hold lives when authorize does
// not say (default seven days).
func WithHoldTTL(d time.Duration) Option { return func(c *config) { c.holdTTL = d } }

// WithExpiryInterval sets how often the expiry ticker looks for cards and
// holds past their time (default one minute).
func WithExpiryInterval(d time.Duration) Option { return func(c *config) { c.expiryInterval = d } }

// WithLogger sets the logger (default slog.Default()). Nothing logged ever
// holds a code: only card keys and last four characters.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithProcessorOptions appends goka options to every processor (tests pass
// goka.WithTester here).
func WithProcessorOptions(opts ...goka.ProcessorOption) Option {
	return func(c *config) { c.gokaOptions = append(c.gokaOptions, opts...) }
}

func defaultConfig() config {
	return config{ledgerSize: 64, txWindow: DefaultTransactionWindow, stateCache: DefaultStateCacheBytes, cardTTL: DefaultCardTTL, holdTTL: DefaultHoldTTL, expiryInterval: time.Minute, logger: slog.Default()}
}

func (c *config) validate() error {
	switch {
	case c.ledgerSize < 1:
		return errors.New("giftcards: ledger size must be at least 1")
	case c.txWindow < 1:
		return errors.New("giftcards: transaction window must be at least 1")
	case c.stateCache < 0:
		return errors.New("giftcards: negative state cache size")
	case c.cardTTL <= 0 || c.holdTTL <= 0:
		return errors.New("giftcards: card and hold lifetimes must be positive")
	case c.expiryInterval <= 0:
		return errors.New("giftcards: expiry interval must be positive")
	case c.logger == nil:
		return errors.New("giftcards: nil logger")
	}
	return nil
}
