package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/views"
)

func init() {
	modules = append(modules, module{name: "giftcards", wire: wireGiftCards})
	senders["gift-card"] = sendGiftCard
}

// devGiftCardSecret keys card codes when SHOPSTREAM_GIFT_CARD_SECRET is not
// set: fine for `dev`, never for production (anyone can read it here).
const devGiftCardSecret = "shopstream-dev-gift-card-secret-do-not-use-in-production"

// giftCardSecret is the variable holding the secret card keys are derived
// with: the same for every process and the CLI, or their keys differ.
const giftCardSecret = "SHOPSTREAM_GIFT_CARD_SECRET"

// giftCardCodes returns the code generator keyed by SHOPSTREAM_GIFT_CARD_SECRET,
// or by the development secret when fallback allows (envSecret).
func giftCardCodes(fallback bool, warn func(string)) (*giftcards.CodeGenerator, error) {
	secret, err := envSecret(giftCardSecret, devGiftCardSecret, fallback, warn)
	if err != nil {
		return nil, err
	}
	return giftcards.NewCodeGenerator([]byte(secret))
}

// giftCardOptions are the processors' options from the environment:
// SHOPSTREAM_GIFT_CARD_TX_WINDOW sets how many recent ledger transactions a
// card's row keeps (giftcards.WithTransactionWindow; the whole ledger is in
// the events and gift_card_transactions either way).
func giftCardOptions(p *platform, getenv func(string) string) ([]giftcards.Option, error) {
	opts := []giftcards.Option{giftcards.WithLogger(p.logger)}
	if v := getenv("SHOPSTREAM_GIFT_CARD_TX_WINDOW"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("SHOPSTREAM_GIFT_CARD_TX_WINDOW=%q: want a whole number of transactions, at least 1", v)
		}
		opts = append(opts, giftcards.WithTransactionWindow(n))
	}
	return opts, nil
}

// wireGiftCards runs the gift card processors and adds their routes. The
// admin token for void and bulk comes from SHOPSTREAM_GIFT_CARD_ADMIN_TOKEN.
func wireGiftCards(p *platform) ([]runner, error) {
	codes, err := giftCardCodes(p.cfg.dev, func(m string) { p.logger.Warn(m) })
	if err != nil {
		return nil, err
	}
	opts, err := giftCardOptions(p, os.Getenv)
	if err != nil {
		return nil, err
	}
	svc, err := giftcards.New(p.clients, p.procStorage, opts...)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("SHOPSTREAM_GIFT_CARD_ADMIN_TOKEN")
	if token == "" {
		p.logger.Warn("SHOPSTREAM_GIFT_CARD_ADMIN_TOKEN is not set: void and bulk creation are refused")
	}
	api, err := views.NewGiftCards(p.commands, codes, views.WithAdminToken(token))
	if err != nil {
		return nil, err
	}
	api.Register(p.server)
	p.server.AddReadiness("giftcards", svc.Ready)
	return []runner{svc}, nil
}

