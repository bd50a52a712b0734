package command

import (
	"errors"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"golang.org/x/time/rate"

	"github.com/shopstream/streams/topics"
)

// ResultCodec encodes *topics.CommandResult on the results topic.
type ResultCodec = topics.JSONCodec[topics.CommandResult]

// DeadLetterCodec encodes *topics.DeadLetter on a DLQ topic.
type DeadLetterCodec = topics.JSONCodec[topics.DeadLetter]

// Edges returns the output edges every command processor declares: the
// command-results topic, the group's DLQ and the reply topics the group
// offers (topics.ReplyTopics).
func Edges(group goka.Group) []goka.Edge {
	edges := []goka.Edge{
		goka.Output(goka.Stream(topics.CommandResults), new(ResultCodec)),
		goka.Output(goka.Stream(topics.DLQ(string(group))), new(DeadLetterCodec)),
	}
	for _, t := range topics.ReplyTopics(string(group)) {
		edges = append(edges, goka.Output(goka.Stream(t), new(ResultCodec)))
	}
	return edges
}

// Reply writes res to the command-results topic. An authoritative result
// (the outcome of applying the command) is keyed by its command ID, so the
// compacted topic keeps it for GET /v1/commands/{id}. A transient answer —
// the replay of an earlier result, or the refusal of a reused ID with
// another payload — reaches the waiting caller too (Commander delivers by
// the command_id in the value) but is keyed apart and tombstoned at once,
// so it can never overwrite the result the command really had.
//
// A result whose command asked for it on a reply topic (res.ReplyTopic,
// one the group offers: Decode refuses the others) is written there too,
// keyed by res.ReplyKey, transient answers included: the asker may be
// waiting for a replay of a result it missed.
func Reply(ctx goka.Context, res *topics.CommandResult) {
	if res.ReplyTopic != "" && topics.OffersReply(string(ctx.Group()), res.ReplyTopic) {
		ctx.Emit(goka.Stream(res.ReplyTopic), res.ReplyKey, res)
	}
	if !res.Transient() {
		ctx.Emit(goka.Stream(topics.CommandResults), res.CommandID, res)
		return
	}
	key := topics.TransientKey(res.CommandID, ctx.Partition(), ctx.Offset())
	ctx.Emit(goka.Stream(topics.CommandResults), key, res)
	ctx.Emit(goka.Stream(topics.CommandResults), key, nil)
}

// Decode decodes the record being processed (read with topics.BytesCodec)
// as an envelope. When it is not a valid envelope the record goes to the
// group's DLQ with the reason and Decode returns nil: the caller returns and
// the processor goes on with the next record.
func Decode(ctx goka.Context, msg any) *topics.Envelope {
	raw, _ := msg.([]byte)
	env, err := topics.DecodeEnvelope(raw)
	if err != nil {
		DeadLetter(ctx, raw, err)
		return nil
	}
	// Only a command (it has a command ID) asks for anything: on an event
	// from another service, reply_topic is a field foreign to its contract
	// and ignored, as unknown fields are.
	if env.ReplyTopic != "" && env.CommandID != "" && !topics.OffersReply(string(ctx.Group()), env.ReplyTopic) {
		err := topics.ErrInvalidRequest.Withf("%s does not offer the reply topic %q", ctx.Group(), env.ReplyTopic).
			With("reply_topic", env.ReplyTopic)
		DeadLetter(ctx, raw, err)
		Reply(ctx, topics.Failed(env, err))
		return nil
	}
	return env
}

// DeadLetter writes the record being processed to the group's DLQ with
// reason. raw is the record's value as read.
func DeadLetter(ctx goka.Context, raw []byte, reason error) {
	dl := &topics.DeadLetter{
		Group:     string(ctx.Group()),
		Topic:     string(ctx.Topic()),
		Partition: ctx.Partition(),
		Offset:    ctx.Offset(),
		Key:       []byte(ctx.Key()),
		Value:     raw,
		Reason:    reason.Error(),
		At:        ctx.Timestamp(),
	}
	var te *topics.Error
	if errors.As(reason, &te) {
		dl.Code = te.Code
	}
	ctx.Emit(goka.Stream(topics.DLQ(string(ctx.Group()))), ctx.Key(), dl)
	deadLetterLogs.Do(func() {
		slog.Warn("record dead-lettered", "group", dl.Group, "topic", dl.Topic, "partition", dl.Partition,
			"offset", dl.Offset, "code", dl.Code, "reason", dl.Reason, "dlq", topics.DLQ(dl.Group))
	})
}

// deadLetterLogs bounds the log lines of dead-lettered records (the first
// ten, then one per ten seconds): a flood of bad records must not flood
// the log. shopstream_processor_dead_letters_total counts every one, and
// the DLQ keeps every record with its reason.
var deadLetterLogs = rate.Sometimes{First: 10, Interval: 10 * time.Second}
