package topics

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

// PartitionLag is one consumer group's position on one partition, like a
// row of `kafka-consumer-groups --describe`.
type PartitionLag struct {
	Group     string `json:"group"`
	State     string `json:"state"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when none.
	Committed int64 `json:"committed"`
	// End is the partition's log-end offset.
	End int64 `json:"end"`
	// Lag is End - Committed (everything, when nothing is committed); -1
	// when it could not be computed (Err says why).
	Lag      int64  `json:"lag"`
	MemberID string `json:"member_id,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Host     string `json:"host,omitempty"`
	Err      string `json:"error,omitempty"`
}

// Lag describes groups (every group on the cluster when none are given)
// and returns their lag per partition, sorted by group, topic, partition.
func Lag(ctx context.Context, adm *kadm.Client, groups ...string) ([]PartitionLag, error) {
	if len(groups) == 0 {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("topics: listing groups: %w", err)
		}
		groups = listed.Groups()
	}
	if len(groups) == 0 {
		return nil, nil
	}
	described, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("topics: computing lag: %w", err)
	}
	var out []PartitionLag
	for _, g := range described.Sorted() {
		if err := g.Error(); err != nil {
			out = append(out, PartitionLag{Group: g.Group, State: g.State, Partition: -1, Lag: -1, Err: err.Error()})
			continue
		}
		for _, l := range g.Lag.Sorted() {
			pl := PartitionLag{Group: g.Group, State: g.State, Topic: l.Topic, Partition: l.Partition,
				Committed: l.Commit.At, End: l.End.Offset, Lag: l.Lag}
			if l.Member != nil {
				pl.MemberID, pl.ClientID, pl.Host = l.Member.MemberID, l.Member.ClientID, l.Member.ClientHost
			}
			if l.Err != nil {
				pl.Err = l.Err.Error()
			}
			out = append(out, pl)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out, nil
}
