package sinks

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kind says how a sink writes a table.
type Kind int

const (
	// AppendOnly tables get one row per event. A row whose unique columns
	// (event_id, and any in Table.Unique) are already in the table is
	// skipped, so a replay is a no-op; rows are never updated or deleted.
	AppendOnly Kind = iota + 1
	// CurrentState tables hold one row per key, upserted. Each row carries
	// version, occurred_at and last_event_id, and is replaced only by a row
	// whose (version, occurred_at, last_event_id) is greater.
	CurrentState
	// ReplacedSet tables hold, per group, the rows of the group's newest
	// list: an event that carries a whole list (a product's neighbours)
	// replaces the group's rows as a whole. The group is the Key of the
	// table's Lists, a CurrentState table with one row per group that
	// records the order of the list applied. A record's rows of the set
	// come with its row of Lists (same group, same Order; a list row
	// without set rows is an empty list). When that list row is newer than
	// the stored one, the group's rows that are not in the list are
	// deleted and the others upserted, in the batch's transaction; an
	// older or repeated list changes nothing. Rows carry version,
	// occurred_at and last_event_id like CurrentState rows.
	ReplacedSet
)

// Columns every current-state (and replaced-set) table has, ordering the
// events of a key.
const (
	ColVersion     = "version"
	ColOccurredAt  = "occurred_at"
	ColLastEventID = "last_event_id"
)

// Table describes a read-model table a sink writes.
type Table struct {
	// Name is the table's name (in the pool's search_path).
	Name string
	// Kind is AppendOnly, CurrentState or ReplacedSet.
	Kind Kind
	// Columns are the columns a Row's Values fill, in order. For a
	// CurrentState or ReplacedSet table they do not include version,
	// occurred_at and last_event_id, which come from the Row's Order.
	Columns []string
	// Key is the primary key of a CurrentState or ReplacedSet table (the
	// upsert's conflict target). Unused for AppendOnly tables.
	Key []string
	// Lists is the CurrentState table recording, per group, the list a
	// ReplacedSet table holds; its Key columns (the group) are columns and
	// key columns of the set table. Unused for the other kinds.
	Lists *Table
	// Unique lists the columns of an AppendOnly table with a unique index
	// besides event_id (a ledger's transaction ID): a row that repeats any
	// of them is skipped.
	Unique []string
	// Merge lists CurrentState columns where a non-NULL value wins: a newer
	// event that does not know the column (NULL) keeps the stored value, and
	// an older event may fill it while it is NULL. Use it for facts set once
	// (created_at, purchaser) or by one event type only (approved_at). Every
	// other column is replaced by the newest event, NULL included.
	Merge []string
}

// validate checks t and returns an error saying what is wrong.
func (t *Table) validate() error {
	if t.Name == "" {
		return errors.New("sinks: table without a name")
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("sinks: table %s has no columns", t.Name)
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if c == "" || seen[c] {
			return fmt.Errorf("sinks: table %s: empty or repeated column %q", t.Name, c)
		}
		seen[c] = true
	}
	switch t.Kind {
	case AppendOnly:
		if !seen["event_id"] {
			return fmt.Errorf("sinks: append-only table %s must have an event_id column", t.Name)
		}
		for _, c := range t.Unique {
			if !seen[c] {
				return fmt.Errorf("sinks: table %s: unique column %q is not a column", t.Name, c)
			}
		}
	case CurrentState:
		if len(t.Key) == 0 {
			return fmt.Errorf("sinks: current-state table %s has no key", t.Name)
		}
		for _, c := range append(slices.Clone(t.Key), t.Merge...) {
			if !seen[c] {
				return fmt.Errorf("sinks: table %s: key or merge column %q is not a column", t.Name, c)
			}
		}
		for _, c := range []string{ColVersion, ColOccurredAt, ColLastEventID} {
			if seen[c] {
				return fmt.Errorf("sinks: table %s: %s comes from the row's order, not from Columns", t.Name, c)
			}
		}
	case ReplacedSet:
		if len(t.Key) == 0 {
			return fmt.Errorf("sinks: replaced-set table %s has no key", t.Name)
		}
		if len(t.Merge) > 0 {
			return fmt.Errorf("sinks: replaced-set table %s: merge columns are not supported (a list replaces its rows)", t.Name)
		}
		for _, c := range t.Key {
			if !seen[c] {
				return fmt.Errorf("sinks: table %s: key column %q is not a column", t.Name, c)
			}
		}
		for _, c := range []string{ColVersion, ColOccurredAt, ColLastEventID} {
			if seen[c] {
				return fmt.Errorf("sinks: table %s: %s comes from the row's order, not from Columns", t.Name, c)
			}
		}
		if t.Lists == nil || t.Lists.Kind != CurrentState {
			return fmt.Errorf("sinks: replaced-set table %s needs a current-state Lists table", t.Name)
		}
		for _, c := range t.Lists.Key {
			if !slices.Contains(t.Key, c) {
				return fmt.Errorf("sinks: table %s: group column %q (the key of %s) is not a key column", t.Name, c, t.Lists.Name)
			}
		}
	default:
		return fmt.Errorf("sinks: table %s has no kind", t.Name)
	}
	return nil
}

