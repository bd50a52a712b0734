package recommendations

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeTableRows(t *testing.T) {
	t.Run("user", func(t *testing.T) {
		want := fullUserRow(t)
		raw, err := EncodeUserRow(want)
		require.NoError(t, err)
		require.Equal(t, byte(userFormat2), raw[0])
		got, err := userRowCodec{}.Decode(raw)
		require.NoError(t, err)
		sameJSON(t, want, got.(*UserRow))
	})
	t.Run("item", func(t *testing.T) {
		want := &Item{ProductID: "p1", Users: 3, Increments: 7, Co: map[string]int64{"p2": 2, "p3": 1}}
		raw, err := EncodeItemRow(want)
		require.NoError(t, err)
		got, err := itemCodec{}.Decode(raw)
		require.NoError(t, err)
		require.Equal(t, want.ProductID, got.(*Item).ProductID)
		require.Equal(t, want.Co, got.(*Item).Co)
		require.Equal(t, want.Users, got.(*Item).Users)
	})
}
