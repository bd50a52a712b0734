package giftcards

import (
	"testing"

	"github.com/lovoo/goka/storage"
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

// TestCachedStorageIsWriteThrough checks the card table's storage cache:
// after recovery a read returns the bytes last written (the same slice),
// writes during recovery and deletes only invalidate, and the cache keeps
// within its bound.
func TestCachedStorageIsWriteThrough(t *testing.T) {
	open := func(t *testing.T, max int) (*cachedStorage, storage.Storage) {
		t.Helper()
		inner := storage.NewMemory()
		sb := cachedStorageBuilder(func(string, int32) (storage.Storage, error) { return inner, nil }, max)
		st, err := sb("gift_card.cards-table", 0)
		require.NoError(t, err)
		require.NoError(t, st.Open())
		return st.(*cachedStorage), inner
	}
	cases := []struct {
		name string
		run  func(t *testing.T, s *cachedStorage, inner storage.Storage)
	}{
		{"writes during recovery are not cached", func(t *testing.T, s *cachedStorage, inner storage.Storage) {
			require.NoError(t, s.Set("k", []byte("v1")))
			require.Empty(t, s.values)
			got, err := s.Get("k")
			require.NoError(t, err)
			require.Equal(t, "v1", string(got))
		}},
		{"after recovery a read returns the slice last written", func(t *testing.T, s *cachedStorage, inner storage.Storage) {
			require.NoError(t, s.Set("k", []byte("old")))
			require.NoError(t, s.MarkRecovered())
			v := []byte("new")
			require.NoError(t, s.Set("k", v))
			got, err := s.Get("k")
			require.NoError(t, err)
			require.Same(t, &v[0], &got[0])
			stored, err := inner.Get("k")
			require.NoError(t, err)
			require.Equal(t, "new", string(stored), "written through")
		}},
		{"a delete is not answered from the cache", func(t *testing.T, s *cachedStorage, inner storage.Storage) {
			require.NoError(t, s.MarkRecovered())
			require.NoError(t, s.Set("k", []byte("v")))
			require.NoError(t, s.Delete("k"))
			got, err := s.Get("k")
			require.NoError(t, err)
			require.Nil(t, got)
		}},
		{"a recovery write after a cached one invalidates it", func(t *testing.T, s *cachedStorage, inner storage.Storage) {
			require.NoError(t, s.MarkRecovered())
			require.NoError(t, s.Set("k", []byte("v1")))
			s.recovered = false // as if a new recovery replayed the changelog
			require.NoError(t, s.Set("k", []byte("v2")))
			got, err := s.Get("k")
			require.NoError(t, err)
			require.Equal(t, "v2", string(got))
		}},
		{"the cache keeps within its bound", func(t *testing.T, s *cachedStorage, inner storage.Storage) {
			require.NoError(t, s.MarkRecovered())
			for _, k := range []string{"a", "b", "c", "d"} {
				require.NoError(t, s.Set(k, []byte("0123456789")))
			}
			require.LessOrEqual(t, s.size, 25)
			require.Len(t, s.values, 2)
			for _, k := range []string{"a", "b", "c", "d"} {
				got, err := s.Get(k)
				require.NoError(t, err)
				require.Equal(t, "0123456789", string(got), "every key still reads its value")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, inner := open(t, 25)
			tc.run(t, s, inner)
			require.NoError(t, s.Close())
		})
	}
}

// TestStateCacheOptions checks the cache bounds a configuration gets: the
// stored-bytes cache on and the decoded-state cache off by default (its
// objects cost GC marking; docs/giftcards.md), each settable, none negative.
func TestStateCacheOptions(t *testing.T) {
	cases := []struct {
		name        string
		opts        []Option
		wantStored  int
		wantDecoded int
		wantErr     bool
	}{
		{"defaults", nil, DefaultStateCacheBytes, 0, false},
		{"decoded cache on", []Option{WithDecodedStateCacheBytes(8 << 20)}, DefaultStateCacheBytes, 8 << 20, false},
		{"both off", []Option{WithStateCacheBytes(0), WithDecodedStateCacheBytes(0)}, 0, 0, false},
		{"negative decoded cache", []Option{WithDecodedStateCacheBytes(-1)}, 0, 0, true},
		{"negative stored cache", []Option{WithStateCacheBytes(-1)}, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			for _, o := range tc.opts {
				o(&cfg)
			}
			err := cfg.validate()
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantStored, cfg.stateCache)
			require.Equal(t, tc.wantDecoded, cfg.decodedCache)
			codec := newCardProcessor(cfg).codec
			raw, err := codec.Encode(&CardState{Card: newCard(t, "50.00", "USD")})
			require.NoError(t, err)
			first, err := codec.Decode(raw)
			require.NoError(t, err)
			second, err := codec.Decode(raw)
			require.NoError(t, err)
			require.Equal(t, tc.wantDecoded > 0, first == second, "a decode is answered from the cache only when it is on")
		})
	}
}
