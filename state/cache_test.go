package state

import (
	"testing"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
)

// TestCachedStorageIsWriteThrough checks the table storage cache:
// after recovery a read returns the bytes last written (the same slice),
// writes during recovery and deletes only invalidate, and the cache keeps
// within its bound.
func TestCachedStorageIsWriteThrough(t *testing.T) {
	open := func(t *testing.T, max int) (*cachedStorage, storage.Storage) {
		t.Helper()
		inner := storage.NewMemory()
		sb := CachedBuilder(func(string, int32) (storage.Storage, error) { return inner, nil }, max)
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
