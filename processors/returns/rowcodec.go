package returns

import (
	"fmt"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/shopspring/decimal"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/state/binrow"
	"github.com/shopstream/streams/topics"
)

// recordFormatBinary is the first byte of a return record in the binary
// form (state/binrow). It cannot begin a JSON document, so records stored
// as JSON by earlier versions are told apart and still decode.
const recordFormatBinary = 0x01

// The binary form of a ReturnRecord (every field in this order, nothing
// self-describing; fields are added only at the end of a format):
//
//	format byte 0x01
//	bool: has a return; then the return:
//	  status, saga (first, so that the saga timeout visitor reads no more),
//	  id, order_id, customer_id, currency, reason, description, images,
//	  items, shipping, shipping_rule, payments, refund_method, the three
//	  overrides, approval_notes, estimated and actual refund, shipping
//	  label, approved_by, the six state times, rejection_reason,
//	  cancellation_reason, created_at, updated_at, audit, audit_published
//	ledger entries: id, digest, result
//
// IDs (UUIDs, hex digests) take half their text size (binrow.AppendID),
// decimals keep their exact coefficient and exponent, times their
// nanoseconds and UTC offset. Audit metadata, command results and error
// details stay the JSON bytes they are everywhere else.

// appendReturnRecord appends the binary form of rec to b.
func appendReturnRecord(b []byte, rec *ReturnRecord) []byte {
	b = append(b, recordFormatBinary)
	b = binrow.AppendBool(b, rec.Return != nil)
	if r := rec.Return; r != nil {
		kept, n := rec.keptAudit(r)
		b = appendReturn(b, r, kept, n)
	}
	b = binrow.AppendUvarint(b, uint64(len(rec.Commands.Entries)))
	j := 0 // kept entries are in ledger order: a walk finds them
	for i := range rec.Commands.Entries {
		e := &rec.Commands.Entries[i]
		if e.Result == nil && j < len(rec.ledgerKept) {
			k := j
			for k < len(rec.ledgerKept) && rec.ledgerKept[k].id != e.ID {
				k++
			}
			if k < len(rec.ledgerKept) {
				b = append(b, rec.ledgerKept[k].raw...)
				j = k + 1
				continue
			}
		}
		b = command.AppendEntry(b, e)
	}
	return b
}

// keptAudit is the stored form of the first n entries of r's audit trail,
// kept by loadReturnRecord, when r's trail still starts with them (nil, 0
// otherwise). Entries are never changed once appended (VerifyAppendOnly
// checks every action), so the last kept entry standing unchanged at its
// place says r is the loaded return or a successor of it.
func (rec *ReturnRecord) keptAudit(r *Return) ([]byte, int) {
	n := rec.auditN
	if n == 0 || len(r.Audit) < n || !r.Audit[n-1].equal(&rec.auditLast) {
		return nil, 0
	}
	return rec.auditRaw, n
}

// keptEntry is a ledger entry of a loaded record in its stored form; the
// entry's Result stays nil until resolve decodes it from raw.
type keptEntry struct {
	id  string
	raw []byte
}

// loadReturnRecord decodes a stored record for the return processor's
// handlers (ReturnRecord.load). A binary record is decoded as by
// decodeReturnRecord but for what handlers rarely read: of a ledger entry
// only the command ID is decoded (enough to tell a command is new), its
// digest and result stay the stored bytes until resolve decodes them, and
// the stored audit trail is kept, so that encoding the record copies both
// instead of encoding them again.
//
// The record aliases data (the kept audit trail and ledger entries, audit
// metadata) and never writes into it: every slice it keeps is capped at
// its length (binrow.Reader.Bytes caps too), so an append copies. data is
// a table value, which nothing writes once stored: goka hands the
// processor the slice its storage returns (the write-through cache's or
// the write buffer's, which are the slices goka wrote, or a copy out of
// Pebble), and a view's values are the consumed messages'
// (state.CachedBuilder, state.WithWriteBuffer).
func loadReturnRecord(data []byte) (*ReturnRecord, error) {
	if len(data) == 0 || data[0] != recordFormatBinary {
		return decodeReturnRecord(data)
	}
	rd := binrow.NewReader(data[1:])
	rec := &ReturnRecord{}
	if rd.Bool() {
		rec.Return = readReturnHead(rd)
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("returns: decoding a binary return record: %w", err)
	}
	own := data[len(data)-rd.Len():]
	rd = binrow.NewReader(own)
	at := func() int { return len(own) - rd.Len() }
	if r := rec.Return; r != nil {
		if n := rd.Count(8); n > 0 {
			start := at()
			r.Audit = make([]AuditEntry, n)
			for i := range r.Audit {
				readAuditEntry(rd, &r.Audit[i], true)
			}
			if rd.Err() == nil {
				end := at()
				rec.auditRaw, rec.auditN, rec.auditLast = own[start:end:end], n, r.Audit[n-1]
			}
		}
		r.AuditPublished = int(rd.Uvarint())
	}
	if n := rd.Count(3); n > 0 {
		rec.Commands.Entries = make([]command.Entry, n)
		rec.ledgerKept = make([]keptEntry, n)
		for i := range rec.Commands.Entries {
			start := at()
			e := &rec.Commands.Entries[i]
			e.ID = rd.ID()
			rd.SkipID() // the digest: resolve reads it
			command.SkipEntryResult(rd)
			end := at()
			rec.ledgerKept[i] = keptEntry{id: e.ID, raw: own[start:end:end]}
		}
	}
	if err := rd.Done(); err != nil {
		return nil, fmt.Errorf("returns: decoding a binary return record: %w", err)
	}
	return rec, nil
}

