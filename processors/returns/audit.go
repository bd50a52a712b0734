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
	Seq           int            `json:"seq"`
	Action        Action         `json:"action"`
	ActorID       string         `json:"actor_id"`
	ActorType     string         `json:"actor_type"`
	PreviousState State          `json:"previous_state,omitempty"`
	NewState      State          `json:"new_state"`
	Metadata      map[string]any `json:"metadata,omitempty"`
	CommandID     string         `json:"command_id,omitempty"`
	At            time.Time      `json:"at"`
}

// ErrAuditRewritten means an update would change or drop audit entries.
// It is a bug, never a user error: the processor refuses such an update.
var ErrAuditRewritten = topics.NewError(topics.CodeInternal, "audit trail entries may only be appended")

// appendAudit adds an entry to r's trail. Metadata is stored in its JSON
// form, so that the entry in memory is the entry in the table.
func (r *Return) appendAudit(m Meta, a Action, prev State, md map[string]any) {
	if len(md) == 0 {
		md = nil
	} else if b, err := json.Marshal(md); err == nil {
		md = nil
		_ = json.Unmarshal(b, &md)
	}
	r.Audit = append(r.Audit, AuditEntry{
		Seq: len(r.Audit) + 1, Action: a, ActorID: m.Actor.ID, ActorType: m.Actor.Type,
		PreviousState: prev, NewState: r.Status, Metadata: md, CommandID: m.CommandID, At: m.At.UTC(),
	})
}

// VerifyAppendOnly checks that next's audit trail starts with every entry
// of prev, unchanged.
func VerifyAppendOnly(prev, next []AuditEntry) error {
	if len(next) < len(prev) {
		return ErrAuditRewritten.Withf("trail shrank from %d to %d entries", len(prev), len(next))
	}
	for i := range prev {
		a, errA := json.Marshal(prev[i])
		b, errB := json.Marshal(next[i])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
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
