package recommendations

import (
	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// UsersGroup is the user processor, keyed by user: it records interactions
// into the profile, emits their co-occurrence increments (one IncrementSet
// per recorded batch, keyed by user, for the Combiner), answers
// the record_interaction and invalidate_cache commands, and caches the lists
// recommendations.generated announces.
var UsersGroup goka.Group = topics.RecommendationsUsersGroup

// UsersTable is the user processor's table of UserRow.
var UsersTable = goka.GroupTable(UsersGroup)

// UserRow is the user table's value: the profile and the command ledger.
type UserRow struct {
	Profile  Profile        `json:"profile"`
	Commands command.Ledger `json:"commands"`
}

type users struct{ cfg *config }

// UsersGraph is the user processor's group graph.
func UsersGraph(opts ...Option) (*goka.GroupGraph, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	u := &users{cfg: &cfg}
	edges := []goka.Edge{
		goka.Input(InteractionsStream, new(topics.BytesCodec), u.interaction),
		goka.Input(CommandsStream, new(topics.BytesCodec), u.command),
		goka.Input(GeneratedStream, new(topics.BytesCodec), u.generated),
		goka.Output(IncrementSetsStream, new(incrementSetCodec)),
		goka.Output(RecordedStream, new(topics.EnvelopeCodec)),
		goka.Persist(new(userRowCodec)),
	}
	return goka.DefineGroup(UsersGroup, append(edges, command.Edges(UsersGroup)...)...), nil
}

func row(ctx goka.Context) *UserRow {
	if v, ok := ctx.Value().(*UserRow); ok && v != nil {
		return v
	}
	return &UserRow{Profile: Profile{UserID: ctx.Key()}}
}

// record applies a batch, emits its increments and announces the
// interactions it recorded (with their weights) on RecordedStream, for the
// read-model sink: interactions from the ingress and from record_interaction
// commands alike, redeliveries left out. env is the message that carried the
// batch.
func (u *users) record(ctx goka.Context, r *UserRow, b *Batch, env *topics.Envelope) (Effects, error) {
	eff := r.Profile.Apply(b, u.cfg)
	if len(eff.Increments) > 0 {
		// One record for all of them: the combiner routes them by product.
		// The set carries the position of the message handled, so that
		// if the processor handles it again (it crashed after the set was
		// produced, before the row's write landed: the row does not know
		// the event) the item rows skip the set emitted again.
		ctx.Emit(IncrementSetsStream, ctx.Key(), &IncrementSet{Source: inputPosition(ctx), Increments: eff.Increments})
	}
	if len(eff.Interactions) > 0 {
		rec := Batch{UserID: b.UserID, OccurredAt: b.OccurredAt, Items: eff.Interactions, OrderID: b.OrderID}
		corr := env.CorrelationID
		if corr == "" {
			corr = env.ID
		}
		out, err := topics.NewEnvelope(TypeInteractionRecorded, b.OccurredAt, rec,
			topics.WithCorrelationID(corr), topics.WithActor(env.Actor))
		if err != nil {
			return eff, err
		}
		ctx.Emit(RecordedStream, b.UserID, out)
	}
	return eff, nil
}

// inputPosition is the position of the message ctx handles: on
// InteractionsStream or CommandsStream, the inputs whose messages emit
// increment sets; on another input, SourceSetRecord (none).
func inputPosition(ctx goka.Context) SourcePosition {
	var in SourceInput
	switch ctx.Topic() {
	case InteractionsStream:
		in = SourceInteractions
	case CommandsStream:
		in = SourceCommands
	default:
		return SourcePosition{}
	}
	return SourcePosition{Input: in, Partition: ctx.Partition(), Offset: ctx.Offset()}
}

func (u *users) interaction(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	b, err := topics.DecodeData[Batch](env)
	if err == nil {
		err = b.Validate()
	}
	if err == nil && b.UserID != ctx.Key() {
		err = ErrInvalidEvent.Withf("interaction for user %q arrived under key %q", b.UserID, ctx.Key())
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	r := row(ctx)
	eff, err := u.record(ctx, r, &b, env)
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	if eff.Recorded > 0 {
		ctx.SetValue(r)
	}
	// Encoded, its effects emitted (goka encodes what it is given at once):
	// nothing refers to the row any more.
	releaseUserRow(r)
}

func (u *users) command(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	r := row(ctx)
	if prev, err := r.Commands.Check(env); prev != nil || err != nil {
		if err != nil {
			prev = topics.Failed(env, err)
		}
		command.Reply(ctx, prev)
		return
	}
	result, err := u.apply(ctx, r, env)
	var res *topics.CommandResult
	if err != nil {
		res = topics.Failed(env, err)
	} else if res, err = topics.Succeeded(env, result); err != nil {
		res = topics.Failed(env, err)
	}
	r.Commands.Remember(env, res, 0)
	ctx.SetValue(r)
	command.Reply(ctx, res)
}

func (u *users) apply(ctx goka.Context, r *UserRow, env *topics.Envelope) (any, error) {
	switch env.Type {
	case TypeRecordInteraction:
		c, err := topics.DecodeData[RecordInteraction](env)
		if err != nil {
			return nil, topics.ErrInvalidRequest.Withf("%v", err)
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if c.UserID != ctx.Key() {
			return nil, topics.ErrInvalidRequest.Withf("command for user %q arrived under key %q", c.UserID, ctx.Key())
		}
		eff, err := u.record(ctx, r, c.Batch(env.CommandID, env.OccurredAt), env)
		if err != nil {
			return nil, err
		}
		return RecordResult{Recorded: eff.Recorded > 0, UserID: c.UserID, ProductID: c.ProductID,
			InteractionType: c.InteractionType, Version: r.Profile.Version}, nil
	case TypeInvalidateCache:
		if r.Profile.UserID == "" {
			r.Profile.UserID = ctx.Key()
		}
		had := r.Profile.Invalidate()
		return InvalidateResult{Cleared: true, UserID: ctx.Key(), HadCache: had, Version: r.Profile.Version}, nil
	}
	return nil, topics.ErrInvalidRequest.Withf("unknown command type %q", env.Type)
}

func (u *users) generated(ctx goka.Context, msg any) {
	env := command.Decode(ctx, msg)
	if env == nil {
		return
	}
	g, err := topics.DecodeData[Generated](env)
	if err == nil && g.UserID != ctx.Key() {
		err = ErrInvalidEvent.Withf("recommendations for user %q arrived under key %q", g.UserID, ctx.Key())
	}
	if err != nil {
		command.DeadLetter(ctx, msg.([]byte), err)
		return
	}
	r := row(ctx)
	if r.Profile.StoreCache(g.CachedList(env.OccurredAt)) {
		if r.Profile.UserID == "" {
			r.Profile.UserID = ctx.Key()
		}
		ctx.SetValue(r)
	}
}
