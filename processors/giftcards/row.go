package giftcards

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"

	json "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// The card row (CardState) is read and rewritten on every command for the
// card, and every byte of it is encoded, written to Pebble (memtable and
// WAL), to the table's changelog, and decoded again; so what grows with a
// card's history is kept out of it or kept compact: the ledger is a window
// of recent transactions plus a checkpoint (Card.Trim), and the window's
// transactions, the redemptions and the remembered results of create and
// redeem are stored as JSON arrays rather than objects. Every reader of
// the row decodes through these types, and each also reads the object
// forms that earlier versions stored.

// MarshalJSON stores a redemption as ["id","order_id","amount"], followed
// by "refunded" when something was refunded or a hold follows, and by
// "hold_id" when it captured a hold: the compact JSON form of the card rows
// earlier versions stored (the row is binary now, rowcodec.go), which never
// had the refund IDs.
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
		*r = Redemption{ID: s.ID, OrderID: s.OrderID, Amount: s.Amount, Refunded: s.Refunded, HoldID: s.HoldID}
		return nil
	}
	f, err := stringArray(b, 5)
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

// TxWindow is the recent window of a card's ledger (Card.Transactions). In
// the card row each transaction is stored as an array of strings
// ["id","type","amount","balance_before","balance_after","order_id",
// "reference_id","command_id","at"]; events carry Transaction objects as
// before.
type TxWindow []Transaction

// MarshalJSON implements json.Marshaler.
func (w TxWindow) MarshalJSON() ([]byte, error) {
	if w == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 256*len(w)+2)
	b = append(b, '[')
	for i, t := range w {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, t.ID)
		b = append(b, ',')
		b = appendJSONString(b, string(t.Type))
		for _, d := range []decimal.Decimal{t.Amount, t.BalanceBefore, t.BalanceAfter} {
			b = append(b, ',', '"')
			b = append(b, d.String()...)
			b = append(b, '"')
		}
		for _, f := range []string{t.OrderID, t.ReferenceID, t.CommandID} {
			b = append(b, ',')
			b = appendJSONString(b, f)
		}
		b = append(b, ',', '"')
		b = t.At.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"', ']')
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads the array form and the object form of earlier
// versions.
func (w *TxWindow) UnmarshalJSON(b []byte) error {
	if v := trimSpace(b); string(v) == "null" {
		*w = nil
		return nil
	}
	it, err := newElements(b)
	if err != nil {
		return err
	}
	out := make(TxWindow, 0, DefaultTransactionWindow)
	for {
		e, ok, err := it.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		var t Transaction
		if e[0] == '{' {
			if err := json.Unmarshal(e, &t); err != nil {
				return err
			}
		} else if t, err = storedTransaction(e); err != nil {
			return err
		}
		out = append(out, t)
	}
	*w = out
	return nil
}

// storedTransaction decodes a transaction's array form.
func storedTransaction(e []byte) (Transaction, error) {
	var f [9][]byte
	n, err := fields(e, f[:])
	if err != nil {
		return Transaction{}, err
	}
	if n != len(f) {
		return Transaction{}, fmt.Errorf("giftcards: stored transaction has %d fields", n)
	}
	var t Transaction
	var typ string
	for i, dst := range []*string{&t.ID, &typ, &t.OrderID, &t.ReferenceID, &t.CommandID} {
		if *dst, err = unquote(f[[]int{0, 1, 5, 6, 7}[i]]); err != nil {
			return Transaction{}, err
		}
	}
	t.Type = TxType(typ)
	for i, d := range []*decimal.Decimal{&t.Amount, &t.BalanceBefore, &t.BalanceAfter} {
		s, err := rawString(f[2+i])
		if err == nil {
			*d, err = decimal.NewFromString(s)
		}
		if err != nil {
			return Transaction{}, fmt.Errorf("giftcards: stored transaction %s: %w", t.ID, err)
		}
	}
	s, err := rawString(f[8])
	if err == nil {
		t.At, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return Transaction{}, fmt.Errorf("giftcards: stored transaction %s: %w", t.ID, err)
	}
	return t, nil
}

