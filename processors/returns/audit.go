package returns

import (
	"bytes"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/shopstream/streams/topics"
)

// AuditEntry records one action on a return: who did it, the state before
// and after, and what it carried. Entries are append-only: once written
// they are never changed or removed (ReturnAuditLog of the seed).
type AuditEntry struct {
	// Seq numbers the entries of a return from 1.
	Seq           int    `json:"seq"`
	Action        Action `json:"action"`
	ActorID       string `json:"actor_id"`
	ActorType     string `json:"actor_type"`
	PreviousState State  `json:"previous_state,omitempty"`
	NewState      State  `json:"new_state"`
	// Metadata is the entry's metadata in its JSON form (an object). It is
	// set once when the entry is appended and never changed: keeping it
	// encoded makes the trail cheap to decode, encode and compare, and
	// lets a clone share it.
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	CommandID string          `json:"command_id,omitempty"`
	At        time.Time       `json:"at"`

	// encoded is the entry's JSON form as the return table stores it, set
	// by sealAudit once the action that appended the entry is complete
	// (entries never change afterwards), so that the table codec copies
	// the trail instead of encoding it on every write. Nil until then;
	// shared by clones like Metadata.
	encoded json.RawMessage
}

// ErrAuditRewritten means an update would change or drop audit entries.
// It is a bug, never a user error: the processor refuses such an update.
var ErrAuditRewritten = topics.NewError(topics.CodeInternal, "audit trail entries may only be appended")

// MetadataValues decodes the entry's metadata (nil when it has none).
func (e AuditEntry) MetadataValues() map[string]any {
	if len(e.Metadata) == 0 {
		return nil
	}
	var md map[string]any
	if json.Unmarshal(e.Metadata, &md) != nil {
		return nil
	}
	return md
}

// encodeMetadata is the JSON form of an entry's metadata (nil when empty).
func encodeMetadata(md map[string]any) json.RawMessage {
	if len(md) == 0 {
		return nil
	}
	b, err := json.Marshal(md)
	if err != nil {
		panic(err) // metadata are built from plain values
	}
	return b
}

// appendAudit adds an entry to r's trail. Metadata is stored in its JSON
// form, so that the entry in memory is the entry in the table.
func (r *Return) appendAudit(m Meta, a Action, prev State, md map[string]any) {
	r.Audit = append(r.Audit, AuditEntry{
		Seq: len(r.Audit) + 1, Action: a, ActorID: m.Actor.ID, ActorType: m.Actor.Type,
		PreviousState: prev, NewState: r.Status, Metadata: encodeMetadata(md), CommandID: m.CommandID, At: m.At.UTC(),
	})
}

// setLastMetadata sets the metadata of the entry the current action just
// appended (actions whose metadata are known only after the transition).
func (r *Return) setLastMetadata(md map[string]any) {
	e := &r.Audit[len(r.Audit)-1]
	e.Metadata, e.encoded = encodeMetadata(md), nil
}

// seal keeps the table encoding of every entry of r's trail and of its
// refund breakdowns that have none yet, so that the table codec copies
// them instead of encoding them on every write. The return processor calls
// it on the return an action made (Apply's result: the trail is
// append-only, breakdowns are replaced and never changed) or the return it
// creates, before storing it, while r is its own.
func (r *Return) seal() {
	for i := range r.Audit {
		if e := &r.Audit[i]; e.encoded == nil {
			e.encoded = appendAuditEntry(nil, e)
		}
	}
	for _, b := range []*RefundBreakdown{r.EstimatedRefund, r.ActualRefund} {
		if b != nil && b.encoded == nil {
			b.encoded = encodeBreakdown(b)
		}
	}
}

// encodeBreakdown is the table encoding of b.
func encodeBreakdown(b *RefundBreakdown) json.RawMessage {
	raw, err := json.Append(nil, b, recordEncodeFlags)
	if err != nil {
		panic(err) // decimals and strings
	}
	return raw
}

// sealed is the table encoding of b: the kept one, or a new one; nil for
// no breakdown.
func (b *RefundBreakdown) sealed() json.RawMessage {
	if b == nil {
		return nil
	}
	if b.encoded != nil {
		return b.encoded
	}
	return encodeBreakdown(b)
}

// appendAuditEntry appends the table encoding of e to b.
func appendAuditEntry(b []byte, e *AuditEntry) []byte {
	b, err := json.Append(b, e, recordEncodeFlags)
	if err != nil {
		panic(err) // plain values and metadata bytes we encoded
	}
	return b
}

// appendAuditTrail appends the JSON array of trail to b: the entries'
// kept encodings, or their encoding when they have none.
func appendAuditTrail(b []byte, trail []AuditEntry) []byte {
	if trail == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range trail {
		if i > 0 {
			b = append(b, ',')
		}
		if e := &trail[i]; e.encoded != nil {
			b = append(b, e.encoded...)
		} else {
			b = appendAuditEntry(b, e)
		}
	}
	return append(b, ']')
}

// equal reports whether e and o are the same entry, field by field.
func (e *AuditEntry) equal(o *AuditEntry) bool {
	return e.Seq == o.Seq && e.Action == o.Action && e.ActorID == o.ActorID && e.ActorType == o.ActorType &&
		e.PreviousState == o.PreviousState && e.NewState == o.NewState && e.CommandID == o.CommandID &&
		e.At.Equal(o.At) && e.At.Location() == o.At.Location() && bytes.Equal(e.Metadata, o.Metadata)
}

// VerifyAppendOnly checks that next's audit trail starts with every entry
// of prev, unchanged. It compares the entries field by field (the metadata
// as the bytes they are kept in), which costs a few nanoseconds per entry:
// every action runs it.
func VerifyAppendOnly(prev, next []AuditEntry) error {
	if len(next) < len(prev) {
		return ErrAuditRewritten.Withf("trail shrank from %d to %d entries", len(prev), len(next))
	}
	for i := range prev {
		if !prev[i].equal(&next[i]) {
			return ErrAuditRewritten.Withf("entry %d was changed", prev[i].Seq)
		}
	}
	for i := len(prev); i < len(next); i++ {
		if next[i].Seq != i+1 {
			return ErrAuditRewritten.Withf("entry at %d has seq %d", i+1, next[i].Seq)
		}
	}
	return nil
}

func actorOrDefault(a topics.Actor) topics.Actor {
	if a.ID == "" && a.Type == "" {
		return topics.Actor{ID: "returns", Type: topics.ActorSystem}
	}
	return a
}
