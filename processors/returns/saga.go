package returns

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// CodeRefundFailed is the code of the final result of a completion whose
// refund failed after every retry.
const CodeRefundFailed = "refund_failed"

// ErrRefundFailed: the refund failed after every retry; the return waits in
// refund_failed for staff.
var ErrRefundFailed = topics.NewError(CodeRefundFailed, "refund failed")

// ErrStaleReply means a reply answers a request that is no longer
// outstanding (a late duplicate, or a step the return has moved past). The
// processor drops it; nothing changes.
var ErrStaleReply = errors.New("returns: reply to a request that is not outstanding")

// Reply is the payload of every answer another service sends back to the
// saga: payments, gift cards, inventory, shipping labels, notifications.
type Reply struct {
	RequestID string `json:"request_id"`
	ReturnID  string `json:"return_id"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	// TransactionID is the payment's refund transaction (or the gift card's
	// transaction) that paid the refund.
	TransactionID string `json:"transaction_id,omitempty"`
	// GiftCardLast4 names a store-credit card.
	GiftCardLast4 string `json:"gift_card_last4,omitempty"`
	// Label fields (shipping labels).
	LabelURL       string `json:"label_url,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	Carrier        string `json:"carrier,omitempty"`
	// ReplacementOrderID names the replacement order (exchange).
	ReplacementOrderID string `json:"replacement_order_id,omitempty"`
}

// RefundResult is the reply of payments or the gift card service.
type RefundResult struct{ Reply }

// RestockResult is the reply of inventory.
type RestockResult struct{ Reply }

// LabelResult is the reply of the shipping service.
type LabelResult struct{ Reply }

// NotificationResult is the reply of the notification service.
type NotificationResult struct{ Reply }

// Action implements Command.
func (c RefundResult) Action() Action {
	if c.OK {
		return ActionRefundSucceeded
	}
	return ActionRefundFailed
}

// Action implements Command.
func (c RestockResult) Action() Action {
	if c.OK {
		return ActionRestockSucceeded
	}
	return ActionRestockFailed
}

// Action implements Command.
func (c LabelResult) Action() Action {
	if c.OK {
		return ActionLabelCreated
	}
	return ActionLabelFailed
}

// Action implements Command.
func (c NotificationResult) Action() Action {
	if c.OK {
		return ActionNotified
	}
	return ActionNotifyFailed
}

// startRefund sends the refund (or the replacement order) for the return's
// actual refund. A zero refund and an exchange need no payment.
func (r *Return) startRefund(m Meta) Outcome {
	amount := topics.Money{Amount: r.ActualRefund.TotalRefund, Currency: r.Currency}
	var out Outcome
	if r.RefundMethod == RefundExchange {
		id := r.ID + ":replacement"
		r.Saga.ReplacementOrder = id
		var items []ReplacementItem
		for _, it := range r.Items {
			if n := it.QuantityReceived(); n > 0 {
				items = append(items, ReplacementItem{it.LineItemID, it.ProductID, it.SKU, n})
			}
		}
		out.request(Request{Service: ServiceOrders, Type: RequestReplacement, ID: id,
			Data: ReplacementOrderRequest{RequestID: id, ReturnID: r.ID, OrderID: r.OrderID, CustomerID: r.CustomerID,
				Items: items, Credit: amount}})
		out.merge(r.refunded(m, map[string]any{"replacement_order": id}))
		return out
	}
	if !amount.Amount.IsPositive() {
		out.merge(r.refunded(m, map[string]any{"refund_amount": topics.AmountString(decimal.Zero, r.Currency), "note": "nothing to refund"}))
		return out
	}
	r.Saga.RefundAttempts++
	r.Saga.RefundRequestID = fmt.Sprintf("%s:%d", r.Saga.RefundKey, r.Saga.RefundAttempts)
	r.Saga.RefundRequestedAt = m.At.UTC()
	rq := RefundRequest{RequestID: r.Saga.RefundRequestID, RefundKey: r.Saga.RefundKey, ReturnID: r.ID,
		OrderID: r.OrderID, CustomerID: r.CustomerID, Method: r.RefundMethod, Amount: amount,
		Payments: r.Payments, Attempt: r.Saga.RefundAttempts}
	switch r.RefundMethod {
	case RefundStoreCredit, RefundGiftCard:
		out.request(Request{Service: ServiceGiftCards, Type: RequestStoreCredit, ID: rq.RequestID, Data: rq})
	default:
		out.request(Request{Service: ServicePayments, Type: RequestRefund, ID: rq.RequestID, Data: rq})
	}
	return out
}