// resolve decodes the kept digests and results of the ledger entries with
// command ID id (of every entry when id is ""): what reads an entry's
// Digest or Result (Ledger.Check) calls it first. An entry resolved is
// encoded from its fields again.
func (rec *ReturnRecord) resolve(id string) error {
	if rec == nil {
		return nil
	}
	for i := range rec.Commands.Entries {
		e := &rec.Commands.Entries[i]
		if (e.Result != nil && e.Digest != "") || (id != "" && e.ID != id) {
			continue
		}
		for _, k := range rec.ledgerKept {
			if k.id != e.ID {
				continue
			}
			var full command.Entry
			rd := binrow.NewReader(k.raw)
			command.ReadEntry(rd, &full)
			if err := rd.Done(); err != nil {
				return fmt.Errorf("returns: decoding the result of command %s: %w", e.ID, err)
			}
			e.Digest, e.Result = full.Digest, full.Result
			break
		}
	}
	return nil
}

// decodeReturnRecord decodes a stored return record, binary or JSON.
func decodeReturnRecord(data []byte) (*ReturnRecord, error) {
	if len(data) == 0 || data[0] != recordFormatBinary {
		return decodeJSONRecord(data)
	}
	rd := binrow.NewReader(data[1:])
	rec := &ReturnRecord{}
	if rd.Bool() {
		rec.Return = readReturn(rd)
	}
	if n := rd.Count(3); n > 0 {
		rec.Commands.Entries = make([]command.Entry, n)
		for i := range rec.Commands.Entries {
			command.ReadEntry(rd, &rec.Commands.Entries[i])
		}
	}
	if err := rd.Done(); err != nil {
		return nil, fmt.Errorf("returns: decoding a binary return record: %w", err)
	}
	return rec, nil
}

// jsonRecord is a ReturnRecord in the JSON form earlier versions stored.
// Its return carried Return.AuditPublished as "audit_published", which
// the return's JSON form (an API answer) no longer has: jsonReturn reads
// it beside the other fields.
type jsonRecord struct {
	Return   *jsonReturn    `json:"return"`
	Commands command.Ledger `json:"commands"`
}

type jsonReturn struct {
	Return
	AuditPublished int `json:"audit_published"`
}

// decodeJSONRecord decodes a record stored in the JSON form (nil for an
// empty value, a tombstone), with the return's AuditPublished.
func decodeJSONRecord(data []byte) (*ReturnRecord, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var v jsonRecord
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("returns: decoding a JSON return record: %w", err)
	}
	rec := &ReturnRecord{Commands: v.Commands}
	if v.Return != nil {
		rec.Return = &v.Return.Return
		rec.Return.AuditPublished = v.Return.AuditPublished
	}
	return rec, nil
}

// decodeOutstanding reads only the status and saga of a binary record
// (nil when it has no return).
func decodeOutstanding(data []byte) (*Return, error) {
	rd := binrow.NewReader(data[1:])
	if !rd.Bool() {
		return nil, rd.Err()
	}
	r := &Return{Status: State(rd.Intern(knownStates...))}
	readSaga(rd, &r.Saga)
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("returns: decoding a binary return record's saga: %w", err)
	}
	return r, nil
}

