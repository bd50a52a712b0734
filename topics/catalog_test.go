package topics_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// TestInboundTopicsHaveTheirKeyField: every inbound topic of the catalog
// names the field of data its producer keys records by, as
// contracts/inbound-events.md's table gives it (`shopstream publish` keys
// by it), and Inbound lists exactly the catalog's External topics.
func TestInboundTopicsHaveTheirKeyField(t *testing.T) {
	contract := []struct {
		topic, keyField string
	}{
		{topics.CartItemAdded, "user_id"},
		{topics.OrderCancelled, "order_id"},
		{topics.OrderCompleted, "order_id"},
		{topics.OrderRefunded, "order_id"},
		{topics.ProductUpdated, "product_id"},
		{topics.ProductViewed, "user_id"},
		{topics.ShipmentDelivered, "shipment_id"},
		{topics.WishlistItemAdded, "user_id"},
	}
	cat, err := topics.NewCatalog(6)
	require.NoError(t, err)
	inbound := topics.Inbound()
	for _, tc := range contract {
		t.Run(tc.topic, func(t *testing.T) {
			i := slices.IndexFunc(inbound, func(tp topics.Topic) bool { return tp.Name == tc.topic })
			require.GreaterOrEqual(t, i, 0, "Inbound lists %s", tc.topic)
			require.Equal(t, tc.keyField, inbound[i].KeyField)
			require.True(t, inbound[i].External)
			inCatalog, ok := cat.Lookup(tc.topic)
			require.True(t, ok)
			require.EqualValues(t, 6, inCatalog.Partitions)
			inCatalog.Partitions = 0
			require.Equal(t, inCatalog, inbound[i], "Inbound describes %s as the catalog does", tc.topic)
		})
	}
	t.Run("nothing else", func(t *testing.T) {
		var names, external []string
		for _, tp := range inbound {
			require.NotEmpty(t, tp.KeyField, tp.Name)
			names = append(names, tp.Name)
		}
		for _, tp := range cat.Topics() {
			if tp.External {
				external = append(external, tp.Name)
			}
		}
		require.Len(t, inbound, len(contract))
		require.True(t, slices.IsSorted(names), "sorted by name: %v", names)
		require.Equal(t, external, names, "Inbound is the catalog's External topics")
	})
}
