package command

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/shopstream/streams/topics"
)

// DefaultLedgerSize is how many command IDs a key remembers by default.
// A retry of an older command than that is applied again, so it must be
// larger than any client's retry horizon for one key.
const DefaultLedgerSize = 256

// Entry is one remembered command: its ID, a digest of its type and
// payload, and the result it produced.
type Entry struct {
	ID     string                `json:"id"`
	Digest string                `json:"digest"`
	Result *topics.CommandResult `json:"result"`
}

// Ledger remembers the most recent command IDs applied to one key, oldest
// first. It lives inside the key's state value, so it is written in the
// same table update as the change the command made.
type Ledger struct {
	Entries []Entry `json:"entries,omitempty"`
}

// Digest identifies a command's content: its type and payload bytes.
func Digest(env *topics.Envelope) string {
	h := sha256.New()
	h.Write([]byte(env.Type))
	h.Write([]byte{0})
	h.Write(env.Data)
	return hex.EncodeToString(h.Sum(nil))
}

// Check looks env's command ID up. It returns the first result, marked
// Replayed, when the same command was applied before; an
// idempotency_conflict error when the ID was used with another type or
// payload; and nil, nil for a new command. An envelope without a command ID
// is an invalid_request.
func (l *Ledger) Check(env *topics.Envelope) (*topics.CommandResult, error) {
	if env.CommandID == "" {
		return nil, topics.ErrInvalidRequest.Withf("%s has no command_id", env.Type)
	}
	for i := len(l.Entries) - 1; i >= 0; i-- {
		e := l.Entries[i]
		if e.ID != env.CommandID {
			continue
		}
		if e.Digest != Digest(env) {
			return nil, topics.ErrIdempotencyConflict.
				Withf("command %s was already used with a different payload", env.CommandID).
				With("command_id", env.CommandID)
		}
		r := *e.Result
		r.Replayed = true
		return r.Answering(env), nil // it answers this delivery
	}
	return nil, nil
}

// Remember records env's result, keeping at most max entries (max <= 0
// means DefaultLedgerSize). Remembering an ID twice replaces the entry: a
// saga's final result replaces its pending one.
func (l *Ledger) Remember(env *topics.Envelope, res *topics.CommandResult, max int) {
	if max <= 0 {
		max = DefaultLedgerSize
	}
	for i := range l.Entries {
		if l.Entries[i].ID == env.CommandID {
			l.Entries = append(l.Entries[:i], l.Entries[i+1:]...)
			break
		}
	}
	l.Entries = append(l.Entries, Entry{ID: env.CommandID, Digest: Digest(env), Result: res})
	if over := len(l.Entries) - max; over > 0 {
		l.Entries = append([]Entry(nil), l.Entries[over:]...)
	}
}
