package returns

import (
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Result objects of the seed.

// ReturnRequest answers initiate: the created return.
type ReturnRequest struct {
	ID              string           `json:"id"`
	OrderID         string           `json:"order_id"`
	CustomerID      string           `json:"customer_id"`
	Status          State            `json:"status"`
	Items           []ReturnItem     `json:"items"`
	Reason          string           `json:"reason"`
	EstimatedRefund *RefundBreakdown `json:"estimated_refund,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`

	currency string // renders the items' prices (MarshalJSON)
}

// Request describes r as the seed's ReturnRequest.
func (r *Return) Request() ReturnRequest {
	return ReturnRequest{ID: r.ID, OrderID: r.OrderID, CustomerID: r.CustomerID, Status: r.Status,
		Items: r.Items, Reason: r.Reason, EstimatedRefund: r.EstimatedRefund, CreatedAt: r.CreatedAt, currency: r.Currency}
}

// ApprovalResult answers approve. The shipping label is requested from the
// shipping service at approval; it is set on the return when it arrives.
type ApprovalResult struct {
	ReturnID        string          `json:"return_id"`
	ApprovedAt      time.Time       `json:"approved_at"`
	ShippingLabel   *ShippingLabel  `json:"shipping_label,omitempty"`
	LabelStatus     string          `json:"label_status"`
	Instructions    string          `json:"instructions"`
	EstimatedRefund RefundBreakdown `json:"estimated_refund"`
}

// ItemStatus is one line's receipt status in a ReceiptResult.
type ItemStatus struct {
	LineItemID        string    `json:"line_item_id"`
	QuantityRequested int       `json:"quantity_requested"`
	QuantityReceived  int       `json:"quantity_received"`
	Receipts          []Receipt `json:"receipts"`
	Restockable       int       `json:"restockable"`
	Complete          bool      `json:"complete"`
}

// ConditionAdjustment is what an actual condition took off a line.
type ConditionAdjustment struct {
	LineItemID      string          `json:"line_item_id"`
	ActualCondition string          `json:"actual_condition"`
	Quantity        int             `json:"quantity"`
	Factor          decimal.Decimal `json:"factor"`
}

// ReceiptResult answers receive_items.
type ReceiptResult struct {
	ReturnID             string                `json:"return_id"`
	Status               State                 `json:"status"`
	ItemsStatus          []ItemStatus          `json:"items_status"`
	ConditionAdjustments []ConditionAdjustment `json:"condition_adjustments"`
	AdjustedRefund       RefundBreakdown       `json:"adjusted_refund"`
}

// InventoryUpdate is one product put back into stock.
type InventoryUpdate struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku,omitempty"`
	Quantity  int    `json:"quantity"`
	Status    string `json:"status"`
}

// CompletionResult answers complete once the saga has finished.
type CompletionResult struct {
	ReturnID            string            `json:"return_id"`
	Status              State             `json:"status"`
	RefundTransactionID string            `json:"refund_transaction_id,omitempty"`
	RefundAmount        topics.Money      `json:"refund_amount"`
	RefundMethod        string            `json:"refund_method"`
	Refund              RefundBreakdown   `json:"refund"`
	GiftCardLast4       string            `json:"gift_card_last4,omitempty"`
	ReplacementOrder    string            `json:"replacement_order,omitempty"`
	InventoryUpdates    []InventoryUpdate `json:"inventory_updates"`
}

// StatusResult answers commands whose seed result is a boolean (reject,
// cancel) and the other simple actions.
type StatusResult struct {
	ReturnID string `json:"return_id"`
	Status   State  `json:"status"`
	OK       bool   `json:"ok"`
}

// Payloads of requests to other services.

// RefundRequest asks payments to refund (payments.refund) or the gift card
// service to issue store credit (gift_card.issue).
type RefundRequest struct {
	RequestID string `json:"request_id"`
	// RefundKey is the same for every attempt of one return's refund: the
	// payment service pays a key at most once.
	RefundKey  string       `json:"refund_key"`
	ReturnID   string       `json:"return_id"`
	OrderID    string       `json:"order_id"`
	CustomerID string       `json:"customer_id"`
	Method     string       `json:"method"`
	Amount     topics.Money `json:"amount"`
	Payments   []Payment    `json:"payments,omitempty"`
	Attempt    int          `json:"attempt"`
}