// refunded moves the return past the refund and starts the restock.
func (r *Return) refunded(m Meta, md map[string]any) Outcome {
	r.Saga.Refunded = true
	if err := r.transition(m, ActionRefundSucceeded, md); err != nil {
		panic(err) // callers check the state first
	}
	return r.startRestock(m)
}

// restockItems are the sellable received units, per product.
func (r *Return) restockItems() []InventoryUpdate {
	var out []InventoryUpdate
	for _, it := range r.Items {
		if n := it.Restockable(); n > 0 {
			out = append(out, InventoryUpdate{ProductID: it.ProductID, SKU: it.SKU, Quantity: n, Status: "requested"})
		}
	}
	return out
}

// startRestock asks inventory to take the sellable units back, or
// completes the return when there are none.
func (r *Return) startRestock(m Meta) Outcome {
	items := r.restockItems()
	if len(items) == 0 || r.Saga.Restocked {
		if err := r.transition(m, ActionRestockSucceeded, map[string]any{"note": "nothing to restock"}); err != nil {
			panic(err)
		}
		return r.finish(m)
	}
	r.Saga.RestockAttempts++
	r.Saga.RestockRequestID = fmt.Sprintf("%s:restock:%d", r.ID, r.Saga.RestockAttempts)
	r.Saga.RestockRequestedAt = m.At.UTC()
	var out Outcome
	out.request(Request{Service: ServiceInventory, Type: RequestRestock, ID: r.Saga.RestockRequestID,
		Data: RestockRequest{RequestID: r.Saga.RestockRequestID, RestockKey: r.ID + ":restock", ReturnID: r.ID,
			Items: items, Attempt: r.Saga.RestockAttempts}})
	return out
}

// finish runs when the return reaches completed: it publishes
// return.completed, gives unreceived units back to the order (when some
// were not received), notifies the
// customer and answers the waiting complete command.
func (r *Return) finish(m Meta) Outcome {
	r.CompletedAt = timePtr(m.At)
	var out Outcome
	out.event(EventCompleted, r.Publish())
	keep := map[string]int{}
	for _, it := range r.Items {
		if n := it.QuantityReceived(); n > 0 {
			keep[it.LineItemID] = n
		}
	}
	if r.allReceived() {
		// Every unit claimed was received: the order's claims (and the
		// shipping claim) stay as they are, so there is nothing to send.
		r.Saga.Released = true
	} else {
		out.request(r.release(keep))
	}
	out.request(r.notify(m, "return_completed", map[string]any{
		"refund_amount": topics.AmountString(r.ActualRefund.TotalRefund, r.ActualRefund.Currency), "refund_method": r.RefundMethod}))
	out.Final = &Final{CommandID: r.Saga.CompleteCommandID, Result: r.Completion()}
	return out
}

// Completion describes the saga's outcome (CompletionResult).
func (r *Return) Completion() CompletionResult {
	res := CompletionResult{ReturnID: r.ID, Status: r.Status, RefundTransactionID: r.Saga.RefundTransactionID,
		RefundMethod: r.RefundMethod, GiftCardLast4: r.Saga.GiftCardLast4, ReplacementOrder: r.Saga.ReplacementOrder,
		InventoryUpdates: []InventoryUpdate{}}
	if r.ActualRefund != nil {
		res.Refund = *r.ActualRefund
		res.RefundAmount = topics.Money{Amount: r.ActualRefund.TotalRefund, Currency: r.Currency}
	}
	status := "requested"
	switch {
	case r.Saga.Restocked:
		status = "restocked"
	case r.Status == StateRequiresAction:
		status = "failed"
	case r.Status == StateCompleted:
		status = "restocked manually"
	}
	for _, u := range r.restockItems() {
		u.Status = status
		res.InventoryUpdates = append(res.InventoryUpdates, u)
	}
	return res
}

