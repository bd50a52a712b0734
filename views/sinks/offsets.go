package sinks

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
)

type topicPartition struct {
	topic     string
	partition int32
}

// endOffsets returns the last stable offset of every partition.
func endOffsets(ctx context.Context, adm *kadm.Client, names []string) (map[topicPartition]int64, error) {
	lo, err := adm.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("sinks: listing end offsets: %w", err)
	}
	out := map[topicPartition]int64{}
	var ferr error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && ferr == nil {
			ferr = fmt.Errorf("sinks: end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		}
		out[topicPartition{o.Topic, o.Partition}] = o.Offset
	})
	return out, ferr
}

// loadOffsets returns the next offset to consume for every partition: the
// one stored for the sink, or 0 (the start of the partition) when none is.
func loadOffsets(ctx context.Context, pool *pgxpool.Pool, sink string, parts []topicPartition) (map[topicPartition]int64, error) {
	pos := make(map[topicPartition]int64, len(parts))
	for _, tp := range parts {
		pos[tp] = 0
	}
	rows, err := pool.Query(ctx, `SELECT topic, partition, next_offset FROM sink_offsets WHERE sink = $1`, sink)
	if err != nil {
		return nil, fmt.Errorf("sinks: loading offsets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tp topicPartition
		var off int64
		if err := rows.Scan(&tp.topic, &tp.partition, &off); err != nil {
			return nil, err
		}
		if _, ok := pos[tp]; ok {
			pos[tp] = off
		}
	}
	return pos, rows.Err()
}

// Offsets returns the offsets stored for the sink named sink: topic →
// partition → next offset to consume.
func Offsets(ctx context.Context, pool *pgxpool.Pool, sink string) (map[string]map[int32]int64, error) {
	rows, err := pool.Query(ctx, `SELECT topic, partition, next_offset FROM sink_offsets WHERE sink = $1`, sink)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	var topic string
	var part int32
	var off int64
	_, err = pgx.ForEachRow(rows, []any{&topic, &part, &off}, func() error {
		if out[topic] == nil {
			out[topic] = map[int32]int64{}
		}
		out[topic][part] = off
		return nil
	})
	return out, err
}

// rewindOffset sets the stored offset of tp back to 0 (the start of the
// partition) if it is still stored: the sink found it past the partition's
// end. It returns whether it changed it; false means another copy of the
// sink moved it in between.
func rewindOffset(ctx context.Context, pool *pgxpool.Pool, sink string, tp topicPartition, stored int64) (bool, error) {
	tag, err := pool.Exec(ctx, `UPDATE sink_offsets SET next_offset = 0, updated_at = now()
		WHERE sink = $1 AND topic = $2 AND partition = $3 AND next_offset = $4`, sink, tp.topic, tp.partition, stored)
	if err != nil {
		return false, fmt.Errorf("sinks: rewinding the offset of %s/%d: %w", tp.topic, tp.partition, err)
	}
	return tag.RowsAffected() == 1, nil
}

// storeOffsets moves every partition of next from the position the sink
// started the batch at (from) to next, inside tx. If any stored offset is
// not the one expected, another copy of the sink committed in between: it
// returns ErrFenced and the caller rolls back.
func storeOffsets(ctx context.Context, tx pgx.Tx, sink string, from, next map[topicPartition]int64) error {
	batch := &pgx.Batch{}
	var qs []topicPartition
	for tp, n := range next {
		f := from[tp]
		if f == 0 {
			// Nothing stored yet, or stored 0 (an empty start): insert, or
			// move from 0.
			batch.Queue(`INSERT INTO sink_offsets (sink, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
				ON CONFLICT (sink, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
				WHERE sink_offsets.next_offset = 0`, sink, tp.topic, tp.partition, n)
		} else {
			batch.Queue(`UPDATE sink_offsets SET next_offset = $4, updated_at = now()
				WHERE sink = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`, sink, tp.topic, tp.partition, n, f)
		}
		qs = append(qs, tp)
	}
	br := tx.SendBatch(ctx, batch)
	defer br.Close()
	for _, tp := range qs {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("sinks: storing offsets: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: %s/%d expected at %d", ErrFenced, tp.topic, tp.partition, from[tp])
		}
	}
	return br.Close()
}