// appendReturn appends r; kept is the stored form of r's first n audit
// entries (ReturnRecord.keptAudit), copied instead of encoded.
// Values of enumerated fields, read without allocating (binrow.Reader.Intern);
// any other value reads back as it is.
var (
	knownStates = []string{string(StatePending), string(StateApproved), string(StateShipped), string(StateReceived),
		string(StateInspecting), string(StateCompleted), string(StateRejected), string(StateCancelled),
		string(StateRefunding), string(StateRestocking), string(StateRefundFailed), string(StateRequiresAction), ""}
	knownActions = []string{string(ActionInitiate), string(ActionApprove), string(ActionReject), string(ActionShip),
		string(ActionReceive), string(ActionInspect), string(ActionComplete), string(ActionCancel),
		string(ActionGenerateLabel), string(ActionLabelCreated), string(ActionLabelFailed),
		string(ActionRefundSucceeded), string(ActionRefundRetry), string(ActionRefundFailed),
		string(ActionRetryRefund), string(ActionRestockSucceeded), string(ActionRestockRetry),
		string(ActionRestockFailed), string(ActionRetryRestock), string(ActionResolve), string(ActionNotified),
		string(ActionNotifyFailed), string(ActionSagaTimeout)}
	knownReasons       = []string{ReasonDefective, ReasonWrongItem, ReasonNotAsDescribed, ReasonNoLongerNeeded, ReasonOther}
	knownRefundMethods = []string{RefundOriginalPayment, RefundStoreCredit, RefundGiftCard, RefundExchange, ""}
	knownConditions    = []string{ConditionNew, ConditionOpened, ActualSellable, ActualDamaged, ActualUnsellable, ""}
)

func appendReturn(b []byte, r *Return, kept []byte, n int) []byte {
	b = binrow.AppendString(b, string(r.Status))
	b = appendSaga(b, &r.Saga)
	b = binrow.AppendID(b, r.ID)
	b = binrow.AppendID(b, r.OrderID)
	b = binrow.AppendID(b, r.CustomerID)
	b = binrow.AppendString(b, r.Currency)
	b = binrow.AppendString(b, r.Reason)
	b = binrow.AppendString(b, r.Description)
	b = binrow.AppendUvarint(b, uint64(len(r.Images)))
	for _, s := range r.Images {
		b = binrow.AppendString(b, s)
	}
	b = binrow.AppendUvarint(b, uint64(len(r.Items)))
	for i := range r.Items {
		b = appendItem(b, &r.Items[i])
	}
	b = binrow.AppendDecimal(b, r.Shipping)
	b = binrow.AppendString(b, r.ShippingRule)
	b = binrow.AppendUvarint(b, uint64(len(r.Payments)))
	for _, p := range r.Payments {
		b = binrow.AppendString(b, p.Method)
		b = binrow.AppendDecimal(b, p.Amount)
		b = binrow.AppendString(b, p.Reference)
	}
	b = binrow.AppendString(b, r.RefundMethod)
	b = appendDecimalPtr(b, r.RefundOverride)
	b = appendDecimalPtr(b, r.RestockingFeeOverride)
	b = appendDecimalPtr(b, r.FinalRefundOverride)
	b = binrow.AppendString(b, r.ApprovalNotes)
	b = appendBreakdown(b, r.EstimatedRefund)
	b = appendBreakdown(b, r.ActualRefund)
	b = binrow.AppendBool(b, r.ShippingLabel != nil)
	if l := r.ShippingLabel; l != nil {
		b = binrow.AppendID(b, l.LabelID)
		b = binrow.AppendString(b, l.URL)
		b = binrow.AppendString(b, l.TrackingNumber)
		b = binrow.AppendString(b, l.Carrier)
		b = binrow.AppendTime(b, l.CreatedAt)
	}
	b = binrow.AppendID(b, r.ApprovedBy)
	for _, t := range [...]*time.Time{r.ApprovedAt, r.ShippedAt, r.ReceivedAt, r.CompletedAt, r.RejectedAt, r.CancelledAt} {
		b = appendTimePtr(b, t)
	}
	b = binrow.AppendString(b, r.RejectionReason)
	b = binrow.AppendString(b, r.CancellationReason)
	b = binrow.AppendTime(b, r.CreatedAt)
	b = binrow.AppendTime(b, r.UpdatedAt)
	b = binrow.AppendUvarint(b, uint64(len(r.Audit)))
	b = append(b, kept...)
	for i := n; i < len(r.Audit); i++ {
		b = appendAuditEntryBinary(b, &r.Audit[i])
	}
	return binrow.AppendUvarint(b, uint64(r.AuditPublished))
}

