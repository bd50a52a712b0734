package recommendations

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopstream/streams/topics"
)

// BenchmarkUserEvent measures the user processor's own work per
// interaction outside goka, as (*users).interaction does it: decode the
// interaction envelope and its batch, decode the user row, Profile.Apply,
// encode the row, the increment set and the interaction_recorded envelope.
// 1,000 users and 2,000 products, two regimes: fresh (rows of 10 events
// when the timer starts, 50 after 40,000 more; the ingestion benchmark's
// fresh rows reach 20) and loaded (rows of 120 events, the history at its
// cap of 100, as in the ingestion benchmark's loaded regime). Compare
// binaries at one -benchtime of at most 40000x: go test -run '^$' -bench
// UserEvent -benchtime 20000x
func BenchmarkUserEvent(b *testing.B) {
	b.Run("fresh", func(b *testing.B) { benchUserEvent(b, 10) })
	b.Run("loaded", func(b *testing.B) { benchUserEvent(b, 120) })
}

func benchUserEvent(b *testing.B, warmPerUser int) {
	cfg, err := newConfig(nil)
	if err != nil {
		b.Fatal(err)
	}
	const users, events = 1000, 40_000
	warm := warmPerUser * users
	rng := rand.New(rand.NewPCG(3, 4))
	ins := make([][]byte, warm+events)
	for i := range ins {
		batch := &Batch{UserID: fmt.Sprintf("ing-123456-7-u%d", i%users), OccurredAt: t0.Add(time.Duration(i) * time.Second),
			Items: []Interaction{{EventID: topics.NewID(), ProductID: fmt.Sprintf("ing-123456-7-p%d", rng.IntN(2000)),
				Type: View, Metadata: map[string]string{"source": "direct", "session_id": "s-1"}}}}
		env, err := topics.NewEnvelope(TypeInteraction, batch.OccurredAt, batch, topics.WithCorrelationID(topics.NewID()),
			topics.WithActor(topics.Actor{ID: "x", Type: topics.ActorCustomer}))
		if err != nil {
			b.Fatal(err)
		}
		if ins[i], err = env.Encode(); err != nil {
			b.Fatal(err)
		}
	}
	rows := map[string][]byte{}
	handle := func(raw []byte) {
		env, err := topics.DecodeEnvelope(raw)
		if err != nil {
			b.Fatal(err)
		}
		batch, err := topics.DecodeData[Batch](env)
		if err == nil {
			err = batch.Validate()
		}
		if err != nil {
			b.Fatal(err)
		}
		r := &UserRow{Profile: Profile{UserID: batch.UserID}}
		if stored, ok := rows[batch.UserID]; ok {
			v, err := userRowCodec{}.Decode(stored)
			if err != nil {
				b.Fatal(err)
			}
			r = v.(*UserRow)
		}
		eff := r.Profile.Apply(&batch, &cfg)
		if _, err := (incrementSetCodec{}).Encode(&IncrementSet{Source: SourcePosition{Input: SourceInteractions},
			Increments: eff.Increments}); err != nil {
			b.Fatal(err)
		}
		rec := Batch{UserID: batch.UserID, OccurredAt: batch.OccurredAt, Items: eff.Interactions}
		out, err := recordedEnvelope(&rec, env)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := out.Encode(); err != nil {
			b.Fatal(err)
		}
		if rows[batch.UserID], err = (userRowCodec{}).Encode(r); err != nil {
			b.Fatal(err)
		}
		releaseUserRow(r)
	}
	for _, raw := range ins[:warm] {
		handle(raw)
	}
	i := warm
	for b.Loop() {
		handle(ins[i])
		if i++; i == len(ins) {
			i = warm // past 40000x: events seen before, not recorded again
		}
	}
}

// recordedEnvelope is the interaction_recorded envelope as users.record
// builds it.
func recordedEnvelope(rec *Batch, env *topics.Envelope) (*topics.Envelope, error) {
	return topics.NewEnvelope(TypeInteractionRecorded, rec.OccurredAt, rec,
		topics.WithCorrelationID(env.CorrelationID), topics.WithActor(env.Actor))
}
