package returns

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPolicyCheckItem(t *testing.T) {
	p := DefaultPolicy()
	delivered := testOrder()
	d := tDelivered
	delivered.DeliveredAt = &d
	undelivered := testOrder()
	shirt, _ := delivered.Line("li_shirt")
	phone, _ := delivered.Line("li_phone")
	cheese, _ := delivered.Line("li_cheese")
	sale, _ := delivered.Line("li_sale")
	custom := *p
	custom.NonReturnableProducts = []string{"prod_shirt"}
	customSKU := *p
	customSKU.NonReturnableSKUs = []string{"PHONE-1"}

	tests := []struct {
		name       string
		policy     *Policy
		line       LineItem
		order      *Order
		at         time.Time
		returnable bool
		reason     string
		closes     time.Time
	}{
		{"apparel window counts 60 days from delivery", p, shirt, &delivered, d.AddDate(0, 0, 59), true, "", d.AddDate(0, 0, 60)},
		{"apparel window closes after 60 days", p, shirt, &delivered, d.AddDate(0, 0, 60).Add(time.Second), false, IneligibleWindowExpired, d.AddDate(0, 0, 60)},
		{"the last instant of the window is inside", p, shirt, &delivered, d.AddDate(0, 0, 60), true, "", d.AddDate(0, 0, 60)},
		{"electronics has a 15 day window", p, phone, &delivered, d.AddDate(0, 0, 16), false, IneligibleWindowExpired, d.AddDate(0, 0, 15)},
		{"electronics inside its window", p, phone, &delivered, d.AddDate(0, 0, 14), true, "", d.AddDate(0, 0, 15)},
		{"without delivery the window counts from completion", p, phone, &undelivered, tCompleted.AddDate(0, 0, 15).Add(time.Hour), false, IneligibleWindowExpired, tCompleted.AddDate(0, 0, 15)},
		{"final sale is never returnable", p, sale, &delivered, d, false, IneligibleFinalSale, d.AddDate(0, 0, 60)},
		{"perishables category is not returnable", p, cheese, &delivered, d, false, IneligibleCategory, d.AddDate(0, 0, 30)},
		{"a product listed as non-returnable", &custom, shirt, &delivered, d, false, IneligibleProduct, d.AddDate(0, 0, 60)},
		{"a SKU listed as non-returnable", &customSKU, phone, &delivered, d, false, IneligibleProduct, d.AddDate(0, 0, 15)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.policy.CheckItem(tc.line, tc.order, tc.at)
			require.Equal(t, tc.returnable, res.Returnable)
			require.Equal(t, tc.reason, res.Reason)
			require.True(t, tc.closes.Equal(res.WindowClosesAt), "closes %s, want %s", res.WindowClosesAt, tc.closes)
		})
	}
}

func TestPolicyReturnWindowRemaining(t *testing.T) {
	p := DefaultPolicy()
	o := testOrder()
	d := tDelivered
	o.DeliveredAt = &d
	// the order's window is its longest returnable line's: apparel, 60 days
	tests := []struct {
		name string
		at   time.Time
		want int
	}{
		{"on delivery day", d, 60},
		{"half way", d.AddDate(0, 0, 30), 30},
		{"last hours of the window", d.AddDate(0, 0, 60).Add(-time.Hour), 0},
		{"an hour after it closed is negative", d.AddDate(0, 0, 60).Add(time.Hour), -1},
		{"ten days after", d.AddDate(0, 0, 70), -10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, p.ReturnWindowRemaining(&o, tc.at))
		})
	}
}

func TestPolicyRestockingFees(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name                        string
		category, condition, reason string
		want                        string
	}{
		{"opened electronics pay the category fee", "electronics", ConditionOpened, ReasonNoLongerNeeded, "15"},
		{"new electronics pay nothing", "electronics", ConditionNew, ReasonNoLongerNeeded, "0"},
		{"furniture pays whatever its condition", "furniture", ConditionNew, ReasonOther, "10"},
		{"other opened items pay the general fee", "apparel", ConditionOpened, ReasonNotAsDescribed, "5"},
		{"defective waives the fee", "electronics", ConditionOpened, ReasonDefective, "0"},
		{"wrong item waives the fee", "furniture", ConditionOpened, ReasonWrongItem, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, dec(tc.want).Equal(p.RestockingFeePercent(tc.category, tc.condition, tc.reason)),
				"got %s", p.RestockingFeePercent(tc.category, tc.condition, tc.reason))
		})
	}
	t.Run("a reason-specific rule applies only to that reason", func(t *testing.T) {
		q := *p
		q.RestockingFees = append([]RestockingFeeRule{{Reason: ReasonNoLongerNeeded, Percent: dec("20")}}, p.RestockingFees...)
		require.True(t, dec("20").Equal(q.RestockingFeePercent("apparel", ConditionNew, ReasonNoLongerNeeded)))
		require.True(t, dec("0").Equal(q.RestockingFeePercent("apparel", ConditionNew, ReasonOther)))
	})
}

