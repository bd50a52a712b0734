package topics

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	sjson "github.com/segmentio/encoding/json"
)

// Actor types accepted in an envelope.
const (
	ActorCustomer = "customer"
	ActorStaff    = "staff"
	ActorSystem   = "system"
)

// Actor is who caused a message: a customer, a member of staff, or the
// system itself (a scheduler, a saga step).
type Actor struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Envelope is the JSON wrapper of every ShopStream message, commands and
// events alike. Data holds the payload, decoded with DecodeData.
type Envelope struct {
	// ID is unique per message (UUIDv7 when we produce it). A repeated ID is
	// the same message delivered again.
	ID string `json:"id"`
	// Type names the payload ("gift_card.redeem", "order.completed").
	Type string `json:"type"`
	// V is the payload's schema version, starting at 1.
	V int `json:"v"`
	// OccurredAt is the message's time (UTC). Handlers use it, never the
	// wall clock, so that a replay computes the same result.
	OccurredAt time.Time `json:"occurred_at"`
	// CommandID is the client-chosen idempotency key of a command, and the
	// command an event or a result answers.
	CommandID string `json:"command_id,omitempty"`
	// CorrelationID ties together the messages of one saga or request.
	CorrelationID string `json:"correlation_id,omitempty"`
	// ReplyTo is set on a command that a processor forwards on a client's
	// behalf (under a new envelope): the ID of the client's envelope, which
	// the eventual result answers. See AnswersEnvelope.
	ReplyTo string `json:"reply_to,omitempty"`
	// ReplyTopic asks the processor that applies a command to write the
	// command's result to this topic too, keyed by the command's
	// correlation ID (its command ID when it has none), besides the results
	// topic every result goes to. It is for a saga waiting for another
	// domain's answer: it reads that domain's reply topic, not every result
	// of the platform. A processor offers only the reply topics
	// ReplyTopics lists for its group and refuses a command naming another.
	ReplyTopic string `json:"reply_topic,omitempty"`
	Actor      Actor  `json:"actor"`
	// Data is the payload, kept raw until its type is known.
	Data json.RawMessage `json:"data"`
}

// EnvelopeOption sets an optional envelope field in NewEnvelope.
type EnvelopeOption func(*Envelope)

// WithCommandID sets the envelope's command ID.
func WithCommandID(id string) EnvelopeOption { return func(e *Envelope) { e.CommandID = id } }

// WithCorrelationID sets the envelope's correlation ID.
func WithCorrelationID(id string) EnvelopeOption {
	return func(e *Envelope) { e.CorrelationID = id }
}

// WithReplyTopic asks for the command's result on topic too (ReplyTopic).
func WithReplyTopic(topic string) EnvelopeOption { return func(e *Envelope) { e.ReplyTopic = topic } }

// replyKey is the record key of the command's result on its reply topic.
func (e *Envelope) replyKey() string {
	if e.CorrelationID != "" {
		return e.CorrelationID
	}
	return e.CommandID
}

// Forwarding marks an envelope as a command forwarded on behalf of from:
// it keeps from's command ID and correlation, and its result will answer
// the envelope the client sent.
func Forwarding(from *Envelope) EnvelopeOption {
	return func(e *Envelope) {
		e.CommandID = from.CommandID
		e.CorrelationID = from.CorrelationID
		e.ReplyTo = from.AnswersEnvelope()
	}
}

// AnswersEnvelope is the ID of the client envelope a result of e answers:
// ReplyTo for a forwarded command, otherwise e's own ID.
func (e *Envelope) AnswersEnvelope() string {
	if e.ReplyTo != "" {
		return e.ReplyTo
	}
	return e.ID
}

// WithActor sets who caused the message.
func WithActor(a Actor) EnvelopeOption { return func(e *Envelope) { e.Actor = a } }

// WithVersion sets the payload's schema version (default 1).
func WithVersion(v int) EnvelopeOption { return func(e *Envelope) { e.V = v } }

