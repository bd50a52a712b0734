package sinks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
)

// Return read models.
var (
	// ReturnRequestsTable is the current state of every return.
	ReturnRequestsTable = &Table{Name: "return_requests", Kind: CurrentState,
		Columns: []string{"id", "order_id", "customer_id", "status", "reason", "refund_method", "currency",
			"estimated_refund", "actual_refund", "restocking_fee", "approved_by", "approved_at", "received_at",
			"completed_at", "rejected_at", "cancelled_at", "created_at", "updated_at",
			"description", "shipping_label_url", "tracking_number"},
		Key: []string{"id"},
		Merge: []string{"refund_method", "currency", "estimated_refund", "actual_refund", "restocking_fee",
			"approved_by", "approved_at", "received_at", "completed_at", "rejected_at", "cancelled_at", "created_at",
			"description", "shipping_label_url", "tracking_number"},
	}
	// ReturnItemsTable is the current state of every returned line.
	ReturnItemsTable = &Table{Name: "return_items", Kind: CurrentState,
		Columns: []string{"return_request_id", "line_item_id", "product_id", "quantity_requested",
			"quantity_received", "created_at", "updated_at",
			"expected_condition", "actual_condition", "unit_refund_amount", "restockable", "notes"},
		Key: []string{"return_request_id", "line_item_id"},
		Merge: []string{"created_at", "expected_condition", "actual_condition", "unit_refund_amount", "restockable",
			"notes"},
	}
	// ReturnAuditLogsTable has one row per audit entry of the return
	// processor, never rewritten: those the events carry (Summary.Audit)
	// and every entry of the rows of the processor's table changelog, one
	// row per entry whichever copy comes first (auditRow); events from
	// before Summary carried entries give one row per event.
	ReturnAuditLogsTable = &Table{Name: "return_audit_logs", Kind: AppendOnly,
		Columns: []string{"event_id", "return_request_id", "action", "actor_id", "actor_type", "previous_state",
			"new_state", "metadata", "created_at"},
	}
)

// Returns is the returns sink: the return.* event topics, and the return
// processor's table changelog (returns.ReturnTable), into return_requests,
// return_items and return_audit_logs.
//
// The events carry the audit entries appended since the return's previous
// event (Summary.Audit). Entries appended after a return's last event so
// far never travel with one: the replies to the notifications a terminal
// event sends (the completion's notification_delivered after
// return.completed, and after return.rejected, return.cancelled and
// return.action_required), and everything done to a parked return until
// its next event (retry_refund or retry_restock and the attempts that
// follow). The processor writes each of them to its table, whose
// changelog holds every row it writes; compaction keeps a return's latest
// row, which holds the whole trail. So the sink also reads the changelog
// (decoded by returns.DecodeTableRow, which reads every format the
// processor has written) and writes every entry of each row with the
// event_id an event's copy of the entry gets (auditRow): an entry is one
// row whichever copy comes first, and a database filled from the changelog
// alone has every return's whole trail. The same row updates the return's
// return_requests and return_items rows, ordered by the trail's length
// like the events' Seq (see mapReturnRow).
//
// One spec, not a second sink beside it: the changelog's rows and the
// events write the same rows, and one sink keeps one consumer group, one
// set of stored offsets and the one DLQ topic the catalog has for it
// (sink-returns.dlq).
func Returns() Spec {
	return Spec{
		Name: topics.SinkReturns,
		Topics: []string{topics.ReturnInitiatedTopic, topics.ReturnApprovedTopic, topics.ReturnReceivedTopic,
			topics.ReturnCompletedTopic, topics.ReturnRejectedTopic, topics.ReturnCancelledTopic,
			topics.ReturnActionRequiredTopic, string(returns.ReturnTable)},
		Tables: []*Table{ReturnRequestsTable, ReturnItemsTable, ReturnAuditLogsTable},
		Map:    mapReturn,
		Raw:    map[string]RecordMapper{string(returns.ReturnTable): mapReturnRow},
	}
}

var returnStates = []returns.State{returns.StatePending, returns.StateApproved, returns.StateShipped,
	returns.StateReceived, returns.StateInspecting, returns.StateCompleted, returns.StateRejected, returns.StateCancelled,
	returns.StateRefunding, returns.StateRestocking, returns.StateRefundFailed, returns.StateRequiresAction}

// checkSummary refuses a summary the tables cannot hold; what names where
// it comes from.
func checkSummary(what string, s *returns.Summary) error {
	switch {
	case s.ReturnID == "" || s.OrderID == "" || s.CustomerID == "" || s.Reason == "":
		return fmt.Errorf("%w: %s without return, order, customer or reason", ErrMalformedEvent, what)
	case !slices.Contains(returnStates, s.Status):
		return fmt.Errorf("%w: %s with status %q", ErrMalformedEvent, what, s.Status)
	}
	for _, it := range s.Items {
		if it.LineItemID == "" || it.ProductID == "" || it.QuantityRequested <= 0 || it.QuantityReceived < 0 {
			return fmt.Errorf("%w: %s with an invalid item %+v", ErrMalformedEvent, what, it)
		}
	}
	return nil
}

