package giftcards

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// The card row (CardState) is read and rewritten on every command for the
// card, so what grows with a card's history is kept out of it or kept
// compact: the ledger is a window of recent transactions plus a
// checkpoint (Card.Trim), and redemptions are stored as JSON arrays
// rather than objects.

// MarshalJSON stores a redemption as ["id","order_id","amount"], followed
// by "refunded" when something was refunded or a hold follows, and by
// "hold_id" when it captured a hold: about half the size of the object
// form, and cheaper to encode and decode.
func (r Redemption) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16+len(r.ID)+len(r.OrderID)+len(r.HoldID))
	b = append(b, '[')
	b = appendJSONString(b, r.ID)
	b = append(b, ',')
	b = appendJSONString(b, r.OrderID)
	b = append(b, ',', '"')
	b = append(b, r.Amount.String()...)
	b = append(b, '"')
	if !r.Refunded.IsZero() || r.HoldID != "" {
		b = append(b, ',', '"')
		b = append(b, r.Refunded.String()...)
		b = append(b, '"')
	}
	if r.HoldID != "" {
		b = append(b, ',')
		b = appendJSONString(b, r.HoldID)
	}
	return append(b, ']'), nil
}

// storedRedemption is the object form earlier versions stored (its "at" is
// not kept any more).
type storedRedemption struct {
	ID       string          `json:"id"`
	OrderID  string          `json:"order_id"`
	Amount   decimal.Decimal `json:"amount"`
	Refunded decimal.Decimal `json:"refunded"`
	HoldID   string          `json:"hold_id,omitempty"`
}

// UnmarshalJSON reads both the compact array form and the object form of
// earlier versions.
func (r *Redemption) UnmarshalJSON(b []byte) error {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	if len(b) > 0 && b[0] == '{' {
		var s storedRedemption
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = Redemption(s)
		return nil
	}
	f, err := scanStrings(b)
	if err != nil {
		return err
	}
	if len(f) < 3 || len(f) > 5 {
		return fmt.Errorf("giftcards: stored redemption has %d fields", len(f))
	}
	var amount decimal.Decimal
	amount, err = decimal.NewFromString(f[2])
	if err != nil {
		return fmt.Errorf("giftcards: stored redemption amount: %w", err)
	}
	refunded := decimal.Zero
	if len(f) > 3 {
		if refunded, err = decimal.NewFromString(f[3]); err != nil {
			return fmt.Errorf("giftcards: stored redemption refunded: %w", err)
		}
	}
	*r = Redemption{ID: f[0], OrderID: f[1], Amount: amount, Refunded: refunded}
	if len(f) > 4 {
		r.HoldID = f[4]
	}
	return nil
}

// appendJSONString appends s as a JSON string: as it is when it needs no
// escaping (IDs always), through encoding/json otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// scanStrings reads a JSON array of at most 5 strings (a stored
// redemption) without encoding/json's reflection: strings without escapes
// are taken as they are, the others are unquoted by encoding/json.
func scanStrings(b []byte) ([]string, error) {
	bad := func() ([]string, error) {
		return nil, fmt.Errorf("giftcards: stored redemption is not an array of strings: %.40q", b)
	}
	skip := func(i int) int {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
		return i
	}
	i := skip(0)
	if i >= len(b) || b[i] != '[' {
		return bad()
	}
	out := make([]string, 0, 5)
	i = skip(i + 1)
	if i < len(b) && b[i] == ']' {
		return out, nil
	}
	for {
		if i >= len(b) || b[i] != '"' || len(out) == 5 {
			return bad()
		}
		j, escaped := i+1, false
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		if j >= len(b) {
			return bad()
		}
		if escaped {
			var s string
			if err := json.Unmarshal(b[i:j+1], &s); err != nil {
				return nil, err
			}
			out = append(out, s)
		} else {
			out = append(out, string(b[i+1:j]))
		}
		i = skip(j + 1)
		if i < len(b) && b[i] == ',' {
			i = skip(i + 1)
			continue
		}
		if i < len(b) && b[i] == ']' && skip(i+1) == len(b) {
			return out, nil
		}
		return bad()
	}
}
