package giftcards

import (
	"fmt"

	"github.com/lovoo/goka"
	json "github.com/segmentio/encoding/json"

	"github.com/shopstream/streams/state/binrow"
	"github.com/shopstream/streams/topics"
)

// The redemption index and the order index store their values in binary
// forms too (state/binrow; see rowcodec.go for why), each behind a format
// byte of its own. Values earlier versions stored as JSON (they begin with
// '{') still decode and are rewritten in the binary form on their next
// change. The order of the fields is the format.

const (
	redemptionEntryFormat byte = 0x01
	orderStateFormat      byte = 0x01
)

// RedemptionIndexCodec is the codec of the redemption index's table
// (RedemptionIndexTable), for a goka view of it.
func RedemptionIndexCodec() goka.Codec { return redemptionEntryCodec{} }

// OrderIndexCodec is the codec of the order index's table (OrderIndexTable),
// for a goka view of it.
func OrderIndexCodec() goka.Codec { return orderStateCodec{} }

type redemptionEntryCodec struct{}

// Encode implements goka.Codec; it accepts *RedemptionEntry or RedemptionEntry.
func (redemptionEntryCodec) Encode(value any) ([]byte, error) {
	e, err := tableValue[RedemptionEntry](value, "redemption index")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+len(e.RedemptionID)+len(e.CardKey)+len(e.OrderID))
	b = append(b, redemptionEntryFormat)
	b = binrow.AppendID(b, e.RedemptionID)
	b = binrow.AppendID(b, e.CardKey)
	b = binrow.AppendID(b, e.OrderID)
	return appendMoney(b, e.Amount), nil
}

// Decode implements goka.Codec; it returns a *RedemptionEntry, or nil for
// an empty value (a tombstone).
func (redemptionEntryCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	e := &RedemptionEntry{}
	if data[0] != redemptionEntryFormat {
		if err := json.Unmarshal(data, e); err != nil {
			return nil, fmt.Errorf("giftcards: decoding a redemption index entry: %w", err)
		}
		return e, nil
	}
	r := binrow.NewReader(data[1:])
	e.RedemptionID, e.CardKey, e.OrderID = r.ID(), r.ID(), r.ID()
	e.Amount = readMoney(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("giftcards: decoding a redemption index entry: %w", err)
	}
	return e, nil
}

type orderStateCodec struct{}

// Encode implements goka.Codec; it accepts *OrderState or OrderState.
func (orderStateCodec) Encode(value any) ([]byte, error) {
	o, err := tableValue[OrderState](value, "order index")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+160*len(o.Redemptions)+100*len(o.Holds)+40*(len(o.Refunds)+len(o.Seen))+100*len(o.Open))
	b = append(b, orderStateFormat)
	b = binrow.AppendID(b, o.OrderID)
	b = binrow.AppendBool(b, o.Total != nil)
	if o.Total != nil {
		b = appendMoney(b, *o.Total)
	}
	b = binrow.AppendUvarint(b, uint64(len(o.Redemptions)))
	for _, r := range o.Redemptions {
		b = binrow.AppendID(b, r.RedemptionID)
		b = binrow.AppendID(b, r.CardKey)
		b = appendMoney(b, r.Amount)
		b = binrow.AppendDecimal(b, r.Requested)
	}
	b = binrow.AppendUvarint(b, uint64(len(o.Holds)))
	for _, h := range o.Holds {
		b = binrow.AppendID(b, h.HoldID)
		b = binrow.AppendID(b, h.CardKey)
		b = binrow.AppendString(b, string(h.Status))
	}
	b = binrow.AppendIDs(b, o.Refunds)
	b = binrow.AppendUvarint(b, uint64(len(o.Open)))
	for _, r := range o.Open {
		b = binrow.AppendID(b, r.RefundID)
		b = binrow.AppendID(b, r.EventID)
		b = appendMoney(b, r.Amount)
		b = binrow.AppendDecimal(b, r.Requested)
	}
	b = binrow.AppendBool(b, o.Cancelled)
	return binrow.AppendIDs(b, o.Seen), nil
}

// Decode implements goka.Codec; it returns an *OrderState, or nil for an
// empty value (a tombstone).
func (orderStateCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	o := &OrderState{}
	if data[0] != orderStateFormat {
		if err := json.Unmarshal(data, o); err != nil {
			return nil, fmt.Errorf("giftcards: decoding an order index state: %w", err)
		}
		return o, nil
	}
	r := binrow.NewReader(data[1:])
	o.OrderID = r.ID()
	if r.Bool() {
		total := readMoney(r)
		o.Total = &total
	}
	if n := r.Count(8); n > 0 {
		o.Redemptions = make([]OrderRedemption, n)
		for i := range o.Redemptions {
			o.Redemptions[i] = OrderRedemption{RedemptionID: r.ID(), CardKey: r.ID(), Amount: readMoney(r), Requested: r.Decimal()}
		}
	}
	if n := r.Count(5); n > 0 {
		o.Holds = make([]OrderHold, n)
		for i := range o.Holds {
			o.Holds[i] = OrderHold{HoldID: r.ID(), CardKey: r.ID(), Status: HoldStatus(r.Intern(holdStatusNames...))}
		}
	}
	o.Refunds = r.IDs()
	if n := r.Count(8); n > 0 {
		o.Open = make([]OpenRefund, n)
		for i := range o.Open {
			o.Open[i] = OpenRefund{RefundID: r.ID(), EventID: r.ID(), Amount: readMoney(r), Requested: r.Decimal()}
		}
	}
	o.Cancelled = r.Bool()
	o.Seen = r.IDs()
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("giftcards: decoding an order index state: %w", err)
	}
	return o, nil
}

// tableValue is the value a table codec is asked to encode: a *T or a T.
func tableValue[T any](value any, table string) (*T, error) {
	switch v := value.(type) {
	case *T:
		return v, nil
	case T:
		return &v, nil
	}
	return nil, fmt.Errorf("giftcards: the %s cannot store %T", table, value)
}

func appendMoney(b []byte, m topics.Money) []byte {
	b = binrow.AppendDecimal(b, m.Amount)
	return binrow.AppendString(b, m.Currency)
}

func readMoney(r *binrow.Reader) topics.Money {
	return topics.Money{Amount: r.Decimal(), Currency: r.Intern(commonCurrencies...)}
}