func readReturn(rd *binrow.Reader) *Return {
	r := readReturnHead(rd)
	if n := rd.Count(8); n > 0 {
		r.Audit = make([]AuditEntry, n)
		for i := range r.Audit {
			readAuditEntry(rd, &r.Audit[i], false)
		}
	}
	r.AuditPublished = int(rd.Uvarint())
	return r
}

// readReturnHead reads a return up to its audit trail.
func readReturnHead(rd *binrow.Reader) *Return {
	r := &Return{Status: State(rd.Intern(knownStates...))}
	readSaga(rd, &r.Saga)
	r.ID = rd.ID()
	r.OrderID = rd.ID()
	r.CustomerID = rd.ID()
	r.Currency = rd.Intern("USD", "EUR", "GBP")
	r.Reason = rd.Intern(knownReasons...)
	r.Description = rd.String()
	if n := rd.Count(1); n > 0 {
		r.Images = make([]string, n)
		for i := range r.Images {
			r.Images[i] = rd.String()
		}
	}
	if n := rd.Count(8); n > 0 {
		r.Items = make([]ReturnItem, n)
		for i := range r.Items {
			readItem(rd, &r.Items[i])
		}
	}
	r.Shipping = rd.Decimal()
	r.ShippingRule = rd.String()
	if n := rd.Count(4); n > 0 {
		r.Payments = make([]Payment, n)
		for i := range r.Payments {
			p := &r.Payments[i]
			p.Method = rd.String()
			p.Amount = rd.Decimal()
			p.Reference = rd.String()
		}
	}
	r.RefundMethod = rd.Intern(knownRefundMethods...)
	r.RefundOverride = readDecimalPtr(rd)
	r.RestockingFeeOverride = readDecimalPtr(rd)
	r.FinalRefundOverride = readDecimalPtr(rd)
	r.ApprovalNotes = rd.String()
	r.EstimatedRefund = readBreakdown(rd)
	r.ActualRefund = readBreakdown(rd)
	if rd.Bool() {
		r.ShippingLabel = &ShippingLabel{LabelID: rd.ID(), URL: rd.String(), TrackingNumber: rd.String(),
			Carrier: rd.String(), CreatedAt: rd.Time()}
	}
	r.ApprovedBy = rd.ID()
	for _, t := range [...]**time.Time{&r.ApprovedAt, &r.ShippedAt, &r.ReceivedAt, &r.CompletedAt, &r.RejectedAt, &r.CancelledAt} {
		*t = readTimePtr(rd)
	}
	r.RejectionReason = rd.String()
	r.CancellationReason = rd.String()
	r.CreatedAt = rd.Time()
	r.UpdatedAt = rd.Time()
	return r
}

func appendItem(b []byte, it *ReturnItem) []byte {
	b = binrow.AppendID(b, it.LineItemID)
	b = binrow.AppendID(b, it.ProductID)
	b = binrow.AppendString(b, it.SKU)
	b = binrow.AppendString(b, it.Category)
	b = binrow.AppendVarint(b, int64(it.QuantityPurchased))
	b = binrow.AppendVarint(b, int64(it.QuantityPrior))
	b = binrow.AppendDecimal(b, it.UnitPrice)
	b = binrow.AppendDecimal(b, it.LineDiscount)
	b = binrow.AppendDecimal(b, it.LineTax)
	b = binrow.AppendVarint(b, int64(it.QuantityRequested))
	b = binrow.AppendString(b, it.ExpectedCondition)
	b = binrow.AppendUvarint(b, uint64(len(it.Receipts)))
	for _, rc := range it.Receipts {
		b = binrow.AppendVarint(b, int64(rc.Quantity))
		b = binrow.AppendString(b, rc.ActualCondition)
		b = binrow.AppendString(b, rc.Notes)
		b = binrow.AppendID(b, rc.ReceivedBy)
		b = binrow.AppendTime(b, rc.At)
	}
	return b
}