// ReplacementItem is one line of a replacement order.
type ReplacementItem struct {
	LineItemID string `json:"line_item_id"`
	ProductID  string `json:"product_id"`
	SKU        string `json:"sku,omitempty"`
	Quantity   int    `json:"quantity"`
}

// ReplacementOrderRequest asks the orders service for a replacement order
// (exchange), paid by the return's value.
type ReplacementOrderRequest struct {
	RequestID  string            `json:"request_id"`
	ReturnID   string            `json:"return_id"`
	OrderID    string            `json:"order_id"`
	CustomerID string            `json:"customer_id"`
	Items      []ReplacementItem `json:"items"`
	Credit     topics.Money      `json:"credit"`
}

// RestockRequest asks inventory to take sellable units back.
type RestockRequest struct {
	RequestID string `json:"request_id"`
	// RestockKey is the same for every attempt: inventory restocks a key
	// at most once.
	RestockKey string            `json:"restock_key"`
	ReturnID   string            `json:"return_id"`
	Items      []InventoryUpdate `json:"items"`
	Attempt    int               `json:"attempt"`
}

// LabelRequest asks the shipping service for a return label.
type LabelRequest struct {
	RequestID  string `json:"request_id"`
	ReturnID   string `json:"return_id"`
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Carrier    string `json:"carrier"`
	// Attempt numbers the return's label requests from 1 (0 in requests
	// sent before it existed).
	Attempt int `json:"attempt,omitempty"`
}

// NotificationRequest asks the notification service to tell the customer.
type NotificationRequest struct {
	NotificationID string         `json:"notification_id"`
	RequestID      string         `json:"request_id"`
	ReturnID       string         `json:"return_id"`
	UserID         string         `json:"user_id"`
	Template       string         `json:"template"`
	Data           map[string]any `json:"data,omitempty"`
	Attempt        int            `json:"attempt"`
}

// Request types.
const (
	RequestRefund       = "payments.refund"
	RequestStoreCredit  = "gift_card.issue"
	RequestReplacement  = "order.replacement_requested"
	RequestRestock      = "inventory.restock"
	RequestLabel        = "shipping.label_requested"
	RequestNotification = "notification.send"
	RequestRelease      = "return.release"
)

// Event types the return publishes.
const (
	EventInitiated = "return.initiated"
	EventApproved  = "return.approved"
	EventReceived  = "return.received"
	EventCompleted = "return.completed"
	EventRejected  = "return.rejected"
	EventCancelled = "return.cancelled"
	// EventActionRequired: the return is parked for a person
	// (refund_failed after every refund attempt, requires_action after
	// every restock attempt); its summary has the state and the trail.
	EventActionRequired = "return.action_required"
	EventRestocked      = "inventory.restocked"
)

// RestockedEvent is the payload of inventory.restocked.
type RestockedEvent struct {
	ReturnID string            `json:"return_id"`
	OrderID  string            `json:"order_id"`
	Items    []InventoryUpdate `json:"items"`
}

// Commands.

// Approve is ReturnsService#approve.
type Approve struct {
	RefundMethod string           `json:"refund_method"`
	RefundAmount *decimal.Decimal `json:"refund_amount,omitempty"`
	// RestockingFee is a fee decided by staff, replacing the policy's.
	RestockingFee *decimal.Decimal `json:"restocking_fee,omitempty"`
	Notes         string           `json:"notes,omitempty"`
	ApproverID    string           `json:"approver_id"`
}

// Action implements Command.
func (Approve) Action() Action { return ActionApprove }

