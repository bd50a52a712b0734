package returns

import (
	"fmt"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// OrderRecord is the order processor's table value: the order state and
// the command IDs it applied.
type OrderRecord struct {
	OrderState
	Commands command.Ledger `json:"commands"`
	// Events are the IDs of the inbound events applied, most recent last,
	// so a redelivered event is recognised.
	Events []string `json:"events,omitempty"`
}

// ReturnRecord is the return processor's table value.
type ReturnRecord struct {
	Return   *Return        `json:"return"`
	Commands command.Ledger `json:"commands"`

	// stored holds the bytes of a record the return processor's table
	// codec has not decoded yet (returnTableCodec.Decode): load decodes
	// them, outstanding reads only what the saga timeout needs. Nil for a
	// decoded record.
	stored []byte

	// What a loaded record keeps of its stored form (loadReturnRecord):
	// the first auditN entries of Return.Audit encoded (the last of them
	// in auditLast), and the ledger entries whose Digest and Result are
	// still unset.
	auditRaw   []byte
	auditN     int
	auditLast  AuditEntry
	ledgerKept []keptEntry
}

// load decodes a record the table codec left undecoded; it does nothing
// to a decoded one. Every reader of the return processor's table value but
// the saga timeout visitor calls it first. The ledger entries' digests
// and results are left undecoded ("" and nil): what reads them calls
// resolve first.
func (r *ReturnRecord) load() error {
	if r == nil || r.stored == nil {
		return nil
	}
	v, err := loadReturnRecord(r.stored)
	if err != nil {
		return err
	}
	if v == nil {
		v = &ReturnRecord{}
	}
	*r = *v
	return nil
}

// outstanding is Return.Outstanding of the record's return (ok false
// without one). An undecoded record is read only for the return's status
// and saga: the saga timeout visitor reads every return this instance
// owns on each tick, and nearly all of them wait for nothing.
func (r *ReturnRecord) outstanding() (requestID string, sentAt time.Time, ok bool, err error) {
	ret := r.Return
	if len(r.stored) > 0 && r.stored[0] == recordFormatBinary {
		if ret, err = decodeOutstanding(r.stored); err != nil {
			return "", time.Time{}, false, err
		}
	} else if r.stored != nil {
		var part struct {
			Return *struct {
				Status State `json:"status"`
				Saga   Saga  `json:"saga"`
			} `json:"return"`
		}
		if err := json.Unmarshal(r.stored, &part); err != nil {
			return "", time.Time{}, false, fmt.Errorf("returns: decoding a stored return's saga: %w", err)
		}
		if part.Return != nil {
			ret = &Return{Status: part.Return.Status, Saga: part.Return.Saga}
		}
	}
	if ret == nil {
		return "", time.Time{}, false, nil
	}
	requestID, sentAt, ok = ret.Outstanding()
	return requestID, sentAt, ok, nil
}

// Codecs of the tables: both are binary (orderTableCodec;
// returnTableCodec, returnViewCodec). orderRecordCodec reads the JSON
// records earlier versions wrote; returnRecordCodec is the JSON form of a
// return record as they wrote it but without Return.AuditPublished (the
// tests' old rows; decodeJSONRecord reads stored ones, the count included).
type (
	orderRecordCodec  = topics.JSONCodec[OrderRecord]
	returnRecordCodec = topics.JSONCodec[ReturnRecord]
)

// Envelope types of return commands on ReturnsCommands (and
// return.initiate on ReturnsOrders).
const (
	TypeInitiate     = "return.initiate"
	TypeCreate       = "return.create"
	TypeApprove      = "return.approve"
	TypeReject       = "return.reject"
	TypeShip         = "return.ship"
	TypeReceive      = "return.receive"
	TypeInspect      = "return.inspect"
	TypeComplete     = "return.complete"
	TypeCancel       = "return.cancel"
	TypeLabel        = "return.generate_shipping_label"
	TypeRetryRefund  = "return.retry_refund"
	TypeRetryRestock = "return.retry_restock"
	TypeResolve      = "return.resolve"
	// TypeReplay asks the return processor to answer a repeated
	// return.initiate with the create's result (order processor only).
	TypeReplay = "return.replay"
)

// ReplayRequest is the payload of return.replay, and the result of an
// initiate that was handed to the return processor.
type ReplayRequest struct {
	ReturnID string `json:"return_id"`
}

// Envelope types of replies on ReturnsReplies.
const (
	ReplyRefund       = "payments.refund_result"
	ReplyStoreCredit  = "gift_card.issue_result"
	ReplyRestock      = "inventory.restock_result"
	ReplyLabel        = "shipping.label_result"
	ReplyNotification = "notification.result"
)

// decodeCommand decodes a return command envelope into its Command.
func decodeCommand(env *topics.Envelope) (Command, error) {
	switch env.Type {
	case TypeApprove:
		return topics.DecodeData[Approve](env)
	case TypeReject:
		return topics.DecodeData[Reject](env)
	case TypeShip:
		return topics.DecodeData[Ship](env)
	case TypeReceive:
		return topics.DecodeData[ReceiveItems](env)
	case TypeInspect:
		return topics.DecodeData[Inspect](env)
	case TypeComplete:
		return topics.DecodeData[Complete](env)
	case TypeCancel:
		return topics.DecodeData[Cancel](env)
	case TypeLabel:
		return GenerateLabel{}, nil
	case TypeRetryRefund:
		return RetryRefund{}, nil
	case TypeRetryRestock:
		return RetryRestock{}, nil
	case TypeResolve:
		return topics.DecodeData[Resolve](env)
	}
	return nil, topics.ErrInvalidRequest.Withf("unknown return command type %q", env.Type)
}

// decodeReply decodes a saga reply envelope.
func decodeReply(env *topics.Envelope) (Command, error) {
	rp, err := topics.DecodeData[Reply](env)
	if err != nil {
		return nil, err
	}
	if rp.RequestID == "" {
		return nil, topics.ErrInvalidRequest.Withf("%s has no request_id", env.Type)
	}
	switch env.Type {
	case TypeSagaTimeout:
		if env.Actor.Type != topics.ActorSystem {
			return nil, ErrForbidden.Withf("%s is for system actors only, not %s %q", TypeSagaTimeout, env.Actor.Type, env.Actor.ID)
		}
		return SagaTimeout{RequestID: rp.RequestID}, nil
	case ReplyRefund, ReplyStoreCredit:
		return RefundResult{rp}, nil
	case ReplyRestock:
		return RestockResult{rp}, nil
	case ReplyLabel:
		return LabelResult{rp}, nil
	case ReplyNotification:
		return NotificationResult{rp}, nil
	}
	return nil, topics.ErrInvalidRequest.Withf("unknown reply type %q", env.Type)
}