// cardLedger is the card's command ledger as the row stores it: the
// remembered results the processor keeps compact (compactResult: a create
// or a redeem that succeeded, marked by an empty type) as
// ["command ID","digest","completed_at"(, result)], every other entry as
// the command.Entry object it always was.
type cardLedger struct {
	command.Ledger
}

// compactEntry reports whether e is kept in the array form: exactly what
// compactResult stores, so that nothing of it is lost.
func compactEntry(e command.Entry) bool {
	r := e.Result
	return r != nil && r.Type == "" && r.CommandID == "" && r.EnvelopeID == "" && r.OK && r.Error == nil &&
		!r.Replayed && !r.Pending && (len(r.Result) == 0 || r.Result[0] == '{')
}

// MarshalJSON implements json.Marshaler.
func (l cardLedger) MarshalJSON() ([]byte, error) {
	if len(l.Entries) == 0 {
		return []byte("{}"), nil
	}
	b := make([]byte, 0, 192*len(l.Entries)+16)
	b = append(b, `{"entries":[`...)
	for i, e := range l.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		if !compactEntry(e) {
			raw, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			b = append(b, raw...)
			continue
		}
		b = append(b, '[')
		b = appendJSONString(b, e.ID)
		b = append(b, ',')
		b = appendJSONString(b, e.Digest)
		b = append(b, ',', '"')
		b = e.Result.CompletedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		if len(e.Result.Result) > 0 {
			b = append(b, ',')
			b = append(b, e.Result.Result...)
		}
		b = append(b, ']')
	}
	return append(b, ']', '}'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (l *cardLedger) UnmarshalJSON(b []byte) error {
	l.Entries = nil
	return eachMember(b, func(key string, v []byte) error {
		if key != "entries" || string(v) == "null" {
			return nil
		}
		return eachElement(v, func(e []byte) error {
			var entry ledgerEntry
			if err := entry.UnmarshalJSON(e); err != nil {
				return err
			}
			l.Entries = append(l.Entries, command.Entry(entry))
			return nil
		})
	})
}

// ledgerEntry decodes one entry of a cardLedger, in either form.
type ledgerEntry command.Entry

// UnmarshalJSON implements json.Unmarshaler.
func (e *ledgerEntry) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, (*command.Entry)(e))
	}
	var f [4][]byte
	n, err := fields(b, f[:])
	if err != nil {
		return err
	}
	if n < 3 {
		return fmt.Errorf("giftcards: stored ledger entry has %d fields", n)
	}
	id, err := unquote(f[0])
	if err != nil {
		return err
	}
	digest, err := unquote(f[1])
	if err != nil {
		return err
	}
	s, err := rawString(f[2])
	var at time.Time
	if err == nil {
		at, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return fmt.Errorf("giftcards: stored ledger entry %s: %w", id, err)
	}
	r := &topics.CommandResult{OK: true, CompletedAt: at}
	if n == 4 {
		if f[3][0] != '{' {
			return fmt.Errorf("giftcards: stored ledger entry %s: result is not an object", id)
		}
		r.Result = json.RawMessage(bytes.Clone(f[3]))
	}
	*e = ledgerEntry{ID: id, Digest: digest, Result: r}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// eachElement calls fn with each element of the JSON array b (its bytes,
