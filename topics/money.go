package topics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	sjson "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"
)

// Money is an amount in one currency. On the wire it is
// {"amount": "12.34", "currency": "USD"}: the amount is a decimal string,
// never a JSON number, so no float ever touches it.
type Money struct {
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
}

// moneyJSON is the wire form; decimal.Decimal marshals as a quoted string.
type moneyJSON struct {
	Amount   json.RawMessage `json:"amount"`
	Currency string          `json:"currency"`
}

// UnmarshalJSON accepts only a decimal string for amount: a JSON number is
// rejected, because a client that sends floats has already lost precision.
func (m *Money) UnmarshalJSON(b []byte) error {
	var w moneyJSON
	if err := sjson.Unmarshal(b, &w); err != nil {
		return err
	}
	amt, err := ParseAmountJSON(w.Amount)
	if err != nil {
		return err
	}
	m.Amount, m.Currency = amt, strings.ToUpper(strings.TrimSpace(w.Currency))
	return nil
}

// Amount is a decimal that decodes only from a JSON decimal string
// ("12.34"), never from a number (ParseAmountJSON), and encodes as one: the
// contract's form of every amount, inbound events' included.
type Amount struct{ decimal.Decimal }

// UnmarshalJSON implements json.Unmarshaler.
func (a *Amount) UnmarshalJSON(b []byte) error {
	d, err := ParseAmountJSON(b)
	if err != nil {
		return err
	}
	a.Decimal = d
	return nil
}

// MarshalJSON implements json.Marshaler.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.Decimal.String()) }

