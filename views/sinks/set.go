package sinks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// colListN is the column of a lists staging table that numbers its rows.
const colListN = "sink_list_n"

// checkSets checks that every ReplacedSet row of one record comes with the
// record's row of its Lists table: same group, same Order. A set row
// without its list could not be told apart from a row of another list.
func checkSets(rows []Row) error {
	var lists map[*Table]map[string]Order
	for i := range rows {
		r := &rows[i]
		if r.Table.Kind != ReplacedSet {
			continue
		}
		if lists == nil {
			lists = map[*Table]map[string]Order{}
			for j := range rows {
				l := &rows[j]
				if l.Table.Kind != CurrentState {
					continue
				}
				if lists[l.Table] == nil {
					lists[l.Table] = map[string]Order{}
				}
				lists[l.Table][l.key()] = l.Order
			}
		}
		o, ok := lists[r.Table.Lists][r.keyOf(r.Table.Lists.Key)]
		if !ok || !o.equal(r.Order) {
			return fmt.Errorf("sinks: a row for %s without its list (a row for %s of the same group and order)",
				r.Table.Name, r.Table.Lists.Name)
		}
	}
	return nil
}

// writeSet writes a batch's lists for the ReplacedSet table set: lists are
// the rows of set.Lists (one per record and group), members the rows of
// set. It returns the number of rows written (as sent).
//
// The newest list of every group in the batch is upserted into set.Lists
// with the version guard; the groups where it was newer than the stored
// list (and only those) then get its members, upserted, and lose the rows
// the list no longer has: after the upsert these are the group's rows
// whose last_event_id is not the list's. A list that is older than the
// stored one, or the stored one again, changes nothing. Two transactions
// writing one group are serialized by the lock on its row of set.Lists.
//
// Fewer than copyThreshold lists are upserted one statement each (in one
// round trip), and their stale rows deleted group by group; more go
// through a staging table, as writeTable's rows do.
func writeSet(ctx context.Context, tx pgx.Tx, set *Table, lists, members []*Row) (int, error) {
	lt := set.Lists
	lists = mergeByKey(lists)
	if len(lists) == 0 {
		return 0, nil
	}
	var sl *stagedLists
	var applied []int32
	var err error
	if len(lists) < copyThreshold {
		applied, err = upsertLists(ctx, tx, lt, lists)
	} else {
		sl, applied, err = upsertStagedLists(ctx, tx, lt, lists)
	}
	if err != nil {
		return 0, err
	}
	n := len(lists)
	if len(applied) > 0 {
		// The members of the applied lists (once each: a list delivered
		// twice in the batch repeats them).
		groups := make(map[string]Order, len(applied))
		for _, i := range applied {
			groups[lists[i].key()] = lists[i].Order
		}
		var kept []*Row
		for _, r := range members {
			if o, ok := groups[r.keyOf(lt.Key)]; ok && o.equal(r.Order) {
				kept = append(kept, r)
			}
		}
		if len(kept) > 0 {
			kept = mergeByKey(kept)
			if err := writeTable(ctx, tx, set, kept, nil); err != nil {
				return 0, err
			}
			n += len(kept)
		}
	}
	// What the applied lists no longer hold.
	b := &pgx.Batch{}
	name := pgx.Identifier{set.Name}.Sanitize()
	le := pgx.Identifier{ColLastEventID}.Sanitize()
	if sl == nil {
		var match []string
		for i, c := range lt.Key {
			match = append(match, fmt.Sprintf("%s = $%d", pgx.Identifier{c}.Sanitize(), i+1))
		}
		q := fmt.Sprintf("DELETE FROM %s WHERE %s AND %s <> $%d", name, strings.Join(match, " AND "), le, len(lt.Key)+1)
		for _, i := range applied {
			args := make([]any, 0, len(lt.Key)+1)
			for _, c := range lt.Key {
				args = append(args, lists[i].Values[slices.Index(lt.Columns, c)])
			}
			b.Queue(q, append(args, lists[i].Order.EventID)...)
		}
	} else {
		if len(applied) > 0 {
			// The join must probe the set's key index group by group, never
			// scan the whole table.
			var match []string
			for _, c := range lt.Key {
				q := pgx.Identifier{c}.Sanitize()
				match = append(match, fmt.Sprintf("t.%[1]s = s.%[1]s", q))
			}
			b.Queue("SET LOCAL enable_hashjoin = off")
			b.Queue("SET LOCAL enable_mergejoin = off")
			b.Queue(fmt.Sprintf("DELETE FROM %s t USING %s s WHERE s.%s = ANY($1) AND %s AND t.%s <> s.%s",
				name, sl.qstage, pgx.Identifier{colListN}.Sanitize(), strings.Join(match, " AND "), le, le), applied)
			b.Queue("RESET enable_hashjoin")
			b.Queue("RESET enable_mergejoin")
		}
		b.Queue("DROP TABLE " + sl.qstage)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, fmt.Errorf("sinks: writing %s: %w", set.Name, err)
		}
	}
	return n, nil
}