func (c Approve) apply(r *Return, m Meta) (Outcome, error) {
	if !slices.Contains(RefundMethods, c.RefundMethod) {
		return Outcome{}, topics.ErrInvalidRequest.Withf("refund_method %q is not one of %v", c.RefundMethod, RefundMethods)
	}
	approver := c.ApproverID
	if approver == "" {
		approver = m.Actor.ID
	}
	if approver == "" {
		return Outcome{}, topics.ErrInvalidRequest.Withf("approve needs an approver_id")
	}
	for name, d := range map[string]*decimal.Decimal{"refund_amount": c.RefundAmount, "restocking_fee": c.RestockingFee} {
		if d == nil {
			continue
		}
		if d.IsNegative() {
			return Outcome{}, topics.ErrInvalidAmount.Withf("%s %s is negative", name, d)
		}
		if _, err := topics.NewMoney(*d, r.Currency); err != nil {
			return Outcome{}, err
		}
	}
	if err := r.transition(m, ActionApprove, nil); err != nil {
		return Outcome{}, err
	}
	r.RefundMethod, r.RefundOverride, r.RestockingFeeOverride = c.RefundMethod, c.RefundAmount, c.RestockingFee
	r.ApprovalNotes, r.ApprovedBy, r.ApprovedAt = c.Notes, approver, timePtr(m.At)
	in := r.refundInput(false)
	in.Override = c.RefundAmount
	est, err := RefundCalculator{m.Policy}.Calculate(in)
	if err != nil {
		return Outcome{}, err
	}
	r.EstimatedRefund = &est
	md := map[string]any{"refund_method": c.RefundMethod, "approver_id": approver,
		"estimated_refund": topics.AmountString(est.TotalRefund, est.Currency)}
	if c.Notes != "" {
		md["notes"] = c.Notes
	}
	if c.RefundAmount != nil {
		md["refund_amount"] = topics.AmountString(*c.RefundAmount, r.Currency)
	}
	if c.RestockingFee != nil {
		md["restocking_fee"] = topics.AmountString(*c.RestockingFee, r.Currency)
	}
	r.setLastMetadata(md)
	var out Outcome
	out.event(EventApproved, r.Publish())
	out.request(r.labelRequest(m))
	out.request(r.notify(m, "return_approved", map[string]any{"estimated_refund": topics.AmountString(est.TotalRefund, est.Currency)}))
	out.Result = ApprovalResult{ReturnID: r.ID, ApprovedAt: m.At.UTC(), LabelStatus: "requested",
		Instructions: fmt.Sprintf("Pack the items with return ID %s visible. A prepaid %s label will be emailed to you; drop the parcel off within 14 days.",
			r.ID, m.Policy.LabelCarrier),
		EstimatedRefund: est}
	return out, nil
}

// Reject is ReturnsService#reject.
type Reject struct {
	Reason     string `json:"reason"`
	RejectorID string `json:"rejector_id"`
}

// Action implements Command.
func (Reject) Action() Action { return ActionReject }

func (c Reject) apply(r *Return, m Meta) (Outcome, error) {
	if c.Reason == "" {
		return Outcome{}, topics.ErrInvalidRequest.Withf("reject needs a reason")
	}
	rejector := c.RejectorID
	if rejector == "" {
		rejector = m.Actor.ID
	}
	if err := r.transition(m, ActionReject, map[string]any{"reason": c.Reason, "rejector_id": rejector}); err != nil {
		return Outcome{}, err
	}
	r.RejectedAt, r.RejectionReason = timePtr(m.At), c.Reason
	var out Outcome
	out.event(EventRejected, r.Publish())
	out.request(r.release(nil))
	out.request(r.notify(m, "return_rejected", map[string]any{"reason": c.Reason}))
	out.Result = StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}
	return out, nil
}

// Cancel is ReturnsService#cancel: by the customer, before shipping.
type Cancel struct {
	Reason string `json:"reason,omitempty"`
}

// Action implements Command.
func (Cancel) Action() Action { return ActionCancel }

func (c Cancel) apply(r *Return, m Meta) (Outcome, error) {
	md := map[string]any{}
	if c.Reason != "" {
		md["reason"] = c.Reason
	}
	if err := r.transition(m, ActionCancel, md); err != nil {
		return Outcome{}, err
	}
	r.CancelledAt, r.CancellationReason = timePtr(m.At), c.Reason
	var out Outcome
	out.event(EventCancelled, r.Publish())
	out.request(r.release(nil))
	out.request(r.notify(m, "return_cancelled", nil))
	out.Result = StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}
	return out, nil
}

// Ship records that the customer handed the parcel to the carrier.
type Ship struct {
	TrackingNumber string `json:"tracking_number,omitempty"`
}

