package views

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
)

// HTTP statuses of the gift card error codes. Every unusable code is the
// same 404 invalid_code.
var _ = registerGiftCardStatuses()

func registerGiftCardStatuses() bool {
	for code, status := range map[string]int{
		giftcards.CodeInvalidCode:             http.StatusNotFound,
		giftcards.CodeRedemptionNotFound:      http.StatusNotFound,
		giftcards.CodeHoldNotFound:            http.StatusNotFound,
		giftcards.CodeExpiredCard:             http.StatusUnprocessableEntity,
		giftcards.CodeInsufficientBalance:     http.StatusUnprocessableEntity,
		giftcards.CodeRefundExceedsRedemption: http.StatusUnprocessableEntity,
		giftcards.CodeCurrencyMismatch:        http.StatusUnprocessableEntity,
		giftcards.CodeCardVoided:              http.StatusUnprocessableEntity,
		giftcards.CodeAlreadyRedeemed:         http.StatusConflict,
		giftcards.CodeCardExists:              http.StatusConflict,
		giftcards.CodeHoldNotActive:           http.StatusConflict,
	} {
		RegisterStatus(code, status)
	}
	return true
}

// GiftCards is the gift card HTTP API. It is the edge where codes exist in
// clear: it generates them, derives card keys, and sends only keys and last
// four characters to Kafka. Codes travel in request and response bodies,
// never in a URL, a header or a log line.
type GiftCards struct {
	cmds  *Commands
	codes *giftcards.CodeGenerator
	cfg   giftCardsConfig

	clients *limiters
	cards   *limiters

	mu   sync.Mutex
	jobs map[string]*bulkJob
}

type giftCardsConfig struct {
	adminToken     [sha256.Size]byte
	hasAdmin       bool
	clientRate     rate.Limit
	clientBurst    int
	cardRate       rate.Limit
	cardBurst      int
	bulkMax        int
	bulkParallel   int
	bulkSubmitWait time.Duration
}

// GiftCardsOption configures GiftCards.
type GiftCardsOption func(*giftCardsConfig)

// WithAdminToken sets the credential void and bulk creation require, sent
// as "Authorization: Bearer <token>". Without it those routes answer 403.
func WithAdminToken(token string) GiftCardsOption {
	return func(c *giftCardsConfig) {
		if token != "" {
			c.adminToken, c.hasAdmin = sha256.Sum256([]byte(token)), true
		}
	}
}

// WithBalanceRateLimits sets the balance-check limits: per client
// (default 1/s, burst 10) and per card (default 0.2/s, burst 5).
func WithBalanceRateLimits(perClient rate.Limit, clientBurst int, perCard rate.Limit, cardBurst int) GiftCardsOption {
	return func(c *giftCardsConfig) {
		c.clientRate, c.clientBurst, c.cardRate, c.cardBurst = perClient, clientBurst, perCard, cardBurst
	}
}

// WithBulkMax bounds the number of cards of one bulk creation (default 10,000).
func WithBulkMax(n int) GiftCardsOption { return func(c *giftCardsConfig) { c.bulkMax = n } }

// WithBulkSubmitWait sets how long bulk creation waits for each card's
// result (default 30 s); a card whose result is later is delivered pending.
func WithBulkSubmitWait(d time.Duration) GiftCardsOption {
	return func(c *giftCardsConfig) { c.bulkSubmitWait = d }
}

func (c *giftCardsConfig) validate() error {
	switch {
	case c.clientRate <= 0 || c.cardRate <= 0 || c.clientBurst < 1 || c.cardBurst < 1:
		return errors.New("views: gift card rate limits must be positive")
	case c.bulkMax < 1:
		return errors.New("views: bulk maximum must be at least 1")
	case c.bulkSubmitWait <= 0:
		return errors.New("views: the bulk submit wait must be positive")
	}
	return nil
}