func readItem(rd *binrow.Reader, it *ReturnItem) {
	it.LineItemID = rd.ID()
	it.ProductID = rd.ID()
	it.SKU = rd.String()
	it.Category = rd.String()
	it.QuantityPurchased = int(rd.Varint())
	it.QuantityPrior = int(rd.Varint())
	it.UnitPrice = rd.Decimal()
	it.LineDiscount = rd.Decimal()
	it.LineTax = rd.Decimal()
	it.QuantityRequested = int(rd.Varint())
	it.ExpectedCondition = rd.Intern(knownConditions...)
	if n := rd.Count(6); n > 0 {
		it.Receipts = make([]Receipt, n)
		for i := range it.Receipts {
			rc := &it.Receipts[i]
			rc.Quantity = int(rd.Varint())
			rc.ActualCondition = rd.Intern(knownConditions...)
			rc.Notes = rd.String()
			rc.ReceivedBy = rd.ID()
			rc.At = rd.Time()
		}
	}
}

func appendBreakdown(b []byte, rb *RefundBreakdown) []byte {
	b = binrow.AppendBool(b, rb != nil)
	if rb == nil {
		return b
	}
	b = binrow.AppendString(b, rb.Currency)
	for _, d := range [...]decimal.Decimal{rb.ItemTotal, rb.TaxRefund, rb.ShippingRefund, rb.RestockingFee, rb.Adjustment, rb.TotalRefund} {
		b = binrow.AppendDecimal(b, d)
	}
	// nil and empty lines are told apart: the JSON form kept "lines": null
	// and "lines": [] apart too
	if rb.Lines == nil {
		return binrow.AppendUvarint(b, 0)
	}
	b = binrow.AppendUvarint(b, uint64(len(rb.Lines))+1)
	for _, l := range rb.Lines {
		b = binrow.AppendID(b, l.LineItemID)
		b = binrow.AppendVarint(b, int64(l.Quantity))
		for _, d := range [...]decimal.Decimal{l.ItemTotal, l.TaxRefund, l.RestockingFee, l.Adjustment, l.Total} {
			b = binrow.AppendDecimal(b, d)
		}
	}
	return b
}

func readBreakdown(rd *binrow.Reader) *RefundBreakdown {
	if !rd.Bool() {
		return nil
	}
	rb := &RefundBreakdown{Currency: rd.String()}
	for _, d := range [...]*decimal.Decimal{&rb.ItemTotal, &rb.TaxRefund, &rb.ShippingRefund, &rb.RestockingFee, &rb.Adjustment, &rb.TotalRefund} {
		*d = rd.Decimal()
	}
	n := rd.Count(1)
	if n == 0 {
		return rb
	}
	if n-1 > rd.Len()/12 {
		rd.Failf("%d refund lines exceed the row", n-1)
		return rb
	}
	rb.Lines = make([]RefundLine, n-1)
	for i := range rb.Lines {
		l := &rb.Lines[i]
		l.LineItemID = rd.ID()
		l.Quantity = int(rd.Varint())
		for _, d := range [...]*decimal.Decimal{&l.ItemTotal, &l.TaxRefund, &l.RestockingFee, &l.Adjustment, &l.Total} {
			*d = rd.Decimal()
		}
	}
	return rb
}

// Saga flags (one byte).
const (
	sagaRefunded = 1 << iota
	sagaRestocked
	sagaLabelAnswered
	sagaLabelTimedOut
	sagaReleased
)

func appendSaga(b []byte, s *Saga) []byte {
	var flags byte
	for _, f := range [...]struct {
		set bool
		bit byte
	}{{s.Refunded, sagaRefunded}, {s.Restocked, sagaRestocked}, {s.LabelAnswered, sagaLabelAnswered},
		{s.LabelTimedOut, sagaLabelTimedOut}, {s.Released, sagaReleased}} {
		if f.set {
			flags |= f.bit
		}
	}
	b = append(b, flags)
	b = binrow.AppendID(b, s.CompleteCommandID)
	b = binrow.AppendString(b, s.RefundKey)
	b = binrow.AppendVarint(b, int64(s.RefundAttempts))
	b = binrow.AppendString(b, s.RefundRequestID)
	b = binrow.AppendTime(b, s.RefundRequestedAt)
	b = binrow.AppendID(b, s.RefundTransactionID)
	b = binrow.AppendString(b, s.RefundError)
	b = binrow.AppendString(b, s.GiftCardLast4)
	b = binrow.AppendID(b, s.ReplacementOrder)
	b = binrow.AppendVarint(b, int64(s.RestockAttempts))
	b = binrow.AppendString(b, s.RestockRequestID)
	b = binrow.AppendTime(b, s.RestockRequestedAt)
	b = binrow.AppendString(b, s.RestockError)
	b = binrow.AppendString(b, s.LabelRequestID)
	b = binrow.AppendVarint(b, int64(s.LabelRequests))
	b = binrow.AppendTime(b, s.LabelRequestedAt)
	b = binrow.AppendString(b, s.LabelError)
	b = binrow.AppendUvarint(b, uint64(len(s.Notifications)))
	for _, n := range s.Notifications {
		b = binrow.AppendString(b, n.ID)
		b = binrow.AppendString(b, n.Template)
		b = binrow.AppendVarint(b, int64(n.Attempts))
		b = binrow.AppendString(b, n.Status)
		b = binrow.AppendString(b, n.Error)
	}
	return b
}

