package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// codeUniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const codeUniqueViolation = "23505"

// tableState is what a sink remembers about writing one append-only table.
type tableState struct {
	// staged is set after a direct COPY found a row already stored; the
	// table's batches then go through the staging table until one finds
	// none stored.
	staged atomic.Bool
	// set is the ReplacedSet table whose Lists this table is (nil for
	// none): the two are written together.
	set *Table
}

// copyThreshold is the row count from which a table's rows go through COPY
// into a staging table instead of a multi-row INSERT.
const copyThreshold = 64

// mapped is one record and the rows it maps to, or why it cannot be mapped.
type mapped struct {
	rec    *kgo.Record
	rows   []Row
	reason error
}

// mapRecord decodes and maps rec: with the spec's raw mapper of its topic,
// or as an envelope with Map.
func (s *Sink) mapRecord(rec *kgo.Record) mapped {
	var rows []Row
	var err error
	if raw := s.spec.Raw[rec.Topic]; raw != nil {
		rows, err = raw(rec)
	} else {
		var env *topics.Envelope
		if env, err = topics.DecodeEnvelope(rec.Value); err == nil {
			rows, err = s.spec.Map(env, rec)
		}
	}
	if err != nil {
		return mapped{rec: rec, reason: err}
	}
	for i := range rows {
		if err := rows[i].check(); err != nil {
			return mapped{rec: rec, reason: fmt.Errorf("%w: %v", ErrMalformedEvent, err)}
		}
		if !s.tables[rows[i].Table] {
			return mapped{rec: rec, reason: fmt.Errorf("sinks: mapper wrote to table %s not in the spec", rows[i].Table.Name)}
		}
	}
	if err := checkSets(rows); err != nil {
		return mapped{rec: rec, reason: fmt.Errorf("%w: %v", ErrMalformedEvent, err)}
	}
	return mapped{rec: rec, rows: rows}
}

// writeBatch writes recs and the positions after them in one transaction,
// dead-lettering the records that cannot be written. from holds the
// stored position every partition of recs starts at; the returned
// positions are committed with the rows.
func (s *Sink) writeBatch(ctx context.Context, cl *kgo.Client, from map[topicPartition]int64, recs []*kgo.Record) (map[topicPartition]int64, error) {
	start := time.Now()
	ms := make([]mapped, len(recs))
	next := map[topicPartition]int64{}
	for i, r := range recs {
		ms[i] = s.mapRecord(r)
		tp := topicPartition{r.Topic, r.Partition}
		if r.Offset+1 > next[tp] {
			next[tp] = r.Offset + 1
		}
	}
	// Dead letters go out before the commit: a crash in between repeats a
	// dead letter, never loses one.
	if err := s.deadLetter(ctx, cl, ms); err != nil {
		return nil, err
	}
	rows, err := s.commit(ctx, from, next, func(tx pgx.Tx) (int, error) { return writeRows(ctx, tx, ms, s.states) })
	if isDataError(err) {
		// One record's rows break a constraint: write record by record,
		// dead-letter the ones PostgreSQL refuses, keep the rest.
		s.cfg.logger.Warn("batch refused by PostgreSQL; writing record by record", "err", err)
		var refused []mapped
		rows, err = s.commit(ctx, from, next, func(tx pgx.Tx) (int, error) {
			var n int
			var rerr error
			n, refused, rerr = writeEach(ctx, tx, ms, s.states)
			if rerr != nil {
				return 0, rerr
			}
			return n, s.deadLetter(ctx, cl, refused)
		})
	}
	if err != nil {
		return nil, err
	}
	s.stats.Batches.Add(1)
	s.stats.Records.Add(int64(len(recs)))
	s.stats.Rows.Add(int64(rows))
	sinkRecords.WithLabelValues(s.spec.Name).Add(float64(len(recs)))
	sinkRows.WithLabelValues(s.spec.Name).Add(float64(rows))
	sinkBatchSeconds.WithLabelValues(s.spec.Name).Observe(time.Since(start).Seconds())
	return next, nil
}

// commitTimeout bounds how long a COMMIT may take once started.
const commitTimeout = 30 * time.Second

// commit runs write and stores next in one transaction.
func (s *Sink) commit(ctx context.Context, from, next map[topicPartition]int64, write func(pgx.Tx) (int, error)) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("sinks: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	n, err := write(tx)
	if err != nil {
		return 0, err
	}
	if err := storeOffsets(ctx, tx, s.spec.Name, from, next); err != nil {
		return 0, err
	}
	if s.cfg.beforeCommit != nil {
		if err := s.cfg.beforeCommit(ctx); err != nil {
			return 0, err
		}
	}
	// Once the batch is written, a shutdown lets its COMMIT finish (for up
	// to commitTimeout) instead of cancelling it: a COMMIT cancelled in
	// flight may still have committed on the server, and the sink would
	// not know (its stats and lag would miss the batch until a restart).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := tx.Commit(cctx); err != nil {
		return 0, fmt.Errorf("sinks: commit: %w", err)
	}
	return n, nil
}