// NewGiftCards builds the gift card API on the command path cmds, with
// codes to generate codes and derive card keys.
func NewGiftCards(cmds *Commands, codes *giftcards.CodeGenerator, opts ...GiftCardsOption) (*GiftCards, error) {
	cfg := giftCardsConfig{clientRate: 1, clientBurst: 10, cardRate: 0.2, cardBurst: 5, bulkMax: 10000, bulkParallel: 32, bulkSubmitWait: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cmds == nil || codes == nil {
		return nil, errors.New("views: gift cards need the command path and a code generator")
	}
	return &GiftCards{cmds: cmds, codes: codes, cfg: cfg,
		clients: newLimiters(cfg.clientRate, cfg.clientBurst), cards: newLimiters(cfg.cardRate, cfg.cardBurst),
		jobs: make(map[string]*bulkJob)}, nil
}

// Register adds the gift card routes to s.
func (g *GiftCards) Register(s *Server) {
	s.HandleFunc("POST /v1/gift-cards", g.create)
	s.HandleFunc("POST /v1/gift-cards/bulk", g.bulkCreate)
	s.HandleFunc("GET /v1/gift-cards/bulk/{id}", g.bulkStatus)
	s.HandleFunc("POST /v1/gift-cards/redeem", g.redeem)
	s.HandleFunc("POST /v1/gift-cards/balance", g.balance)
	s.HandleFunc("POST /v1/gift-cards/refunds", g.refund)
	s.HandleFunc("POST /v1/gift-cards/transfers", g.transfer)
	s.HandleFunc("POST /v1/gift-cards/void", g.void)
	s.HandleFunc("POST /v1/gift-cards/holds", g.authorize)
	s.HandleFunc("POST /v1/gift-cards/holds/{id}/capture", g.capture)
	s.HandleFunc("POST /v1/gift-cards/holds/{id}/release", g.release)
}

// request is what every route needs: the command ID and the actor.
func (g *GiftCards) request(w http.ResponseWriter, r *http.Request, body any) (string, topics.Actor, bool) {
	return CommandRequest(w, r, body)
}

func (g *GiftCards) send(w http.ResponseWriter, r *http.Request, topic, key, typ, id string, actor topics.Actor, data any, ok int) {
	env, err := topics.NewEnvelope(typ, time.Now(), data, topics.WithCommandID(id), topics.WithActor(actor))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	g.cmds.Submit(w, r, topic, key, env, ok)
}

// key derives a card key from a code in a request body.
func (g *GiftCards) key(w http.ResponseWriter, r *http.Request, code string) (string, bool) {
	key, _, err := g.codes.Key(code)
	if err != nil {
		WriteError(w, r, giftcards.ErrInvalidCode)
		return "", false
	}
	return key, true
}

// CreateRequest is the body of POST /v1/gift-cards.
type CreateRequest struct {
	Amount         giftcards.Amount `json:"amount"`
	Currency       string           `json:"currency"`
	PurchaserID    string           `json:"purchaser_id"`
	RecipientEmail string           `json:"recipient_email,omitempty"`
	Message        string           `json:"message,omitempty"`
	ExpiresAt      *time.Time       `json:"expires_at,omitempty"`
}

// CreateResponse answers a creation: the clear code, this once, and the card.
type CreateResponse struct {
	Code     string                `json:"code"`
	GiftCard giftcards.CardSummary `json:"gift_card"`
}

// PendingCreateResponse answers a creation whose result did not come in
// time (202): the code, this once, since it is stored nowhere; whether the
// card was created is at ResultURL.
type PendingCreateResponse struct {
	CommandResponse
	Code string `json:"code"`
}

func (g *GiftCards) create(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	w.Header().Set("Idempotency-Key", id)
	if prev := g.cmds.storedResult(id); prev != nil && prev.OK && !prev.Pending {
		// The key already created a card: a new code would be refused by
		// the creation index, and in a 202 it would look like the card's.
		WriteError(w, r, giftcards.ErrCreationDone)
		return
	}
	code, res, err := g.createOne(r.Context(), id, actor, "", req, "")
	if errors.Is(err, topics.ErrResultPending) {
		// The command was produced; its result is late. The code is stored
		// nowhere, so this answer is its only chance to be shown: it comes
		// with the 202, to be used once /v1/commands/{id} says the card was
		// created (a refused creation leaves it a code of no card).
		w.Header().Set("Location", resultURL(id))
		WriteJSON(w, http.StatusAccepted, PendingCreateResponse{
			CommandResponse: CommandResponse{CommandID: id, Status: "pending", ResultURL: resultURL(id)}, Code: code})
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	var summary giftcards.CardSummary
	if err := json.Unmarshal(res.Result, &summary); err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, CreateResponse{Code: code, GiftCard: summary})
}

// createOne generates a code and creates its card; it returns the code
// when the card was created, and with ErrResultPending, when the command
// was produced but its result is late (the card is being created, or
// refused). The command goes to the creation index, keyed by command ID: a retry with the same command ID gets a new code,
// hence another card key, and the index answers idempotency_conflict
// instead of creating a second card or revealing the first code (unless the
// first attempt never reached it or was refused, then the retry creates).
func (g *GiftCards) createOne(ctx context.Context, id string, actor topics.Actor, prefix string, req CreateRequest, batch string) (string, *topics.CommandResult, error) {
	code, err := g.codes.Generate(prefix, 0)
	if err != nil {
		return "", nil, err
	}
	key, last4, err := g.codes.Key(code)
	if err != nil {
		return "", nil, err
	}
	env, err := topics.NewEnvelope(giftcards.TypeCreate, time.Now(), giftcards.CreateCommand{
		CardKey: key, Last4: last4, Amount: topics.Money{Amount: req.Amount.Decimal, Currency: req.Currency},
		PurchaserID: req.PurchaserID, RecipientEmail: req.RecipientEmail, Message: req.Message, ExpiresAt: req.ExpiresAt, BatchID: batch,
	}, topics.WithCommandID(id), topics.WithActor(actor))
	if err != nil {
		return "", nil, err
	}
	res, err := g.cmds.SubmitWait(ctx, topics.GiftCardCreations, id, env)
	if errors.Is(err, topics.ErrResultPending) {
		return code, nil, err
	}
	if err != nil {
		return "", nil, err
	}
	if !res.OK {
		return "", res, res.Error
	}
	return code, res, nil
}

// RedeemRequest is the body of POST /v1/gift-cards/redeem.
type RedeemRequest struct {
	Code    string            `json:"code"`
	OrderID string            `json:"order_id"`
	Amount  *giftcards.Amount `json:"amount,omitempty"`
}

func (g *GiftCards) redeem(w http.ResponseWriter, r *http.Request) {
	var req RedeemRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	key, ok := g.key(w, r, req.Code)
	if !ok {
		return
	}
	g.send(w, r, topics.GiftCardCommands, key, giftcards.TypeRedeem, id, actor,
		giftcards.RedeemCommand{CardKey: key, OrderID: req.OrderID, Amount: req.Amount}, http.StatusOK)
}

// BalanceRequest is the body of POST /v1/gift-cards/balance.
type BalanceRequest struct {
	Code string `json:"code"`
}

// clientID identifies the caller for rate limiting: the authenticated
// actor the gateway names, or the remote address.
func clientID(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get("X-Actor-Id")); a != "" {
		return "actor:" + a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

var errRateLimited = topics.NewError(topics.CodeRateLimited, "too many balance checks; retry later")

func (g *GiftCards) balance(w http.ResponseWriter, r *http.Request) {
	var req BalanceRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	// The client's budget is spent before the code is even parsed, so
	// guessing codes costs the same whether they are well formed or not.
	if !g.clients.allow(clientID(r)) {
		w.Header().Set("Retry-After", "1")
		WriteError(w, r, errRateLimited)
		return
	}
	key, ok := g.key(w, r, req.Code)
	if !ok {
		return
	}
	if !g.cards.allow(key) {
		w.Header().Set("Retry-After", "5")
		WriteError(w, r, errRateLimited)
		return
	}
	g.send(w, r, topics.GiftCardCommands, key, giftcards.TypeBalance, id, actor, giftcards.BalanceQuery{CardKey: key}, http.StatusOK)
}

// RefundRequest is the body of POST /v1/gift-cards/refunds.
type RefundRequest struct {
	RedemptionID string            `json:"redemption_id"`
	Amount       *giftcards.Amount `json:"amount,omitempty"`
	Reason       string            `json:"reason,omitempty"`
}

func (g *GiftCards) refund(w http.ResponseWriter, r *http.Request) {
	var req RefundRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	if strings.TrimSpace(req.RedemptionID) == "" {
		WriteError(w, r, topics.ErrInvalidRequest.Withf("redemption_id is required"))
		return
	}
	g.send(w, r, topics.GiftCardRedemptions, req.RedemptionID, giftcards.TypeRefund, id, actor,
		giftcards.RefundCommand{RedemptionID: req.RedemptionID, Amount: req.Amount, Reason: req.Reason}, http.StatusOK)
}

// TransferRequest is the body of POST /v1/gift-cards/transfers.
type TransferRequest struct {
	FromCode string           `json:"from_code"`
	ToCode   string           `json:"to_code"`
	Amount   giftcards.Amount `json:"amount"`
}

func (g *GiftCards) transfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	from, ok := g.key(w, r, req.FromCode)
	if !ok {
		return
	}
	to, ok := g.key(w, r, req.ToCode)
	if !ok {
		return
	}
	g.send(w, r, topics.GiftCardCommands, from, giftcards.TypeTransfer, id, actor,
		giftcards.TransferCommand{CardKey: from, ToKey: to, Amount: req.Amount}, http.StatusOK)
}

// VoidRequest is the body of POST /v1/gift-cards/void.
type VoidRequest struct {
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	AdminID string `json:"admin_id"`
}

var errAdminOnly = topics.NewError(topics.CodeForbidden, "an admin credential is required")

// admin checks the bearer token in constant time (both sides hashed to a
// fixed length first, so not even the length leaks).
func (g *GiftCards) admin(r *http.Request) bool {
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := subtle.ConstantTimeCompare(got[:], g.cfg.adminToken[:]) == 1
	return found && g.cfg.hasAdmin && match
}

func (g *GiftCards) void(w http.ResponseWriter, r *http.Request) {
	if !g.admin(r) {
		WriteError(w, r, errAdminOnly)
		return
	}
	var req VoidRequest
	id, _, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	key, ok := g.key(w, r, req.Code)
	if !ok {
		return
	}
	g.send(w, r, topics.GiftCardCommands, key, giftcards.TypeVoid, id, topics.Actor{ID: req.AdminID, Type: topics.ActorStaff},
		giftcards.VoidCommand{CardKey: key, Reason: req.Reason, AdminID: req.AdminID}, http.StatusOK)
}

// HoldRequest is the body of POST /v1/gift-cards/holds and of capture and
// release (which take the hold ID from the path).
type HoldRequest struct {
	Code      string            `json:"code"`
	OrderID   string            `json:"order_id,omitempty"`
	Amount    *giftcards.Amount `json:"amount,omitempty"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	Reason    string            `json:"reason,omitempty"`
}

func (g *GiftCards) authorize(w http.ResponseWriter, r *http.Request) {
	var req HoldRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	key, ok := g.key(w, r, req.Code)
	if !ok {
		return
	}
	if req.Amount == nil {
		WriteError(w, r, topics.ErrInvalidAmount.Withf("amount is required"))
		return
	}
	g.send(w, r, topics.GiftCardCommands, key, giftcards.TypeAuthorize, id, actor,
		giftcards.AuthorizeCommand{CardKey: key, OrderID: req.OrderID, Amount: *req.Amount, ExpiresAt: req.ExpiresAt}, http.StatusCreated)
}

func (g *GiftCards) capture(w http.ResponseWriter, r *http.Request) {
	var req HoldRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	key, ok := g.key(w, r, req.Code)
	if !ok {
		return
	}
	g.send(w, r, topics.GiftCardCommands, key, giftcards.TypeCapture, id, actor,
		giftcards.CaptureCommand{CardKey: key, HoldID: r.PathValue("id"), Amount: req.Amount}, http.StatusOK)
}

func (g *GiftCards) release(w http.ResponseWriter, r *http.Request) {
	var req HoldRequest
	id, actor, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	key, ok := g.key(w, r, req.Code)
	if !ok {
		return
	}
	g.send(w, r, topics.GiftCardCommands, key, giftcards.TypeRelease, id, actor,
		giftcards.ReleaseCommand{CardKey: key, HoldID: r.PathValue("id"), Reason: req.Reason}, http.StatusOK)
}

// limiters keeps one token bucket per client or card, forgetting those
// idle for ten minutes.
type limiters struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiters(limit rate.Limit, burst int) *limiters {
	return &limiters{limit: limit, burst: burst, m: make(map[string]*limiterEntry)}
}

func (l *limiters) allow(id string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, e := range l.m {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	e := l.m[id]
	if e == nil {
		e = &limiterEntry{l: rate.NewLimiter(l.limit, l.burst)}
		l.m[id] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}

// BulkRequest is the body of POST /v1/gift-cards/bulk.
type BulkRequest struct {
	Count     int              `json:"count"`
	Amount    giftcards.Amount `json:"amount"`
	Currency  string           `json:"currency"`
	Prefix    string           `json:"prefix"`
	ExpiresAt *time.Time       `json:"expires_at,omitempty"`
}

// BulkStatus is the body of GET /v1/gift-cards/bulk/{id}. Codes are in it
// exactly once: in the first answer after the job finished; later answers
// say CodesDelivered.
type BulkStatus struct {
	JobID   string `json:"job_id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Created int    `json:"created"`
	Failed  int    `json:"failed"`
	// Pending counts cards whose creation was produced but whose result did
	// not come within the job's wait: their codes are delivered too, marked
	// pending, since they are stored nowhere else.
	Pending        int           `json:"pending"`
	Errors         []string      `json:"errors,omitempty"`
	Codes          []BulkCard    `json:"codes,omitempty"`
	CodesDelivered bool          `json:"codes_delivered"`
	StatusURL      string        `json:"status_url"`
	Elapsed        time.Duration `json:"elapsed_ns"`
}

// BulkCard is one card of a bulk job: created, or, with Pending, one whose
// result was late (whether it was created is at /v1/commands/{CommandID}).
type BulkCard struct {
	Code      string `json:"code"`
	CardKey   string `json:"card_key"`
	Pending   bool   `json:"pending,omitempty"`
	CommandID string `json:"command_id,omitempty"`
}

type bulkJob struct {
	mu        sync.Mutex
	status    BulkStatus
	codes     []BulkCard
	started   time.Time
	finished  time.Time // zero while running
	delivered bool
}

func (g *GiftCards) bulkCreate(w http.ResponseWriter, r *http.Request) {
	if !g.admin(r) {
		WriteError(w, r, errAdminOnly)
		return
	}
	var req BulkRequest
	id, _, ok := g.request(w, r, &req)
	if !ok {
		return
	}
	if req.Count < 1 || req.Count > g.cfg.bulkMax {
		WriteError(w, r, topics.ErrInvalidRequest.Withf("count must be between 1 and %d", g.cfg.bulkMax))
		return
	}
	if req.Prefix == "" {
		req.Prefix = giftcards.BulkPrefix
	}
	if req.Currency == "" {
		req.Currency = "USD"
	}
	if _, err := topics.Positive(req.Amount.Decimal, req.Currency); err != nil {
		WriteError(w, r, err)
		return
	}
	if _, err := g.codes.Generate(req.Prefix, 0); err != nil {
		WriteError(w, r, err)
		return
	}
	g.mu.Lock()
	if job, exists := g.jobs[id]; exists {
		g.mu.Unlock()
		WriteJSON(w, http.StatusAccepted, job.snapshot(false))
		return
	}
	job := &bulkJob{started: time.Now(), status: BulkStatus{JobID: id, Status: "running", Total: req.Count, StatusURL: "/v1/gift-cards/bulk/" + id}}
	g.jobs[id] = job
	g.mu.Unlock()
	go g.runBulk(job, id, req)
	w.Header().Set("Location", job.status.StatusURL)
	WriteJSON(w, http.StatusAccepted, job.snapshot(false))
}

// runBulk creates the cards in the background, several at a time. Each
// card's command ID derives from the job ID and its index.
func (g *GiftCards) runBulk(job *bulkJob, id string, req BulkRequest) {
	actor := topics.Actor{ID: "bulk:" + id, Type: topics.ActorStaff}
	sem := make(chan struct{}, g.cfg.bulkParallel)
	var wg sync.WaitGroup
	for i := 0; i < req.Count; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), g.cfg.bulkSubmitWait)
			defer cancel()
			cmdID := giftcards.DeriveID("bulk", id, itoa(i))
			code, res, err := g.createOne(ctx, cmdID, actor, req.Prefix, CreateRequest{Amount: req.Amount, Currency: req.Currency,
				PurchaserID: "bulk:" + id, ExpiresAt: req.ExpiresAt}, id)
			job.mu.Lock()
			defer job.mu.Unlock()
			if errors.Is(err, topics.ErrResultPending) {
				key, _, _ := g.codes.Key(code)
				job.status.Pending++
				job.codes = append(job.codes, BulkCard{Code: code, CardKey: key, Pending: true, CommandID: cmdID})
				return
			}
			if err != nil {
				job.status.Failed++
				if len(job.status.Errors) < 10 {
					job.status.Errors = append(job.status.Errors, topics.AsError(err).Code)
				}
				return
			}
			var summary giftcards.CardSummary
			_ = json.Unmarshal(res.Result, &summary)
			job.status.Created++
			job.codes = append(job.codes, BulkCard{Code: code, CardKey: summary.CardKey})
		}()
	}
	wg.Wait()
	job.mu.Lock()
	job.status.Status = "completed"
	if job.status.Failed > 0 || job.status.Pending > 0 {
		job.status.Status = "completed_with_errors"
	}
	job.finished = time.Now()
	job.mu.Unlock()
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// snapshot returns the job's progress; with deliver, a finished job's codes
// are handed out (once) and forgotten.
func (j *bulkJob) snapshot(deliver bool) BulkStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.status
	s.Errors = append([]string(nil), s.Errors...)
	s.Elapsed = time.Since(j.started)
	if !j.finished.IsZero() {
		s.Elapsed = j.finished.Sub(j.started)
	}
	if deliver && s.Status != "running" && !j.delivered {
		s.Codes, j.codes, j.delivered = j.codes, nil, true
	}
	s.CodesDelivered = j.delivered
	return s
}

func (g *GiftCards) bulkStatus(w http.ResponseWriter, r *http.Request) {
	if !g.admin(r) {
		WriteError(w, r, errAdminOnly)
		return
	}
	g.mu.Lock()
	job := g.jobs[r.PathValue("id")]
	g.mu.Unlock()
	if job == nil {
		WriteError(w, r, topics.ErrNotFound.Withf("no bulk job %s", r.PathValue("id")))
		return
	}
	WriteJSON(w, http.StatusOK, job.snapshot(true))
}
