package command

import (
	"encoding/json"

	"github.com/shopstream/streams/state/binrow"
	"github.com/shopstream/streams/topics"
)

// The binary form of a ledger Entry, for the domains' binary rows (the
// bytes returns' rows have held since 2026-12-01):
//
//	ID (binrow ID) · Digest (binrow ID) · flags (one byte) ·
//	[result's CommandID (binrow ID), when not the entry's ID] ·
//	EnvelopeID (binrow ID) · Type · Result (bytes, JSON) ·
//	[error: Code · Message · Details (bytes, JSON; empty: none)] ·
//	CompletedAt (binrow time)
//
// The flags say which parts are there; with resultPresent unset the entry
// ends after them.

// Entry flags (one byte).
const (
	resultPresent = 1 << iota
	resultOK
	resultReplayed
	resultPending
	resultHasError
	// resultOwnID: the result's command ID is the entry's (always, in the
	// processors' ledgers), so it is not stored twice.
	resultOwnID
)

// AppendEntry appends e in its binary form. Error details are JSON values
// (topics.Error), so they always encode.
func AppendEntry(b []byte, e *Entry) []byte {
	b = binrow.AppendID(b, e.ID)
	b = binrow.AppendID(b, e.Digest)
	res := e.Result
	if res == nil {
		return append(b, 0)
	}
	flags := byte(resultPresent)
	for _, f := range [...]struct {
		set bool
		bit byte
	}{{res.OK, resultOK}, {res.Replayed, resultReplayed}, {res.Pending, resultPending},
		{res.Error != nil, resultHasError}, {res.CommandID == e.ID, resultOwnID}} {
		if f.set {
			flags |= f.bit
		}
	}
	b = append(b, flags)
	if res.CommandID != e.ID {
		b = binrow.AppendID(b, res.CommandID)
	}
	b = binrow.AppendID(b, res.EnvelopeID)
	b = binrow.AppendString(b, res.Type)
	b = binrow.AppendBytes(b, res.Result)
	if er := res.Error; er != nil {
		b = binrow.AppendString(b, er.Code)
		b = binrow.AppendString(b, er.Message)
		var details []byte
		if er.Details != nil {
			var err error
			if details, err = json.Marshal(er.Details); err != nil {
				panic(err) // details are JSON values (topics.Error)
			}
		}
		b = binrow.AppendBytes(b, details)
	}
	return binrow.AppendTime(b, res.CompletedAt)
}

// ReadEntry reads into e what AppendEntry wrote. The result's bytes are
// copied out of the row. A result type among types (the processor's
// command types) is read without allocating.
func ReadEntry(rd *binrow.Reader, e *Entry, types ...string) {
	e.ID = rd.ID()
	e.Digest = rd.ID()
	e.Result = nil
	flags := rd.Byte()
	if flags&resultPresent == 0 {
		return
	}
	res := &topics.CommandResult{OK: flags&resultOK != 0, Replayed: flags&resultReplayed != 0, Pending: flags&resultPending != 0}
	if flags&resultOwnID != 0 {
		res.CommandID = e.ID
	} else {
		res.CommandID = rd.ID()
	}
	res.EnvelopeID = rd.ID()
	res.Type = rd.Intern(types...)
	if raw := rd.Bytes(); len(raw) > 0 {
		res.Result = json.RawMessage(append([]byte(nil), raw...))
	}
	if flags&resultHasError != 0 {
		res.Error = &topics.Error{Code: rd.String(), Message: rd.String()}
		if details := rd.Bytes(); len(details) > 0 {
			if err := json.Unmarshal(details, &res.Error.Details); err != nil {
				rd.Failf("error details: %v", err)
			}
		}
	}
	res.CompletedAt = rd.Time()
	e.Result = res
}

// SkipEntryResult reads past what AppendEntry wrote after the entry's ID
// and digest, without decoding it (error details are not checked as JSON).
func SkipEntryResult(rd *binrow.Reader) {
	flags := rd.Byte()
	if flags&resultPresent == 0 {
		return
	}
	if flags&resultOwnID == 0 {
		rd.SkipID()
	}
	rd.SkipID()
	rd.Bytes() // type
	rd.Bytes() // result
	if flags&resultHasError != 0 {
		rd.Bytes() // code
		rd.Bytes() // message
		rd.Bytes() // details
	}
	rd.Time()
}