// ordered reports whether t's rows carry version, occurred_at and
// last_event_id.
func (t *Table) ordered() bool { return t.Kind == CurrentState || t.Kind == ReplacedSet }

// allColumns are the columns written: Columns, plus the order columns of a
// current-state or replaced-set table.
func (t *Table) allColumns() []string {
	if t.ordered() {
		return append(slices.Clone(t.Columns), ColVersion, ColOccurredAt, ColLastEventID)
	}
	return t.Columns
}

// Order places a current-state row among the events of its key.
type Order struct {
	// Version is the key's sequence number when the event carries one (0
	// otherwise); it is compared first.
	Version int64
	// OccurredAt is the event's time, compared second.
	OccurredAt time.Time
	// EventID breaks ties (UUIDv7 IDs sort by creation time).
	EventID string
}

// equal reports whether o and p place an event at the same position (the
// same event).
func (o Order) equal(p Order) bool { return !o.less(p) && !p.less(o) }

// less reports whether o is older than p.
func (o Order) less(p Order) bool {
	if o.Version != p.Version {
		return o.Version < p.Version
	}
	if !o.OccurredAt.Equal(p.OccurredAt) {
		return o.OccurredAt.Before(p.OccurredAt)
	}
	return o.EventID < p.EventID
}

// Row is one row for a table, from one record.
type Row struct {
	Table *Table
	// Values fill Table.Columns in order; nil (or a nil pointer) is NULL.
	Values []any
	// Order places a CurrentState row among its key's events, and a
	// ReplacedSet row (and its Lists row) among its group's lists.
	Order Order
}

// values returns the values to write, NULLs normalized, with the order
// columns of a current-state row.
func (r *Row) values() []any {
	out := make([]any, 0, len(r.Values)+3)
	for _, v := range r.Values {
		if isNull(v) {
			v = nil
		}
		out = append(out, v)
	}
	if r.Table.ordered() {
		out = append(out, r.Order.Version, r.Order.OccurredAt, r.Order.EventID)
	}
	return out
}

func (r *Row) check() error {
	if r.Table == nil {
		return errors.New("sinks: row without a table")
	}
	if len(r.Values) != len(r.Table.Columns) {
		return fmt.Errorf("sinks: row for %s has %d values for %d columns", r.Table.Name, len(r.Values), len(r.Table.Columns))
	}
	if r.Table.ordered() && (r.Order.EventID == "" || r.Order.OccurredAt.IsZero()) {
		return fmt.Errorf("sinks: current-state or set row for %s without an event ID or time", r.Table.Name)
	}
	return nil
}

