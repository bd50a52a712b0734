package giftcards

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopstream/streams/topics"
)

// benchState builds the card state the processor holds after n
// redemptions through its handler path: the card with its ledger and
// redemptions, and n remembered results.
func benchState(b *testing.B, n int) *CardState {
	b.Helper()
	m := Meta{CommandID: topics.NewID(), At: t0, Actor: topics.Actor{ID: "u1", Type: topics.ActorCustomer}}
	c, _, err := Create(CreateCommand{CardKey: testKey("bench"), Last4: "AB2C", Amount: usd("1000000.00"), PurchaserID: "bench"}, m, 0)
	if err != nil {
		b.Fatal(err)
	}
	st := &CardState{Card: c}
	for i := 0; i < n; i++ {
		cmd := RedeemCommand{CardKey: c.Key, OrderID: fmt.Sprintf("bench-%d", i), Amount: amt("0.01")}
		env, err := topics.NewEnvelope(TypeRedeem, t0.Add(time.Duration(i)*time.Second), cmd, topics.WithCommandID(topics.NewID()), topics.WithActor(customer))
		if err != nil {
			b.Fatal(err)
		}
		m := Meta{CommandID: env.CommandID, At: env.OccurredAt, Actor: env.Actor}
		next, _, res, err := st.Card.Redeem(cmd, m)
		if err != nil {
			b.Fatal(err)
		}
		r, err := topics.Succeeded(env, res)
		if err != nil {
			b.Fatal(err)
		}
		st.Card = next.Trim(DefaultTransactionWindow)        // as the processor stores it
		st.Commands.Remember(env, compactResult(r, res), 64) // as the processor does
	}
	return st
}

// BenchmarkCardStateCodec measures the card table's codec (binary) and
// the JSON form earlier versions stored, on the card state after n
// redemptions: the row is decoded and re-encoded on every command.
func BenchmarkCardStateCodec(b *testing.B) {
	type codec interface {
		Encode(any) ([]byte, error)
		Decode([]byte) (any, error)
	}
	for _, n := range []int{10, 64} {
		st := benchState(b, n)
		for _, c := range []struct {
			name  string
			codec codec
		}{{"binary", rowCodec{}}, {"json", topics.JSONCodec[CardState]{}}} {
			raw, err := c.codec.Encode(st)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/encode/redemptions=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.codec.Encode(st); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(raw)), "row-bytes")
			})
			b.Run(fmt.Sprintf("%s/decode/redemptions=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.codec.Decode(raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
