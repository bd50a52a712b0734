package recommendations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// RebuildStats says what RebuildFromKafka read.
type RebuildStats struct {
	// Records counts the records read; Skipped those that were not a valid
	// recorded interaction batch (they are left out, as the DLQ would).
	Records int `json:"records"`
	Skipped int `json:"skipped"`
}

// ErrNoClients is returned by RebuildFromKafka without clients.
var ErrNoClients = errors.New("recommendations: the rebuild needs Kafka clients")

// RebuildFromKafka is the seed's build_cooccurrence_matrix(time_window) —
// the co-occurrence and similarity jobs — as a batch job over Kafka: it
// reprocesses the interactions of the last window from
// topics.RecommendationsRecorded (what the user processor recorded,
// record_interaction commands included and redeliveries left out) into a
// fresh Model and returns that model's co-occurrence matrix.
//
// It reads, per partition, from the first record produced at or after
// now-window up to the end offset the partition had when the rebuild
// started, so a rebuild while interactions keep arriving ends. The matrix's
// window is then applied to the batches' event times, measured back from
// the latest one (Model.BuildCooccurrenceMatrix). A window <= 0 means 720
// hours. The streaming state is not replaced: the rebuild answers with the
// matrix as of the window only.
func RebuildFromKafka(ctx context.Context, clients *topics.Clients, window time.Duration, now time.Time, opts ...Option) (*CooccurrenceMatrix, RebuildStats, error) {
	var stats RebuildStats
	if clients == nil {
		return nil, stats, ErrNoClients
	}
	if window <= 0 {
		window = 720 * time.Hour
	}
	m, err := NewModel(opts...)
	if err != nil {
		return nil, stats, err
	}
	topic := topics.RecommendationsRecorded
	admClient, err := kgo.NewClient(clients.Kgo()...)
	if err != nil {
		return nil, stats, err
	}
	defer admClient.Close()
	adm := kadm.NewClient(admClient)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, stats, &UnavailableError{Op: "listing the end offsets of " + topic, Err: err}
	}
	if err := ends.Error(); err != nil {
		return nil, stats, &UnavailableError{Op: "listing the end offsets of " + topic, Err: err}
	}
	starts, err := adm.ListOffsetsAfterMilli(ctx, now.Add(-window).UnixMilli(), topic)
	if err != nil {
		return nil, stats, &UnavailableError{Op: "finding the window's start in " + topic, Err: err}
	}
	if err := starts.Error(); err != nil {
		return nil, stats, &UnavailableError{Op: "finding the window's start in " + topic, Err: err}
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	ends.Each(func(end kadm.ListedOffset) {
		start, ok := starts.Lookup(topic, end.Partition)
		if !ok || start.Offset < 0 || start.Offset >= end.Offset {
			return // nothing in the window on this partition
		}
		from[end.Partition] = kgo.NewOffset().At(start.Offset)
		until[end.Partition] = end.Offset
	})
	if len(from) > 0 {
		cl, err := kgo.NewClient(clients.Kgo(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
		if err != nil {
			return nil, stats, err
		}
		defer cl.Close()
		for len(until) > 0 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return nil, stats, err
			}
			var fetchErr error
			fs.EachError(func(t string, p int32, err error) {
				if fetchErr == nil {
					fetchErr = &UnavailableError{Op: fmt.Sprintf("reading %s/%d", t, p), Err: err}
				}
			})
			if fetchErr != nil {
				return nil, stats, fetchErr
			}
			fs.EachRecord(func(r *kgo.Record) {
				end, ok := until[r.Partition]
				if !ok || r.Offset >= end {
					return
				}
				stats.Records++
				if !replay(m, r.Value) {
					stats.Skipped++
				}
				if r.Offset+1 >= end {
					delete(until, r.Partition)
				}
			})
		}
	}
	return m.BuildCooccurrenceMatrix(window), stats, nil
}

// replay records one recorded-interaction record into m.
func replay(m *Model, raw []byte) bool {
	env, err := topics.DecodeEnvelope(raw)
	if err != nil || env.Type != TypeInteractionRecorded {
		return false
	}
	b, err := topics.DecodeData[Batch](env)
	if err != nil {
		return false
	}
	for i := range b.Items {
		b.Items[i].Weight = 0 // the model weighs them with its own configuration
	}
	_, err = m.Record(&b)
	return err == nil
}