// refundAttempt reports whether requestID names an attempt of r's refund
// (every attempt is paid under the same refund key).
func (r *Return) refundAttempt(requestID string) bool {
	return r.Saga.RefundKey != "" && strings.HasPrefix(requestID, r.Saga.RefundKey+":")
}

func (c RefundResult) apply(r *Return, m Meta) (Outcome, error) {
	switch {
	case r.Status == StateRefunding && c.RequestID == r.Saga.RefundRequestID:
	case c.OK && r.refundAttempt(c.RequestID) && (r.Status == StateRefunding || r.Status == StateRefundFailed):
		return c.paidLate(r, m), nil
	default:
		return Outcome{}, ErrStaleReply
	}
	if c.OK {
		r.Saga.RefundTransactionID, r.Saga.GiftCardLast4, r.Saga.RefundError = c.TransactionID, c.GiftCardLast4, ""
		md := map[string]any{"request_id": c.RequestID, "transaction_id": c.TransactionID,
			"refund_amount": topics.AmountString(r.ActualRefund.TotalRefund, r.ActualRefund.Currency), "refund_method": r.RefundMethod}
		if c.GiftCardLast4 != "" {
			md["gift_card_last4"] = c.GiftCardLast4
		}
		return r.refunded(m, md), nil
	}
	r.Saga.RefundError = c.Error
	md := map[string]any{"request_id": c.RequestID, "error": c.Error, "attempt": r.Saga.RefundAttempts}
	if r.Saga.RefundAttempts < m.Policy.MaxRefundAttempts {
		if err := r.transition(m, ActionRefundRetry, md); err != nil {
			return Outcome{}, err
		}
		return r.startRefund(m), nil
	}
	if err := r.transition(m, ActionRefundFailed, md); err != nil {
		return Outcome{}, err
	}
	var out Outcome
	out.event(EventActionRequired, r.Publish())
	out.request(r.notify(m, "refund_delayed", nil))
	out.Final = &Final{CommandID: r.Saga.CompleteCommandID,
		Err: ErrRefundFailed.Withf("refund of return %s failed after %d attempts: %s", r.ID, r.Saga.RefundAttempts, c.Error).
			With("return_id", r.ID).With("attempts", r.Saga.RefundAttempts)}
	return out, nil
}

// paidLate takes a success that answers an earlier attempt of the refund
// than the one outstanding, or arrives after the return gave up
// (refund_failed): the attempt timed out or its reply was lost, but the
// payment service paid the refund key, once. The refund is recorded as
// paid (never requested again: the saga moves on to the restock) and the
// entry says it came late. After refund_failed the complete command has
// its final result already (refund_failed); results are not rewritten, so
// the rest of the saga answers no command, and staff see the outcome on
// the return and in its trail.
func (c RefundResult) paidLate(r *Return, m Meta) Outcome {
	from := r.Status
	r.Saga.RefundTransactionID, r.Saga.GiftCardLast4, r.Saga.RefundError = c.TransactionID, c.GiftCardLast4, ""
	md := map[string]any{"request_id": c.RequestID, "transaction_id": c.TransactionID,
		"refund_amount": topics.AmountString(r.ActualRefund.TotalRefund, r.ActualRefund.Currency), "refund_method": r.RefundMethod, "late": true}
	if c.GiftCardLast4 != "" {
		md["gift_card_last4"] = c.GiftCardLast4
	}
	if from == StateRefunding {
		md["outstanding_request_id"] = r.Saga.RefundRequestID
	} else {
		r.Saga.CompleteCommandID = ""
	}
	r.Saga.RefundRequestedAt = time.Time{}
	return r.refunded(m, md)
}