// returnStamps are the values of the return_requests columns that one kind
// of event sets (nil: the event does not know it; they are merge columns).
type returnStamps struct {
	created, approvedBy, approvedAt, receivedAt, completedAt, rejectedAt, cancelledAt any
}

// returnRows are the return_requests and return_items rows of s, at order
// (updated at at).
func returnRows(s *returns.Summary, order Order, at time.Time, st returnStamps) []Row {
	req := []any{s.ReturnID, s.OrderID, s.CustomerID, string(s.Status), s.Reason, nonEmpty(s.RefundMethod),
		nil, nil, nil, nil, st.approvedBy, st.approvedAt, st.receivedAt, st.completedAt, st.rejectedAt, st.cancelledAt,
		st.created, at, nonEmpty(s.Description), nonEmpty(s.ShippingLabelURL), nonEmpty(s.TrackingNumber)}
	if r := s.Refund; r != nil {
		req[6] = nonEmpty(r.Currency)
		req[9] = topics.AmountString(r.RestockingFee, r.Currency)
		if s.Status == returns.StateCompleted {
			req[8] = topics.AmountString(r.TotalRefund, r.Currency)
		} else {
			req[7] = topics.AmountString(r.TotalRefund, r.Currency)
		}
	}
	rows := []Row{{Table: ReturnRequestsTable, Values: req, Order: order}}
	for _, it := range s.Items {
		var unit, restockable any
		if it.UnitRefund != nil && s.Refund != nil {
			unit = topics.AmountString(*it.UnitRefund, s.Refund.Currency)
		}
		if it.Restockable != nil {
			restockable = *it.Restockable
		}
		rows = append(rows, Row{Table: ReturnItemsTable, Values: []any{s.ReturnID, it.LineItemID, it.ProductID,
			it.QuantityRequested, it.QuantityReceived, st.created, at,
			nonEmpty(it.ExpectedCondition), nonEmpty(it.ActualCondition), unit, restockable, nonEmpty(it.Notes)}, Order: order})
	}
	return rows
}

func mapReturn(env *topics.Envelope, _ *kgo.Record) ([]Row, error) {
	s, err := topics.DecodeData[returns.Summary](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedEvent, env.Type, err)
	}
	if err := checkSummary(env.Type, &s); err != nil {
		return nil, err
	}
	at := env.OccurredAt
	// Seq (the audit trail's length) orders a return's events exactly;
	// events from before it was published have 0 and fall back to time.
	order := Order{Version: s.Seq, OccurredAt: at, EventID: env.ID}
	var st returnStamps
	switch env.Type {
	case returns.EventInitiated:
		st.created = at
	case returns.EventApproved:
		st.approvedBy, st.approvedAt = nonEmpty(env.Actor.ID), at
	case returns.EventReceived:
		st.receivedAt = at
	case returns.EventCompleted:
		st.completedAt = at
	case returns.EventRejected:
		st.rejectedAt = at
	case returns.EventCancelled:
		st.cancelledAt = at
	case returns.EventActionRequired:
		// the status (refund_failed, requires_action) and the trail only
	default:
		return nil, fmt.Errorf("%w: event type %q on a return topic", ErrMalformedEvent, env.Type)
	}
	rows := returnRows(&s, order, at, st)
	if len(s.Audit) == 0 {
		// an event from before Summary carried the audit entries
		meta, _ := json.Marshal(map[string]any{"event_type": env.Type, "command_id": env.CommandID,
			"correlation_id": env.CorrelationID, "refund_method": s.RefundMethod})
		rows = append(rows, Row{Table: ReturnAuditLogsTable, Values: []any{env.ID, s.ReturnID,
			strings.TrimPrefix(env.Type, "return."), nonEmpty(env.Actor.ID), nonEmpty(env.Actor.Type), nil,
			string(s.Status), string(meta), at}})
		return rows, nil
	}
	for _, e := range s.Audit {
		row, err := auditRow(s.ReturnID, e)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, env.Type)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// mapReturnRow maps a row of the return processor's table changelog: an
