package topics_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The embedded broker offers no client telemetry (KIP-714), so clients
// never collect and push metrics it would discard; every request our
// clients use is still offered.
func TestEmbeddedBrokerOffersNoClientTelemetry(t *testing.T) {
	cl, err := kgo.NewClient(cluster.Clients.Kgo()...)
	require.NoError(t, err)
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(context.Background(), cl)
	require.NoError(t, err)
	offered := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		offered[k.ApiKey] = true
	}
	for _, k := range []kmsg.Key{kmsg.GetTelemetrySubscriptions, kmsg.PushTelemetry} {
		require.False(t, offered[int16(k)], "%s is offered", k.Name())
	}
	for _, k := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.ListOffsets, kmsg.Metadata, kmsg.OffsetCommit,
		kmsg.OffsetFetch, kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.Heartbeat, kmsg.SyncGroup, kmsg.LeaveGroup,
		kmsg.InitProducerID, kmsg.CreateTopics, kmsg.DescribeConfigs, kmsg.ListGroups, kmsg.DescribeGroups} {
		require.True(t, offered[int16(k)], "%s is not offered", k.Name())
	}
}
