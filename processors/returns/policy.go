package returns

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Return reasons (ReturnRequest::REASONS of the seed).
const (
	ReasonDefective      = "defective"
	ReasonWrongItem      = "wrong_item"
	ReasonNotAsDescribed = "not_as_described"
	ReasonNoLongerNeeded = "no_longer_needed"
	ReasonOther          = "other"
)

// Reasons lists every accepted return reason.
var Reasons = []string{ReasonDefective, ReasonWrongItem, ReasonNotAsDescribed, ReasonNoLongerNeeded, ReasonOther}

// Conditions a customer declares when initiating (expected condition).
const (
	ConditionNew     = "new"
	ConditionOpened  = "opened"
	ConditionDamaged = "damaged"
)

// Conditions lists every expected condition.
var Conditions = []string{ConditionNew, ConditionOpened, ConditionDamaged}

// Conditions the warehouse finds on receipt (actual condition).
const (
	ActualSellable   = "sellable"
	ActualDamaged    = "damaged"
	ActualUnsellable = "unsellable"
)

// ActualConditions lists every actual condition.
var ActualConditions = []string{ActualSellable, ActualDamaged, ActualUnsellable}

// Reasons why an item is not eligible for return (EligibilityResult).
const (
	IneligibleFinalSale       = "final_sale"
	IneligibleCategory        = "non_returnable_category"
	IneligibleProduct         = "non_returnable_product"
	IneligibleWindowExpired   = "return_window_expired"
	IneligibleAlreadyReturned = "already_returned"
)

//go:embed policy.default.json
var defaultPolicyJSON []byte

// CategoryRule is the policy for one product category.
type CategoryRule struct {
	// WindowDays overrides the default window; 0 keeps the default.
	WindowDays int `json:"window_days,omitempty"`
	// NonReturnable marks the whole category as not returnable.
	NonReturnable bool `json:"non_returnable,omitempty"`
}