// Action implements Command.
func (Ship) Action() Action { return ActionShip }

func (c Ship) apply(r *Return, m Meta) (Outcome, error) {
	md := map[string]any{}
	if c.TrackingNumber != "" {
		md["tracking_number"] = c.TrackingNumber
	}
	if err := r.transition(m, ActionShip, md); err != nil {
		return Outcome{}, err
	}
	r.ShippedAt = timePtr(m.At)
	return Outcome{Result: StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}}, nil
}

// ReceivedItem is one line received at the warehouse.
type ReceivedItem struct {
	LineItemID       string `json:"line_item_id"`
	QuantityReceived int    `json:"quantity_received"`
	ActualCondition  string `json:"actual_condition"`
	Notes            string `json:"notes,omitempty"`
}

// ReceiveItems is ReturnsService#receive_items. Receipts may be partial
// and accumulate; a line can never receive more than was requested.
type ReceiveItems struct {
	Items      []ReceivedItem `json:"items_received"`
	ReceiverID string         `json:"receiver_id"`
}

// Action implements Command.
func (ReceiveItems) Action() Action { return ActionReceive }

func (c ReceiveItems) apply(r *Return, m Meta) (Outcome, error) {
	if _, err := Next(r.Status, ActionReceive); err != nil {
		return Outcome{}, err
	}
	if len(c.Items) == 0 {
		return Outcome{}, topics.ErrInvalidRequest.Withf("receive_items needs at least one item")
	}
	receiver := c.ReceiverID
	if receiver == "" {
		receiver = m.Actor.ID
	}
	total := 0
	for _, in := range c.Items {
		it, ok := r.Item(in.LineItemID)
		switch {
		case !ok:
			return Outcome{}, topics.ErrInvalidRequest.Withf("return %s has no line item %q", r.ID, in.LineItemID).
				With("line_item_id", in.LineItemID)
		case !slices.Contains(ActualConditions, in.ActualCondition):
			return Outcome{}, topics.ErrInvalidRequest.Withf("actual_condition %q is not one of %v", in.ActualCondition, ActualConditions).
				With("line_item_id", in.LineItemID)
		case in.QuantityReceived < 0:
			return Outcome{}, ErrInvalidQuantity.Withf("quantity_received %d is negative", in.QuantityReceived).
				With("line_item_id", in.LineItemID)
		case it.QuantityReceived()+in.QuantityReceived > it.QuantityRequested:
			return Outcome{}, ErrInvalidQuantity.
				Withf("line item %s: %d more received, %d already, %d requested", in.LineItemID, in.QuantityReceived, it.QuantityReceived(), it.QuantityRequested).
				With("line_item_id", in.LineItemID)
		}
		if in.QuantityReceived > 0 {
			it.Receipts = append(it.Receipts, Receipt{Quantity: in.QuantityReceived, ActualCondition: in.ActualCondition,
				Notes: in.Notes, ReceivedBy: receiver, At: m.At.UTC()})
		}
		total += in.QuantityReceived
	}
	if total == 0 {
		return Outcome{}, ErrInvalidQuantity.Withf("no units received")
	}
	if err := r.transition(m, ActionReceive, map[string]any{"receiver_id": receiver, "items_received": c.Items}); err != nil {
		return Outcome{}, err
	}
	r.ReceivedAt = timePtr(m.At)
	adj, err := r.actualRefund(m, nil)
	if err != nil {
		return Outcome{}, err
	}
	res := ReceiptResult{ReturnID: r.ID, Status: r.Status, AdjustedRefund: adj, ConditionAdjustments: []ConditionAdjustment{}}
	for _, it := range r.Items {
		res.ItemsStatus = append(res.ItemsStatus, ItemStatus{LineItemID: it.LineItemID, QuantityRequested: it.QuantityRequested,
			QuantityReceived: it.QuantityReceived(), Receipts: it.Receipts, Restockable: it.Restockable(),
			Complete: it.QuantityReceived() == it.QuantityRequested})
		for _, rc := range it.Receipts {
			if f := m.Policy.ConditionFactor(rc.ActualCondition, r.Reason); !f.Equal(decimal.NewFromInt(1)) {
				res.ConditionAdjustments = append(res.ConditionAdjustments, ConditionAdjustment{it.LineItemID, rc.ActualCondition, rc.Quantity, f})
			}
		}
	}
	var out Outcome
	out.event(EventReceived, r.Publish())
	out.Result = res
	return out, nil
}

