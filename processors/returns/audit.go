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
	e.Metadata = encodeMetadata(md)
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