// ParseAmountJSON parses a JSON value that must be a decimal string.
func ParseAmountJSON(raw json.RawMessage) (decimal.Decimal, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return decimal.Decimal{}, ErrInvalidAmount.Withf("amount is missing")
	}
	if raw[0] != '"' {
		return decimal.Decimal{}, ErrInvalidAmount.Withf("amount must be a decimal string such as \"12.34\", not a JSON number")
	}
	// A decimal string has no escapes: read it as it is.
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && !bytes.ContainsAny(raw[1:len(raw)-1], `"\`) {
		return ParseAmount(string(raw[1 : len(raw)-1]))
	}
	var s string
	if err := sjson.Unmarshal(raw, &s); err != nil {
		return decimal.Decimal{}, ErrInvalidAmount.Withf("amount: %v", err)
	}
	return ParseAmount(s)
}

// ParseAmount parses a decimal string such as "12.34". Exponents, blanks and
// non-numbers are rejected.
func ParseAmount(s string) (decimal.Decimal, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "eE") {
		return decimal.Decimal{}, ErrInvalidAmount.Withf("amount %q is not a plain decimal number", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, ErrInvalidAmount.Withf("amount %q is not a decimal number", s)
	}
	return d, nil
}

// String renders "12.34 USD" with the currency's minor units
// (AmountString).
func (m Money) String() string {
	return AmountString(m.Amount, m.Currency) + " " + m.Currency
}

// AmountString renders d with exactly the minor units of currency ("5.00",
// "500", "1.250") — unless that would round it, or the currency is not
// known: then as precise as d is ("5.001"). An amount more precise than its
// currency is invalid, and rendering must leave that to the validation
// that refuses it rather than round it on the way (a command that crosses
// Kafka is rendered before a processor validates it).
func AmountString(d decimal.Decimal, currency string) string {
	u, err := MinorUnits(currency)
	if err != nil {
		return d.String()
	}
	return AmountStringUnits(d, u)
}

// AmountStringUnits is AmountString for a currency of units minor units.
func AmountStringUnits(d decimal.Decimal, units int32) string {
	var b [24]byte
	return string(AppendAmountUnits(b[:0], d, units))
}

// AppendAmountUnits appends AmountStringUnits(d, units) to b. Every event,
// result and breakdown renders its amounts this way, so an amount whose
// coefficient fits 18 digits at the currency's scale is rendered from that
// integer, without the big.Int arithmetic of decimal.StringFixed; the
// output is the same.
func AppendAmountUnits(b []byte, d decimal.Decimal, units int32) []byte {
	if units < 0 || units >= int32(len(pow10)) {
		return append(b, amountStringBig(d, units)...)
	}
	digits := int32(d.NumDigits())
	if digits >= int32(len(pow10)) {
		return append(b, amountStringBig(d, units)...)
	}
	c := d.CoefficientInt64() // exact: fewer than 19 digits
	switch shift := d.Exponent() + units; {
	case shift > 0:
		if digits+shift >= int32(len(pow10)) {
			return append(b, amountStringBig(d, units)...)
		}
		c *= pow10[shift]
	case shift < 0:
		// more places than the currency has: trailing zeros drop, any
		// other digit leaves the amount as precise as it is
		if -shift >= int32(len(pow10)) || c%pow10[-shift] != 0 {
			return append(b, amountStringBig(d, units)...)
		}
		c /= pow10[-shift]
	}
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c)
	}
	if units == 0 {
		return strconv.AppendUint(b, u, 10)
	}
	p := uint64(pow10[units])
	b = strconv.AppendUint(b, u/p, 10)
	b = append(b, '.')
	var frac [20]byte
	f := strconv.AppendUint(frac[:0], u%p, 10)
	for i := len(f); i < int(units); i++ {
		b = append(b, '0')
	}
	return append(b, f...)
}

// pow10[i] is 10^i for the 18 digits any int64 holds.
var pow10 = [...]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// amountStringBig is AmountStringUnits by the decimal's own arithmetic.
func amountStringBig(d decimal.Decimal, units int32) string {
	if d.Exponent() >= -units || d.Equal(d.Round(units)) {
		return d.StringFixed(units)
	}
	return d.String()
}

// MarshalJSON renders the amount with exactly the currency's minor units
// ("5.00", "500", "1.250"; AmountString: an amount more precise than that
// as it is). Every event and result carries amounts, so the common case (a
// currency code of letters and digits) is appended directly; the output is
// byte for byte what encoding/json makes of the two fields.
func (m Money) MarshalJSON() ([]byte, error) {
	units, err := MinorUnits(m.Currency)
	if err != nil || !plainJSONString(m.Currency) {
		amount := AmountString(m.Amount, m.Currency)
		return json.Marshal(struct {
			Amount   string `json:"amount"`
			Currency string `json:"currency"`
		}{amount, m.Currency})
	}
	// A decimal's string has only digits, '-' and '.': nothing to escape.
	b := make([]byte, 0, len(`{"amount":"","currency":""}`)+24+len(m.Currency))
	b = append(b, `{"amount":"`...)
	b = AppendAmountUnits(b, m.Amount, units)
	b = append(b, `","currency":"`...)
	b = append(b, m.Currency...)
	return append(b, `"}`...), nil
}

// plainJSONString reports whether s is ASCII letters and digits only, which
// JSON encodes as they are.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// notLegalTender lists ISO 4217 codes that x/text knows but that are not
// money a shop can take: precious metals, funds codes, testing and "no
// currency" codes.
var notLegalTender = map[string]bool{
	"XAG": true, "XAU": true, "XPD": true, "XPT": true, // metals
	"XBA": true, "XBB": true, "XBC": true, "XBD": true, // bond units
	"XDR": true, "XSU": true, "XUA": true, // SDR and units of account
	"XTS": true, "XXX": true, // testing, no currency
	"BOV": true, "CHE": true, "CHW": true, "CLF": true, "COU": true,
	"MXV": true, "USN": true, "UYI": true, "UYW": true, // funds codes
}

// MinorUnits returns how many decimal places code's amounts have (JPY 0, USD
// 2, KWD 3), from ISO 4217 data in golang.org/x/text/currency. It fails with
// ErrUnsupportedCurrency for an unknown code or one that is not legal tender.
func MinorUnits(code string) (int32, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 3 || notLegalTender[code] {
		return 0, ErrUnsupportedCurrency.Withf("currency %q is not supported", code).With("currency", code)
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return 0, ErrUnsupportedCurrency.Withf("currency %q is not supported", code).With("currency", code)
	}
	scale, _ := currency.Standard.Rounding(u)
	return int32(scale), nil
}

// NormalizeCurrency upper-cases and validates an ISO 4217 code.
func NormalizeCurrency(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if _, err := MinorUnits(code); err != nil {
		return "", err
	}
	return code, nil
}

// NewMoney validates amount against currency: the currency must be supported
// and the amount may not carry more decimal places than the currency's minor
// units (12.345 USD is rejected, not rounded). Zero and negative amounts are
// allowed here; callers that need a positive amount use Positive.
func NewMoney(amount decimal.Decimal, code string) (Money, error) {
	code, err := NormalizeCurrency(code)
	if err != nil {
		return Money{}, err
	}
	units, _ := MinorUnits(code)
	if !amount.Equal(amount.Truncate(units)) {
		return Money{}, ErrInvalidAmount.
			Withf("%s has more than %d decimal places allowed for %s", amount.String(), units, code).
			With("currency", code).With("minor_units", units)
	}
	return Money{Amount: amount.Truncate(units), Currency: code}, nil
}

// Positive is NewMoney that also requires amount > 0.
func Positive(amount decimal.Decimal, code string) (Money, error) {
	m, err := NewMoney(amount, code)
	if err != nil {
		return Money{}, err
	}
	if !m.Amount.IsPositive() {
		return Money{}, ErrInvalidAmount.Withf("amount must be greater than zero, got %s", amount.String())
	}
	return m, nil
}

// Round rounds amount to code's minor units, half away from zero (banker's
// rounding is not what shoppers expect on a receipt). It is for computed
// values (shares, proportions), never for amounts a client sent.
func Round(amount decimal.Decimal, code string) (decimal.Decimal, error) {
	units, err := MinorUnits(code)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return amount.Round(units), nil
}

// Add returns m + o; both must be in the same currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("topics: adding %s to %s", o.Currency, m.Currency)
	}
	return Money{Amount: m.Amount.Add(o.Amount), Currency: m.Currency}, nil
}