// writeRows writes the rows of every record, table by table. It returns
// the number of rows written (as sent: a duplicate counts).
func writeRows(ctx context.Context, tx pgx.Tx, ms []mapped, states map[*Table]*tableState) (int, error) {
	var order []*Table
	byTable := map[*Table][]*Row{}
	for i := range ms {
		for j := range ms[i].rows {
			r := &ms[i].rows[j]
			if byTable[r.Table] == nil {
				order = append(order, r.Table)
			}
			byTable[r.Table] = append(byTable[r.Table], r)
		}
	}
	// A set table is written with its lists table (the lists of a batch
	// may all be empty: no row of the set itself).
	sets := map[*Table]*Table{}
	for t, st := range states {
		if st != nil && st.set != nil {
			sets[t] = st.set
		}
	}
	for _, t := range order {
		if t.Kind == ReplacedSet {
			sets[t.Lists] = t
		}
	}
	n := 0
	for _, t := range order {
		rows := byTable[t]
		if t.Kind == ReplacedSet {
			continue // written with its lists table
		}
		if set := sets[t]; set != nil {
			k, err := writeSet(ctx, tx, set, rows, byTable[set])
			if err != nil {
				return 0, err
			}
			n += k
			continue
		}
		if t.Kind == CurrentState {
			rows = mergeByKey(rows)
		} else {
			rows = dedupe(t, rows)
		}
		if err := writeTable(ctx, tx, t, rows, states[t]); err != nil {
			return 0, err
		}
		n += len(rows)
	}
	return n, nil
}

// writeEach writes record by record under savepoints and returns the
// records PostgreSQL refused (with the reason) instead of failing.
func writeEach(ctx context.Context, tx pgx.Tx, ms []mapped, states map[*Table]*tableState) (int, []mapped, error) {
	n := 0
	var refused []mapped
	for _, m := range ms {
		if m.reason != nil || len(m.rows) == 0 {
			continue
		}
		sp, err := tx.Begin(ctx) // a savepoint
		if err != nil {
			return 0, nil, err
		}
		k, err := writeRows(ctx, sp, []mapped{m}, states)
		if err == nil {
			err = sp.Commit(ctx)
		}
		switch {
		case err == nil:
			n += k
		case isDataError(err):
			if rerr := sp.Rollback(ctx); rerr != nil {
				return 0, nil, rerr
			}
			refused = append(refused, mapped{rec: m.rec, reason: fmt.Errorf("%w: refused by PostgreSQL: %v", ErrMalformedEvent, err)})
		default:
			return 0, nil, err
		}
	}
	return n, refused, nil
}

