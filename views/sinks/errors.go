package sinks

import (
	"errors"

	"github.com/shopstream/streams/topics"
)

// CodeMalformedEvent is the code of a dead letter for an event a mapper
// could not turn into rows.
const CodeMalformedEvent = "malformed_event"

// ErrMalformedEvent is what a Mapper returns (wrapped, with the reason) for
// a record it cannot map; the sink dead-letters the record and goes on.
var ErrMalformedEvent = topics.NewError(CodeMalformedEvent, "malformed event")

// ErrFenced means another copy of the sink committed offsets this one did
// not expect: this copy's batch was rolled back and it resumes from the
// stored offsets.
var ErrFenced = errors.New("sinks: stored offsets moved under the sink (another copy is running)")

// ErrNoTopics means a sink was given no topic to consume.
var ErrNoTopics = errors.New("sinks: no topics to consume")
