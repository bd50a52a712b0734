package topics_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// TestCommanderDelivers: Submit gets the result written for its command,
// whether under the command ID (the result) or under a transient answer's
// key, command IDs holding the key's separator included; the Commander
// reads the command ID back from the key to skip results nobody waits for.
func TestCommanderDelivers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	require.NoError(t, err)
	cluster.EnsureCatalog(t, cat) // the results topic, once per broker
	commands := cluster.Unique("commands")
	cluster.CreateTopic(t, commands, topics.Delete)
	commander, err := topics.NewCommander(ctx, cluster.Clients)
	require.NoError(t, err)
	go commander.Run(ctx) //nolint:errcheck // returns nil when ctx ends

	// the "processor": answers each command with the key the case asks for
	var keyOf sync.Map // command ID -> func(commandID string) string
	answer := cluster.Producer(t, kgo.ConsumeTopics(commands))
	go func() {
		for ctx.Err() == nil {
			answer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				env, err := topics.DecodeEnvelope(r.Value)
				if err != nil {
					return
				}
				res, _ := topics.Succeeded(env, map[string]string{"for": env.CommandID})
				res.Replayed = string(r.Key) == "transient"
				v, _ := json.Marshal(res)
				// a result for another command first: nobody waits for it
				other, _ := json.Marshal(&topics.CommandResult{CommandID: env.CommandID + "-other", OK: true})
				answer.Produce(ctx, &kgo.Record{Topic: topics.CommandResults, Key: []byte(env.CommandID + "-other"), Value: other}, nil)
				answer.Produce(ctx, &kgo.Record{Topic: topics.CommandResults, Key: []byte(keyFor(&keyOf, env.CommandID)), Value: v}, nil)
			})
		}
	}()

	byID := func(id string) string { return id }
	transient := func(id string) string { return topics.TransientKey(id, 3, 17) }
	for _, tc := range []struct {
		name, commandID, kind string
		key                   func(string) string
	}{
		{"a result, keyed by its command ID", cluster.Unique("cmd"), "result", byID},
		{"a command ID with a tilde", cluster.Unique("cmd~a~b"), "result", byID},
		{"a transient answer", cluster.Unique("cmd"), "transient", transient},
		{"a transient answer to a command ID with a tilde", cluster.Unique("cmd~7.9"), "transient", transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyOf.Store(tc.commandID, tc.key)
			env, err := topics.NewEnvelope("x.do", time.Now(), 1, topics.WithCommandID(tc.commandID))
			require.NoError(t, err)
			sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
			defer scancel()
			res, err := commander.Submit(sctx, commands, tc.kind, env)
			require.NoError(t, err)
			require.Equal(t, tc.commandID, res.CommandID)
			require.Equal(t, tc.kind == "transient", res.Replayed)
			require.JSONEq(t, `{"for":"`+tc.commandID+`"}`, string(res.Result))
		})
	}
}

func keyFor(keys *sync.Map, commandID string) string {
	f, ok := keys.Load(commandID)
	if !ok {
		return commandID
	}
	return f.(func(string) string)(commandID)
}

// TestCommanderSubmitPendingOnlyWhenProduced: ErrResultPending promises a
// result later, so Submit returns it only for a command the broker has. A
// command whose producing ran out of the caller's time was never written:
// that is ErrNotSubmitted (send it again), not a pending result that never
// comes.
func TestCommanderSubmitPendingOnlyWhenProduced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	require.NoError(t, err)
	cluster.EnsureCatalog(t, cat)
	commands := cluster.Unique("commands")
	cluster.CreateTopic(t, commands, topics.Delete)
	commander, err := topics.NewCommander(ctx, cluster.Clients)
	require.NoError(t, err)
	go commander.Run(ctx) //nolint:errcheck // returns nil when ctx ends

	cases := []struct {
		name     string
		wait     time.Duration // the caller's time for producing and the result
		want     error
		produced int
	}{
		{"out of time before producing: not submitted", 0, topics.ErrNotSubmitted, 0},
		{"produced, no result in time: pending", 300 * time.Millisecond, topics.ErrResultPending, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := cluster.Unique("cmd")
			env, err := topics.NewEnvelope("x.do", time.Now(), 1, topics.WithCommandID(id))
			require.NoError(t, err)
			sctx, scancel := context.WithTimeout(ctx, tc.wait)
			defer scancel()
			_, err = commander.Submit(sctx, commands, id, env)
			require.ErrorIs(t, err, tc.want)
			if tc.want == topics.ErrNotSubmitted {
				require.NotErrorIs(t, err, topics.ErrResultPending)
				require.ErrorIs(t, err, context.DeadlineExceeded, "the producer's error is reachable")
			}
			time.Sleep(200 * time.Millisecond) // a late write would land by now
			written := 0
			cluster.ReadToEnd(t, commands, func(r *kgo.Record) {
				if string(r.Key) == id {
					written++
				}
			})
			require.Equal(t, tc.produced, written)
		})
	}
}
