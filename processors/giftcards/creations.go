package giftcards

import (
	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// CreationIndexGroup makes card creation idempotent across retries that
// generated another code: its table maps a create command's ID to the card
// key it created.
const CreationIndexGroup goka.Group = topics.GiftCardCreationIndexGroup

// CreationIndexTable is the creation index's table.
var CreationIndexTable = goka.GroupTable(CreationIndexGroup)

// CreationEntry is the creation index's value: the card key the first
// valid create with this command ID addressed. It holds no code.
type CreationEntry struct {
	CommandID string `json:"command_id"`
	CardKey   string `json:"card_key"`
}

// ErrCreationDone answers a create whose command ID already created a
// card under another key (a retry that generated a new code): nothing is
// created and no code is revealed, the first attempt's code was shown once.
var ErrCreationDone = topics.ErrIdempotencyConflict.Withf(
	"this Idempotency-Key already created a gift card; its code was shown once and cannot be shown again. " +
		"Use a new Idempotency-Key to create another card")

type creationIndex struct{ cfg config }

func (p *creationIndex) graph() *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(goka.Stream(topics.GiftCardCreations), new(topics.BytesCodec), p.handle),
		goka.Persist(new(topics.JSONCodec[CreationEntry])),
		goka.Output(goka.Stream(topics.GiftCardCommands), new(topics.BytesCodec)),
	}
	return goka.DefineGroup(CreationIndexGroup, append(edges, command.Edges(CreationIndexGroup)...)...)
}

// handle indexes a create command by its command ID, then forwards it,
// unchanged, to its card:
//   - an invalid create is answered here and not recorded (nothing was
//     created, so a corrected retry may use the same ID);
//   - the first valid create for an ID records its card key;
//   - a create for the recorded card key (a redelivery, or a client
//     resending the very same command) is forwarded again: the card's
//     ledger replays the first result;
//   - a create for another card key is refused with ErrCreationDone, a
//     transient answer that overwrites no result.
func (p *creationIndex) handle(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	raw := msg.([]byte)
	if env.Type != TypeCreate || env.CommandID != ctx.Key() {
		err := &topics.DecodeError{Reason: "the creation index takes " + TypeCreate + " commands keyed by their command ID"}
		command.DeadLetter(ctx, raw, err)
		if env.CommandID != "" {
			command.Reply(ctx, topics.Failed(env, ErrInvalidRequest.Withf("%v", err)))
		}
		return
	}
	cmd, err := topics.DecodeData[CreateCommand](env)
	if err != nil {
		command.DeadLetter(ctx, raw, err)
		command.Reply(ctx, topics.Failed(env, ErrInvalidRequest.Withf("%v", err)))
		return
	}
	if entry, _ := ctx.Value().(*CreationEntry); entry != nil {
		if entry.CardKey != cmd.CardKey {
			command.Reply(ctx, topics.Failed(env, ErrCreationDone.With("command_id", env.CommandID)))
			return
		}
		ctx.Emit(goka.Stream(topics.GiftCardCommands), cmd.CardKey, raw)
		return
	}
	// The card would refuse it the same way (Create is pure): refuse it
	// here so that only creates that make a card are recorded.
	if _, _, err := Create(cmd, Meta{CommandID: env.CommandID, At: env.OccurredAt, Actor: env.Actor}, p.cfg.cardTTL); err != nil {
		command.Reply(ctx, topics.Failed(env, err))
		return
	}
	ctx.SetValue(&CreationEntry{CommandID: env.CommandID, CardKey: cmd.CardKey})
	ctx.Emit(goka.Stream(topics.GiftCardCommands), cmd.CardKey, raw)
}
