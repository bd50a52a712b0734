package giftcards

import (
	"bytes"
	"fmt"

	"github.com/lovoo/goka"
	json "github.com/segmentio/encoding/json"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/state/binrow"
	"github.com/shopstream/streams/topics"
)

// The card row (CardState) is stored in a binary form (rowFormat), written
// and read field by field with state/binrow: about half the bytes of its
// JSON form and a fraction of the CPU to encode and decode, and the row is
// decoded and re-encoded on every command for the card. Rows that earlier
// versions stored as JSON (they begin with '{') still decode, through the
// JSON methods in row.go, and are rewritten in the binary form on their
// next change.
//
// The order of the fields below is the format: a field is added only at
// the end of a new format version, never in the middle of this one.

// rowFormat begins every binary card row (a JSON row begins with '{').
// Format 0x02 stores the command ledger's entries in the shared form of
// processors/command (AppendEntry); rows of format 0x01, whose entries
// have the form readEntryV1 reads, still decode.
const (
	rowFormat   byte = 0x02
	rowFormatV1 byte = 0x01
)

// Flags of a row, of a card, and of a remembered result.
const (
	rowHasCard = 1 << iota
)

const (
	cardVoided = 1 << iota
	cardCheckpoint
)

// Flags of a remembered result in a 0x01 row.
const (
	resultOK = 1 << iota
	resultReplayed
	resultPending
	resultError
	resultSameID // the result's CommandID is the entry's ID (not stored again)
)

// TableCodec returns the codec of the card table (Table), for a goka view
// of it: it reads every stored form of the row.
func TableCodec() goka.Codec { return rowCodec{} }

// rowCodec is the card table's goka codec.
type rowCodec struct{}

// Encode implements goka.Codec; it accepts *CardState or CardState. The row
// is returned at its exact size (binrow.Encode): a buffer sized by an
// estimate kept ~50% spare capacity in the table's write buffer and cache
// (3,200 bytes for a 2,090-byte row).
func (rowCodec) Encode(value any) ([]byte, error) {
	st, err := tableValue[CardState](value, "card table")
	if err != nil {
		return nil, err
	}
	return binrow.Encode(st, encodeRow)
}

// Decode implements goka.Codec; it returns a *CardState, or nil for an
// empty value (a tombstone).
func (rowCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	return decodeRow(data)
}

// encodeRow appends st's binary form to b.
func encodeRow(b []byte, st *CardState) ([]byte, error) {
	b = append(b, rowFormat)
	if st.Card == nil {
		b = binrow.AppendUvarint(b, 0)
	} else {
		b = binrow.AppendUvarint(b, rowHasCard)
		var err error
		if b, err = appendCard(b, st.Card); err != nil {
			return nil, err
		}
	}
	b = binrow.AppendUvarint(b, uint64(len(st.Commands.Entries)))
	for i := range st.Commands.Entries {
		b = command.AppendEntry(b, &st.Commands.Entries[i])
	}
	return b, nil
}

