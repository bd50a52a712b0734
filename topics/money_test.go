package topics_test

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

func TestMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		code  string
		units int32
		err   error
	}{
		{"USD", 2, nil}, {"usd", 2, nil}, {"EUR", 2, nil}, {"JPY", 0, nil}, {"KWD", 3, nil}, {"BHD", 3, nil},
		{"XAU", 0, topics.ErrUnsupportedCurrency}, {"XXX", 0, topics.ErrUnsupportedCurrency},
		{"ABC", 0, topics.ErrUnsupportedCurrency}, {"", 0, topics.ErrUnsupportedCurrency},
		{"DOLLARS", 0, topics.ErrUnsupportedCurrency},
	} {
		t.Run(tc.code, func(t *testing.T) {
			u, err := topics.MinorUnits(tc.code)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.units, u)
		})
	}
}

func TestNewMoneyRejectsExcessPrecision(t *testing.T) {
	for _, tc := range []struct {
		name, amount, currency string
		ok                     bool
	}{
		{"USD cents", "12.34", "USD", true},
		{"USD trailing zeros", "12.3400", "USD", true},
		{"USD mills", "12.345", "USD", false},
		{"JPY whole", "500", "JPY", true},
		{"JPY fraction", "500.5", "JPY", false},
		{"KWD fils", "1.250", "KWD", true},
		{"KWD too fine", "1.2505", "KWD", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := topics.NewMoney(decimal.RequireFromString(tc.amount), tc.currency)
			if !tc.ok {
				require.ErrorIs(t, err, topics.ErrInvalidAmount)
				return
			}
			require.NoError(t, err)
			require.True(t, m.Amount.Equal(decimal.RequireFromString(tc.amount)))
		})
	}
}

func TestPositiveRejectsZeroAndNegative(t *testing.T) {
	for _, a := range []string{"0", "-1.00", "0.00"} {
		_, err := topics.Positive(decimal.RequireFromString(a), "USD")
		require.ErrorIs(t, err, topics.ErrInvalidAmount, a)
	}
}

func TestDecimalHasNoFloatError(t *testing.T) {
	sum := decimal.RequireFromString("0.1").Add(decimal.RequireFromString("0.2"))
	require.True(t, sum.Equal(decimal.RequireFromString("0.3")))
}

func TestMoneyJSON(t *testing.T) {
	t.Run("renders minor units", func(t *testing.T) {
		for _, tc := range []struct{ amount, currency, want string }{
			{"5", "USD", `{"amount":"5.00","currency":"USD"}`},
			{"500", "JPY", `{"amount":"500","currency":"JPY"}`},
			{"1.25", "KWD", `{"amount":"1.250","currency":"KWD"}`},
			{"5.000", "USD", `{"amount":"5.00","currency":"USD"}`},
			// more precise than the currency: never rounded on the way (a
			// processor's validation refuses it)
			{"5.001", "USD", `{"amount":"5.001","currency":"USD"}`},
			{"1.5", "JPY", `{"amount":"1.5","currency":"JPY"}`},
			{"-0.0049", "EUR", `{"amount":"-0.0049","currency":"EUR"}`},
		} {
			b, err := json.Marshal(topics.Money{Amount: decimal.RequireFromString(tc.amount), Currency: tc.currency})
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(b))
		}
	})
	t.Run("renders exactly what encoding/json makes of the two fields", func(t *testing.T) {
		for _, tc := range []struct{ amount, currency string }{
			{"5", "USD"}, {"-12.5", "EUR"}, {"1.25", "KWD"}, {"0", "JPY"}, {"1.005", "USD"},
			{"3", "usd"}, {"3", "ZZZ"}, {"3", ""}, {"3", "<US>"}, {"3", "é"}, {"3", `U"S`},
		} {
			m := topics.Money{Amount: decimal.RequireFromString(tc.amount), Currency: tc.currency}
			got, err := m.MarshalJSON()
			require.NoError(t, err)
			want, err := json.Marshal(struct {
				Amount   string `json:"amount"`
				Currency string `json:"currency"`
			}{topics.AmountString(m.Amount, m.Currency), m.Currency})
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "%s %q", tc.amount, tc.currency)
		}
	})
	t.Run("accepts a decimal string", func(t *testing.T) {
		var m topics.Money
		require.NoError(t, json.Unmarshal([]byte(`{"amount":"12.34","currency":"usd"}`), &m))
		require.Equal(t, "12.34", m.Amount.String())
		require.Equal(t, "USD", m.Currency)
	})
	t.Run("refuses a float", func(t *testing.T) {
		var m topics.Money
		err := json.Unmarshal([]byte(`{"amount":12.34,"currency":"USD"}`), &m)
		require.ErrorIs(t, err, topics.ErrInvalidAmount)
	})
	t.Run("refuses exponents and junk", func(t *testing.T) {
		for _, a := range []string{`"1e3"`, `"abc"`, `""`, `null`} {
			var m topics.Money
			err := json.Unmarshal([]byte(`{"amount":`+a+`,"currency":"USD"}`), &m)
			require.ErrorIs(t, err, topics.ErrInvalidAmount, a)
		}
	})
}

func TestAmountString(t *testing.T) {
	for _, tc := range []struct{ amount, currency, want string }{
		{"5", "USD", "5.00"},
		{"5.1", "USD", "5.10"},
		{"5.100", "USD", "5.10"},
		{"5.101", "USD", "5.101"},
		{"-12.5", "EUR", "-12.50"},
		{"500", "JPY", "500"},
		{"500.0", "JPY", "500"},
		{"500.5", "JPY", "500.5"},
		{"1.25", "KWD", "1.250"},
		{"0", "USD", "0.00"},
		{"1.5", "ZZZ", "1.5"}, // not a currency: as it is
		{"1.50", "", "1.5"},
	} {
		require.Equal(t, tc.want, topics.AmountString(decimal.RequireFromString(tc.amount), tc.currency), "%s %s", tc.amount, tc.currency)
	}
}

func TestParseAmountJSON(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
		ok        bool
	}{
		{`"12.34"`, "12.34", true},
		{`"1\u002e5"`, "1.5", true}, // an escaped string is unescaped first
		{`"-0.01"`, "-0.01", true},
		{`"`, "", false},
		{`"12.34`, "", false},
		{`12.34`, "", false},
		{`"1e3"`, "", false},
		{``, "", false},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			d, err := topics.ParseAmountJSON(json.RawMessage(tc.raw))
			if !tc.ok {
				require.ErrorIs(t, err, topics.ErrInvalidAmount)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, d.String())
		})
	}
}

func TestRoundHalfAwayFromZero(t *testing.T) {
	r, err := topics.Round(decimal.RequireFromString("2.345"), "USD")
	require.NoError(t, err)
	require.Equal(t, "2.35", r.StringFixed(2))
	r, err = topics.Round(decimal.RequireFromString("2.5"), "JPY")
	require.NoError(t, err)
	require.Equal(t, "3", r.String())
}
