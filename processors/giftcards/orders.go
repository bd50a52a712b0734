package giftcards

import (
	"slices"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/topics"
)

// Record types the card processor sends to the order index.
const (
	TypeOrderRedemption = "gift_card.order_redemption"
	TypeOrderHold       = "gift_card.order_hold"
)

// OrderRecord tells the order index about a redemption or a hold of one of
// its orders (and the redemption index about a redemption).
type OrderRecord struct {
	OrderID      string       `json:"order_id"`
	CardKey      string       `json:"card_key"`
	RedemptionID string       `json:"redemption_id,omitempty"`
	HoldID       string       `json:"hold_id,omitempty"`
	HoldStatus   HoldStatus   `json:"hold_status,omitempty"`
	Amount       topics.Money `json:"amount"`
	// Reply, on the redemption index's record, is the result of the client
	// command that made the redemption: the index answers it once it has
	// recorded the redemption, so a client never sees a redemption that a
	// refund by its ID cannot find yet.
	Reply *topics.CommandResult `json:"reply,omitempty"`
}

// OrderRefunded is the data of an inbound order.refunded event.
type OrderRefunded struct {
	OrderID  string `json:"order_id"`
	UserID   string `json:"user_id"`
	RefundID string `json:"refund_id"`
	Amount   Amount `json:"amount"`
	Currency string `json:"currency"`
	Reason   string `json:"reason"`
}

// OrderCancelled is the data of an inbound order.cancelled event.
type OrderCancelled struct {
	OrderID string `json:"order_id"`
	UserID  string `json:"user_id"`
	Reason  string `json:"reason"`
}

// OrderCompleted is the part of an inbound order.completed event the order
// index needs: the total, to refund gift cards in proportion.
type OrderCompleted struct {
	OrderID  string `json:"order_id"`
	Currency string `json:"currency"`
	Total    Amount `json:"total"`
}

// OrderRedemption is a redemption the order index knows, and how much of it
// the index has already asked to refund.
type OrderRedemption struct {
	RedemptionID string          `json:"redemption_id"`
	CardKey      string          `json:"card_key"`
	Amount       topics.Money    `json:"amount"`
	Requested    decimal.Decimal `json:"requested"`
}

// OrderHold is a hold the order index knows.
type OrderHold struct {
	HoldID  string     `json:"hold_id"`
	CardKey string     `json:"card_key"`
	Status  HoldStatus `json:"status"`
}

// OrderState is the order index's state for one order.
type OrderState struct {
	OrderID     string            `json:"order_id"`
	Total       *topics.Money     `json:"total,omitempty"`
	Redemptions []OrderRedemption `json:"redemptions,omitempty"`
	Holds       []OrderHold       `json:"holds,omitempty"`
	Refunds     []string          `json:"refunds,omitempty"`
	// Open are the refunds whose gift card share may still grow (see
	// OpenRefund); absent from states written before it existed, whose
	// refunds are all closed.
	Open      []OpenRefund `json:"open_refunds,omitempty"`
	Cancelled bool         `json:"cancelled,omitempty"`
	// Seen holds the IDs of recent inbound events, to drop redeliveries.
	Seen []string `json:"seen,omitempty"`
}

// maxSeen bounds OrderState.Seen.
const maxSeen = 64

// FollowUp is a command the order index sends to a card.
type FollowUp struct {
	CardKey   string
	CommandID string
	Type      string
	Data      any
	// Correlation, when set, is the correlation ID of the command (the
	// inbound event that caused it); otherwise the message being processed.
	Correlation string
}

// Clone returns a deep copy.
func (o *OrderState) Clone() *OrderState {
	n := *o
	n.Redemptions = slices.Clone(o.Redemptions)
	n.Holds = slices.Clone(o.Holds)
	n.Refunds = slices.Clone(o.Refunds)
	n.Open = slices.Clone(o.Open)
	n.Seen = slices.Clone(o.Seen)
	if o.Total != nil {
		t := *o.Total
		n.Total = &t
	}
	return &n
}

// See records an inbound event ID and reports whether it is new.
func (o *OrderState) See(eventID string) bool {
	if slices.Contains(o.Seen, eventID) {
		return false
	}
	o.Seen = append(o.Seen, eventID)
	if len(o.Seen) > maxSeen {
		o.Seen = o.Seen[len(o.Seen)-maxSeen:]
	}
	return true
}

