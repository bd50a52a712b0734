package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	sjson "github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrResultPending means a command was produced but its result did not
// arrive before the caller's deadline. The command is not lost: its result
// will be written to CommandResults under its command ID.
var ErrResultPending = errors.New("topics: command accepted, result not yet available")

// ErrNotSubmitted is what Submit's error matches when producing the command
// failed, its deadline included: the broker does not have the command, so
// nothing was or will be applied, and the caller may send it again under the
// same command ID. It is an unavailable error (HTTP 503); errors.Is also
// reaches the producer's error.
var ErrNotSubmitted = NewError(CodeUnavailable, "the command was not submitted (the broker did not take it in time); nothing was applied: send it again with the same command ID")

// Commander produces commands and waits for their results. It consumes
// every partition of CommandResults from the end offsets it saw when it
// started, so any result written after that reaches the waiting caller.
// It is what the HTTP API and the CLI share.
type Commander struct {
	client *kgo.Client

	mu      sync.Mutex
	waiters map[string][]waiter
}

// waiter is a caller waiting for a result of a command ID: the answer to
// the envelope it sent, or, with an empty envelopeID (Await), any result.
// Two concurrent deliveries of one command each get their own answer: the
// first the command's result, the other its replay (or its conflict).
type waiter struct {
	envelopeID string
	ch         chan *CommandResult
}

// wants reports whether res answers w.
func (w waiter) wants(res *CommandResult) bool {
	return w.envelopeID == "" || res.EnvelopeID == "" || res.EnvelopeID == w.envelopeID
}

// NewCommander connects, pins the results topic's end offsets and returns
// a Commander whose Run must be running for Submit to see results.
func NewCommander(ctx context.Context, clients *Clients) (*Commander, error) {
	adminClient, err := kgo.NewClient(clients.Kgo()...)
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adminClient).ListEndOffsets(ctx, CommandResults)
	adminClient.Close()
	if err != nil {
		return nil, fmt.Errorf("topics: listing %s end offsets: %w", CommandResults, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("topics: listing %s end offsets: %w", CommandResults, err)
	}
	start := map[string]map[int32]kgo.Offset{CommandResults: {}}
	ends.Each(func(o kadm.ListedOffset) {
		start[CommandResults][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	if len(start[CommandResults]) == 0 {
		return nil, fmt.Errorf("topics: %s has no partitions (were topics created?)", CommandResults)
	}
	client, err := kgo.NewClient(clients.Kgo(kgo.ConsumePartitions(start), kgo.FetchMaxWait(50e6))...)
	if err != nil {
		return nil, err
	}
	return &Commander{client: client, waiters: make(map[string][]waiter)}, nil
}

// Run delivers results to waiting callers until ctx is done, then closes
// the client.
func (c *Commander) Run(ctx context.Context) error {
	defer c.client.Close()
	for {
		fetches := c.client.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Value == nil || !c.awaited(string(r.Key)) {
				return // a tombstone, or a result nobody here waits for
			}
			var res CommandResult
			if sjson.Unmarshal(r.Value, &res) != nil {
				return
			}
			// Deliver by the command ID in the value: transient answers
			// (replays, conflicts) are keyed apart from the result.
			id := res.CommandID
			if id == "" {
				id = string(r.Key)
			}
			c.deliver(id, &res)
		})
	}
}

// awaited reports whether a caller waits for the command a results record
// keyed key answers, so that the results of the whole platform, most of
// them for other processes, are not decoded: key is the command ID, or
// for a transient answer TransientKey's (the command ID before its last
// '~'; a command ID may itself hold one).
func (c *Commander) awaited(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters[key]) > 0 {
		return true
	}
	i := strings.LastIndexByte(key, '~')
	return i >= 0 && len(c.waiters[key[:i]]) > 0
}

func (c *Commander) deliver(id string, res *CommandResult) {
	c.mu.Lock()
	var keep, got []waiter
	for _, w := range c.waiters[id] {
		if w.wants(res) {
			got = append(got, w)
		} else {
			keep = append(keep, w)
		}
	}
	if len(keep) == 0 {
		delete(c.waiters, id)
	} else {
		c.waiters[id] = keep
	}
	c.mu.Unlock()
	for _, w := range got {
		w.ch <- res
	}
}

func (c *Commander) wait(id, envelopeID string) (chan *CommandResult, func()) {
	ch := make(chan *CommandResult, 1)
	c.mu.Lock()
	c.waiters[id] = append(c.waiters[id], waiter{envelopeID: envelopeID, ch: ch})
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		ws := c.waiters[id]
		for i, w := range ws {
			if w.ch == ch {
				c.waiters[id] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(c.waiters[id]) == 0 {
			delete(c.waiters, id)
		}
	}
}

// Produce writes env to topic under key, synchronously, without waiting for
// a result.
func (c *Commander) Produce(ctx context.Context, topic, key string, env *Envelope) error {
	b, err := env.Encode()
	if err != nil {
		return err
	}
	return c.client.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr()
}

// Submit produces env (which must carry a command ID) to topic under key
// and waits for the result that answers this envelope until ctx is done (a
// concurrent retry of the same command gets its own answer). A result with
// Pending set (a saga that goes on) is returned as it is. When ctx ends
// after the command was produced, it returns ErrResultPending: the result
// will come. When producing fails, ctx's end included, the error matches
// ErrNotSubmitted: the client fails a record only while the broker cannot
// have it (an idempotent producer never drops a record a request carried),
// so the command will never be applied and no result will come.
func (c *Commander) Submit(ctx context.Context, topic, key string, env *Envelope) (*CommandResult, error) {
	if env.CommandID == "" {
		return nil, ErrInvalidRequest.Withf("command has no command_id")
	}
	ch, cancel := c.wait(env.CommandID, env.ID)
	defer cancel()
	if err := c.Produce(ctx, topic, key, env); err != nil {
		return nil, fmt.Errorf("%w (producing %s %s: %w)", ErrNotSubmitted.With("command_id", env.CommandID), env.Type, env.CommandID, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return nil, ErrResultPending
	}
}

// Await waits for the next result written for commandID until ctx is done.
func (c *Commander) Await(ctx context.Context, commandID string) (*CommandResult, error) {
	ch, cancel := c.wait(commandID, "")
	defer cancel()
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return nil, ErrResultPending
	}
}

// Client returns the underlying franz-go client, for producing events.
func (c *Commander) Client() *kgo.Client { return c.client }
