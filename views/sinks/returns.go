package sinks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
	// processor (Summary.Audit), never rewritten; events from before
	// Summary carried entries give one row per event.
	ReturnAuditLogsTable = &Table{Name: "return_audit_logs", Kind: AppendOnly,
		Columns: []string{"event_id", "return_request_id", "action", "actor_id", "actor_type", "previous_state",
			"new_state", "metadata", "created_at"},
	}
)

// Returns is the returns sink: the return.* event topics into
// return_requests, return_items and return_audit_logs.
func Returns() Spec {
	return Spec{
		Name: topics.SinkReturns,
		Topics: []string{topics.ReturnInitiatedTopic, topics.ReturnApprovedTopic, topics.ReturnReceivedTopic,
			topics.ReturnCompletedTopic, topics.ReturnRejectedTopic, topics.ReturnCancelledTopic,
			topics.ReturnActionRequiredTopic},
		Tables: []*Table{ReturnRequestsTable, ReturnItemsTable, ReturnAuditLogsTable},
		Map:    mapReturn,
	}
}

var returnStates = []returns.State{returns.StatePending, returns.StateApproved, returns.StateShipped,
	returns.StateReceived, returns.StateInspecting, returns.StateCompleted, returns.StateRejected, returns.StateCancelled,
	returns.StateRefunding, returns.StateRestocking, returns.StateRefundFailed, returns.StateRequiresAction}

func mapReturn(env *topics.Envelope, _ *kgo.Record) ([]Row, error) {
	s, err := topics.DecodeData[returns.Summary](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedEvent, env.Type, err)
	}
	switch {
	case s.ReturnID == "" || s.OrderID == "" || s.CustomerID == "" || s.Reason == "":
		return nil, fmt.Errorf("%w: %s without return, order, customer or reason", ErrMalformedEvent, env.Type)
	case !slices.Contains(returnStates, s.Status):
		return nil, fmt.Errorf("%w: %s with status %q", ErrMalformedEvent, env.Type, s.Status)
	}
	at := env.OccurredAt
	// Seq (the audit trail's length) orders a return's events exactly;
	// events from before it was published have 0 and fall back to time.
	order := Order{Version: s.Seq, OccurredAt: at, EventID: env.ID}
	req := []any{s.ReturnID, s.OrderID, s.CustomerID, string(s.Status), s.Reason, nonEmpty(s.RefundMethod),
		nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, at,
		nonEmpty(s.Description), nonEmpty(s.ShippingLabelURL), nonEmpty(s.TrackingNumber)}
	if r := s.Refund; r != nil {
		req[6] = nonEmpty(r.Currency)
		req[9] = topics.AmountString(r.RestockingFee, r.Currency)
		if s.Status == returns.StateCompleted {
			req[8] = topics.AmountString(r.TotalRefund, r.Currency)
		} else {
			req[7] = topics.AmountString(r.TotalRefund, r.Currency)
		}
	}
	switch env.Type {
	case returns.EventInitiated:
		req[16] = at
	case returns.EventApproved:
		req[10], req[11] = nonEmpty(env.Actor.ID), at
	case returns.EventReceived:
		req[12] = at
	case returns.EventCompleted:
		req[13] = at
	case returns.EventRejected:
		req[14] = at
	case returns.EventCancelled:
		req[15] = at
	case returns.EventActionRequired:
		// the status (refund_failed, requires_action) and the trail only
	default:
		return nil, fmt.Errorf("%w: event type %q on a return topic", ErrMalformedEvent, env.Type)
	}
	rows := []Row{{Table: ReturnRequestsTable, Values: req, Order: order}}
	for _, it := range s.Items {
		if it.LineItemID == "" || it.ProductID == "" || it.QuantityRequested <= 0 || it.QuantityReceived < 0 {
			return nil, fmt.Errorf("%w: %s with an invalid item %+v", ErrMalformedEvent, env.Type, it)
		}
		var created any
		if env.Type == returns.EventInitiated {
			created = at
		}
		var unit, restockable any
		if it.UnitRefund != nil && s.Refund != nil {
			unit = topics.AmountString(*it.UnitRefund, s.Refund.Currency)
		}
		if it.Restockable != nil {
			restockable = *it.Restockable
		}
		rows = append(rows, Row{Table: ReturnItemsTable, Values: []any{s.ReturnID, it.LineItemID, it.ProductID,
			it.QuantityRequested, it.QuantityReceived, created, at,
			nonEmpty(it.ExpectedCondition), nonEmpty(it.ActualCondition), unit, restockable, nonEmpty(it.Notes)}, Order: order})
	}
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
		row, err := auditRow(env, s.ReturnID, e)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// auditRow is the return_audit_logs row of one of the processor's audit
// entries. Its event_id names the return and the entry's seq, so the same
// entry carried again (a redelivered or re-emitted event) is one row.
// metadata is the entry's, plus its seq, command ID and the event that
// carried it.
func auditRow(env *topics.Envelope, returnID string, e returns.AuditEntry) (Row, error) {
	if e.Seq <= 0 || e.Action == "" || e.NewState == "" || e.At.IsZero() {
		return Row{}, fmt.Errorf("%w: %s with an invalid audit entry %+v", ErrMalformedEvent, env.Type, e)
	}
	meta := map[string]any{}
	if len(e.Metadata) > 0 {
		if err := json.Unmarshal(e.Metadata, &meta); err != nil {
			return Row{}, fmt.Errorf("%w: %s: audit entry %d metadata: %v", ErrMalformedEvent, env.Type, e.Seq, err)
		}
	}
	meta["seq"], meta["event_type"], meta["event_id"] = e.Seq, env.Type, env.ID
	if e.CommandID != "" {
		meta["command_id"] = e.CommandID
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return Row{}, err
	}
	var prev any
	if e.PreviousState != "" {
		prev = string(e.PreviousState)
	}
	return Row{Table: ReturnAuditLogsTable, Values: []any{fmt.Sprintf("%s/audit/%06d", returnID, e.Seq), returnID,
		string(e.Action), nonEmpty(e.ActorID), nonEmpty(e.ActorType), prev, string(e.NewState), string(b), e.At}}, nil
}