// sendGiftCard is `shopstream send gift-card ACTION [flags]`.
func sendGiftCard(ctx context.Context, env *cliEnv, args []string) error {
	actions := "create|redeem|balance|refund|transfer|void|bulk|authorize|capture|release"
	if len(args) == 0 {
		return fmt.Errorf("send gift-card: which action? (%s)", actions)
	}
	// the CLI may be pointed at dev: it warns rather than refusing
	codes, err := giftCardCodes(true, func(m string) { fmt.Fprintln(os.Stderr, "warning:", m) })
	if err != nil {
		return err
	}
	action, args := args[0], args[1:]
	if !slices.Contains(strings.Split(actions, "|"), action) {
		return fmt.Errorf("send gift-card: unknown action %q (%s)", action, actions)
	}
	fs := flag.NewFlagSet("send gift-card "+action, flag.ContinueOnError)
	code := fs.String("code", "", "gift card code (or set SHOPSTREAM_GIFT_CARD_CODE, to keep it out of shell history)")
	to := fs.String("to", "", "destination code (transfer)")
	amount := fs.String("amount", "", "decimal amount, e.g. 12.34")
	currency := fs.String("currency", "USD", "ISO 4217 currency (create, bulk)")
	purchaser := fs.String("purchaser", "cli", "purchaser ID (create)")
	email := fs.String("email", "", "recipient email (create)")
	message := fs.String("message", "", "personal message (create)")
	expires := fs.String("expires", "", "expiry, RFC 3339 (create, bulk, authorize)")
	order := fs.String("order", "", "order ID (redeem, authorize)")
	redemption := fs.String("redemption", "", "redemption ID (refund)")
	hold := fs.String("hold", "", "hold ID (capture, release)")
	reason := fs.String("reason", "", "reason (void, refund, release)")
	adminID := fs.String("admin", "", "admin ID (void)")
	count := fs.Int("count", 10, "number of cards (bulk)")
	prefix := fs.String("prefix", "", "code prefix (create: GIFT, bulk: PROMO)")
	id := fs.String("id", "", "command ID (Idempotency-Key); new by default")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *code == "" {
		*code = os.Getenv("SHOPSTREAM_GIFT_CARD_CODE")
	}
	cmdID := *id
	if cmdID == "" {
		cmdID = topics.NewID()
	}
	optAmount := func() (*giftcards.Amount, error) {
		if *amount == "" {
			return nil, nil
		}
		d, err := topics.ParseAmount(*amount)
		if err != nil {
			return nil, err
		}
		return giftcards.NewAmount(d), nil
	}
	var expiresAt *time.Time
	if *expires != "" {
		t, err := time.Parse(time.RFC3339, *expires)
		if err != nil {
			return fmt.Errorf("--expires: %w", err)
		}
		expiresAt = &t
	}
	keyOf := func(c string) (string, error) {
		k, _, err := codes.Key(c)
		return k, err
	}
	send := func(topic, key, typ string, data any) error {
		e, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(cmdID), topics.WithActor(env.actor))
		if err != nil {
			return err
		}
		_, err = env.submit(ctx, topic, key, e)
		return err
	}
	a, err := optAmount()
	if err != nil {
		return err
	}
	switch action {
	case "create":
		if a == nil {
			return errors.New("--amount is required")
		}
		c, err := codes.Generate(*prefix, 0)
		if err != nil {
			return err
		}
		key, last4, _ := codes.Key(c)
		e, err := topics.NewEnvelope(giftcards.TypeCreate, time.Now(), giftcards.CreateCommand{CardKey: key, Last4: last4,
			Amount: topics.Money{Amount: a.Decimal, Currency: *currency}, PurchaserID: *purchaser, RecipientEmail: *email,
			Message: *message, ExpiresAt: expiresAt}, topics.WithCommandID(cmdID), topics.WithActor(env.actor))
		if err != nil {
			return err
		}
		// Creations go through the index keyed by command ID, so a retry
		// with the same --id cannot issue a second card.
		if _, err := env.submit(ctx, topics.GiftCardCreations, cmdID, e); err != nil {
			return err
		}
		fmt.Fprintln(env.out, "code:", c, "(shown once; it is stored nowhere)")
		return nil
	case "bulk":
		if a == nil {
			return errors.New("--amount is required")
		}
		return bulkGiftCards(ctx, env, codes, *count, a.Decimal, *currency, *prefix, expiresAt)
	case "refund":
		if *redemption == "" {
			return errors.New("--redemption is required")
		}
		return send(topics.GiftCardRedemptions, *redemption, giftcards.TypeRefund,
			giftcards.RefundCommand{RedemptionID: *redemption, Amount: a, Reason: *reason})
	}
	if *code == "" {
		return errors.New("--code (or SHOPSTREAM_GIFT_CARD_CODE) is required")
	}
	key, err := keyOf(*code)
	if err != nil {
		return err
	}
	switch action {
	case "redeem":
		return send(topics.GiftCardCommands, key, giftcards.TypeRedeem, giftcards.RedeemCommand{CardKey: key, OrderID: *order, Amount: a})
	case "balance":
		return send(topics.GiftCardCommands, key, giftcards.TypeBalance, giftcards.BalanceQuery{CardKey: key})
	case "transfer":
		toKey, err := keyOf(*to)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		if a == nil {
			return errors.New("--amount is required")
		}
		return send(topics.GiftCardCommands, key, giftcards.TypeTransfer, giftcards.TransferCommand{CardKey: key, ToKey: toKey, Amount: *a})
	case "void":
		return send(topics.GiftCardCommands, key, giftcards.TypeVoid, giftcards.VoidCommand{CardKey: key, Reason: *reason, AdminID: *adminID})
	case "authorize":
		if a == nil {
			return errors.New("--amount is required")
		}
		return send(topics.GiftCardCommands, key, giftcards.TypeAuthorize, giftcards.AuthorizeCommand{CardKey: key, OrderID: *order, Amount: *a, ExpiresAt: expiresAt})
	case "capture":
		return send(topics.GiftCardCommands, key, giftcards.TypeCapture, giftcards.CaptureCommand{CardKey: key, HoldID: *hold, Amount: a})
	case "release":
		return send(topics.GiftCardCommands, key, giftcards.TypeRelease, giftcards.ReleaseCommand{CardKey: key, HoldID: *hold, Reason: *reason})
	}
	panic("send gift-card: action " + action + " is listed but not handled")
}