func readSaga(rd *binrow.Reader, s *Saga) {
	flags := rd.Byte()
	s.Refunded = flags&sagaRefunded != 0
	s.Restocked = flags&sagaRestocked != 0
	s.LabelAnswered = flags&sagaLabelAnswered != 0
	s.LabelTimedOut = flags&sagaLabelTimedOut != 0
	s.Released = flags&sagaReleased != 0
	s.CompleteCommandID = rd.ID()
	s.RefundKey = rd.String()
	s.RefundAttempts = int(rd.Varint())
	s.RefundRequestID = rd.String()
	s.RefundRequestedAt = rd.Time()
	s.RefundTransactionID = rd.ID()
	s.RefundError = rd.String()
	s.GiftCardLast4 = rd.String()
	s.ReplacementOrder = rd.ID()
	s.RestockAttempts = int(rd.Varint())
	s.RestockRequestID = rd.String()
	s.RestockRequestedAt = rd.Time()
	s.RestockError = rd.String()
	s.LabelRequestID = rd.String()
	s.LabelRequests = int(rd.Varint())
	s.LabelRequestedAt = rd.Time()
	s.LabelError = rd.String()
	if n := rd.Count(5); n > 0 {
		s.Notifications = make([]Notification, n)
		for i := range s.Notifications {
			nt := &s.Notifications[i]
			nt.ID = rd.String()
			nt.Template = rd.String()
			nt.Attempts = int(rd.Varint())
			nt.Status = rd.String()
			nt.Error = rd.String()
		}
	}
}

func appendAuditEntryBinary(b []byte, e *AuditEntry) []byte {
	b = binrow.AppendVarint(b, int64(e.Seq))
	b = binrow.AppendString(b, string(e.Action))
	b = binrow.AppendID(b, e.ActorID)
	b = binrow.AppendString(b, e.ActorType)
	b = binrow.AppendString(b, string(e.PreviousState))
	b = binrow.AppendString(b, string(e.NewState))
	b = binrow.AppendBytes(b, e.Metadata)
	b = binrow.AppendID(b, e.CommandID)
	return binrow.AppendTime(b, e.At)
}

// readAuditEntry reads an entry; its metadata alias the row when alias is
// set (a row the caller owns and never writes), and are copied otherwise.
func readAuditEntry(rd *binrow.Reader, e *AuditEntry, alias bool) {
	e.Seq = int(rd.Varint())
	e.Action = Action(rd.Intern(knownActions...))
	e.ActorID = rd.ID()
	e.ActorType = rd.Intern(topics.ActorSystem, topics.ActorStaff, topics.ActorCustomer)
	e.PreviousState = State(rd.Intern(knownStates...))
	e.NewState = State(rd.Intern(knownStates...))
	if md := rd.Bytes(); len(md) > 0 {
		if !alias {
			md = copyBytes(md)
		}
		e.Metadata = json.RawMessage(md)
	}
	e.CommandID = rd.ID()
	e.At = rd.Time()
}

func appendDecimalPtr(b []byte, d *decimal.Decimal) []byte {
	b = binrow.AppendBool(b, d != nil)
	if d != nil {
		b = binrow.AppendDecimal(b, *d)
	}
	return b
}

func readDecimalPtr(rd *binrow.Reader) *decimal.Decimal {
	if !rd.Bool() {
		return nil
	}
	d := rd.Decimal()
	return &d
}

func appendTimePtr(b []byte, t *time.Time) []byte {
	b = binrow.AppendBool(b, t != nil)
	if t != nil {
		b = binrow.AppendTime(b, *t)
	}
	return b
}

func readTimePtr(rd *binrow.Reader) *time.Time {
	if !rd.Bool() {
		return nil
	}
	t := rd.Time()
	return &t
}

func copyBytes(b []byte) []byte { return append([]byte(nil), b...) }