// Complete records the order's total.
func (o *OrderState) Complete(c OrderCompleted) error {
	m, err := topics.NewMoney(c.Total.Decimal, c.Currency)
	if err != nil {
		return err
	}
	o.Total = &m
	return nil
}

// AddRedemption records a redemption. On a cancelled order it is reversed
// at once (the cancellation arrived first); otherwise refunds of the order
// that arrived before it get their share of it.
func (o *OrderState) AddRedemption(r OrderRecord) []FollowUp {
	for _, e := range o.Redemptions {
		if e.RedemptionID == r.RedemptionID {
			return nil
		}
	}
	o.Redemptions = append(o.Redemptions, OrderRedemption{RedemptionID: r.RedemptionID, CardKey: r.CardKey, Amount: r.Amount, Requested: decimal.Zero})
	if !o.Cancelled {
		return o.settleRefunds() // refunds that arrived before it
	}
	return o.reverse(len(o.Redemptions)-1, "order.cancelled")
}

// SetHold records a hold's status. An authorized hold of a cancelled order
// is released at once.
func (o *OrderState) SetHold(r OrderRecord) []FollowUp {
	i := slices.IndexFunc(o.Holds, func(h OrderHold) bool { return h.HoldID == r.HoldID })
	if i < 0 {
		o.Holds = append(o.Holds, OrderHold{HoldID: r.HoldID, CardKey: r.CardKey, Status: r.HoldStatus})
		i = len(o.Holds) - 1
	} else if o.Holds[i].Status == HoldAuthorized {
		o.Holds[i].Status = r.HoldStatus
	}
	if o.Cancelled && o.Holds[i].Status == HoldAuthorized {
		return []FollowUp{o.release(i)}
	}
	return nil
}

func (o *OrderState) release(i int) FollowUp {
	h := o.Holds[i]
	o.Holds[i].Status = HoldReleased // asked; the card's answer is idempotent
	return FollowUp{CardKey: h.CardKey, CommandID: DeriveID("order-cancel", o.OrderID, h.HoldID), Type: TypeRelease,
		Data: ReleaseCommand{CardKey: h.CardKey, HoldID: h.HoldID, Reason: "order.cancelled"}}
}

func (o *OrderState) reverse(i int, reason string) []FollowUp {
	r := &o.Redemptions[i]
	rest := r.Amount.Amount.Sub(r.Requested)
	if !rest.IsPositive() {
		return nil
	}
	r.Requested = r.Amount.Amount
	return []FollowUp{{CardKey: r.CardKey, CommandID: DeriveID("order-cancel", o.OrderID, r.RedemptionID), Type: TypeRefund,
		Data: RefundCommand{RedemptionID: r.RedemptionID, CardKey: r.CardKey, Amount: NewAmount(rest), Reason: reason}}}
}

// Cancel releases the order's holds and refunds whatever of its
// redemptions has not been refunded yet.
func (o *OrderState) Cancel() []FollowUp {
	o.Cancelled = true
	var out []FollowUp
	for i := range o.Holds {
		if o.Holds[i].Status == HoldAuthorized {
			out = append(out, o.release(i))
		}
	}
	for i := range o.Redemptions {
		out = append(out, o.reverse(i, "order.cancelled")...)
	}
	return out
}

// OpenRefund is an order refund whose gift card share may still grow: it
// arrived before some of the order's redemptions were indexed (records of
// other partitions travel at their own pace), or its share is a proportion
// of what the order's gift cards paid. Every redemption the index learns
// later tops its share up.
type OpenRefund struct {
	RefundID string `json:"refund_id"`
	// EventID is the order.refunded event's ID, the correlation ID of the
	// refund commands it causes, however late.
	EventID string       `json:"event_id,omitempty"`
	Amount  topics.Money `json:"amount"`
	// Requested is how much of it the index has asked the cards to refund.
	Requested decimal.Decimal `json:"requested"`
}

// maxOpenRefunds bounds OrderState.Open: the oldest open refund is closed
// (it keeps what it requested) when a newer one would exceed it.
const maxOpenRefunds = 32

