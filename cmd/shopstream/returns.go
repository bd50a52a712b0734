package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/processors/returns/simulators"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/views"
)

func init() {
	modules = append(modules, module{name: "returns", wire: wireReturns})
	senders["return"] = sendReturn
}

// storeCreditSecret is the variable holding the secret store-credit codes
// are derived with.
const storeCreditSecret = "SHOPSTREAM_STORE_CREDIT_SECRET"

// devStoreCreditSecret derives store-credit codes when
// SHOPSTREAM_STORE_CREDIT_SECRET is not set: fine for dev only.
const devStoreCreditSecret = "shopstream-dev-store-credit-secret-do-not-use-in-production"

// wireReturns runs the returns processors and views, adds their routes,
// and in dev (embedded broker) the simulators of payments, inventory,
// shipping labels and notifications. SHOPSTREAM_RETURNS_POLICY names an
// operator's policy file; SHOPSTREAM_RETURNS_SIMULATORS=on|off overrides
// whether the simulators run; SHOPSTREAM_RETURNS_SIM_PAYMENT_FAILURES (and
// _INVENTORY_, _LABEL_, _NOTIFICATION_) inject failures;
// SHOPSTREAM_RETURNS_SIM_DROP=payment,restock,label makes the simulators lose
// those requests (never answer). SHOPSTREAM_RETURNS_SAGA_TIMEOUT (a Go
// duration, default 2m) is how long the saga waits for a reply;
// SHOPSTREAM_RETURNS_LINGER (default 5ms) how long the returns processors'
// producers wait to fill a batch. --reads (SHOPSTREAM_READS) says whether
// GET /v1/returns/{id} and the eligibility check read the processors'
// tables or views (returns.WithTableReads).
func wireReturns(p *platform) ([]runner, error) {
	policy, err := returns.LoadPolicy(os.Getenv("SHOPSTREAM_RETURNS_POLICY"))
	if err != nil {
		return nil, err
	}
	warn := func(m string) { p.logger.Warn(m) }
	creditSecret, err := envSecret(storeCreditSecret, devStoreCreditSecret, p.cfg.dev, warn)
	if err != nil {
		return nil, err
	}
	// store-credit cards are keyed with the gift card service's secret (its
	// module has warned already when it is the development one)
	cardSecret, err := envSecret(giftCardSecret, devGiftCardSecret, p.cfg.dev, func(string) {})
	if err != nil {
		return nil, err
	}
	credit, err := returns.NewStoreCredit([]byte(creditSecret), []byte(cardSecret))
	if err != nil {
		return nil, err
	}
	opts := []returns.Option{returns.WithPolicy(policy), returns.WithStoreCredit(credit), returns.WithLogger(p.logger)}
	if s := os.Getenv("SHOPSTREAM_RETURNS_SAGA_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("SHOPSTREAM_RETURNS_SAGA_TIMEOUT: %w", err)
		}
		opts = append(opts, returns.WithSagaTimeout(d))
	}
	if s := os.Getenv("SHOPSTREAM_RETURNS_LINGER"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("SHOPSTREAM_RETURNS_LINGER: %w", err)
		}
		opts = append(opts, returns.WithProducerLinger(d))
	}
	if p.cfg.tableReads {
		opts = append(opts, returns.WithTableReads())
	}
	svc, err := returns.New(p.clients, p.procStorage, p.viewStorage, opts...)
	if err != nil {
		return nil, err
	}
	api, err := views.NewReturns(p.commands, svc)
	if err != nil {
		return nil, err
	}
	api.Register(p.server)
	p.server.AddReadiness("returns", svc.Ready)
	run := []runner{svc}
	sim := os.Getenv("SHOPSTREAM_RETURNS_SIMULATORS")
	if sim == "on" || (sim == "" && p.cfg.kafkaAddr != "") {
		count := func(name string) int {
			n, _ := strconv.Atoi(os.Getenv("SHOPSTREAM_RETURNS_SIM_" + name + "_FAILURES"))
			return n
		}
		// No view of the simulators' table: nothing here reads what they
		// did (Simulators.State is for tests).
		sims, err := simulators.New(p.clients, p.procStorage, nil, simulators.Config{
			PaymentFailures: count("PAYMENT"), InventoryFailures: count("INVENTORY"),
			LabelFailures: count("LABEL"), NotificationFailures: count("NOTIFICATION"),
			DropWhen: dropKinds(os.Getenv("SHOPSTREAM_RETURNS_SIM_DROP"))})
		if err != nil {
			return nil, err
		}
		p.server.AddReadiness("returns-simulators", sims.Ready)
		run = append(run, sims)
	}
	return run, nil
}

// dropKinds is the simulators' DropWhen for a comma-separated list of
// request kinds (payment, restock, label); nil for none.
func dropKinds(list string) func(kind, returnID string, attempt int) bool {
	kinds := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds[k] = true
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	return func(kind, _ string, _ int) bool { return kinds[kind] }
}

// itemsFlag collects repeated LINE:QTY[:CONDITION] flags.
type itemsFlag []string

func (f *itemsFlag) String() string     { return strings.Join(*f, ",") }
func (f *itemsFlag) Set(s string) error { *f = append(*f, s); return nil }

