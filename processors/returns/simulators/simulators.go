// Package simulators answers the requests the returns saga sends to other
// ShopStream services — payments, inventory, shipping labels and
// notifications — so that the whole returns flow runs in `shopstream dev`
// and in tests. Each service honours the idempotency keys the saga sends
// (a refund key is paid at most once, a restock key restocked at most
// once), and failures are injected by configuration.
package simulators

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"golang.org/x/sync/errgroup"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
)

// Group is the simulators' goka group.
const Group goka.Group = topics.ReturnsSimulatorsGroup

// Config injects failures: each request fails its first N attempts.
type Config struct {
	// PaymentFailures fails the first N attempts of every refund.
	PaymentFailures int
	// InventoryFailures fails the first N attempts of every restock.
	InventoryFailures int
	// LabelFailures fails the first N label requests of every return.
	LabelFailures int
	// NotificationFailures fails the first N attempts of every notification.
	NotificationFailures int
	// FailWhen, when set, fails every request it returns true for, on top
	// of the counts (kind is "payment", "restock", "label" or
	// "notification").
	FailWhen func(kind, returnID string, attempt int) bool
	// DropWhen, when set, loses every payment, restock or label request
	// it returns true for (kind is "payment", "restock" or "label"; a
	// label's attempt counts the return's label requests): the service does
	// nothing and never answers, as when the request or its reply is lost,
	// so only the saga timeout moves the return on.
	DropWhen func(kind, returnID string, attempt int) bool
}

// errDropped: the request is lost; no reply.
var errDropped = errors.New("simulators: request dropped")

func (c Config) drop(kind, returnID string, attempt int) bool {
	return c.DropWhen != nil && c.DropWhen(kind, returnID, attempt)
}

func (c Config) fail(kind, returnID string, attempt, firstN int) bool {
	return attempt <= firstN || (c.FailWhen != nil && c.FailWhen(kind, returnID, attempt))
}

func (c Config) validate() error {
	if c.PaymentFailures < 0 || c.InventoryFailures < 0 || c.LabelFailures < 0 || c.NotificationFailures < 0 {
		return errors.New("simulators: failure counts cannot be negative")
	}
	return nil
}

// Refund is a refund the payment simulator paid.
type Refund struct {
	TransactionID string       `json:"transaction_id"`
	Amount        topics.Money `json:"amount"`
}

// State is what the simulators remember per return ID.
type State struct {
	// Refunds maps refund key to the refund paid under it.
	Refunds map[string]Refund `json:"refunds,omitempty"`
	// Payments counts refunds actually paid (never more than one per key).
	Payments int `json:"payments"`
	// PaymentRequests counts refund requests received, repeats included.
	PaymentRequests int `json:"payment_requests"`
	// Dropped counts the requests lost on purpose (Config.DropWhen).
	Dropped int `json:"dropped,omitempty"`
	// Restocked maps restock key to the units put back.
	Restocked map[string][]returns.InventoryUpdate `json:"restocked,omitempty"`
	// Restocks counts restocks actually done.
	Restocks int `json:"restocks"`
	// Labels counts label requests that carry no attempt number (sent
	// before LabelRequest.Attempt existed); the others need no state.
	Labels int `json:"labels"`
	// Notifications are the templates the notification service sent for
	// the return, in order. State fills them from the mailbox this process
	// keeps (Simulators.mailbox); tables written before it kept them too.
	Notifications []string `json:"notifications,omitempty"`
}

// Simulators runs the simulated services.
type Simulators struct {
	cfg  Config
	proc *goka.Processor
	view *goka.View
	mail *mailbox
}

// MailboxSize is how many returns' notifications the simulated
// notification service keeps (the oldest return's are forgotten first).
const MailboxSize = 1 << 16

// mailbox is what the simulated notification service sent, per return. It
// lives in memory, not in the simulators' table: a mail service keeps no
// state the saga relies on (a notification request carries its attempt, so
// failures are injected without state), and writing the table for every
// notification was two records of every return's lifecycle.
type mailbox struct {
	mu    sync.Mutex
	sent  map[string][]string
	order []string // returns in the order of their first notification
	next  int
}

func newMailbox(size int) *mailbox {
	return &mailbox{sent: make(map[string][]string), order: make([]string, size)}
}

func (m *mailbox) add(returnID, template string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sent[returnID]; !ok {
		if old := m.order[m.next]; old != "" {
			delete(m.sent, old)
		}
		m.order[m.next] = returnID
		m.next = (m.next + 1) % len(m.order)
	}
	m.sent[returnID] = append(m.sent[returnID], template)
}

