package returns

import (
	"fmt"
	"slices"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/state/binrow"
)

// orderFormatBinary is the first byte of an order record in the binary
// form. It cannot begin a JSON document: order records stored as JSON by
// earlier versions are told apart and still decode.
const orderFormatBinary = 0x01

// The binary form of an OrderRecord (every field in this order; fields are
// added only at the end of a format):
//
//	format byte 0x01
//	bool: has an order; then order_id, user_id, currency, completed_at,
//	  line items (count+1, 0 for none: JSON told null and [] apart),
//	  subtotal, discount_total, tax_total, shipping_total, total,
//	  payments (count+1), delivered_at
//	delivered_at, claims (return IDs sorted, each with its line item IDs
//	  sorted; an inner map's count+1), shipping_claimed_by,
//	ledger entries (as in the return record), events
//
// IDs, decimals and times as in the return record (rowcodec.go).

// orderTableCodec is the order processor's table codec (and its view's):
// it writes the binary form and reads it and the JSON form earlier
// versions wrote.
type orderTableCodec struct{}

var orderBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// Encode implements goka.Codec.
func (orderTableCodec) Encode(value any) ([]byte, error) {
	var rec *OrderRecord
	switch v := value.(type) {
	case *OrderRecord:
		rec = v
	case OrderRecord:
		rec = &v
	default:
		return nil, fmt.Errorf("returns: order table codec cannot encode %T", value)
	}
	bp := orderBuffers.Get().(*[]byte)
	b := appendOrderRecord((*bp)[:0], rec)
	out := append([]byte(nil), b...)
	if cap(b) <= 1<<20 {
		*bp = b
		orderBuffers.Put(bp)
	}
	return out, nil
}

// Decode implements goka.Codec; nil for an empty value (a tombstone). The
// record copies what it keeps of data.
func (orderTableCodec) Decode(data []byte) (any, error) {
	rec, err := decodeOrderRecord(data)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec, nil
}

// decodeOrderRecord decodes a stored order record, binary or JSON (nil for
// an empty value).
func decodeOrderRecord(data []byte) (*OrderRecord, error) {
	if len(data) == 0 || data[0] != orderFormatBinary {
		v, err := orderRecordCodec{}.Decode(data)
		if err != nil || v == nil {
			return nil, err
		}
		return v.(*OrderRecord), nil
	}
	rd := binrow.NewReader(data[1:])
	rec := &OrderRecord{}
	if rd.Bool() {
		rec.Order = readOrder(rd)
	}
	rec.DeliveredAt = readTimePtr(rd)
	if n := rd.Count(3); n > 0 {
		rec.Claims = make(map[string]map[string]int, n)
		for range n {
			id := rd.String()
			var lines map[string]int
			if m := rd.Count(1); m > 0 {
				lines = make(map[string]int, m-1)
				for range m - 1 {
					line := rd.String()
					lines[line] = int(rd.Varint())
				}
			}
			rec.Claims[id] = lines
		}
	}
	rec.ShippingClaimedBy = rd.ID()
	if n := rd.Count(3); n > 0 {
		rec.Commands.Entries = make([]command.Entry, n)
		for i := range rec.Commands.Entries {
			command.ReadEntry(rd, &rec.Commands.Entries[i])
		}
	}
	if n := rd.Count(1); n > 0 {
		rec.Events = make([]string, n)
		for i := range rec.Events {
			rec.Events[i] = rd.ID()
		}
	}
	if err := rd.Done(); err != nil {
		return nil, fmt.Errorf("returns: decoding a binary order record: %w", err)
	}
	return rec, nil
}