// audit row per entry of the return's trail (all of them: an entry already
// written is skipped by its event_id), and the return's return_requests and
// return_items rows as its current state.
//
// Those are ordered like the events' rows, by the trail's length (the
// events' Seq): every action on a return appends to its trail, so a row
// with a longer trail is a later state, and an event and the row its action
// wrote have the same length and the same state (their order breaks the
// tie by time, the same, then by ID: the row's names its place in the
// changelog, which sorts after an event's UUIDv7, so the row's values are
// the ones kept; they are the event's but for approved_by, which the row
// leaves to return.approved, and estimated_refund, which is always the
// approval's estimate, where return.action_required writes the actual
// refund once the return is completing). The row also updates what no event
// publishes: shipped, inspecting, refunding and restocking, the label
// before return.received, and a parked return's retry (refunding or
// restocking again) before its next event.
//
// A tombstone, a row that does not decode or whose return is not its key,
// and a return the tables cannot hold are dead-lettered with the reason.
func mapReturnRow(rec *kgo.Record) ([]Row, error) {
	r, err := returns.DecodeTableRow(rec.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %s row %q: %v", ErrMalformedEvent, rec.Topic, rec.Key, err)
	}
	if r == nil {
		return nil, nil // a row without a return changes no read model
	}
	what := fmt.Sprintf("%s row %q", rec.Topic, rec.Key)
	if r.ID != string(rec.Key) {
		return nil, fmt.Errorf("%w: %s holds return %q", ErrMalformedEvent, what, r.ID)
	}
	s := r.Summary()
	if err := checkSummary(what, &s); err != nil {
		return nil, err
	}
	at := r.UpdatedAt
	if at.IsZero() {
		at = rec.Timestamp
	}
	order := Order{Version: int64(len(r.Audit)), OccurredAt: at,
		EventID: fmt.Sprintf("%s/%d/%020d", rec.Topic, rec.Partition, rec.Offset)}
	st := returnStamps{approvedAt: r.ApprovedAt, receivedAt: r.ReceivedAt, completedAt: r.CompletedAt,
		rejectedAt: r.RejectedAt, cancelledAt: r.CancelledAt}
	if !r.CreatedAt.IsZero() {
		st.created = r.CreatedAt
	}
	rows := returnRows(&s, order, at, st)
	// estimated_refund is the approval's estimate: from completion on,
	// the summary's refund is the actual one, which the row writes as
	// actual_refund once completed, as return.completed does
	rows[0].Values[7] = nil
	if est := r.EstimatedRefund; est != nil {
		rows[0].Values[7] = topics.AmountString(est.TotalRefund, est.Currency)
	}
	for _, e := range r.Audit {
		row, err := auditRow(r.ID, e)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, what)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// auditRow is the return_audit_logs row of one of the processor's audit
// entries, whichever copy of it is mapped: the one an event carried or the
// one in a row of the processor's table changelog. Its event_id names the
// return and the entry's seq, so every copy of an entry (a redelivered or
// re-emitted event, the changelog's rows) is one row; and it is made of the
// entry alone, so the row is the same whichever copy comes first. metadata
// is the entry's, plus its seq and command ID.
func auditRow(returnID string, e returns.AuditEntry) (Row, error) {
	if e.Seq <= 0 || e.Action == "" || e.NewState == "" || e.At.IsZero() {
		return Row{}, fmt.Errorf("%w: return %s: an invalid audit entry %+v", ErrMalformedEvent, returnID, e)
	}
	b, err := auditMetadata(e)
	if err != nil {
		return Row{}, fmt.Errorf("%w: return %s: audit entry %d metadata: %v", ErrMalformedEvent, returnID, e.Seq, err)
	}
	var prev any
	if e.PreviousState != "" {
		prev = string(e.PreviousState)
	}
	return Row{Table: ReturnAuditLogsTable, Values: []any{auditEventID(returnID, e.Seq), returnID,
		string(e.Action), nonEmpty(e.ActorID), nonEmpty(e.ActorType), prev, string(e.NewState), string(b), e.At}}, nil
}

// errNotAnObject: an audit entry's metadata is not a JSON object.
var errNotAnObject = errors.New("not a JSON object")

// auditMetadata is the metadata column of e's row: the entry's metadata
// (a JSON object) with "seq" and "command_id" (when it has one) added as
// its last keys, so that they win over keys of the same name (JSONB keeps
// the last of repeated keys). The object is extended in place rather than
// decoded and encoded again: the changelog maps a return's whole trail
// with each of its rows.
func auditMetadata(e returns.AuditEntry) ([]byte, error) {
	md := bytes.TrimSpace(e.Metadata)
	if len(md) == 0 {
		md = []byte("{}")
	}
	if md[0] != '{' || md[len(md)-1] != '}' || !json.Valid(md) {
		return nil, errNotAnObject
	}
	b := make([]byte, 0, len(md)+32+len(e.CommandID))
	b = append(b, md[:len(md)-1]...)
	if len(bytes.TrimSpace(md[1:len(md)-1])) > 0 {
		b = append(b, ',')
	}
	b = append(b, `"seq":`...)
	b = strconv.AppendInt(b, int64(e.Seq), 10)
	if e.CommandID != "" {
		id, err := json.Marshal(e.CommandID)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"command_id":`...), id...)
	}
	return append(b, '}'), nil
}

// auditEventID is the event_id of the return_audit_logs row of entry seq
// of return returnID: "<return>/audit/<seq, 6 digits>".
func auditEventID(returnID string, seq int) string {
	return fmt.Sprintf("%s/audit/%06d", returnID, seq)
}
