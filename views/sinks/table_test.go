package sinks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTableValidate(t *testing.T) {
	lists := &Table{Name: "l", Kind: CurrentState, Columns: []string{"g"}, Key: []string{"g"}}
	cases := []struct {
		name    string
		table   Table
		wantErr string
	}{
		{name: "append-only with event_id", table: Table{Name: "a", Kind: AppendOnly, Columns: []string{"event_id", "x"}}},
		{name: "append-only without event_id", table: Table{Name: "a", Kind: AppendOnly, Columns: []string{"x"}}, wantErr: "event_id"},
		{name: "unknown unique column", table: Table{Name: "a", Kind: AppendOnly, Columns: []string{"event_id"}, Unique: []string{"id"}}, wantErr: "unique column"},
		{name: "current state with key", table: Table{Name: "s", Kind: CurrentState, Columns: []string{"k", "v"}, Key: []string{"k"}, Merge: []string{"v"}}},
		{name: "current state without key", table: Table{Name: "s", Kind: CurrentState, Columns: []string{"k"}}, wantErr: "no key"},
		{name: "merge column not a column", table: Table{Name: "s", Kind: CurrentState, Columns: []string{"k"}, Key: []string{"k"}, Merge: []string{"z"}}, wantErr: "not a column"},
		{name: "order column among the columns", table: Table{Name: "s", Kind: CurrentState, Columns: []string{"k", "version"}, Key: []string{"k"}}, wantErr: "row's order"},
		{name: "repeated column", table: Table{Name: "s", Kind: AppendOnly, Columns: []string{"event_id", "event_id"}}, wantErr: "repeated"},
		{name: "no kind", table: Table{Name: "s", Columns: []string{"event_id"}}, wantErr: "no kind"},
		{name: "replaced set", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k", "v"}, Key: []string{"g", "k"}, Lists: lists}},
		{name: "replaced set without lists", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k"}, Key: []string{"g", "k"}}, wantErr: "Lists"},
		{name: "replaced set with append-only lists", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k"}, Key: []string{"g", "k"},
			Lists: &Table{Name: "l", Kind: AppendOnly, Columns: []string{"event_id"}}}, wantErr: "Lists"},
		{name: "replaced set without key", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k"}, Lists: lists}, wantErr: "no key"},
		{name: "replaced set whose group is not in its key", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k"}, Key: []string{"k"}, Lists: lists}, wantErr: "group column"},
		{name: "replaced set with merge columns", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k", "v"}, Key: []string{"g", "k"}, Merge: []string{"v"}, Lists: lists}, wantErr: "merge"},
		{name: "replaced set with an order column", table: Table{Name: "m", Kind: ReplacedSet, Columns: []string{"g", "k", "version"}, Key: []string{"g", "k"}, Lists: lists}, wantErr: "row's order"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.table.validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestMergeRowsKeepsTheNewestAndFillsMergeColumns(t *testing.T) {
	tab := &Table{Name: "s", Kind: CurrentState, Columns: []string{"k", "v", "created"}, Key: []string{"k"}, Merge: []string{"created"}}
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	row := func(v string, created any, version int64, sec int, id string) *Row {
		return &Row{Table: tab, Values: []any{"k1", v, created}, Order: Order{Version: version, OccurredAt: at.Add(time.Duration(sec) * time.Second), EventID: id}}
	}
	cases := []struct {
		name        string
		rows        []*Row
		wantV       string
		wantCreated any
	}{
		{name: "newest by version wins over a later time", rows: []*Row{row("new", nil, 2, 0, "a"), row("old", "c0", 1, 9, "b")}, wantV: "new", wantCreated: "c0"},
		{name: "same version: later time wins", rows: []*Row{row("late", nil, 0, 5, "a"), row("early", "c1", 0, 1, "b")}, wantV: "late", wantCreated: "c1"},
		{name: "same time: higher event ID wins", rows: []*Row{row("b", nil, 0, 0, "e2"), row("a", "c2", 0, 0, "e1")}, wantV: "b", wantCreated: "c2"},
		{name: "a newer non-NULL merge value is kept", rows: []*Row{row("x", "first", 0, 0, "e1"), row("y", "second", 0, 1, "e2")}, wantV: "y", wantCreated: "second"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeRows(tc.rows)
			require.Equal(t, tc.wantV, got.Values[1])
			require.Equal(t, tc.wantCreated, got.Values[2])
		})
	}
}

func TestDedupeKeepsTheFirstRowOfEveryUniqueValue(t *testing.T) {
	tab := &Table{Name: "l", Kind: AppendOnly, Columns: []string{"id", "event_id", "v"}, Unique: []string{"id"}}
	rows := []*Row{
		{Table: tab, Values: []any{"t1", "e1", 1}},
		{Table: tab, Values: []any{"t1", "e2", 2}}, // same transaction ID, another event
		{Table: tab, Values: []any{"t2", "e1", 3}}, // same event ID
		{Table: tab, Values: []any{"t3", "e3", 4}},
	}
	got := dedupe(tab, rows)
	require.Len(t, got, 2)
	require.Equal(t, 1, got[0].Values[2])
	require.Equal(t, 4, got[1].Values[2])
}