func (m *mailbox) get(returnID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent[returnID])
}

// New builds the simulators on clients with procStorage for their table and
// viewStorage for a view of it that State reads. With a nil viewStorage
// there is no view (nothing consumes the table's changelog but the
// processor's own recovery) and State reads the processor's table, which
// holds only the partitions this instance owns: enough in one process
// (`shopstream dev`, tests), where it owns them all.
func New(clients *topics.Clients, procStorage, viewStorage storage.Builder, cfg Config) (*Simulators, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Simulators{cfg: cfg, mail: newMailbox(MailboxSize)}
	g := goka.DefineGroup(Group,
		goka.Input(goka.Stream(topics.PaymentsRefunds), new(topics.BytesCodec), s.handle),
		goka.Input(goka.Stream(topics.InventoryRestocks), new(topics.BytesCodec), s.handle),
		goka.Input(goka.Stream(topics.ShippingLabels), new(topics.BytesCodec), s.handle),
		goka.Input(goka.Stream(topics.NotificationsSend), new(topics.BytesCodec), s.handle),
		goka.Persist(new(topics.JSONCodec[State])),
		goka.Output(goka.Stream(topics.ReturnsReplies), new(topics.EnvelopeCodec)),
		goka.Output(goka.Stream(topics.DLQ(string(Group))), new(command.DeadLetterCodec)),
	)
	var err error
	if s.proc, err = goka.NewProcessor(clients.Brokers(), g, clients.ProcessorOptions(procStorage)...); err != nil {
		return nil, err
	}
	if viewStorage == nil {
		return s, nil
	}
	if s.view, err = goka.NewView(clients.Brokers(), goka.GroupTable(Group), new(topics.JSONCodec[State]), clients.ViewOptions(viewStorage)...); err != nil {
		return nil, err
	}
	return s, nil
}

// Run runs the simulators until ctx is done.
func (s *Simulators) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.proc.Run(ctx) })
	if s.view != nil {
		g.Go(func() error { return s.view.Run(ctx) })
	}
	return g.Wait()
}

// Ready reports whether the simulators have recovered.
func (s *Simulators) Ready() bool { return s.proc.Recovered() && (s.view == nil || s.view.Recovered()) }