// appendOrderRecord appends the binary form of rec to b.
func appendOrderRecord(b []byte, rec *OrderRecord) []byte {
	b = append(b, orderFormatBinary)
	b = binrow.AppendBool(b, rec.Order != nil)
	if o := rec.Order; o != nil {
		b = appendOrder(b, o)
	}
	b = appendTimePtr(b, rec.DeliveredAt)
	b = binrow.AppendUvarint(b, uint64(len(rec.Claims)))
	if len(rec.Claims) > 0 {
		ids := make([]string, 0, len(rec.Claims))
		for id := range rec.Claims {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		var lines []string
		for _, id := range ids {
			b = binrow.AppendString(b, id)
			m := rec.Claims[id]
			if m == nil {
				b = binrow.AppendUvarint(b, 0)
				continue
			}
			b = binrow.AppendUvarint(b, uint64(len(m))+1)
			lines = lines[:0]
			for l := range m {
				lines = append(lines, l)
			}
			slices.Sort(lines)
			for _, l := range lines {
				b = binrow.AppendString(b, l)
				b = binrow.AppendVarint(b, int64(m[l]))
			}
		}
	}
	b = binrow.AppendID(b, rec.ShippingClaimedBy)
	b = binrow.AppendUvarint(b, uint64(len(rec.Commands.Entries)))
	for i := range rec.Commands.Entries {
		b = command.AppendEntry(b, &rec.Commands.Entries[i])
	}
	b = binrow.AppendUvarint(b, uint64(len(rec.Events)))
	for _, id := range rec.Events {
		b = binrow.AppendID(b, id)
	}
	return b
}

func appendOrder(b []byte, o *Order) []byte {
	b = binrow.AppendID(b, o.OrderID)
	b = binrow.AppendID(b, o.UserID)
	b = binrow.AppendString(b, o.Currency)
	b = binrow.AppendTime(b, o.CompletedAt)
	b = appendCount(b, len(o.LineItems), o.LineItems == nil)
	for i := range o.LineItems {
		l := &o.LineItems[i]
		b = binrow.AppendID(b, l.LineItemID)
		b = binrow.AppendID(b, l.ProductID)
		b = binrow.AppendString(b, l.SKU)
		b = binrow.AppendString(b, l.Category)
		b = binrow.AppendVarint(b, int64(l.Quantity))
		b = binrow.AppendDecimal(b, l.UnitPrice)
		b = binrow.AppendDecimal(b, l.Discount)
		b = binrow.AppendDecimal(b, l.Tax)
		b = binrow.AppendBool(b, l.FinalSale)
	}
	for _, d := range [...]*decimal.Decimal{&o.Subtotal, &o.DiscountTotal, &o.TaxTotal, &o.ShippingTotal, &o.Total} {
		b = binrow.AppendDecimal(b, *d)
	}
	b = appendCount(b, len(o.Payments), o.Payments == nil)
	for _, p := range o.Payments {
		b = binrow.AppendString(b, p.Method)
		b = binrow.AppendDecimal(b, p.Amount)
		b = binrow.AppendString(b, p.Reference)
	}
	return appendTimePtr(b, o.DeliveredAt)
}

func readOrder(rd *binrow.Reader) *Order {
	o := &Order{OrderID: rd.ID(), UserID: rd.ID(), Currency: rd.Intern("USD", "EUR", "GBP"), CompletedAt: rd.Time()}
	if n, ok := readCount(rd, 8); ok {
		o.LineItems = make([]LineItem, n)
		for i := range o.LineItems {
			l := &o.LineItems[i]
			l.LineItemID = rd.ID()
			l.ProductID = rd.ID()
			l.SKU = rd.String()
			l.Category = rd.String()
			l.Quantity = int(rd.Varint())
			l.UnitPrice = rd.Decimal()
			l.Discount = rd.Decimal()
			l.Tax = rd.Decimal()
			l.FinalSale = rd.Bool()
		}
	}
	for _, d := range [...]*decimal.Decimal{&o.Subtotal, &o.DiscountTotal, &o.TaxTotal, &o.ShippingTotal, &o.Total} {
		*d = rd.Decimal()
	}
	if n, ok := readCount(rd, 4); ok {
		o.Payments = make([]Payment, n)
		for i := range o.Payments {
			p := &o.Payments[i]
			p.Method = rd.String()
			p.Amount = rd.Decimal()
			p.Reference = rd.String()
		}
	}
	o.DeliveredAt = readTimePtr(rd)
	return o
}

// appendCount appends a slice's length plus one, 0 for a nil slice.
func appendCount(b []byte, n int, isNil bool) []byte {
	if isNil {
		return binrow.AppendUvarint(b, 0)
	}
	return binrow.AppendUvarint(b, uint64(n)+1)
}

// readCount reads what appendCount wrote: ok false for a nil slice.
func readCount(rd *binrow.Reader, minSize int) (int, bool) {
	n := rd.Count(1)
	if n == 0 {
		return 0, false
	}
	if n-1 > rd.Len()/minSize {
		rd.Failf("count %d exceeds the row", n-1)
		return 0, false
	}
	return n - 1, true
}