// bulkGiftCards creates count cards, 32 at a time, drawing a progress bar
// on stderr, then prints every code once.
func bulkGiftCards(ctx context.Context, env *cliEnv, codes *giftcards.CodeGenerator, count int, amount decimal.Decimal, cur, prefix string, expiresAt *time.Time) error {
	if prefix == "" {
		prefix = giftcards.BulkPrefix
	}
	if count < 1 {
		return errors.New("--count must be at least 1")
	}
	out := make([]string, count)
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	batch := topics.NewID()
	stop, drawn := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drawn)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		draw := func() {
			d := int(done.Load())
			bar := strings.Repeat("#", d*40/count) + strings.Repeat(".", 40-d*40/count)
			fmt.Fprintf(os.Stderr, "\r[%s] %d/%d (%d failed)", bar, d, count, failed.Load())
		}
		for {
			draw()
			select {
			case <-stop:
				draw() // the final count, not the last tick's
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
			}
		}
	}()
	for i := 0; i < count; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem; done.Add(1) }()
			c, err := codes.Generate(prefix, 0)
			if err != nil {
				failed.Add(1)
				return
			}
			key, last4, _ := codes.Key(c)
			e, err := topics.NewEnvelope(giftcards.TypeCreate, time.Now(), giftcards.CreateCommand{CardKey: key, Last4: last4,
				Amount: topics.Money{Amount: amount, Currency: cur}, PurchaserID: "bulk:" + batch, ExpiresAt: expiresAt, BatchID: batch},
				topics.WithCommandID(giftcards.DeriveID("bulk", batch, fmt.Sprint(i))), topics.WithActor(env.actor))
			if err != nil {
				failed.Add(1)
				return
			}
			sctx, cancel := context.WithTimeout(ctx, env.timeout)
			defer cancel()
			res, err := env.commander.Submit(sctx, topics.GiftCardCreations, e.CommandID, e)
			if err != nil || !res.OK {
				failed.Add(1)
				return
			}
			out[i] = c
		}()
	}
	wg.Wait()
	close(stop)
	<-drawn
	for _, c := range out {
		if c != "" {
			fmt.Fprintln(env.out, c)
		}
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("bulk: %d of %d cards failed", n, count)
	}
	return nil
}