func appendCard(b []byte, c *Card) ([]byte, error) {
	b = binrow.AppendID(b, c.Key)
	b = binrow.AppendString(b, c.Last4)
	b = binrow.AppendString(b, c.Currency)
	b = binrow.AppendDecimal(b, c.OriginalAmount)
	b = binrow.AppendDecimal(b, c.Balance)
	b = binrow.AppendString(b, string(c.Status))
	b = binrow.AppendID(b, c.PurchaserID)
	b = binrow.AppendString(b, c.RecipientEmail)
	b = binrow.AppendString(b, c.Message)
	b = binrow.AppendTime(b, c.CreatedAt)
	b = binrow.AppendTime(b, c.ExpiresAt)
	var flags uint64
	if c.VoidedAt != nil {
		flags |= cardVoided
	}
	if c.Checkpoint != nil {
		flags |= cardCheckpoint
	}
	b = binrow.AppendUvarint(b, flags)
	if c.VoidedAt != nil {
		b = binrow.AppendTime(b, *c.VoidedAt)
	}
	b = binrow.AppendID(b, c.VoidedBy)
	b = binrow.AppendString(b, c.VoidReason)
	if c.Checkpoint != nil {
		b = binrow.AppendVarint(b, c.Checkpoint.Count)
		b = binrow.AppendDecimal(b, c.Checkpoint.Balance)
	}
	b = binrow.AppendUvarint(b, uint64(len(c.Transactions)))
	for _, t := range c.Transactions {
		b = binrow.AppendID(b, t.ID)
		b = binrow.AppendString(b, string(t.Type))
		b = binrow.AppendDecimal(b, t.Amount)
		b = binrow.AppendDecimal(b, t.BalanceBefore)
		b = binrow.AppendDecimal(b, t.BalanceAfter)
		b = binrow.AppendID(b, t.OrderID)
		b = binrow.AppendID(b, t.ReferenceID)
		b = binrow.AppendID(b, t.CommandID)
		b = binrow.AppendTime(b, t.At)
	}
	b = binrow.AppendUvarint(b, uint64(len(c.Redemptions)))
	for _, r := range c.Redemptions {
		b = binrow.AppendID(b, r.ID)
		b = binrow.AppendID(b, r.OrderID)
		b = binrow.AppendDecimal(b, r.Amount)
		b = binrow.AppendDecimal(b, r.Refunded)
		b = binrow.AppendID(b, r.HoldID)
		b = binrow.AppendIDs(b, r.Refunds)
	}
	b = binrow.AppendUvarint(b, uint64(len(c.Holds)))
	for _, h := range c.Holds {
		b = binrow.AppendID(b, h.ID)
		b = binrow.AppendID(b, h.OrderID)
		b = binrow.AppendDecimal(b, h.Amount)
		b = binrow.AppendDecimal(b, h.Captured)
		b = binrow.AppendString(b, string(h.Status))
		b = binrow.AppendID(b, h.RedemptionID)
		b = binrow.AppendTime(b, h.At)
		b = binrow.AppendTime(b, h.ExpiresAt)
	}
	b = binrow.AppendUvarint(b, uint64(len(c.Transfers)))
	for _, t := range c.Transfers {
		b = binrow.AppendID(b, t.ID)
		b = binrow.AppendID(b, t.ToKey)
		b = binrow.AppendDecimal(b, t.Amount)
		b = binrow.AppendString(b, string(t.Status))
		b = binrow.AppendDecimal(b, t.ToBalance)
		b = binrow.AppendDecimal(b, t.FromBalance)
		var err error
		if b, err = appendError(b, t.Error); err != nil {
			return nil, err
		}
		b = binrow.AppendID(b, t.Origin.CommandID)
		b = binrow.AppendString(b, t.Origin.Type)
		b = binrow.AppendBytes(b, t.Origin.Data)
		b = binrow.AppendTime(b, t.At)
	}
	b = binrow.AppendIDs(b, c.Credits)
	return binrow.AppendVarint(b, c.Seq), nil
}

// The values of the row's enumerations, read without allocating.
var (
	statusNames         = []string{string(StatusActive), string(StatusPartiallyRedeemed), string(StatusFullyRedeemed), string(StatusExpired), string(StatusVoided)}
	txTypeNames         = []string{string(TxRedemption), string(TxCreation), string(TxRefund), string(TxTransferIn), string(TxTransferOut), string(TxTransferReversal), string(TxVoid), string(TxExpiry)}
	holdStatusNames     = []string{string(HoldAuthorized), string(HoldCaptured), string(HoldReleased), string(HoldExpired)}
	transferStatusNames = []string{string(TransferPending), string(TransferCompleted), string(TransferReversed)}
	commonCurrencies    = []string{"USD", "EUR", "GBP", "JPY", "CAD", "AUD"}
)

// commandTypes are the result types a card's ledger holds, read without
// allocating.
var commandTypes = []string{TypeRedeem, TypeCreate, TypeRefund, TypeTransfer, TypeVoid, TypeAuthorize, TypeCapture,
	TypeRelease, TypeTransferCredit}

// decodeRow reads a card row in any stored form.
func decodeRow(data []byte) (*CardState, error) {
	if len(data) == 0 || (data[0] != rowFormat && data[0] != rowFormatV1) {
		var st CardState
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("giftcards: decoding a card row: %w", err)
		}
		return &st, nil
	}
	r := binrow.NewReader(data[1:])
	st := &CardState{}
	if r.Uvarint()&rowHasCard != 0 {
		st.Card = readCard(r)
	}
	if n := r.Count(4); n > 0 {
		st.Commands.Entries = make([]command.Entry, n)
		for i := range st.Commands.Entries {
			if data[0] == rowFormatV1 {
				st.Commands.Entries[i] = readEntryV1(r)
			} else {
				command.ReadEntry(r, &st.Commands.Entries[i], commandTypes...)
			}
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("giftcards: decoding a card row: %w", err)
	}
	return st, nil
}