// State reads what the simulators did for a return: from the view, or
// without one from the processor's table (partitions this instance owns).
func (s *Simulators) State(returnID string) (State, error) {
	var v any
	var err error
	if s.view != nil {
		v, err = s.view.Get(returnID)
	} else {
		v, err = s.proc.Get(returnID)
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if v != nil {
		st = *v.(*State)
	}
	st.Notifications = append(slices.Clone(st.Notifications), s.mail.get(returnID)...)
	return st, nil
}

func (s *Simulators) handle(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	// the table is read only by the requests that use it: label requests
	// with an attempt and notifications need no state
	var st *State
	state := func() *State {
		if st == nil {
			if st, _ = ctx.Value().(*State); st == nil {
				st = &State{}
			}
		}
		return st
	}
	var (
		typ string
		rp  returns.Reply
		err error
		// stateless: the answer changed nothing the simulators keep, so
		// the table is not written (one record less per request)
		stateless bool
	)
	switch env.Type {
	case returns.RequestRefund:
		typ = returns.ReplyRefund
		rp, err = s.refund(state(), env)
	case returns.RequestRestock:
		typ = returns.ReplyRestock
		rp, err = s.restock(state(), env)
	case returns.RequestLabel:
		typ = returns.ReplyLabel
		rp, stateless, err = s.label(state, env)
	case returns.RequestNotification:
		typ = returns.ReplyNotification
		rp, err = s.notify(ctx.Key(), env)
		stateless = true
	default:
		err = topics.ErrInvalidRequest.Withf("the simulators do not handle %q", env.Type)
	}
	if errors.Is(err, errDropped) {
		state().Dropped++
		ctx.SetValue(st)
		return
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	rp.ReturnID = ctx.Key()
	if !stateless {
		ctx.SetValue(state())
	}
	out, err := topics.NewEnvelope(typ, env.OccurredAt, rp, topics.WithCorrelationID(ctx.Key()),
		topics.WithActor(topics.Actor{ID: "simulators", Type: topics.ActorSystem}))
	if err != nil {
		panic(err)
	}
	ctx.Emit(goka.Stream(topics.ReturnsReplies), ctx.Key(), out)
}

func (s *Simulators) refund(st *State, env *topics.Envelope) (returns.Reply, error) {
	rq, err := topics.DecodeData[returns.RefundRequest](env)
	if err != nil {
		return returns.Reply{}, err
	}
	if s.cfg.drop("payment", rq.ReturnID, rq.Attempt) {
		return returns.Reply{}, errDropped
	}
	st.PaymentRequests++
	rp := returns.Reply{RequestID: rq.RequestID}
	if paid, ok := st.Refunds[rq.RefundKey]; ok { // idempotent: paid once
		rp.OK, rp.TransactionID = true, paid.TransactionID
		return rp, nil
	}
	if s.cfg.fail("payment", rq.ReturnID, rq.Attempt, s.cfg.PaymentFailures) {
		rp.Error = fmt.Sprintf("payment gateway declined attempt %d (simulated)", rq.Attempt)
		return rp, nil
	}
	if st.Refunds == nil {
		st.Refunds = make(map[string]Refund)
	}
	sum := sha256.Sum256([]byte(rq.RefundKey))
	tx := "re_" + hex.EncodeToString(sum[:8])
	st.Refunds[rq.RefundKey] = Refund{TransactionID: tx, Amount: rq.Amount}
	st.Payments++
	rp.OK, rp.TransactionID = true, tx
	return rp, nil
}

func (s *Simulators) restock(st *State, env *topics.Envelope) (returns.Reply, error) {
	rq, err := topics.DecodeData[returns.RestockRequest](env)
	if err != nil {
		return returns.Reply{}, err
	}
	if s.cfg.drop("restock", rq.ReturnID, rq.Attempt) {
		return returns.Reply{}, errDropped
	}
	rp := returns.Reply{RequestID: rq.RequestID}
	if _, ok := st.Restocked[rq.RestockKey]; ok {
		rp.OK = true
		return rp, nil
	}
	if s.cfg.fail("restock", rq.ReturnID, rq.Attempt, s.cfg.InventoryFailures) {
		rp.Error = fmt.Sprintf("inventory service unavailable on attempt %d (simulated)", rq.Attempt)
		return rp, nil
	}
	if st.Restocked == nil {
		st.Restocked = make(map[string][]returns.InventoryUpdate)
	}
	st.Restocked[rq.RestockKey] = rq.Items
	st.Restocks++
	rp.OK = true
	return rp, nil
}

// label makes a shipping label. The attempt is the request's (the return's
// label requests, counted by the saga), so nothing is kept and stateless
// is true; requests without one (sent before it existed) are counted in
// State.Labels.
func (s *Simulators) label(state func() *State, env *topics.Envelope) (rp returns.Reply, stateless bool, err error) {
	rq, err := topics.DecodeData[returns.LabelRequest](env)
	if err != nil {
		return returns.Reply{}, false, err
	}
	attempt, stateless := rq.Attempt, rq.Attempt > 0
	if !stateless {
		attempt = state().Labels + 1
	}
	if s.cfg.drop("label", rq.ReturnID, attempt) {
		return returns.Reply{}, false, errDropped
	}
	if !stateless {
		state().Labels++
	}
	rp = returns.Reply{RequestID: rq.RequestID}
	if s.cfg.fail("label", rq.ReturnID, attempt, s.cfg.LabelFailures) {
		rp.Error = "carrier API unavailable (simulated)"
		return rp, stateless, nil
	}
	sum := sha256.Sum256([]byte(rq.RequestID))
	tracking := "1Z" + hex.EncodeToString(sum[:8])
	rp.OK, rp.TrackingNumber, rp.Carrier = true, tracking, rq.Carrier
	rp.LabelURL = "https://labels.shopstream.example/" + tracking + ".pdf"
	return rp, stateless, nil
}

// notificationRequest is what the notification simulator reads of a
// returns.NotificationRequest (not its template data).
type notificationRequest struct {
	RequestID string `json:"request_id"`
	ReturnID  string `json:"return_id"`
	Template  string `json:"template"`
	Attempt   int    `json:"attempt"`
}

// notify sends a notification: into the mailbox, not the table (the
// request carries its attempt, so nothing else is kept).
func (s *Simulators) notify(key string, env *topics.Envelope) (returns.Reply, error) {
	rq, err := topics.DecodeData[notificationRequest](env)
	if err != nil {
		return returns.Reply{}, err
	}
	rp := returns.Reply{RequestID: rq.RequestID}
	if s.cfg.fail("notification", rq.ReturnID, rq.Attempt, s.cfg.NotificationFailures) {
		rp.Error = "mail server unavailable (simulated)"
		return rp, nil
	}
	s.mail.add(key, rq.Template)
	rp.OK = true
	return rp, nil
}