// without surrounding blanks), without encoding/json's reflection.
func eachElement(b []byte, fn func(elem []byte) error) error {
	it, err := newElements(b)
	if err != nil {
		return err
	}
	for {
		e, ok, err := it.next()
		if err != nil || !ok {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// elements iterates over the elements of a JSON array.
type elements struct {
	rest  []byte
	first bool
}

func newElements(b []byte) (elements, error) {
	b = trimSpace(b)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return elements{}, fmt.Errorf("giftcards: stored value is not an array: %.40q", b)
	}
	return elements{rest: trimSpace(b[1 : len(b)-1]), first: true}, nil
}

// next returns the next element, false after the last one.
func (it *elements) next() ([]byte, bool, error) {
	if len(it.rest) == 0 {
		return nil, false, nil
	}
	if !it.first {
		if it.rest[0] != ',' {
			return nil, false, fmt.Errorf("giftcards: stored array: expected a comma: %.40q", it.rest)
		}
		if it.rest = trimSpace(it.rest[1:]); len(it.rest) == 0 {
			return nil, false, fmt.Errorf("giftcards: stored array ends with a comma")
		}
	}
	it.first = false
	n, err := skipValue(it.rest)
	if err != nil {
		return nil, false, err
	}
	e := it.rest[:n]
	it.rest = trimSpace(it.rest[n:])
	return e, true, nil
}

// fields reads the elements of the JSON array b into dst (at most
// len(dst)) and returns how many there were.
func fields(b []byte, dst [][]byte) (int, error) {
	it, err := newElements(b)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		e, ok, err := it.next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return n, nil
		}
		if n == len(dst) {
			return 0, fmt.Errorf("giftcards: stored array has more than %d fields", len(dst))
		}
		dst[n] = e
		n++
	}
}

// rawString is the content of the JSON string e when it has no escapes
// (numbers and times never do), for parsing without unquoting.
func rawString(e []byte) (string, error) {
	if len(e) < 2 || e[0] != '"' || e[len(e)-1] != '"' || bytes.IndexByte(e, '\\') >= 0 {
		return "", fmt.Errorf("giftcards: stored field is not a plain string: %.40q", e)
	}
	return string(e[1 : len(e)-1]), nil
}

// eachMember calls fn with each member of the JSON object b: its key and
// its value's bytes.
func eachMember(b []byte, fn func(key string, v []byte) error) error {
	b = trimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return fmt.Errorf("giftcards: stored value is not an object: %.40q", b)
	}
	inner := trimSpace(b[1 : len(b)-1])
	for len(inner) > 0 {
		n, err := skipValue(inner)
		if err != nil {
			return err
		}
		key, err := unquote(inner[:n])
		if err != nil {
			return err
		}
		inner = trimSpace(inner[n:])
		if len(inner) == 0 || inner[0] != ':' {
			return fmt.Errorf("giftcards: stored object: expected a colon after %q", key)
		}
		inner = trimSpace(inner[1:])
		if n, err = skipValue(inner); err != nil {
			return err
		}
		if err := fn(key, inner[:n]); err != nil {
			return err
		}
		inner = trimSpace(inner[n:])
		if len(inner) == 0 {
			break
		}
		if inner[0] != ',' {
			return fmt.Errorf("giftcards: stored object: expected a comma: %.40q", inner)
		}
		inner = trimSpace(inner[1:])
	}
	return nil
}

// skipValue returns the length of the JSON value b starts with (a string,
// an object or array, or a bare literal).
func skipValue(b []byte) (int, error) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return 0, fmt.Errorf("giftcards: stored value: unterminated string")
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return 0, fmt.Errorf("giftcards: stored value: unbalanced %q", c)
			}
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				if i == 0 {
					return 0, fmt.Errorf("giftcards: stored value: empty element")
				}
				return i, nil
			}
		}
		if depth == 0 && (b[0] == '"' || b[0] == '{' || b[0] == '[') {
			return i + 1, nil
		}
	}
	if depth != 0 {
		return 0, fmt.Errorf("giftcards: stored value: unterminated")
	}
	return len(b), nil
}

// stringArray reads a JSON array of at most max strings.
func stringArray(b []byte, max int) ([]string, error) {
	var buf [9][]byte
	n, err := fields(b, buf[:min(max, len(buf))])
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i := range n {
		if out[i], err = unquote(buf[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// unquote returns the JSON string e: as it is when it has no escapes,
// through encoding/json otherwise.
func unquote(e []byte) (string, error) {
	if len(e) < 2 || e[0] != '"' || e[len(e)-1] != '"' {
		return "", fmt.Errorf("giftcards: stored field is not a string: %.40q", e)
	}
	if bytes.IndexByte(e, '\\') < 0 {
		return string(e[1 : len(e)-1]), nil
	}
	var s string
	err := json.Unmarshal(e, &s)
	return s, err
}