// Refund refunds an order refund's gift card share to the cards. When the
// order's total is known and the refund is partial, the gift cards get the
// share they paid (refund × redeemed / total); otherwise (full refund, or
// total unknown) the refund goes to the gift cards first. The share is
// split across the order's redemptions in proportion to what each can still
// take back, rounded to minor units with the remainder allocated so that the
// parts add up exactly. A refund ID is applied once.
//
// The refund stays open (OrderState.Open) while its share may grow: a
// redemption of the order indexed after the refund arrived
// (AddRedemption) is refunded then, as if it had been there.
func (o *OrderState) Refund(r OrderRefunded, eventID string) ([]FollowUp, error) {
	if r.RefundID == "" {
		return nil, ErrInvalidRequest.Withf("order.refunded has no refund_id")
	}
	if slices.Contains(o.Refunds, r.RefundID) {
		return nil, nil
	}
	refund, err := topics.Positive(r.Amount.Decimal, r.Currency)
	if err != nil {
		return nil, err
	}
	o.Refunds = append(o.Refunds, r.RefundID)
	o.Open = append(o.Open, OpenRefund{RefundID: r.RefundID, EventID: eventID, Amount: refund, Requested: decimal.Zero})
	if over := len(o.Open) - maxOpenRefunds; over > 0 {
		o.Open = slices.Clone(o.Open[over:])
	}
	return o.settleRefunds(), nil
}

// settleRefunds asks the cards for what the open refunds are owed now, in
// the order the refunds arrived, and closes those that can ask no more.
func (o *OrderState) settleRefunds() []FollowUp {
	var out []FollowUp
	for i := range o.Open {
		out = append(out, o.requestShare(&o.Open[i])...)
	}
	o.Open = slices.DeleteFunc(o.Open, func(r OpenRefund) bool {
		return !o.proportional(r.Amount) && r.Requested.GreaterThanOrEqual(r.Amount.Amount)
	})
	if len(o.Open) == 0 {
		o.Open = nil
	}
	return out
}

// proportional reports whether a refund of amount is a partial refund of
// an order of known total: the gift cards get their share of it.
func (o *OrderState) proportional(amount topics.Money) bool {
	return o.Total != nil && o.Total.Currency == amount.Currency && o.Total.Amount.IsPositive() && amount.Amount.LessThan(o.Total.Amount)
}

// requestShare asks the order's redemptions for what r is owed beyond what
// it requested already.
func (o *OrderState) requestShare(r *OpenRefund) []FollowUp {
	units, _ := topics.MinorUnits(r.Amount.Currency)
	var idx []int
	redeemed, rest := decimal.Zero, decimal.Zero
	for i, e := range o.Redemptions {
		if e.Amount.Currency != r.Amount.Currency {
			continue
		}
		idx = append(idx, i)
		redeemed = redeemed.Add(e.Amount.Amount)
		rest = rest.Add(e.Amount.Amount.Sub(e.Requested))
	}
	if !rest.IsPositive() {
		return nil
	}
	share := r.Amount.Amount
	if o.proportional(r.Amount) {
		share = r.Amount.Amount.Mul(redeemed).Div(o.Total.Amount).Round(units)
	}
	share = decimal.Min(share.Sub(r.Requested), rest)
	if !share.IsPositive() {
		return nil
	}
	parts := make([]decimal.Decimal, len(idx))
	sum := decimal.Zero
	for k, i := range idx {
		e := o.Redemptions[i]
		parts[k] = share.Mul(e.Amount.Amount.Sub(e.Requested)).Div(rest).Truncate(units)
		sum = sum.Add(parts[k])
	}
	unit := decimal.New(1, -units)
	for left := share.Sub(sum); left.IsPositive(); {
		moved := false
		for k, i := range idx {
			e := o.Redemptions[i]
			if left.IsPositive() && parts[k].Add(unit).LessThanOrEqual(e.Amount.Amount.Sub(e.Requested)) {
				parts[k] = parts[k].Add(unit)
				left = left.Sub(unit)
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	var out []FollowUp
	for k, i := range idx {
		if !parts[k].IsPositive() {
			continue
		}
		e := &o.Redemptions[i]
		e.Requested = e.Requested.Add(parts[k])
		// The first request of a refund has the ID it always had; a later
		// top-up is told apart by what the refund had requested before it
		// (which only grows), so a redelivery derives the same IDs.
		id := DeriveID("order-refund", r.RefundID, e.RedemptionID)
		if r.Requested.IsPositive() {
			id = DeriveID("order-refund", r.RefundID, e.RedemptionID, "after", r.Requested.String())
		}
		out = append(out, FollowUp{CardKey: e.CardKey, CommandID: id, Type: TypeRefund, Correlation: r.EventID,
			Data: RefundCommand{RedemptionID: e.RedemptionID, CardKey: e.CardKey, Amount: NewAmount(parts[k]), Reason: "order.refunded"}})
	}
	r.Requested = r.Requested.Add(share)
	return out
}