func (f itemsFlag) parse(defaultCond string) ([]string, []int, []string, error) {
	var lines, conds []string
	var qtys []int
	for _, s := range f {
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, nil, nil, fmt.Errorf("item %q is not LINE:QTY[:CONDITION]", s)
		}
		q, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, nil, nil, fmt.Errorf("item %q: quantity: %w", s, err)
		}
		c := defaultCond
		if len(parts) == 3 {
			c = parts[2]
		}
		lines, qtys, conds = append(lines, parts[0]), append(qtys, q), append(conds, c)
	}
	return lines, qtys, conds, nil
}

// sendReturn is `shopstream send return ACTION [flags]`.
func sendReturn(ctx context.Context, env *cliEnv, args []string) error {
	actions := "initiate|approve|reject|receive|complete|cancel|shipping-label|ship|inspect|retry-refund|retry-restock|resolve"
	if len(args) == 0 {
		return fmt.Errorf("send return: which action? (%s)", actions)
	}
	fs := flag.NewFlagSet("send return "+args[0], flag.ContinueOnError)
	id := fs.String("id", "", "return ID (every action but initiate; initiate: optional, defaults to the command ID)")
	cmdID := fs.String("command-id", "", "command ID (idempotency key); generated when empty")
	order := fs.String("order", "", "order ID (initiate)")
	reason := fs.String("reason", "", "initiate: defective|wrong_item|not_as_described|no_longer_needed|other; reject/cancel: free text")
	desc := fs.String("description", "", "initiate: details")
	var items itemsFlag
	fs.Var(&items, "item", "initiate: LINE:QTY[:new|opened|damaged]; receive: LINE:QTY[:sellable|damaged|unsellable] (repeatable)")
	method := fs.String("method", returns.RefundOriginalPayment, "approve: original_payment|store_credit|gift_card|exchange")
	amount := fs.String("amount", "", "approve: refund override; complete: final refund amount")
	fee := fs.String("restocking-fee", "", "approve: restocking fee amount")
	notes := fs.String("notes", "", "approve/inspect/resolve notes")
	tracking := fs.String("tracking", "", "ship: tracking number")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	decimalPtr := func(s string) (*decimal.Decimal, error) {
		if s == "" {
			return nil, nil
		}
		d, err := topics.ParseAmount(s)
		return &d, err
	}
	var (
		typ   string
		data  any
		topic = topics.ReturnsCommands
		key   = *id
	)
	switch args[0] {
	case "initiate":
		lines, qtys, conds, err := items.parse(returns.ConditionNew)
		if err != nil {
			return err
		}
		req := returns.InitiateRequest{ReturnID: *id, OrderID: *order, Reason: *reason, Description: *desc}
		for i := range lines {
			req.Items = append(req.Items, returns.InitiateItem{LineItemID: lines[i], Quantity: qtys[i], Condition: conds[i]})
		}
		typ, data, topic, key = returns.TypeInitiate, req, topics.ReturnsOrders, *order
	case "approve":
		amt, err := decimalPtr(*amount)
		if err != nil {
			return err
		}
		f, err := decimalPtr(*fee)
		if err != nil {
			return err
		}
		typ, data = returns.TypeApprove, returns.Approve{RefundMethod: *method, RefundAmount: amt, RestockingFee: f, Notes: *notes, ApproverID: env.actor.ID}
	case "reject":
		typ, data = returns.TypeReject, returns.Reject{Reason: *reason, RejectorID: env.actor.ID}
	case "receive":
		lines, qtys, conds, err := items.parse(returns.ActualSellable)
		if err != nil {
			return err
		}
		rc := returns.ReceiveItems{ReceiverID: env.actor.ID}
		for i := range lines {
			rc.Items = append(rc.Items, returns.ReceivedItem{LineItemID: lines[i], QuantityReceived: qtys[i], ActualCondition: conds[i]})
		}
		typ, data = returns.TypeReceive, rc
	case "complete":
		amt, err := decimalPtr(*amount)
		if err != nil {
			return err
		}
		typ, data = returns.TypeComplete, returns.Complete{FinalRefundAmount: amt}
	case "cancel":
		typ, data = returns.TypeCancel, returns.Cancel{Reason: *reason}
	case "shipping-label", "label": // the HTTP route's name, and the short one
		typ, data = returns.TypeLabel, struct{}{}
	case "ship":
		typ, data = returns.TypeShip, returns.Ship{TrackingNumber: *tracking}
	case "inspect":
		typ, data = returns.TypeInspect, returns.Inspect{Notes: *notes}
	case "retry-refund":
		typ, data = returns.TypeRetryRefund, struct{}{}
	case "retry-restock":
		typ, data = returns.TypeRetryRestock, struct{}{}
	case "resolve":
		typ, data = returns.TypeResolve, returns.Resolve{Notes: *notes}
	default:
		return fmt.Errorf("send return: unknown action %q (%s)", args[0], actions)
	}
	if key == "" {
		return fmt.Errorf("send return %s: --id (or --order for initiate) is required", args[0])
	}
	if *cmdID == "" {
		*cmdID = topics.NewID()
	}
	e, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(*cmdID), topics.WithActor(env.actor))
	if err != nil {
		return err
	}
	res, err := env.submit(ctx, topic, key, e)
	if err == nil && res.Pending {
		b, _ := json.Marshal(map[string]string{"status": "pending", "command_id": *cmdID})
		fmt.Fprintln(env.out, string(b))
	}
	return err
}