func TestPolicyConditionFactor(t *testing.T) {
	p := DefaultPolicy()
	require.True(t, dec("1").Equal(p.ConditionFactor(ActualSellable, ReasonOther)))
	require.True(t, dec("0.5").Equal(p.ConditionFactor(ActualDamaged, ReasonOther)))
	require.True(t, dec("0").Equal(p.ConditionFactor(ActualUnsellable, ReasonNoLongerNeeded)))
	require.True(t, dec("1").Equal(p.ConditionFactor(ActualUnsellable, ReasonDefective)), "merchant fault refunds in full")
	require.True(t, dec("1").Equal(p.ConditionFactor("", ReasonOther)), "not yet inspected")
}

func TestPolicyEligibility(t *testing.T) {
	p := DefaultPolicy()
	o := testOrder()
	d := tDelivered
	o.DeliveredAt = &d

	t.Run("lists eligible and ineligible items with reasons", func(t *testing.T) {
		res := p.Eligibility(&o, nil, d.AddDate(0, 0, 5))
		require.Len(t, res.EligibleItems, 2)
		require.Equal(t, "li_shirt", res.EligibleItems[0].LineItemID)
		require.Equal(t, 2, res.EligibleItems[0].ReturnableQuantity)
		require.Equal(t, []IneligibleItem{
			{"li_cheese", "prod_cheese", IneligibleCategory},
			{"li_sale", "prod_sale", IneligibleFinalSale},
		}, res.IneligibleItems)
		require.True(t, d.AddDate(0, 0, 60).Equal(res.ReturnWindowExpiresAt))
		require.Equal(t, 55, res.DaysRemaining)
	})
	t.Run("units under return are not eligible again", func(t *testing.T) {
		res := p.Eligibility(&o, map[string]int{"li_shirt": 1, "li_phone": 1}, d)
		require.Len(t, res.EligibleItems, 1)
		require.Equal(t, 1, res.EligibleItems[0].ReturnableQuantity)
		require.Contains(t, res.IneligibleItems, IneligibleItem{"li_phone", "prod_phone", IneligibleAlreadyReturned})
	})
	t.Run("electronics drop out when their window closes", func(t *testing.T) {
		res := p.Eligibility(&o, nil, d.AddDate(0, 0, 20))
		require.Contains(t, res.IneligibleItems, IneligibleItem{"li_phone", "prod_phone", IneligibleWindowExpired})
	})
	t.Run("opened electronics mention the restocking fee", func(t *testing.T) {
		res := p.Eligibility(&o, nil, d)
		require.Contains(t, res.EligibleItems[1].Restrictions, "restocking fee 15% when opened")
	})
}

func TestPolicyLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	valid := `{"default_window_days": 14, "categories": {"toys": {"window_days": 90}, "books": {"non_returnable": true}},
		"restocking_fees": [{"percent": "7.5"}], "merchant_fault_reasons": ["defective"],
		"condition_adjustments": {"sellable": "1", "damaged": "0.25", "unsellable": "0"},
		"max_refund_attempts": 2, "max_restock_attempts": 2, "max_notification_attempts": 1}`
	t.Run("an operator file replaces the default", func(t *testing.T) {
		p, err := LoadPolicy(write("ok.json", valid))
		require.NoError(t, err)
		require.Equal(t, 14, p.WindowDays("apparel"))
		require.Equal(t, 90, p.WindowDays("toys"))
		require.True(t, p.Categories["books"].NonReturnable)
		require.True(t, dec("7.5").Equal(p.RestockingFeePercent("toys", ConditionNew, ReasonWrongItem)), "wrong_item is not merchant fault here")
	})
	t.Run("empty path is the embedded default", func(t *testing.T) {
		p, err := LoadPolicy("")
		require.NoError(t, err)
		require.Equal(t, 30, p.DefaultWindowDays)
	})
	bad := map[string]string{
		"zero window":          `{"default_window_days": 0}`,
		"fee over 100 percent": `{"default_window_days": 1, "restocking_fees": [{"percent": "101"}]}`,
		"unknown condition":    `{"default_window_days": 1, "restocking_fees": [{"condition": "used", "percent": "1"}]}`,
		"unknown fault reason": `{"default_window_days": 1, "merchant_fault_reasons": ["late"]}`,
		"missing adjustment":   `{"default_window_days": 1, "condition_adjustments": {"sellable": "1"}}`,
		"not JSON":             `{`,
	}
	for name, body := range bad {
		t.Run("rejects "+name, func(t *testing.T) {
			_, err := LoadPolicy(write("bad.json", body))
			require.ErrorIs(t, err, ErrInvalidPolicy)
		})
	}
	t.Run("a missing file is an error", func(t *testing.T) {
		_, err := LoadPolicy(filepath.Join(dir, "nope.json"))
		require.ErrorIs(t, err, ErrInvalidPolicy)
	})
}
