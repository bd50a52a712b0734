package giftcards

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// TestStateCodecNeverReturnsAStaleState checks the card table's codec: a
// decode returns the cached value only for the exact bytes that value
// encoded to, and decodes anything else (an older state of the card, a
// state another instance wrote) from its bytes.
func TestStateCodecNeverReturnsAStaleState(t *testing.T) {
	var plain topics.JSONCodec[CardState]
	stateOf := func(t *testing.T, c *Card) *CardState {
		t.Helper()
		return &CardState{Card: c}
	}
	cases := []struct {
		name string
		max  int
		run  func(t *testing.T, codec *stateCodec)
	}{
		{"the bytes just encoded decode to the same value", DefaultStateCacheBytes, func(t *testing.T, codec *stateCodec) {
			st := stateOf(t, newCard(t, "50.00", "USD"))
			raw, err := codec.Encode(st)
			require.NoError(t, err)
			v, err := codec.Decode(raw)
			require.NoError(t, err)
			require.Same(t, st, v, "a hit")
		}},
		{"an older state of the card is decoded, not answered from the cache", DefaultStateCacheBytes, func(t *testing.T, codec *stateCodec) {
			c := newCard(t, "50.00", "USD")
			older, err := codec.Encode(stateOf(t, c))
			require.NoError(t, err)
			c2, _ := redeem(t, c, "10")
			newer := stateOf(t, c2)
			_, err = codec.Encode(newer)
			require.NoError(t, err)
			v, err := codec.Decode(older)
			require.NoError(t, err)
			require.NotSame(t, newer, v)
			require.Equal(t, "50", v.(*CardState).Card.Balance.String())
		}},
		{"a state written elsewhere is decoded", DefaultStateCacheBytes, func(t *testing.T, codec *stateCodec) {
			c := newCard(t, "50.00", "USD")
			_, err := codec.Encode(stateOf(t, c))
			require.NoError(t, err)
			c2, _ := redeem(t, c, "10")
			elsewhere, err := plain.Encode(stateOf(t, c2)) // another instance, same key
			require.NoError(t, err)
			v, err := codec.Decode(elsewhere)
			require.NoError(t, err)
			require.Equal(t, "40", v.(*CardState).Card.Balance.String())
			want, err := plain.Decode(elsewhere)
			require.NoError(t, err)
			require.Equal(t, want, v)
		}},
		{"the cache stays within its bound", 1, func(t *testing.T, codec *stateCodec) {
			for _, amount := range []string{"10.00", "20.00", "30.00"} {
				_, err := codec.Encode(stateOf(t, newCard(t, amount, "USD")))
				require.NoError(t, err)
			}
			require.Len(t, codec.cards, 1, "the last one only")
			require.LessOrEqual(t, codec.size, 4096)
		}},
		{"off", 0, func(t *testing.T, codec *stateCodec) {
			st := stateOf(t, newCard(t, "50.00", "USD"))
			raw, err := codec.Encode(st)
			require.NoError(t, err)
			v, err := codec.Decode(raw)
			require.NoError(t, err)
			require.NotSame(t, st, v)
			require.Empty(t, codec.cards)
		}},
		{"a tombstone and a state without a card", DefaultStateCacheBytes, func(t *testing.T, codec *stateCodec) {
			v, err := codec.Decode(nil)
			require.NoError(t, err)
			require.Nil(t, v)
			raw, err := codec.Encode(&CardState{})
			require.NoError(t, err)
			v, err = codec.Decode(raw)
			require.NoError(t, err)
			require.Nil(t, v.(*CardState).Card)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStateCodec(tc.max)) })
	}
}
