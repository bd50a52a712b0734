package topics

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrPartitionMismatch means an existing topic has another partition count
// than the catalog says. Co-partitioned topics must agree, so this is fatal:
// fix the topic or the catalog's default before starting processors.
var ErrPartitionMismatch = errors.New("topics: partition count differs from the catalog")

// MismatchError names the topic whose partition count is wrong.
type MismatchError struct {
	Topic      string
	Want, Have int32
}

// Error implements error.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("topics: %s has %d partitions, the catalog says %d", e.Topic, e.Have, e.Want)
}

// Unwrap returns ErrPartitionMismatch.
func (e *MismatchError) Unwrap() error { return ErrPartitionMismatch }

// Ensure creates every catalog topic that does not exist yet, with its
// partitions, cleanup policy and replication factor, and checks that those
// that exist have the catalog's partition count. It returns the names of the
// topics it created.
func (c *Catalog) Ensure(ctx context.Context, adm *kadm.Client, replication int16) ([]string, error) {
	want := c.Topics()
	names := make([]string, len(want))
	for i, t := range want {
		names[i] = t.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("topics: listing topics: %w", err)
	}
	var created []string
	for _, t := range want {
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			if have := int32(len(d.Partitions)); have != t.Partitions {
				return created, &MismatchError{Topic: t.Name, Want: t.Partitions, Have: have}
			}
			continue
		}
		cleanup := string(t.Cleanup)
		resp, err := adm.CreateTopic(ctx, t.Partitions, replication, map[string]*string{"cleanup.policy": &cleanup}, t.Name)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			continue // another process created it first
		}
		if err != nil {
			return created, fmt.Errorf("topics: creating %s: %w", t.Name, err)
		}
		created = append(created, t.Name)
	}
	return created, nil
}
