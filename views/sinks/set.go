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
func writeSet(ctx context.Context, tx pgx.Tx, set *Table, lists, members []*Row) (int, error) {
	lt := set.Lists
	lists = mergeByKey(lists)
	if len(lists) == 0 {
		return 0, nil
	}
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

	// The lists, numbered, into a staging table.
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s, 0 AS %s FROM %s WITH NO DATA",
		qstage, colList, qn, lname)); err != nil {
		return 0, fmt.Errorf("sinks: staging %s: %w", lt.Name, err)
	}
	vals := make([][]any, len(lists))
	for i, r := range lists {
		vals[i] = append(r.values(), int32(i))
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, append(cols, colListN), pgx.CopyFromRows(vals)); err != nil {
		return 0, fmt.Errorf("sinks: copying into %s: %w", stage, err)
	}

	// The guarded upsert; the lists it wrote are the ones now stored.
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
		return 0, fmt.Errorf("sinks: writing %s: %w", lt.Name, err)
	}
	applied, err := pgx.CollectRows(rs, pgx.RowTo[int32])
	if err != nil {
		return 0, fmt.Errorf("sinks: writing %s: %w", lt.Name, err)
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
		// What the applied lists no longer hold. The join must probe the
		// set's key index group by group, never scan the whole table.
		var match []string
		for _, c := range lt.Key {
			q := pgx.Identifier{c}.Sanitize()
			match = append(match, fmt.Sprintf("t.%[1]s = s.%[1]s", q))
		}
		le := pgx.Identifier{ColLastEventID}.Sanitize()
		b := &pgx.Batch{}
		b.Queue("SET LOCAL enable_hashjoin = off")
		b.Queue("SET LOCAL enable_mergejoin = off")
		b.Queue(fmt.Sprintf("DELETE FROM %s t USING %s s WHERE s.%s = ANY($1) AND %s AND t.%s <> s.%s",
			pgx.Identifier{set.Name}.Sanitize(), qstage, qn, strings.Join(match, " AND "), le, le), applied)
		b.Queue("RESET enable_hashjoin")
		b.Queue("RESET enable_mergejoin")
		b.Queue("DROP TABLE " + qstage)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, fmt.Errorf("sinks: writing %s: %w", set.Name, err)
		}
		return n, nil
	}
	if _, err := tx.Exec(ctx, "DROP TABLE "+qstage); err != nil {
		return 0, fmt.Errorf("sinks: writing %s: %w", lt.Name, err)
	}
	return n, nil
}