// actualRefund computes the refund of the received units with overrides:
// final (an error when out of range) or the approval's (capped).
func (r *Return) actualRefund(m Meta, final *decimal.Decimal) (RefundBreakdown, error) {
	calc := RefundCalculator{m.Policy}
	in := r.refundInput(true)
	if final != nil {
		in.Override = final
		return calc.Calculate(in)
	}
	b, err := calc.Calculate(in)
	if err != nil || r.RefundOverride == nil {
		return b, err
	}
	o := *r.RefundOverride
	if max := b.ItemTotal.Add(b.TaxRefund).Add(b.ShippingRefund); o.GreaterThan(max) {
		o = max
	}
	in.Override = &o
	return calc.Calculate(in)
}

// Inspect moves a received return to inspecting.
type Inspect struct {
	Notes string `json:"notes,omitempty"`
}

// Action implements Command.
func (Inspect) Action() Action { return ActionInspect }

func (c Inspect) apply(r *Return, m Meta) (Outcome, error) {
	if err := r.transition(m, ActionInspect, map[string]any{"notes": c.Notes}); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}}, nil
}

// Complete is ReturnsService#complete: it starts the completion saga. The
// first result is pending; the final result follows when the refund and
// the restock are done (or the refund failed).
type Complete struct {
	FinalRefundAmount *decimal.Decimal `json:"final_refund_amount,omitempty"`
}

// Action implements Command.
func (Complete) Action() Action { return ActionComplete }

func (c Complete) apply(r *Return, m Meta) (Outcome, error) {
	if r.Status == StatePending || r.Status == StateApproved || r.Status == StateShipped {
		return Outcome{}, ErrItemsNotReceived.Withf("return %s is %s: no items have been received", r.ID, r.Status).
			With("status", string(r.Status))
	}
	if _, err := Next(r.Status, ActionComplete); err != nil {
		return Outcome{}, err
	}
	if c.FinalRefundAmount != nil {
		if _, err := topics.NewMoney(*c.FinalRefundAmount, r.Currency); err != nil {
			return Outcome{}, err
		}
	}
	b, err := r.actualRefund(m, c.FinalRefundAmount)
	if err != nil {
		return Outcome{}, err
	}
	md := map[string]any{"refund_amount": topics.AmountString(b.TotalRefund, b.Currency), "refund_method": r.RefundMethod}
	if c.FinalRefundAmount != nil {
		md["final_refund_amount"] = topics.AmountString(*c.FinalRefundAmount, r.Currency)
	}
	if err := r.transition(m, ActionComplete, md); err != nil {
		return Outcome{}, err
	}
	r.FinalRefundOverride, r.ActualRefund = c.FinalRefundAmount, &b
	r.Saga.CompleteCommandID = m.CommandID
	r.Saga.RefundKey = r.ID + ":refund"
	out := r.startRefund(m)
	out.Pending = true
	out.Result = StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}
	return out, nil
}

// RetryRefund restarts a failed refund (staff, from refund_failed).
type RetryRefund struct{}

// Action implements Command.
func (RetryRefund) Action() Action { return ActionRetryRefund }

func (RetryRefund) apply(r *Return, m Meta) (Outcome, error) {
	if err := r.transition(m, ActionRetryRefund, map[string]any{"previous_error": r.Saga.RefundError}); err != nil {
		return Outcome{}, err
	}
	r.Saga.CompleteCommandID, r.Saga.RefundAttempts, r.Saga.RefundError = m.CommandID, 0, ""
	out := r.startRefund(m)
	out.Pending = true
	out.Result = StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}
	return out, nil
}

// RetryRestock restarts a failed restock (staff, from requires_action).
type RetryRestock struct{}

// Action implements Command.
func (RetryRestock) Action() Action { return ActionRetryRestock }