// NewEnvelope wraps data, stamped with a new UUIDv7 and the time at. at is
// the message's time: an edge (HTTP, CLI) passes the wall clock once; a
// processor passes the time of the message it is handling, so replays
// produce identical envelopes apart from the ID.
func NewEnvelope(typ string, at time.Time, data any, opts ...EnvelopeOption) (*Envelope, error) {
	// The payload is any value a caller passes. Raw JSON passed as the
	// payload itself is validated (and kept as it is); raw messages inside a
	// value are copied as they are (jsonEncodeFlags): they come from our own
	// encoders or from decoding, which validated them.
	var raw []byte
	var err error
	switch d := data.(type) {
	case json.RawMessage:
		raw, err = validRaw(d)
	default:
		raw, err = marshalJSON(data)
	}
	if err != nil {
		return nil, fmt.Errorf("topics: encoding %s payload: %w", typ, err)
	}
	e := &Envelope{
		ID:         NewID(),
		Type:       typ,
		V:          1,
		OccurredAt: at.UTC(),
		Actor:      Actor{ID: "shopstream", Type: ActorSystem},
		Data:       raw,
	}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

func validRaw(b json.RawMessage) ([]byte, error) {
	if b == nil {
		return []byte("null"), nil
	}
	if !sjson.Valid(b) {
		return nil, errors.New("raw payload is not valid JSON")
	}
	return bytes.Clone(b), nil
}

// NewID returns a new UUIDv7 string: unique, and sortable by creation time.
// Its random bits come from crypto/rand through a buffer (idRandom): a
// read of crypto/rand per ID was ~4% of the gift card benchmark's CPU,
// and message IDs are not secrets.
func NewID() string {
	id, err := uuid.NewV7FromReader(idRandom)
	if err != nil {
		// NewV7 fails only when crypto/rand does; nothing sensible can go on.
		panic(fmt.Sprintf("topics: generating UUIDv7: %v", err))
	}
	return id.String()
}

// idRandom is crypto/rand read 4 KiB at a time into buffers that
// goroutines take from a pool, so that they do not wait on each other;
// every byte is handed out once.
var idRandom io.Reader = pooledRandom{}

type randomBuffer struct {
	b    [4096]byte
	next int // first unread byte
}

var randomBuffers = sync.Pool{New: func() any { return &randomBuffer{next: 4096} }}

type pooledRandom struct{}

func (pooledRandom) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		return rand.Read(p)
	}
	rb := randomBuffers.Get().(*randomBuffer)
	defer randomBuffers.Put(rb)
	if len(rb.b)-rb.next < len(p) {
		if _, err := rand.Read(rb.b[:]); err != nil {
			return 0, err
		}
		rb.next = 0
	}
	n := copy(p, rb.b[rb.next:])
	rb.next += n
	return n, nil
}

// DecodeError says why a record could not be decoded or validated. It is the
// reason written to a dead-letter queue.
type DecodeError struct {
	// Reason is a short human-readable description.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *DecodeError) Error() string {
	if e.Err != nil {
		return "undecodable message: " + e.Reason + ": " + e.Err.Error()
	}
	return "undecodable message: " + e.Reason
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrUndecodable matches every *DecodeError with errors.Is.
var ErrUndecodable = errors.New("undecodable message")

// Is makes errors.Is(err, ErrUndecodable) true for every DecodeError.
func (e *DecodeError) Is(target error) bool { return target == ErrUndecodable }

// DecodeEnvelope parses and validates an envelope. Unknown fields are
// ignored. It returns a *DecodeError for anything that is not a valid
// envelope, so the caller can dead-letter the record with the reason.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, &DecodeError{Reason: "empty record value"}
	}
	var e Envelope
	if err := sjson.Unmarshal(b, &e); err != nil {
		return nil, &DecodeError{Reason: "not a JSON envelope", Err: err}
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks the fields every envelope must have.
func (e *Envelope) Validate() error {
	switch {
	case e.ID == "":
		return &DecodeError{Reason: "envelope has no id"}
	case e.Type == "":
		return &DecodeError{Reason: "envelope has no type"}
	case e.V < 1:
		return &DecodeError{Reason: fmt.Sprintf("envelope version %d is not >= 1", e.V)}
	case e.OccurredAt.IsZero():
		return &DecodeError{Reason: "envelope has no occurred_at"}
	case len(e.Data) == 0 || string(e.Data) == "null":
		return &DecodeError{Reason: "envelope has no data"}
	}
	switch e.Actor.Type {
	case ActorCustomer, ActorStaff, ActorSystem:
	default:
		return &DecodeError{Reason: fmt.Sprintf("actor.type %q is not customer, staff or system", e.Actor.Type)}
	}
	return nil
}

// DecodeData decodes an envelope's payload into T. Unknown fields are
// ignored; a payload that does not fit T is a *DecodeError.
func DecodeData[T any](e *Envelope) (T, error) {
	var v T
	if err := sjson.Unmarshal(e.Data, &v); err != nil {
		return v, &DecodeError{Reason: fmt.Sprintf("%s payload does not decode", e.Type), Err: err}
	}
	return v, nil
}

// Encode renders the envelope as JSON. Data is copied as it is, not
// re-validated: NewEnvelope encoded it or DecodeEnvelope decoded it, so it
// is valid JSON (an envelope built by hand must hold valid JSON in Data).
func (e *Envelope) Encode() ([]byte, error) { return marshalJSON(e) }
