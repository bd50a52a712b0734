package command_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

func cmd(t *testing.T, id, typ string, data any) *topics.Envelope {
	t.Helper()
	env, err := topics.NewEnvelope(typ, time.Unix(1700000000, 0), data, topics.WithCommandID(id))
	require.NoError(t, err)
	return env
}

func TestLedger(t *testing.T) {
	t.Run("new command", func(t *testing.T) {
		var l command.Ledger
		prev, err := l.Check(cmd(t, "c1", "x.do", 1))
		require.NoError(t, err)
		require.Nil(t, prev)
	})
	t.Run("repeat returns the first result, marked replayed", func(t *testing.T) {
		var l command.Ledger
		c := cmd(t, "c1", "x.do", map[string]int{"n": 1})
		res, err := topics.Succeeded(c, map[string]int{"balance": 7})
		require.NoError(t, err)
		l.Remember(c, res, 0)
		again := cmd(t, "c1", "x.do", map[string]int{"n": 1}) // new envelope ID, same command
		prev, err := l.Check(again)
		require.NoError(t, err)
		require.True(t, prev.Replayed)
		require.JSONEq(t, `{"balance":7}`, string(prev.Result))
		require.False(t, res.Replayed, "the stored result is not modified")
	})
	t.Run("a replay is addressed to the repeat: its envelope and the reply topic it asks for", func(t *testing.T) {
		var l command.Ledger
		first, err := topics.NewEnvelope("x.do", time.Unix(1700000000, 0), 1, topics.WithCommandID("c1"),
			topics.WithCorrelationID("ret_1"), topics.WithReplyTopic(topics.GiftCardReplies))
		require.NoError(t, err)
		res, err := topics.Succeeded(first, 2)
		require.NoError(t, err)
		require.Equal(t, topics.GiftCardReplies, res.ReplyTopic)
		require.Equal(t, "ret_1", res.ReplyKey, "keyed by the correlation ID")
		l.Remember(first, res, 0)

		quiet := cmd(t, "c1", "x.do", 1) // the same command, asking for no reply
		prev, err := l.Check(quiet)
		require.NoError(t, err)
		require.Equal(t, quiet.ID, prev.EnvelopeID)
		require.Empty(t, prev.ReplyTopic, "the first delivery's reply topic is not the repeat's")
		require.Empty(t, prev.ReplyKey)

		asking, err := topics.NewEnvelope("x.do", time.Unix(1700000000, 0), 1, topics.WithCommandID("c1"),
			topics.WithReplyTopic(topics.GiftCardReplies))
		require.NoError(t, err)
		prev, err = l.Check(asking)
		require.NoError(t, err)
		require.Equal(t, topics.GiftCardReplies, prev.ReplyTopic)
		require.Equal(t, "c1", prev.ReplyKey, "keyed by the command ID without a correlation ID")
	})
	t.Run("same ID with another payload conflicts", func(t *testing.T) {
		var l command.Ledger
		c := cmd(t, "c1", "x.do", map[string]int{"n": 1})
		l.Remember(c, topics.Failed(c, topics.ErrInvalidAmount), 0)
		_, err := l.Check(cmd(t, "c1", "x.do", map[string]int{"n": 2}))
		require.ErrorIs(t, err, topics.ErrIdempotencyConflict)
		_, err = l.Check(cmd(t, "c1", "x.other", map[string]int{"n": 1}))
		require.ErrorIs(t, err, topics.ErrIdempotencyConflict)
	})
	t.Run("a failed result is replayed too", func(t *testing.T) {
		var l command.Ledger
		c := cmd(t, "c1", "x.do", 1)
		l.Remember(c, topics.Failed(c, topics.ErrInvalidAmount), 0)
		prev, err := l.Check(c)
		require.NoError(t, err)
		require.False(t, prev.OK)
		require.Equal(t, topics.CodeInvalidAmount, prev.Error.Code)
	})
	t.Run("missing command ID", func(t *testing.T) {
		var l command.Ledger
		_, err := l.Check(cmd(t, "", "x.do", 1))
		require.ErrorIs(t, err, topics.ErrInvalidRequest)
	})
	t.Run("capacity evicts the oldest", func(t *testing.T) {
		var l command.Ledger
		for i := range 5 {
			c := cmd(t, fmt.Sprint("c", i), "x.do", i)
			res, _ := topics.Succeeded(c, i)
			l.Remember(c, res, 3)
		}
		require.Len(t, l.Entries, 3)
		prev, err := l.Check(cmd(t, "c0", "x.do", 0))
		require.NoError(t, err)
		require.Nil(t, prev, "c0 was evicted")
		prev, err = l.Check(cmd(t, "c4", "x.do", 4))
		require.NoError(t, err)
		require.NotNil(t, prev)
	})
	t.Run("remembering again replaces a pending result", func(t *testing.T) {
		var l command.Ledger
		c := cmd(t, "c1", "x.do", 1)
		pending := &topics.CommandResult{CommandID: "c1", Pending: true}
		l.Remember(c, pending, 0)
		final, _ := topics.Succeeded(c, "done")
		l.Remember(c, final, 0)
		require.Len(t, l.Entries, 1)
		prev, _ := l.Check(c)
		require.False(t, prev.Pending)
	})
	t.Run("survives a JSON round trip, as it does in a goka table", func(t *testing.T) {
		var l command.Ledger
		c := cmd(t, "c1", "x.do", 1)
		res, _ := topics.Succeeded(c, 1)
		l.Remember(c, res, 0)
		b, err := json.Marshal(l)
		require.NoError(t, err)
		var back command.Ledger
		require.NoError(t, json.Unmarshal(b, &back))
		prev, err := back.Check(c)
		require.NoError(t, err)
		require.NotNil(t, prev)
	})
}
