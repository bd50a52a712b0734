// Package command is what every command-handling goka processor shares:
// remembering recent command IDs in the key's own state so that a repeated
// command is applied at most once (Ledger), replying on the command-results
// topic, and dead-lettering records that cannot be decoded or validated.
//
// A processor's callback follows one shape:
//
//	env, err := command.Decode(ctx)            // DLQ'd and nil on bad input
//	if prev, err := st.Commands.Check(env); prev != nil || err != nil { reply the first result / the conflict }
//	newState, events, result, err := apply(state, env)   // pure domain
//	st.Commands.Remember(env, res)                       // in the same SetValue
//	ctx.SetValue(newState); emit events; command.Reply(ctx, res)
//
// Because the state update (with the remembered ID) and the emits happen in
// one callback, goka commits the input offset only after both: a crash
// before the commit replays the command, and the ledger turns the replay
// into a repeat of the first result.
package command