// mergeByKey keeps one row per key: what the upsert of all of them, in
// order, would leave.
func mergeByKey(rows []*Row) []*Row {
	groups := map[string][]*Row{}
	var keys []string
	for _, r := range rows {
		k := r.key()
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	if len(keys) == len(rows) {
		return rows
	}
	out := make([]*Row, 0, len(keys))
	for _, k := range keys {
		out = append(out, mergeRows(groups[k]))
	}
	return out
}

// writeTable inserts rows into t: a multi-row INSERT for a few rows, COPY
// into a staging table then INSERT ... SELECT for many; both with t's ON
// CONFLICT clause.
//
// Append-only rows are first copied straight into t (st, nil for none,
// remembers whether that recently failed); see copyDirect.
func writeTable(ctx context.Context, tx pgx.Tx, t *Table, rows []*Row, st *tableState) error {
	cols := t.allColumns()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	colList := strings.Join(quoted, ", ")
	name := pgx.Identifier{t.Name}.Sanitize()

	if len(rows) < copyThreshold {
		var b strings.Builder
		args := make([]any, 0, len(rows)*len(cols))
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", name, colList)
		for i, r := range rows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j, v := range r.values() {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&b, "$%d", len(args))
			}
			b.WriteByte(')')
		}
		b.WriteByte(' ')
		b.WriteString(t.conflictClause())
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("sinks: writing %s: %w", t.Name, err)
		}
		return nil
	}

	vals := make([][]any, len(rows))
	for i, r := range rows {
		vals[i] = r.values()
	}
	if t.Kind == AppendOnly && (st == nil || !st.staged.Load()) {
		done, err := copyDirect(ctx, tx, t, cols, vals)
		if done || err != nil {
			return err
		}
		// A row of the batch is already stored: this batch, and the next
		// ones until one finds nothing stored, go through the staging
		// table's anti-join.
		if st != nil {
			st.staged.Store(true)
		}
	}
	stage := "sink_stage_" + t.Name
	qstage := pgx.Identifier{stage}.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
		qstage, colList, name)); err != nil {
		return fmt.Errorf("sinks: staging %s: %w", t.Name, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, cols, pgx.CopyFromRows(vals)); err != nil {
		return fmt.Errorf("sinks: copying into %s: %w", t.Name, err)
	}
	b := &pgx.Batch{}
	if t.Kind != AppendOnly {
		b.Queue(fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s %s", name, colList, colList, qstage, t.conflictClause()))
	} else {
		// Append-only rows: an anti-join on the unique columns instead of
		// ON CONFLICT DO NOTHING, whose speculative insertion doubles the
		// cost. A concurrent writer of the same rows makes the INSERT fail
		// with a unique violation, and the batch is written again record
		// by record, with ON CONFLICT.
		// The staging table has no statistics; the anti-join must probe
		// the unique indexes row by row (constant cost per row), never
		// hash a sequential scan of the whole table, which the planner
		// picks for mid-sized tables and which grows with them.
		b.Queue("SET LOCAL enable_hashjoin = off")
		b.Queue("SET LOCAL enable_mergejoin = off")
		b.Queue(fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s s %s", name, colList, colList, qstage, t.antiJoin(qstage))).
			Exec(func(tag pgconn.CommandTag) error {
				if st != nil && tag.RowsAffected() == int64(len(rows)) {
					st.staged.Store(false) // nothing was stored yet: try COPY again
				}
				return nil
			})
		b.Queue("RESET enable_hashjoin")
		b.Queue("RESET enable_mergejoin")
	}
	b.Queue("DROP TABLE " + qstage)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("sinks: writing %s: %w", t.Name, err)
	}
	return nil
}

// copyDirect copies the append-only rows vals straight into t, under a
// savepoint. When a row's unique value is already stored (PostgreSQL
// refuses the whole COPY with a unique violation) it rolls the savepoint
// back and returns false: the caller writes through the staging table,
// which skips the stored rows. Any other error is returned.
func copyDirect(ctx context.Context, tx pgx.Tx, t *Table, cols []string, vals [][]any) (bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{t.Name}, cols, pgx.CopyFromRows(vals))
	if err == nil {
		return true, sp.Commit(ctx)
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != codeUniqueViolation {
		return false, fmt.Errorf("sinks: copying into %s: %w", t.Name, err)
	}
	if err := sp.Rollback(ctx); err != nil {
		return false, err
	}
	return false, nil
}

// isDataError reports whether err is PostgreSQL refusing the data (a data
// exception or an integrity constraint violation), as opposed to the
// database being unavailable.
func isDataError(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23")
	}
	return false
}

// deadLetter produces a DeadLetter for every record of ms that has a
// reason, and waits until the broker has them.
func (s *Sink) deadLetter(ctx context.Context, cl *kgo.Client, ms []mapped) error {
	var out []*kgo.Record
	for _, m := range ms {
		if m.reason == nil {
			continue
		}
		dl := topics.DeadLetter{Group: "sink-" + s.spec.Name, Topic: m.rec.Topic, Partition: m.rec.Partition,
			Offset: m.rec.Offset, Key: m.rec.Key, Value: m.rec.Value, Reason: m.reason.Error(), At: m.rec.Timestamp}
		var te *topics.Error
		if errors.As(m.reason, &te) {
			dl.Code = te.Code
		} else if errors.Is(m.reason, topics.ErrUndecodable) {
			dl.Code = CodeMalformedEvent
		}
		b, err := json.Marshal(dl)
		if err != nil {
			return err
		}
		out = append(out, &kgo.Record{Topic: s.cfg.dlqTopic, Key: m.rec.Key, Value: b})
		s.cfg.logger.Warn("dead-lettered a record", "topic", m.rec.Topic, "partition", m.rec.Partition,
			"offset", m.rec.Offset, "reason", dl.Reason)
	}
	if len(out) == 0 {
		return nil
	}
	sinkDeadLetters.WithLabelValues(s.spec.Name).Add(float64(len(out)))
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("sinks: producing dead letters to %s: %w", s.cfg.dlqTopic, err)
	}
	s.stats.DeadLetters.Add(int64(len(out)))
	return nil
}