// RestockingFeeRule charges Percent of the refunded item value. Empty
// Category, Condition or Reason match anything; the first matching rule of
// the list wins.
type RestockingFeeRule struct {
	Category  string          `json:"category,omitempty"`
	Condition string          `json:"condition,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	Percent   decimal.Decimal `json:"percent"`
}

// ShippingRefundRule says when the order's shipping is refunded. It is
// refunded at most once per order.
type ShippingRefundRule struct {
	// WhenWholeOrderReturned refunds shipping with the return that brings
	// the last units of the order back.
	WhenWholeOrderReturned bool `json:"when_whole_order_returned"`
	// WhenMerchantFault refunds shipping when the reason is the merchant's
	// fault (defective, wrong item).
	WhenMerchantFault bool `json:"when_merchant_fault"`
}

// Policy is the return policy as data: the operator changes it by giving a
// JSON file (LoadPolicy); policy.default.json is embedded as the default.
type Policy struct {
	DefaultWindowDays     int                     `json:"default_window_days"`
	Categories            map[string]CategoryRule `json:"categories"`
	NonReturnableProducts []string                `json:"non_returnable_products"`
	NonReturnableSKUs     []string                `json:"non_returnable_skus"`
	RestockingFees        []RestockingFeeRule     `json:"restocking_fees"`
	// MerchantFaultReasons waive restocking fees and condition adjustments
	// and may refund shipping.
	MerchantFaultReasons []string           `json:"merchant_fault_reasons"`
	ShippingRefund       ShippingRefundRule `json:"shipping_refund"`
	// ConditionAdjustments is the share of the item value (and its tax)
	// refunded for each actual condition: 1 refunds all, 0 nothing.
	ConditionAdjustments map[string]decimal.Decimal `json:"condition_adjustments"`
	// MaxRefundAttempts is how often a refund is tried before the return is
	// parked in refund_failed.
	MaxRefundAttempts int `json:"max_refund_attempts"`
	// MaxRestockAttempts is how often a restock is tried before the return
	// is parked in requires_action.
	MaxRestockAttempts int `json:"max_restock_attempts"`
	// MaxNotificationAttempts is how often a notification is tried.
	MaxNotificationAttempts int `json:"max_notification_attempts"`
	// LabelCarrier is the carrier asked for return shipping labels.
	LabelCarrier string `json:"label_carrier"`
}

// DefaultPolicy returns the embedded policy.default.json.
func DefaultPolicy() *Policy {
	p, err := ParsePolicy(defaultPolicyJSON)
	if err != nil {
		panic(fmt.Sprintf("returns: embedded policy.default.json: %v", err))
	}
	return p
}

// LoadPolicy reads a policy file; an empty path is the default policy.
func LoadPolicy(path string) (*Policy, error) {
	if path == "" {
		return DefaultPolicy(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrInvalidPolicy.Withf("reading %s: %v", path, err)
	}
	return ParsePolicy(b)
}

// ParsePolicy decodes and validates a policy document.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, ErrInvalidPolicy.Withf("decoding policy: %v", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks that the policy can be applied.
func (p *Policy) Validate() error {
	if p.DefaultWindowDays < 1 {
		return ErrInvalidPolicy.Withf("default_window_days must be at least 1, got %d", p.DefaultWindowDays)
	}
	for name, c := range p.Categories {
		if c.WindowDays < 0 {
			return ErrInvalidPolicy.Withf("category %s: window_days %d is negative", name, c.WindowDays)
		}
	}
	hundred := decimal.NewFromInt(100)
	for i, r := range p.RestockingFees {
		if r.Percent.IsNegative() || r.Percent.GreaterThan(hundred) {
			return ErrInvalidPolicy.Withf("restocking_fees[%d]: percent %s is not within 0..100", i, r.Percent)
		}
		if r.Condition != "" && !slices.Contains(Conditions, r.Condition) {
			return ErrInvalidPolicy.Withf("restocking_fees[%d]: unknown condition %q", i, r.Condition)
		}
		if r.Reason != "" && !slices.Contains(Reasons, r.Reason) {
			return ErrInvalidPolicy.Withf("restocking_fees[%d]: unknown reason %q", i, r.Reason)
		}
	}
	for _, r := range p.MerchantFaultReasons {
		if !slices.Contains(Reasons, r) {
			return ErrInvalidPolicy.Withf("merchant_fault_reasons: unknown reason %q", r)
		}
	}
	for _, c := range ActualConditions {
		f, ok := p.ConditionAdjustments[c]
		if !ok {
			return ErrInvalidPolicy.Withf("condition_adjustments: %s is missing", c)
		}
		if f.IsNegative() || f.GreaterThan(decimal.NewFromInt(1)) {
			return ErrInvalidPolicy.Withf("condition_adjustments: %s = %s is not within 0..1", c, f)
		}
	}
	if p.MaxRefundAttempts < 1 || p.MaxRestockAttempts < 1 || p.MaxNotificationAttempts < 1 {
		return ErrInvalidPolicy.Withf("max_*_attempts must be at least 1")
	}
	return nil
}

// MerchantFault reports whether reason puts the fault with the merchant.
func (p *Policy) MerchantFault(reason string) bool {
	return slices.Contains(p.MerchantFaultReasons, reason)
}

// WindowDays is the return window of category.
func (p *Policy) WindowDays(category string) int {
	if c, ok := p.Categories[category]; ok && c.WindowDays > 0 {
		return c.WindowDays
	}
	return p.DefaultWindowDays
}

// WindowClosesAt is when the return window of line closes.
func (p *Policy) WindowClosesAt(line LineItem, order *Order) time.Time {
	return order.WindowStart().AddDate(0, 0, p.WindowDays(line.Category))
}

// RestockingFeePercent is the fee percentage for a returned item; merchant
// fault waives it.
func (p *Policy) RestockingFeePercent(category, condition, reason string) decimal.Decimal {
	if p.MerchantFault(reason) {
		return decimal.Zero
	}
	for _, r := range p.RestockingFees {
		if (r.Category == "" || r.Category == category) &&
			(r.Condition == "" || r.Condition == condition) &&
			(r.Reason == "" || r.Reason == reason) {
			return r.Percent
		}
	}
	return decimal.Zero
}

// ConditionFactor is the share of an item's value refunded for the actual
// condition found on receipt; merchant fault and an unknown (not yet
// inspected) condition refund everything.
func (p *Policy) ConditionFactor(actual, reason string) decimal.Decimal {
	if actual == "" || p.MerchantFault(reason) {
		return decimal.NewFromInt(1)
	}
	if f, ok := p.ConditionAdjustments[actual]; ok {
		return f
	}
	return decimal.NewFromInt(1)
}

// PolicyResult says whether one line item can be returned (PolicyEngine#check_item).
type PolicyResult struct {
	LineItemID string `json:"line_item_id"`
	Returnable bool   `json:"returnable"`
	// Reason is set when not returnable: one of the Ineligible* codes.
	Reason string `json:"reason,omitempty"`
	// WindowDays and WindowClosesAt describe the item's return window.
	WindowDays     int       `json:"window_days"`
	WindowClosesAt time.Time `json:"window_closes_at"`
	// Restrictions lists rules that apply although the item is returnable
	// (a restocking fee for opened items).
	Restrictions []string `json:"restrictions,omitempty"`
}

// CheckItem applies the policy to one line of order at time at.
func (p *Policy) CheckItem(line LineItem, order *Order, at time.Time) PolicyResult {
	res := PolicyResult{
		LineItemID:     line.LineItemID,
		WindowDays:     p.WindowDays(line.Category),
		WindowClosesAt: p.WindowClosesAt(line, order),
	}
	switch {
	case line.FinalSale:
		res.Reason = IneligibleFinalSale
	case p.Categories[line.Category].NonReturnable:
		res.Reason = IneligibleCategory
	case slices.Contains(p.NonReturnableProducts, line.ProductID) ||
		(line.SKU != "" && slices.Contains(p.NonReturnableSKUs, line.SKU)):
		res.Reason = IneligibleProduct
	case at.After(res.WindowClosesAt):
		res.Reason = IneligibleWindowExpired
	default:
		res.Returnable = true
		for _, c := range Conditions {
			if pct := p.RestockingFeePercent(line.Category, c, ReasonNoLongerNeeded); pct.IsPositive() {
				res.Restrictions = append(res.Restrictions, fmt.Sprintf("restocking fee %s%% when %s", pct, c))
			}
		}
	}
	return res
}

// ReturnWindowCloses is when the order's return window closes: the latest
// window among its returnable lines (the default window when none is).
func (p *Policy) ReturnWindowCloses(order *Order) time.Time {
	closes := order.WindowStart().AddDate(0, 0, p.DefaultWindowDays)
	first := true
	for _, l := range order.LineItems {
		if l.FinalSale || p.Categories[l.Category].NonReturnable {
			continue
		}
		if c := p.WindowClosesAt(l, order); first || c.After(closes) {
			closes, first = c, false
		}
	}
	return closes
}

// ReturnWindowRemaining is the number of whole days left in the order's
// return window at time at; negative when it has expired
// (PolicyEngine#return_window_remaining).
func (p *Policy) ReturnWindowRemaining(order *Order, at time.Time) int {
	d := p.ReturnWindowCloses(order).Sub(at)
	return int(math.Floor(d.Hours() / 24))
}

// EligibleItem is a line that can be returned, and how many units.
type EligibleItem struct {
	LineItemID         string    `json:"line_item_id"`
	ProductID          string    `json:"product_id"`
	Category           string    `json:"category"`
	ReturnableQuantity int       `json:"returnable_quantity"`
	WindowClosesAt     time.Time `json:"window_closes_at"`
	Restrictions       []string  `json:"restrictions,omitempty"`
}

// IneligibleItem is a line that cannot be returned, and why.
type IneligibleItem struct {
	LineItemID string `json:"line_item_id"`
	ProductID  string `json:"product_id"`
	Reason     string `json:"reason"`
}

// EligibilityResult says which items of an order can be returned
// (ReturnsService#check_eligibility).
type EligibilityResult struct {
	OrderID               string           `json:"order_id"`
	EligibleItems         []EligibleItem   `json:"eligible_items"`
	IneligibleItems       []IneligibleItem `json:"ineligible_items"`
	ReturnWindowExpiresAt time.Time        `json:"return_window_expires_at"`
	DaysRemaining         int              `json:"days_remaining"`
}

// Eligibility checks every line of order at time at; underReturn holds the
// units of each line already claimed by other returns.
func (p *Policy) Eligibility(order *Order, underReturn map[string]int, at time.Time) EligibilityResult {
	res := EligibilityResult{
		OrderID:               order.OrderID,
		EligibleItems:         []EligibleItem{},
		IneligibleItems:       []IneligibleItem{},
		ReturnWindowExpiresAt: p.ReturnWindowCloses(order),
		DaysRemaining:         p.ReturnWindowRemaining(order, at),
	}
	for _, l := range order.LineItems {
		c := p.CheckItem(l, order, at)
		left := l.Quantity - underReturn[l.LineItemID]
		switch {
		case !c.Returnable:
			res.IneligibleItems = append(res.IneligibleItems, IneligibleItem{l.LineItemID, l.ProductID, c.Reason})
		case left <= 0:
			res.IneligibleItems = append(res.IneligibleItems, IneligibleItem{l.LineItemID, l.ProductID, IneligibleAlreadyReturned})
		default:
			res.EligibleItems = append(res.EligibleItems, EligibleItem{
				LineItemID: l.LineItemID, ProductID: l.ProductID, Category: l.Category,
				ReturnableQuantity: left, WindowClosesAt: c.WindowClosesAt, Restrictions: c.Restrictions,
			})
		}
	}
	return res
}
