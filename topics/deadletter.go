package topics

import "time"

// DeadLetter is what a processor writes to its "<group>.dlq" topic for a
// record it could not decode or validate. The original key and value are
// kept byte for byte so the record can be inspected and replayed; nothing is
// lost, and the processor goes on with the next record.
type DeadLetter struct {
	// Group is the processor group that refused the record.
	Group string `json:"group"`
	// Topic, Partition and Offset locate the original record.
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Key and Value are the original record's bytes (base64 in JSON).
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
	// Reason says why the record was refused.
	Reason string `json:"reason"`
	// Code is a stable code for the reason when it has one.
	Code string `json:"code,omitempty"`
	// At is the original record's timestamp.
	At time.Time `json:"at"`
}