// upsertLists upserts lists into lt one statement each and returns the
// indexes of the lists it wrote (newer than the stored ones).
func upsertLists(ctx context.Context, tx pgx.Tx, lt *Table, lists []*Row) ([]int32, error) {
	cols := lt.allColumns()
	quoted := make([]string, len(cols))
	params := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) %s RETURNING %s, %s", pgx.Identifier{lt.Name}.Sanitize(),
		strings.Join(quoted, ", "), strings.Join(params, ", "), lt.conflictClause(),
		pgx.Identifier{ColVersion}.Sanitize(), pgx.Identifier{ColLastEventID}.Sanitize())
	var applied []int32
	b := &pgx.Batch{}
	for i, r := range lists {
		b.Queue(q, r.values()...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var version int64
				var event string
				if err := rows.Scan(&version, &event); err != nil {
					return err
				}
				// A row updated only to fill a merge column keeps the
				// stored (newer) list's order.
				if version == r.Order.Version && event == r.Order.EventID {
					applied = append(applied, int32(i))
				}
			}
			return rows.Err()
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("sinks: writing %s: %w", lt.Name, err)
	}
	return applied, nil
}

// stagedLists is the staging table upsertStagedLists leaves for the
// deletion; it is dropped after it.
type stagedLists struct{ qstage string }

// upsertStagedLists upserts lists into lt through a staging table whose
// rows are numbered like lists, and returns the numbers of the lists it
// wrote (newer than the stored ones).
func upsertStagedLists(ctx context.Context, tx pgx.Tx, lt *Table, lists []*Row) (*stagedLists, []int32, error) {
	lname := pgx.Identifier{lt.Name}.Sanitize()
	stage := "sink_lists_" + lt.Name
	qstage := pgx.Identifier{stage}.Sanitize()
	cols := lt.allColumns()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	colList := strings.Join(quoted, ", ")
	qn := pgx.Identifier{colListN}.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s, 0 AS %s FROM %s WITH NO DATA",
		qstage, colList, qn, lname)); err != nil {
		return nil, nil, fmt.Errorf("sinks: staging %s: %w", lt.Name, err)
	}
	vals := make([][]any, len(lists))
	for i, r := range lists {
		vals[i] = append(r.values(), int32(i))
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, append(cols, colListN), pgx.CopyFromRows(vals)); err != nil {
		return nil, nil, fmt.Errorf("sinks: copying into %s: %w", stage, err)
	}
	// The guarded upsert; the lists it wrote are the ones now stored with
	// the staged order (a row updated only to fill a merge column keeps
	// the stored list's).
	var same, returning []string
	for _, c := range append(slices.Clone(lt.Key), ColVersion, ColOccurredAt, ColLastEventID) {
		q := pgx.Identifier{c}.Sanitize()
		same = append(same, fmt.Sprintf("a.%[1]s = s.%[1]s", q))
		returning = append(returning, q)
	}
	q := fmt.Sprintf("WITH a AS (INSERT INTO %[1]s (%[2]s) SELECT %[2]s FROM %[3]s %[4]s RETURNING %[5]s) SELECT s.%[6]s FROM a JOIN %[3]s s ON %[7]s",
		lname, colList, qstage, lt.conflictClause(), strings.Join(returning, ", "), qn, strings.Join(same, " AND "))
	rs, err := tx.Query(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("sinks: writing %s: %w", lt.Name, err)
	}
	applied, err := pgx.CollectRows(rs, pgx.RowTo[int32])
	if err != nil {
		return nil, nil, fmt.Errorf("sinks: writing %s: %w", lt.Name, err)
	}
	return &stagedLists{qstage: qstage}, applied, nil
}
