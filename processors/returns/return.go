package returns

import (
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Refund methods (ReturnRequest::REFUND_METHODS of the seed).
const (
	RefundOriginalPayment = "original_payment"
	RefundStoreCredit     = "store_credit"
	RefundGiftCard        = "gift_card"
	RefundExchange        = "exchange"
)

// RefundMethods lists every refund method.
var RefundMethods = []string{RefundOriginalPayment, RefundStoreCredit, RefundGiftCard, RefundExchange}

// Receipt is one batch of units of a line received at the warehouse.
type Receipt struct {
	Quantity        int       `json:"quantity"`
	ActualCondition string    `json:"actual_condition"`
	Notes           string    `json:"notes,omitempty"`
	ReceivedBy      string    `json:"received_by,omitempty"`
	At              time.Time `json:"at"`
}

// ReturnItem is one line of a return (ReturnItem of the seed), with the
// order line's figures copied when the return was accepted.
type ReturnItem struct {
	LineItemID        string          `json:"line_item_id"`
	ProductID         string          `json:"product_id"`
	SKU               string          `json:"sku,omitempty"`
	Category          string          `json:"category"`
	QuantityPurchased int             `json:"quantity_purchased"`
	QuantityPrior     int             `json:"quantity_prior"`
	UnitPrice         decimal.Decimal `json:"unit_price"`
	LineDiscount      decimal.Decimal `json:"line_discount"`
	LineTax           decimal.Decimal `json:"line_tax"`
	QuantityRequested int             `json:"quantity_requested"`
	ExpectedCondition string          `json:"expected_condition"`
	Receipts          []Receipt       `json:"receipts,omitempty"`
}

// QuantityReceived is the number of units received so far.
func (it ReturnItem) QuantityReceived() int {
	n := 0
	for _, r := range it.Receipts {
		n += r.Quantity
	}
	return n
}

// Restockable is the number of received units found sellable.
func (it ReturnItem) Restockable() int {
	n := 0
	for _, r := range it.Receipts {
		if r.ActualCondition == ActualSellable {
			n += r.Quantity
		}
	}
	return n
}

// ShippingLabel is a return shipping label (ShippingLabel of the seed).
type ShippingLabel struct {
	LabelID        string    `json:"label_id"`
	URL            string    `json:"url"`
	TrackingNumber string    `json:"tracking_number"`
	Carrier        string    `json:"carrier"`
	CreatedAt      time.Time `json:"created_at"`
}

// Notification is one customer notification the return asked for.
type Notification struct {
	ID       string `json:"id"`
	Template string `json:"template"`
	Attempts int    `json:"attempts"`
	// Status is requested, delivered or failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Saga is the completion saga's progress.
type Saga struct {
	// CompleteCommandID is the complete command waiting for its final result.
	CompleteCommandID string `json:"complete_command_id,omitempty"`
	// RefundKey is the idempotency key the refund is paid under: the same
	// for every attempt, so a refund is never paid twice.
	RefundKey       string `json:"refund_key,omitempty"`
	RefundAttempts  int    `json:"refund_attempts,omitempty"`
	RefundRequestID string `json:"refund_request_id,omitempty"`
	// RefundRequestedAt is when the outstanding refund request was sent
	// (the saga timeout counts from it).
	RefundRequestedAt   time.Time `json:"refund_requested_at"` // left out while zero (sagaJSON)
	RefundTransactionID string    `json:"refund_transaction_id,omitempty"`
	RefundError         string    `json:"refund_error,omitempty"`
	Refunded            bool      `json:"refunded,omitempty"`
	// GiftCardLast4 names the store-credit card issued (never its code).
	GiftCardLast4    string `json:"gift_card_last4,omitempty"`
	ReplacementOrder string `json:"replacement_order,omitempty"`
	RestockAttempts  int    `json:"restock_attempts,omitempty"`
	RestockRequestID string `json:"restock_request_id,omitempty"`
	// RestockRequestedAt is when the outstanding restock request was sent.
	RestockRequestedAt time.Time `json:"restock_requested_at"` // left out while zero (sagaJSON)
	RestockError       string    `json:"restock_error,omitempty"`
	Restocked          bool      `json:"restocked,omitempty"`
	LabelRequestID     string    `json:"label_request_id,omitempty"`
	LabelRequests      int       `json:"label_requests,omitempty"`
	// LabelRequestedAt is when the last label request was sent (the saga
	// timeout counts from it); zero in records written before labels
	// had a timeout.
	LabelRequestedAt time.Time `json:"label_requested_at"` // left out while zero (sagaJSON)
	// LabelAnswered is set once the last label request got its reply or
	// timed out; LabelTimedOut when it timed out (a late success is still
	// taken: the carrier made the label).
	LabelAnswered bool   `json:"label_answered,omitempty"`
	LabelTimedOut bool   `json:"label_timed_out,omitempty"`
	LabelError    string `json:"label_error,omitempty"`
	// Released is true once unclaimed units went back to the order.
	Released      bool           `json:"released,omitempty"`
	Notifications []Notification `json:"notifications,omitempty"`
}

// Return is a return request (ReturnRequest of the seed): the value the
// return processor keeps per return ID.
type Return struct {
	ID          string       `json:"id"`
	OrderID     string       `json:"order_id"`
	CustomerID  string       `json:"customer_id"`
	Currency    string       `json:"currency"`
	Status      State        `json:"status"`
	Reason      string       `json:"reason"`
	Description string       `json:"description,omitempty"`
	Images      []string     `json:"images,omitempty"`
	Items       []ReturnItem `json:"items"`
	// Shipping is the shipping amount this return refunds by rule, and
	// ShippingRule which rule granted it.
	Shipping     decimal.Decimal `json:"shipping"`
	ShippingRule string          `json:"shipping_rule,omitempty"`
	Payments     []Payment       `json:"payments,omitempty"`

	RefundMethod          string           `json:"refund_method,omitempty"`
	RefundOverride        *decimal.Decimal `json:"refund_override,omitempty"`
	RestockingFeeOverride *decimal.Decimal `json:"restocking_fee_override,omitempty"`
	FinalRefundOverride   *decimal.Decimal `json:"final_refund_override,omitempty"`
	ApprovalNotes         string           `json:"approval_notes,omitempty"`
	EstimatedRefund       *RefundBreakdown `json:"estimated_refund,omitempty"`
	ActualRefund          *RefundBreakdown `json:"actual_refund,omitempty"`
	ShippingLabel         *ShippingLabel   `json:"shipping_label,omitempty"`

	ApprovedBy         string     `json:"approved_by,omitempty"`
	ApprovedAt         *time.Time `json:"approved_at,omitempty"`
	ShippedAt          *time.Time `json:"shipped_at,omitempty"`
	ReceivedAt         *time.Time `json:"received_at,omitempty"`
	CompletedAt        *time.Time `json:"completed_at,omitempty"`
	RejectedAt         *time.Time `json:"rejected_at,omitempty"`
	RejectionReason    string     `json:"rejection_reason,omitempty"`
	CancelledAt        *time.Time `json:"cancelled_at,omitempty"`
	CancellationReason string     `json:"cancellation_reason,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`

	Saga  Saga         `json:"saga"`
	Audit []AuditEntry `json:"audit"`
	// AuditPublished is how many audit entries the return's events have
	// carried so far (Summary.Audit, Publish): the processor's
	// bookkeeping, kept in its table row (rowcodec.go), not part of the
	// return's JSON form (GET /v1/returns/{id}). The JSON rows of earlier
	// versions carry it as "audit_published" (decodeJSONRecord reads it).
	AuditPublished int `json:"-"`
}

// Clone returns a deep copy of r, so that a failed action leaves r as it
// was. It copies field by field (every action clones the return, and a JSON
// round trip was a quarter of the return processor's CPU): a field added to
// Return that holds a slice, map or pointer must be copied here too
// (TestCloneSharesNothing fails otherwise). Decimals are immutable values
// and are shared.
func (r *Return) Clone() *Return {
	c := *r
	c.Images = slices.Clone(r.Images)
	c.Items = slices.Clone(r.Items)
	for i := range c.Items {
		c.Items[i].Receipts = slices.Clone(r.Items[i].Receipts)
	}
	c.Payments = slices.Clone(r.Payments)
	c.RefundOverride = clonePtr(r.RefundOverride)
	c.RestockingFeeOverride = clonePtr(r.RestockingFeeOverride)
	c.FinalRefundOverride = clonePtr(r.FinalRefundOverride)
	c.EstimatedRefund = r.EstimatedRefund.clone()
	c.ActualRefund = r.ActualRefund.clone()
	c.ShippingLabel = clonePtr(r.ShippingLabel)
	c.ApprovedAt = clonePtr(r.ApprovedAt)
	c.ShippedAt = clonePtr(r.ShippedAt)
	c.ReceivedAt = clonePtr(r.ReceivedAt)
	c.CompletedAt = clonePtr(r.CompletedAt)
	c.RejectedAt = clonePtr(r.RejectedAt)
	c.CancelledAt = clonePtr(r.CancelledAt)
	c.Saga.Notifications = slices.Clone(r.Saga.Notifications)
	// Audit metadata are immutable bytes (set once when an entry is
	// appended, never changed in place): the entries are copied, their
	// metadata shared. Room for the entries an action appends (one or
	// two), so that appending does not copy the trail a second time.
	if r.Audit != nil {
		c.Audit = append(make([]AuditEntry, 0, len(r.Audit)+2), r.Audit...)
	}
	return &c
}

func (b *RefundBreakdown) clone() *RefundBreakdown {
	if b == nil {
		return nil
	}
	c := *b
	c.Lines = slices.Clone(b.Lines)
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Item returns the return's item for a line.
func (r *Return) Item(lineItemID string) (*ReturnItem, bool) {
	for i := range r.Items {
		if r.Items[i].LineItemID == lineItemID {
			return &r.Items[i], true
		}
	}
	return nil, false
}

// QuantityReceived is the total of units received.
func (r *Return) QuantityReceived() int {
	n := 0
	for _, it := range r.Items {
		n += it.QuantityReceived()
	}
	return n
}

// Meta is the context of an action: when it happened (the message time),
// who did it, the command ID and the policy.
type Meta struct {
	At        time.Time
	Actor     topics.Actor
	CommandID string
	Policy    *Policy
}

// Peer names the other services a return talks to.
type Peer string

// Services a return sends requests to.
const (
	ServicePayments      Peer = "payments"
	ServiceGiftCards     Peer = "gift_cards"
	ServiceInventory     Peer = "inventory"
	ServiceLabels        Peer = "shipping_labels"
	ServiceNotifications Peer = "notifications"
	// ServiceOrders receives replacement-order requests (exchange).
	ServiceOrders Peer = "orders"
	// ServiceOrderReturns is this domain's order processor: it gets back
	// units a return no longer claims.
	ServiceOrderReturns Peer = "order_returns"
)

// Request is a message to another service that the saga sends.
type Request struct {
	Service Peer
	// Type is the request's message type ("payments.refund").
	Type string
	// ID identifies the request; the reply names it.
	ID   string
	Data any
}

// Event is an event the return publishes (return.approved ...).
type Event struct {
	Type string
	Data any
}

// Final is the final result of a command whose first result was pending
// (complete): Result on success or Err.
type Final struct {
	CommandID string
	Result    any
	Err       error
}

// Outcome is what an action produced besides the new state.
type Outcome struct {
	// Result answers the command (nil for saga replies).
	Result any
	// Pending marks Result as a first answer; a Final follows.
	Pending  bool
	Events   []Event
	Requests []Request
	Final    *Final
}

func (o *Outcome) event(typ string, data any) { o.Events = append(o.Events, Event{typ, data}) }
func (o *Outcome) request(rq Request)         { o.Requests = append(o.Requests, rq) }
func (o *Outcome) merge(p Outcome) {
	o.Events = append(o.Events, p.Events...)
	o.Requests = append(o.Requests, p.Requests...)
	o.mergeFinal(p)
}
func (o *Outcome) mergeFinal(p Outcome) {
	if p.Final != nil {
		o.Final = p.Final
	}
}
func timePtr(t time.Time) *time.Time { t = t.UTC(); return &t }

// Summary is the payload of every return.* event.
type Summary struct {
	ReturnID   string `json:"return_id"`
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	// Seq orders the events of one return: the length of its audit trail
	// when the event was published (it only grows). Events published by
	// one action share it.
	Seq          int64            `json:"seq"`
	Status       State            `json:"status"`
	Reason       string           `json:"reason"`
	Description  string           `json:"description,omitempty"`
	RefundMethod string           `json:"refund_method,omitempty"`
	Items        []SummaryItem    `json:"items"`
	Refund       *RefundBreakdown `json:"refund,omitempty"`
	// ShippingLabelURL and TrackingNumber are the return label's, once the
	// shipping service made one.
	ShippingLabelURL string `json:"shipping_label_url,omitempty"`
	TrackingNumber   string `json:"tracking_number,omitempty"`
	// Audit are the audit entries appended since the return's previous
	// event (the first event: since the start), in order: the actions that
	// publish no event of their own (ship, inspect, label, refund and
	// restock steps, notifications) travel with the next one. Entries
	// appended after the last event a return publishes are in the
	// return's trail (GET /v1/returns/{id}) only.
	Audit []AuditEntry `json:"audit,omitempty"`
}

// SummaryItem is one line in a Summary.
type SummaryItem struct {
	LineItemID        string `json:"line_item_id"`
	ProductID         string `json:"product_id"`
	QuantityRequested int    `json:"quantity_requested"`
	QuantityReceived  int    `json:"quantity_received"`
	ExpectedCondition string `json:"expected_condition,omitempty"`
	// ActualCondition is the condition of the latest units received
	// ("" before any); Restockable (nil before any receipt) whether any
	// received unit was found sellable and goes back to stock.
	ActualCondition string `json:"actual_condition,omitempty"`
	Restockable     *bool  `json:"restockable,omitempty"`
	// UnitRefund is the refund per unit of the line: the refund's lines for
	// it over their units, rounded to the currency's minor units (nil
	// without a refund figure).
	UnitRefund *decimal.Decimal `json:"unit_refund,omitempty"`
	// Notes are the receipts' notes, in order, joined by "; ".
	Notes string `json:"notes,omitempty"`

	// places1 is one more than the minor units UnitRefund renders with
	// (MarshalJSON); 0, as in a decoded item, renders the plain decimal.
	places1 int32
}

// Summary describes r for an event (without audit entries: Publish adds
// those).
func (r *Return) Summary() Summary {
	s := Summary{ReturnID: r.ID, OrderID: r.OrderID, CustomerID: r.CustomerID, Seq: int64(len(r.Audit)), Status: r.Status,
		Reason: r.Reason, Description: r.Description, RefundMethod: r.RefundMethod, Refund: r.ActualRefund}
	if s.Refund == nil {
		s.Refund = r.EstimatedRefund
	}
	if l := r.ShippingLabel; l != nil {
		s.ShippingLabelURL, s.TrackingNumber = l.URL, l.TrackingNumber
	}
	var places1 int32
	if units, err := topics.MinorUnits(r.Currency); err == nil {
		places1 = units + 1
	}
	for _, it := range r.Items {
		si := SummaryItem{LineItemID: it.LineItemID, ProductID: it.ProductID, QuantityRequested: it.QuantityRequested,
			QuantityReceived: it.QuantityReceived(), ExpectedCondition: it.ExpectedCondition, places1: places1}
		var notes []string
		for _, rc := range it.Receipts {
			si.ActualCondition = rc.ActualCondition
			if rc.Notes != "" {
				notes = append(notes, rc.Notes)
			}
		}
		si.Notes = strings.Join(notes, "; ")
		if len(it.Receipts) > 0 {
			restockable := it.Restockable() > 0
			si.Restockable = &restockable
		}
		si.UnitRefund = s.Refund.unitRefund(it.LineItemID, r.Currency)
		s.Items = append(s.Items, si)
	}
	return s
}

// unitRefund is b's refund per unit of a line (nil when b has no units of
// it).
func (b *RefundBreakdown) unitRefund(lineItemID, currency string) *decimal.Decimal {
	if b == nil {
		return nil
	}
	total, n := decimal.Zero, 0
	for _, l := range b.Lines {
		if l.LineItemID == lineItemID {
			total, n = total.Add(l.Total), n+l.Quantity
		}
	}
	if n == 0 {
		return nil
	}
	u, err := topics.Round(total.Div(decimal.NewFromInt(int64(n))), currency)
	if err != nil {
		return nil
	}
	return &u
}

// Publish returns the summary an event about r carries, with the audit
// entries no earlier event carried (Summary.Audit: those after the first
// AuditPublished, none when every entry was carried), and marks them
// carried (AuditPublished becomes the trail's length). Every return.*
// event the return processor publishes takes its payload from it; what
// produces the processor's events elsewhere (benchmarks, tools) calls it
// too, so that it carries the same entries.
func (r *Return) Publish() Summary {
	s := r.Summary()
	if r.AuditPublished < len(r.Audit) {
		s.Audit = slices.Clone(r.Audit[r.AuditPublished:])
	}
	r.AuditPublished = len(r.Audit)
	return s
}

// refundInput builds the calculator's input: requested units at their
// expected condition before receipt, received units at their actual
// condition after.
func (r *Return) refundInput(received bool) RefundInput {
	in := RefundInput{Currency: r.Currency, Reason: r.Reason, Shipping: decimal.Zero,
		RestockingFee: r.RestockingFeeOverride}
	for _, it := range r.Items {
		base := RefundItem{LineItemID: it.LineItemID, Category: it.Category, QuantityPurchased: it.QuantityPurchased,
			UnitPrice: it.UnitPrice, LineDiscount: it.LineDiscount, LineTax: it.LineTax,
			QuantityPrior: it.QuantityPrior, ExpectedCondition: it.ExpectedCondition}
		if !received {
			base.Quantity = it.QuantityRequested
			in.Items = append(in.Items, base)
			continue
		}
		for _, rc := range it.Receipts {
			if rc.Quantity == 0 {
				continue
			}
			p := base
			p.Quantity, p.ActualCondition = rc.Quantity, rc.ActualCondition
			in.Items = append(in.Items, p)
			base.QuantityPrior += rc.Quantity
		}
	}
	// Shipping granted because the whole order came back needs every
	// requested unit back; merchant fault does not.
	if r.ShippingRule == ShippingRuleMerchantFault || !received || r.allReceived() {
		in.Shipping = r.Shipping
	}
	return in
}

func (r *Return) allReceived() bool {
	for _, it := range r.Items {
		if it.QuantityReceived() < it.QuantityRequested {
			return false
		}
	}
	return true
}

// Shipping rules recorded on a return.
const (
	ShippingRuleWholeOrder    = "whole_order_returned"
	ShippingRuleMerchantFault = "merchant_fault"
)

// Command is an action on an existing return.
type Command interface {
	// Action names the state machine's event.
	Action() Action
	apply(r *Return, m Meta) (Outcome, error)
}

// Apply applies c to a copy of r at m.At, if m.Actor may (Authorize,
// checked before anything else: a forbidden actor learns nothing of the
// state). On success it returns the new return and what the action
// produced; on error r is unchanged and nothing is produced. Every applied action appends one audit entry or more.
func Apply(r *Return, c Command, m Meta) (*Return, Outcome, error) {
	if r == nil {
		return nil, Outcome{}, ErrReturnNotFound.Withf("return not found")
	}
	m.Actor = actorOrDefault(m.Actor)
	if m.Policy == nil {
		m.Policy = DefaultPolicy()
	}
	if err := Authorize(c.Action(), m.Actor, r.CustomerID); err != nil {
		return r, Outcome{}, err
	}
	next := r.Clone()
	out, err := c.apply(next, m)
	if err != nil {
		return r, Outcome{}, err
	}
	if err := VerifyAppendOnly(r.Audit, next.Audit); err != nil {
		return r, Outcome{}, err
	}
	next.UpdatedAt = m.At.UTC()
	return next, out, nil
}

// transition moves r by action, appending the audit entry.
func (r *Return) transition(m Meta, a Action, md map[string]any) error {
	to, err := Next(r.Status, a)
	if err != nil {
		return err
	}
	prev := r.Status
	r.Status = to
	r.appendAudit(m, a, prev, md)
	return nil
}

func validReason(reason string) error {
	if !slices.Contains(Reasons, reason) {
		return topics.ErrInvalidRequest.Withf("reason %q is not one of %v", reason, Reasons).With("reason", reason)
	}
	return nil
}
