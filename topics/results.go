package topics

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandResult is the outcome of one command, written by the processor that
// applied it to CommandResults, keyed by command ID (the topic is compacted:
// the latest result per command is kept). Exactly one of Result and Error is
// set.
type CommandResult struct {
	CommandID string `json:"command_id"`
	// EnvelopeID is the ID of the command message this result answers.
	// Two deliveries of one command (a client's retry) are two envelopes
	// with one command ID: each gets its own answer. Empty when a result
	// answers no message in particular (a saga finishing later).
	EnvelopeID string `json:"envelope_id,omitempty"`
	// Type is the command's type ("gift_card.redeem").
	Type string `json:"type"`
	// OK is true when the command succeeded.
	OK bool `json:"ok"`
	// Result is the command's result object when OK.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the typed failure when not OK.
	Error *Error `json:"error,omitempty"`
	// Replayed is true when this result answers a repeated command ID and
	// was not applied again.
	Replayed bool `json:"replayed,omitempty"`
	// Pending is true for a saga that accepted the command and will finish
	// it later; a second result with the same ID follows.
	Pending bool `json:"pending,omitempty"`
	// CompletedAt is the time of the message that produced the result.
	CompletedAt time.Time `json:"completed_at"`

	// ReplyTopic and ReplyKey address the copy of this result that the
	// command asked for (Envelope.ReplyTopic), empty when it asked for none.
	// Like EnvelopeID they belong to the delivery answered: a replayed
	// result takes them from the repeat. They are encoded so that a result
	// one processor hands to another to send (a redemption's, sent by the
	// redemption index) keeps its address.
	ReplyTopic string `json:"reply_topic,omitempty"`
	ReplyKey   string `json:"reply_key,omitempty"`
}

// Answering addresses r to cmd, the delivery it answers: its envelope ID
// and the reply topic cmd asked for, if any.
func (r *CommandResult) Answering(cmd *Envelope) *CommandResult {
	r.EnvelopeID = cmd.AnswersEnvelope()
	r.ReplyTopic, r.ReplyKey = cmd.ReplyTopic, ""
	if cmd.ReplyTopic != "" {
		r.ReplyKey = cmd.replyKey()
	}
	return r
}

// TransientKey is the record key of a transient answer on CommandResults:
// the command ID and the position of the record it answers, so each
// answer is distinct (Commander.awaited reads the command ID back).
func TransientKey(commandID string, partition int32, offset int64) string {
	return fmt.Sprintf("%s~%d.%d", commandID, partition, offset)
}

// Succeeded builds a successful result.
func Succeeded(cmd *Envelope, result any) (*CommandResult, error) {
	raw, err := marshalJSON(result)
	if err != nil {
		return nil, err
	}
	r := &CommandResult{CommandID: cmd.CommandID, Type: cmd.Type, OK: true, Result: raw, CompletedAt: cmd.OccurredAt}
	return r.Answering(cmd), nil
}

// Failed builds a failed result from err (AsError gives it a code).
func Failed(cmd *Envelope, err error) *CommandResult {
	r := &CommandResult{CommandID: cmd.CommandID, Type: cmd.Type, Error: AsError(err), CompletedAt: cmd.OccurredAt}
	return r.Answering(cmd)
}

// Transient reports whether r answers a repeated delivery of a command
// rather than recording what the command did: a replay of the first result,
// or the refusal of a command ID reused with another payload. Transient
// answers are addressed to the one delivery they answer; they never replace
// the command's result on the results topic.
func (r *CommandResult) Transient() bool {
	return r.Replayed || (r.Error != nil && r.Error.Code == CodeIdempotencyConflict)
}