func isNull(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// key returns the row's key values as a string, for merging rows of one key
// within a batch.
func (r *Row) key() string { return r.keyOf(r.Table.Key) }

// keyOf returns the values of the columns cols as a string.
func (r *Row) keyOf(cols []string) string {
	var b strings.Builder
	for _, k := range cols {
		i := slices.Index(r.Table.Columns, k)
		fmt.Fprintf(&b, "%v\x00", r.Values[i])
	}
	return b.String()
}

// mergeRows folds the rows of one current-state key, oldest first, into
// the row the upsert would leave: the newest row's values, with Merge
// columns taken from the newest row that has them.
func mergeRows(rows []*Row) *Row {
	slices.SortStableFunc(rows, func(a, b *Row) int {
		switch {
		case a.Order.less(b.Order):
			return -1
		case b.Order.less(a.Order):
			return 1
		}
		return 0
	})
	out := *rows[len(rows)-1]
	out.Values = slices.Clone(out.Values)
	t := out.Table
	for _, m := range t.Merge {
		i := slices.Index(t.Columns, m)
		for j := len(rows) - 1; j >= 0 && isNull(out.Values[i]); j-- {
			out.Values[i] = rows[j].Values[i]
		}
	}
	return &out
}

// conflictClause is the ON CONFLICT clause of t's inserts.
func (t *Table) conflictClause() string {
	if t.Kind == AppendOnly {
		return "ON CONFLICT DO NOTHING"
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = pgx.Identifier{k}.Sanitize()
	}
	if t.Kind == ReplacedSet {
		// The list's order was checked against the group's (writeSet):
		// its rows replace the stored ones.
		var sets []string
		for _, c := range t.allColumns() {
			if !slices.Contains(t.Key, c) {
				q := pgx.Identifier{c}.Sanitize()
				sets = append(sets, fmt.Sprintf("%[1]s = EXCLUDED.%[1]s", q))
			}
		}
		return fmt.Sprintf("ON CONFLICT (%s) DO UPDATE SET %s", strings.Join(keys, ", "), strings.Join(sets, ", "))
	}
	name := pgx.Identifier{t.Name}.Sanitize()
	newer := fmt.Sprintf("(EXCLUDED.%[2]s, EXCLUDED.%[3]s, EXCLUDED.%[4]s) > (%[1]s.%[2]s, %[1]s.%[3]s, %[1]s.%[4]s)",
		name, ColVersion, ColOccurredAt, ColLastEventID)
	var sets []string
	var fills []string
	for _, c := range t.allColumns() {
		if slices.Contains(t.Key, c) {
			continue
		}
		q := pgx.Identifier{c}.Sanitize()
		if slices.Contains(t.Merge, c) {
			sets = append(sets, fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN COALESCE(EXCLUDED.%[1]s, %[3]s.%[1]s) ELSE COALESCE(%[3]s.%[1]s, EXCLUDED.%[1]s) END", q, newer, name))
			fills = append(fills, fmt.Sprintf("(%[2]s.%[1]s IS NULL AND EXCLUDED.%[1]s IS NOT NULL)", q, name))
			continue
		}
		sets = append(sets, fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN EXCLUDED.%[1]s ELSE %[3]s.%[1]s END", q, newer, name))
	}
	where := append([]string{newer}, fills...)
	return fmt.Sprintf("ON CONFLICT (%s) DO UPDATE SET %s WHERE %s",
		strings.Join(keys, ", "), strings.Join(sets, ", "), strings.Join(where, " OR "))
}

// uniqueColumns are the columns of an AppendOnly table that identify a row.
func (t *Table) uniqueColumns() []string {
	if slices.Contains(t.Unique, "event_id") {
		return t.Unique
	}
	return append([]string{"event_id"}, t.Unique...)
}

// dedupe drops the append-only rows that repeat a unique value of an
// earlier row of the batch (the first one is the one written).
func dedupe(t *Table, rows []*Row) []*Row {
	cols := t.uniqueColumns()
	idx := make([]int, len(cols))
	seen := make([]map[any]bool, len(cols))
	for i, c := range cols {
		idx[i] = slices.Index(t.Columns, c)
		seen[i] = make(map[any]bool, len(rows))
	}
	out := rows[:0:0]
	for _, r := range rows {
		dup := false
		for i := range cols {
			if seen[i][r.Values[idx[i]]] {
				dup = true
			}
		}
		if dup {
			continue
		}
		for i := range cols {
			seen[i][r.Values[idx[i]]] = true
		}
		out = append(out, r)
	}
	return out
}

// antiJoin is the WHERE clause that skips staged rows already in t.
func (t *Table) antiJoin(stage string) string {
	name := pgx.Identifier{t.Name}.Sanitize()
	var parts []string
	for _, c := range t.uniqueColumns() {
		q := pgx.Identifier{c}.Sanitize()
		parts = append(parts, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM %s t WHERE t.%s = s.%s)", name, q, q))
	}
	return "WHERE " + strings.Join(parts, " AND ")
}
