package command

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// emitContext is the part of goka.Context DeadLetter uses; it records
// what is emitted.
type emitContext struct {
	gokaContext // unset: DeadLetter calls only the methods below
	emitted     []*topics.DeadLetter
}

type gokaContext = goka.Context

func (c *emitContext) Group() goka.Group    { return "things.processor" }
func (c *emitContext) Topic() goka.Stream   { return "things.commands" }
func (c *emitContext) Partition() int32     { return 3 }
func (c *emitContext) Offset() int64        { return 42 }
func (c *emitContext) Key() string          { return "thing-1" }
func (c *emitContext) Timestamp() time.Time { return time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC) }
func (c *emitContext) Emit(topic goka.Stream, _ string, v any, _ ...goka.ContextOption) {
	if string(topic) == topics.DLQ("things.processor") {
		c.emitted = append(c.emitted, v.(*topics.DeadLetter))
	}
}

// A dead-lettered record goes to the group's DLQ with its reason, and the
// log says so for the first ones and then now and then: a flood of bad
// records does not flood the log, and the DLQ keeps every one.
func TestDeadLetterEmitsAndLogsBounded(t *testing.T) {
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := &emitContext{}
	const n = 25
	for range n {
		DeadLetter(ctx, []byte("{not json"), topics.ErrInvalidRequest.Withf("payload does not decode"))
	}
	require.Len(t, ctx.emitted, n, "every record reaches the DLQ")
	dl := ctx.emitted[0]
	require.Equal(t, topics.DeadLetter{Group: "things.processor", Topic: "things.commands", Partition: 3, Offset: 42,
		Key: []byte("thing-1"), Value: []byte("{not json"), Reason: "invalid_request: payload does not decode",
		Code: topics.CodeInvalidRequest, At: ctx.Timestamp()}, *dl)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 10, "the first ten are logged, the rest within ten seconds are not")
	require.Contains(t, lines[0], "record dead-lettered")
	for _, want := range []string{"group=things.processor", "topic=things.commands", "partition=3", "offset=42", "code=invalid_request", "dlq=things.processor.dlq"} {
		require.Contains(t, lines[0], want)
	}
	require.NotContains(t, logs.String(), "{not json", "the record's bytes stay in the DLQ, out of the log")
}