func (c RestockResult) apply(r *Return, m Meta) (Outcome, error) {
	if r.Status != StateRestocking || c.RequestID != r.Saga.RestockRequestID {
		return Outcome{}, ErrStaleReply
	}
	md := map[string]any{"request_id": c.RequestID, "attempt": r.Saga.RestockAttempts}
	if c.OK {
		r.Saga.Restocked, r.Saga.RestockError = true, ""
		items := r.restockItems()
		for i := range items {
			items[i].Status = "restocked"
		}
		md["items"] = items
		if err := r.transition(m, ActionRestockSucceeded, md); err != nil {
			return Outcome{}, err
		}
		var out Outcome
		out.event(EventRestocked, RestockedEvent{ReturnID: r.ID, OrderID: r.OrderID, Items: items})
		out.merge(r.finish(m))
		return out, nil
	}
	r.Saga.RestockError = c.Error
	md["error"] = c.Error
	if r.Saga.RestockAttempts < m.Policy.MaxRestockAttempts {
		if err := r.transition(m, ActionRestockRetry, md); err != nil {
			return Outcome{}, err
		}
		return r.startRestock(m), nil
	}
	if err := r.transition(m, ActionRestockFailed, md); err != nil {
		return Outcome{}, err
	}
	out := Outcome{Final: &Final{CommandID: r.Saga.CompleteCommandID, Result: r.Completion()}}
	out.event(EventActionRequired, r.Publish())
	return out, nil
}

func (c LabelResult) apply(r *Return, m Meta) (Outcome, error) {
	if c.RequestID != r.Saga.LabelRequestID || !Can(r.Status, c.Action()) {
		return Outcome{}, ErrStaleReply
	}
	// One answer per request; after a timeout only a success still counts
	// (the carrier made the label after all).
	late := r.Saga.LabelAnswered && r.Saga.LabelTimedOut && c.OK && r.ShippingLabel == nil
	if r.Saga.LabelAnswered && !late {
		return Outcome{}, ErrStaleReply
	}
	r.Saga.LabelAnswered = true
	md := map[string]any{"request_id": c.RequestID}
	if late {
		md["after_timeout"] = true
	}
	if c.OK {
		r.ShippingLabel = &ShippingLabel{LabelID: c.RequestID, URL: c.LabelURL, TrackingNumber: c.TrackingNumber,
			Carrier: c.Carrier, CreatedAt: m.At.UTC()}
		r.Saga.LabelError = ""
		md["tracking_number"], md["label_url"] = c.TrackingNumber, c.LabelURL
	} else {
		r.Saga.LabelError = c.Error
		md["error"] = c.Error
	}
	if err := r.transition(m, c.Action(), md); err != nil {
		return Outcome{}, err
	}
	return Outcome{}, nil
}

// Notification replies are accepted in every state: they change no state,
// only the notification's delivery status.
func (c NotificationResult) apply(r *Return, m Meta) (Outcome, error) {
	for i := range r.Saga.Notifications {
		n := &r.Saga.Notifications[i]
		if c.RequestID != fmt.Sprintf("%s:%d", n.ID, n.Attempts) || n.Status != "requested" {
			continue
		}
		md := map[string]any{"notification_id": n.ID, "template": n.Template, "attempt": n.Attempts}
		var out Outcome
		switch {
		case c.OK:
			n.Status = "delivered"
		case n.Attempts < m.Policy.MaxNotificationAttempts:
			n.Attempts++
			md["error"] = c.Error
			out.request(r.notificationRequest(*n, nil))
		default:
			n.Status, n.Error = "failed", c.Error
			md["error"] = c.Error
		}
		r.appendAudit(m, c.Action(), r.Status, md)
		return out, nil
	}
	return Outcome{}, ErrStaleReply
}
