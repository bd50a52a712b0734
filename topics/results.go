package topics

import (
	"encoding/json"
	"time"
)

// CommandResult is the outcome of one command, written by the processor that
// applied it to CommandResults, keyed by command ID (the topic is compacted:
// the latest result per command is kept). Exactly one of Result and Error is
// set.
type CommandResult struct {
	CommandID string `json:"command_id"`
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
}

// Succeeded builds a successful result.
func Succeeded(cmd *Envelope, result any) (*CommandResult, error) {
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	return &CommandResult{CommandID: cmd.CommandID, Type: cmd.Type, OK: true, Result: raw, CompletedAt: cmd.OccurredAt}, nil
}

// Failed builds a failed result from err (AsError gives it a code).
func Failed(cmd *Envelope, err error) *CommandResult {
	return &CommandResult{CommandID: cmd.CommandID, Type: cmd.Type, Error: AsError(err), CompletedAt: cmd.OccurredAt}
}