func readCard(r *binrow.Reader) *Card {
	c := &Card{
		Key:            r.ID(),
		Last4:          r.String(),
		Currency:       r.Intern(commonCurrencies...),
		OriginalAmount: r.Decimal(),
		Balance:        r.Decimal(),
		Status:         Status(r.Intern(statusNames...)),
		PurchaserID:    r.ID(),
		RecipientEmail: r.String(),
		Message:        r.String(),
		CreatedAt:      r.Time(),
		ExpiresAt:      r.Time(),
	}
	flags := r.Uvarint()
	if flags&cardVoided != 0 {
		at := r.Time()
		c.VoidedAt = &at
	}
	c.VoidedBy = r.ID()
	c.VoidReason = r.String()
	if flags&cardCheckpoint != 0 {
		c.Checkpoint = &Checkpoint{Count: r.Varint(), Balance: r.Decimal()}
	}
	if n := r.Count(20); n > 0 {
		c.Transactions = make(TxWindow, n)
		for i := range c.Transactions {
			c.Transactions[i] = Transaction{ID: r.ID(), Type: TxType(r.Intern(txTypeNames...)), Amount: r.Decimal(), BalanceBefore: r.Decimal(),
				BalanceAfter: r.Decimal(), OrderID: r.ID(), ReferenceID: r.ID(), CommandID: r.ID(), At: r.Time()}
		}
	}
	if n := r.Count(12); n > 0 {
		c.Redemptions = make([]Redemption, n)
		for i := range c.Redemptions {
			c.Redemptions[i] = Redemption{ID: r.ID(), OrderID: r.ID(), Amount: r.Decimal(), Refunded: r.Decimal(), HoldID: r.ID(),
				Refunds: r.IDs()}
		}
	}
	if n := r.Count(19); n > 0 {
		c.Holds = make([]Hold, n)
		for i := range c.Holds {
			c.Holds[i] = Hold{ID: r.ID(), OrderID: r.ID(), Amount: r.Decimal(), Captured: r.Decimal(), Status: HoldStatus(r.Intern(holdStatusNames...)),
				RedemptionID: r.ID(), At: r.Time(), ExpiresAt: r.Time()}
		}
	}
	if n := r.Count(19); n > 0 {
		c.Transfers = make([]Transfer, n)
		for i := range c.Transfers {
			t := Transfer{ID: r.ID(), ToKey: r.ID(), Amount: r.Decimal(), Status: TransferStatus(r.Intern(transferStatusNames...)),
				ToBalance: r.Decimal(), FromBalance: r.Decimal()}
			t.Error = readError(r)
			t.Origin = Origin{CommandID: r.ID(), Type: r.String(), Data: cloneRaw(r.Bytes())}
			t.At = r.Time()
			c.Transfers[i] = t
		}
	}
	c.Credits = r.IDs()
	c.Seq = r.Varint()
	return c
}

// appendError stores a typed error (a transfer's) as its JSON (empty:
// none); its details are any JSON value, rare and small.
func appendError(b []byte, e *topics.Error) ([]byte, error) {
	if e == nil {
		return binrow.AppendBytes(b, nil), nil
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("giftcards: encoding a stored error: %w", err)
	}
	return binrow.AppendBytes(b, raw), nil
}

func readError(r *binrow.Reader) *topics.Error {
	raw := r.Bytes()
	if len(raw) == 0 || r.Err() != nil {
		return nil
	}
	var e topics.Error
	if err := json.Unmarshal(raw, &e); err != nil {
		r.Failf("stored error: %v", err)
		return nil
	}
	return &e
}

// readEntryV1 reads a ledger entry of a 0x01 row.
func readEntryV1(r *binrow.Reader) command.Entry {
	e := command.Entry{ID: r.ID(), Digest: r.ID()}
	if !r.Bool() {
		return e
	}
	flags := r.Uvarint()
	res := &topics.CommandResult{OK: flags&resultOK != 0, Replayed: flags&resultReplayed != 0, Pending: flags&resultPending != 0}
	if flags&resultSameID != 0 {
		res.CommandID = e.ID
	} else {
		res.CommandID = r.ID()
	}
	res.EnvelopeID = r.ID()
	res.Type = r.Intern(commandTypes...)
	res.Result = cloneRaw(r.Bytes())
	if flags&resultError != 0 {
		res.Error = readError(r)
	}
	res.CompletedAt = r.Time()
	e.Result = res
	return e
}

// cloneRaw copies a JSON value out of the row (nil when empty, as its JSON
// form decodes an omitted one).
func cloneRaw(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
