package topics_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

func TestLagReportsCommittedEndAndLag(t *testing.T) {
	ctx := context.Background()
	topic, group := cluster.Unique("lag-in"), cluster.Unique("lag-group")
	cluster.CreateTopic(t, topic, topics.Delete)
	p := cluster.Producer(t)
	for range 10 {
		require.NoError(t, p.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k")}).FirstErr())
	}
	end := int64(0)
	ends, err := cluster.Admin.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
	require.EqualValues(t, 10, end)
	part := int32(topics.PartitionFor([]byte("k"), 4))

	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: part, At: 4, LeaderEpoch: -1})
	_, err = cluster.Admin.CommitOffsets(ctx, group, offs)
	require.NoError(t, err)

	lags, err := topics.Lag(ctx, cluster.Admin, group)
	require.NoError(t, err)
	var found bool
	for _, l := range lags {
		require.Equal(t, group, l.Group)
		if l.Topic == topic && l.Partition == part {
			found = true
			require.EqualValues(t, 4, l.Committed)
			require.EqualValues(t, 10, l.End)
			require.EqualValues(t, 6, l.Lag)
		}
	}
	require.True(t, found, "lag row for %s/%d in %+v", topic, part, lags)

	all, err := topics.Lag(ctx, cluster.Admin)
	require.NoError(t, err)
	var groups []string
	for _, l := range all {
		groups = append(groups, l.Group)
	}
	require.Contains(t, groups, group, "with no group named, every group is described")
}