func (RetryRestock) apply(r *Return, m Meta) (Outcome, error) {
	if err := r.transition(m, ActionRetryRestock, map[string]any{"previous_error": r.Saga.RestockError}); err != nil {
		return Outcome{}, err
	}
	r.Saga.CompleteCommandID, r.Saga.RestockAttempts, r.Saga.RestockError = m.CommandID, 0, ""
	out := r.startRestock(m)
	out.Pending = true
	out.Result = StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}
	return out, nil
}

// Resolve completes a return parked in requires_action after staff put the
// items back by hand.
type Resolve struct {
	Notes string `json:"notes"`
}

// Action implements Command.
func (Resolve) Action() Action { return ActionResolve }

func (c Resolve) apply(r *Return, m Meta) (Outcome, error) {
	if c.Notes == "" {
		return Outcome{}, topics.ErrInvalidRequest.Withf("resolve needs notes saying what was done")
	}
	if err := r.transition(m, ActionResolve, map[string]any{"notes": c.Notes}); err != nil {
		return Outcome{}, err
	}
	out := r.finish(m)
	out.Result = StatusResult{ReturnID: r.ID, Status: r.Status, OK: true}
	return out, nil
}

// GenerateLabel is ReturnsService#generate_shipping_label: it asks the
// shipping service for a (new) label; the label is set on the return when
// the reply arrives.
type GenerateLabel struct{}

// Action implements Command.
func (GenerateLabel) Action() Action { return ActionGenerateLabel }

func (GenerateLabel) apply(r *Return, m Meta) (Outcome, error) {
	if err := r.transition(m, ActionGenerateLabel, nil); err != nil {
		return Outcome{}, err
	}
	var out Outcome
	rq := r.labelRequest(m)
	r.setLastMetadata(map[string]any{"label_request_id": rq.ID})
	out.request(rq)
	out.Result = map[string]any{"return_id": r.ID, "label_status": "requested", "label_request_id": rq.ID,
		"shipping_label": r.ShippingLabel}
	return out, nil
}

func (r *Return) labelRequest(m Meta) Request {
	r.Saga.LabelRequests++
	r.Saga.LabelRequestID = fmt.Sprintf("%s:label:%d", r.ID, r.Saga.LabelRequests)
	r.Saga.LabelRequestedAt, r.Saga.LabelAnswered, r.Saga.LabelTimedOut = m.At.UTC(), false, false
	return Request{Service: ServiceLabels, Type: RequestLabel, ID: r.Saga.LabelRequestID,
		Data: LabelRequest{RequestID: r.Saga.LabelRequestID, ReturnID: r.ID, OrderID: r.OrderID,
			CustomerID: r.CustomerID, Carrier: m.Policy.LabelCarrier, Attempt: r.Saga.LabelRequests}}
}

func (r *Return) notify(m Meta, template string, data map[string]any) Request {
	n := Notification{ID: fmt.Sprintf("%s:notify:%d", r.ID, len(r.Saga.Notifications)+1), Template: template,
		Attempts: 1, Status: "requested"}
	r.Saga.Notifications = append(r.Saga.Notifications, n)
	return r.notificationRequest(n, data)
}

func (r *Return) notificationRequest(n Notification, data map[string]any) Request {
	if data == nil {
		data = map[string]any{}
	}
	data["status"] = string(r.Status)
	id := fmt.Sprintf("%s:%d", n.ID, n.Attempts)
	return Request{Service: ServiceNotifications, Type: RequestNotification, ID: id,
		Data: NotificationRequest{NotificationID: n.ID, RequestID: id, ReturnID: r.ID, UserID: r.CustomerID,
			Template: n.Template, Data: data, Attempt: n.Attempts}}
}

// release gives units back to the order: keep maps line to units still
// claimed (nil: none).
func (r *Return) release(keep map[string]int) Request {
	r.Saga.Released = true
	if keep == nil {
		keep = map[string]int{}
	}
	shipping := r.ShippingRule != "" && (len(keep) == 0 || (r.ShippingRule == ShippingRuleWholeOrder && !r.allReceived()))
	return Request{Service: ServiceOrderReturns, Type: RequestRelease, ID: r.ID + ":release",
		Data: Release{ReturnID: r.ID, OrderID: r.OrderID, Keep: keep, Shipping: shipping}}
}
