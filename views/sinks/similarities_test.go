package sinks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
)

// simList is one recommendations.similarities_updated event of a test.
type simList struct {
	id      string // event ID
	version int64
	sec     int // seconds after the test's base time
	sim     recommendations.Similarity
	cos     map[string]float64 // neighbours (of type sim)
	fbt     map[string]float64 // bought together
}

// simRows is a product's rows: similarity type → neighbour → score.
type simRows map[string]map[string]float64

// simEnvelope encodes l as the event of product.
func simEnvelope(t *testing.T, product string, l simList) []byte {
	t.Helper()
	sim := l.sim
	if sim == "" {
		sim = recommendations.Cosine
	}
	u := recommendations.SimilaritiesUpdated{ProductID: product, Version: l.version, Similarity: sim,
		Neighbours: []recommendations.Neighbour{}, BoughtTogether: []recommendations.Neighbour{}}
	for id, s := range l.cos {
		u.Neighbours = append(u.Neighbours, recommendations.Neighbour{ProductID: id, Score: s, Count: 1})
	}
	for id, s := range l.fbt {
		u.BoughtTogether = append(u.BoughtTogether, recommendations.Neighbour{ProductID: id, Score: s, Count: 1})
	}
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC).Add(time.Duration(l.sec) * time.Second)
	env, err := topics.NewEnvelope(recommendations.TypeSimilaritiesUpdated, at, u)
	require.NoError(t, err)
	env.ID = l.id
	b, err := env.Encode()
	require.NoError(t, err)
	return b
}

// writeSimBatch maps the events of product as one batch and writes it in one
// transaction, as the sink does. pad adds as many events of other products
// (two lists each) to the batch; each writes it record by record under
// savepoints, as the sink does when PostgreSQL refuses a row of the batch.
func writeSimBatch(t *testing.T, s *Sink, pool *pgxpool.Pool, product string, batch []simList, pad int, each bool) {
	t.Helper()
	ctx := context.Background()
	var ms []mapped
	add := func(product string, l simList) {
		m := s.mapRecord(&kgo.Record{Topic: topics.RecommendationsSimilarities, Value: simEnvelope(t, product, l)})
		require.NoError(t, m.reason)
		ms = append(ms, m)
	}
	for i := range pad {
		add(fmt.Sprintf("%s-pad-%d", product, i), simList{id: topics.NewID(), cos: map[string]float64{"b": 0.5}})
	}
	for _, l := range batch {
		add(product, l)
	}
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if each {
		_, refused, err := writeEach(ctx, tx, ms, s.states)
		require.NoError(t, err)
		require.Empty(t, refused)
	} else {
		_, err = writeRows(ctx, tx, ms, s.states)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
}

// storedSimilarities returns the rows of product, and the version of each
// list product_similarity_lists records.
func storedSimilarities(t *testing.T, pool *pgxpool.Pool, product string) (simRows, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT similarity_type, similar_product_id, similarity_score
		FROM product_similarities WHERE product_id = $1`, product)
	require.NoError(t, err)
	got := simRows{}
	for rows.Next() {
		var typ, id string
		var score float64
		require.NoError(t, rows.Scan(&typ, &id, &score))
		if got[typ] == nil {
			got[typ] = map[string]float64{}
		}
		got[typ][id] = score
	}
	require.NoError(t, rows.Err())
	rows, err = pool.Query(ctx, "SELECT similarity_type, version FROM product_similarity_lists WHERE product_id = $1", product)
	require.NoError(t, err)
	versions := map[string]int64{}
	for rows.Next() {
		var typ string
		var v int64
		require.NoError(t, rows.Scan(&typ, &v))
		versions[typ] = v
	}
	require.NoError(t, rows.Err())
	return got, versions
}

// neighbours returns n neighbours n0..n(n-1) scored from top down.
func neighbours(n int, top float64) map[string]float64 {
	out := make(map[string]float64, n)
	for i := range n {
		out[fmt.Sprintf("n%d", i)] = top - float64(i)/1000
	}
	return out
}

// TestSimilarityListsReplaceTheirRows checks that product_similarities holds
// exactly each product's latest list of each type, whatever order the lists
// arrive in, in batches of one or together, and however often.
func TestSimilarityListsReplaceTheirRows(t *testing.T) {
	pool := migrated(t)
	s, err := New(Recommendations(), pool, cluster.Clients)
	require.NoError(t, err)
	const fbt = SimilarityBoughtTogether
	e1 := simList{id: "e1", version: 1, sec: 1, cos: map[string]float64{"b": 0.9, "c": 0.5, "d": 0.3}, fbt: map[string]float64{"b": 0.4}}
	e2 := simList{id: "e2", version: 2, sec: 2, cos: map[string]float64{"b": 0.8, "c": 0.6}, fbt: map[string]float64{"b": 0.5, "e": 0.2}}
	after2 := simRows{"cosine": {"b": 0.8, "c": 0.6}, fbt: {"b": 0.5, "e": 0.2}}
	cases := []struct {
		name         string
		batches      [][]simList
		want         simRows
		wantVersions map[string]int64
	}{
		{name: "a first list",
			batches:      [][]simList{{e1}},
			want:         simRows{"cosine": {"b": 0.9, "c": 0.5, "d": 0.3}, fbt: {"b": 0.4}},
			wantVersions: map[string]int64{"cosine": 1, fbt: 1}},
		{name: "a newer shorter list deletes the neighbour it dropped",
			batches: [][]simList{{e1}, {e2}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "an older list after a newer one changes nothing and brings nothing back",
			batches: [][]simList{{e2}, {e1}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "a list redelivered after a newer one changes nothing",
			batches: [][]simList{{e1}, {e2}, {e1}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "the same event twice, in two batches",
			batches: [][]simList{{e2}, {e2}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "the same event twice in one batch",
			batches: [][]simList{{e2, e2}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "two lists in one batch, the newer first",
			batches: [][]simList{{e2, e1}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "two lists in one batch, the newer last",
			batches: [][]simList{{e1, e2}}, want: after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "two lists in one batch over a stored older one",
			batches: [][]simList{{{id: "e0", version: 0, cos: map[string]float64{"x": 1}, fbt: map[string]float64{"x": 1}}}, {e2, e1}},
			want:    after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "the version orders the lists, not the time",
			batches: [][]simList{{{id: "e9", version: 1, sec: 9, cos: map[string]float64{"z": 0.1}}}, {e2}},
			want:    after2, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "same version: the later time wins",
			batches: [][]simList{{{id: "e9", version: 2, sec: 9, cos: map[string]float64{"z": 0.1}}}, {e2}},
			want:    simRows{"cosine": {"z": 0.1}}, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "same version and time: the greater event ID wins",
			batches: [][]simList{{{id: "e3", version: 2, sec: 2, cos: map[string]float64{"z": 0.1}}, e2}},
			want:    simRows{"cosine": {"z": 0.1}}, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "an empty list deletes the type's rows",
			batches: [][]simList{{e1}, {{id: "e5", version: 5, sec: 5, fbt: map[string]float64{"b": 0.4}}}},
			want:    simRows{fbt: {"b": 0.4}}, wantVersions: map[string]int64{"cosine": 5, fbt: 5}},
		{name: "two similarity types of one product are independent",
			batches: [][]simList{{e1}, {{id: "e7", version: 7, sec: 7, sim: recommendations.Jaccard,
				cos: map[string]float64{"c": 0.7}, fbt: map[string]float64{"e": 0.1}}}},
			want:         simRows{"cosine": {"b": 0.9, "c": 0.5, "d": 0.3}, "jaccard": {"c": 0.7}, fbt: {"e": 0.1}},
			wantVersions: map[string]int64{"cosine": 1, "jaccard": 7, fbt: 7}},
		{name: "a neighbour dropped from one type keeps its row of the other",
			batches: [][]simList{{e1}, {{id: "e6", version: 6, sec: 6, cos: map[string]float64{"c": 0.2}, fbt: map[string]float64{"b": 0.4}}}},
			want:    simRows{"cosine": {"c": 0.2}, fbt: {"b": 0.4}}, wantVersions: map[string]int64{"cosine": 6, fbt: 6}},
		{name: "long lists (staged writes)",
			batches: [][]simList{{{id: "e1", version: 1, cos: neighbours(120, 0.9)}}, {{id: "e2", version: 2, cos: neighbours(70, 0.5)}}},
			want:    simRows{"cosine": neighbours(70, 0.5)}, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
		{name: "a long list arriving late",
			batches: [][]simList{{{id: "e2", version: 2, cos: neighbours(70, 0.5)}}, {{id: "e1", version: 1, cos: neighbours(120, 0.9)}}},
			want:    simRows{"cosine": neighbours(70, 0.5)}, wantVersions: map[string]int64{"cosine": 2, fbt: 2}},
	}
	// Batches of a few lists upsert them one statement each; from
	// copyThreshold lists on they go through a staging table.
	for _, mode := range []struct {
		name string
		pad  int
		each bool
	}{{"few lists", 0, false}, {"staged lists", copyThreshold / 2, false}, {"record by record", 0, true}} {
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				product := cluster.Unique("sim")
				for _, b := range tc.batches {
					writeSimBatch(t, s, pool, product, b, mode.pad, mode.each)
				}
				got, versions := storedSimilarities(t, pool, product)
				require.Equal(t, tc.want, got)
				require.Equal(t, tc.wantVersions, versions)
			})
		}
	}
}

// TestSimilarityListsOfManyProductsInOneBatch writes the lists of several
// products in one batch, some newer than what is stored and some older: each
// product gets its own newest list.
func TestSimilarityListsOfManyProductsInOneBatch(t *testing.T) {
	pool := migrated(t)
	s, err := New(Recommendations(), pool, cluster.Clients)
	require.NoError(t, err)
	ctx := context.Background()
	prefix := cluster.Unique("sims")
	product := func(i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
	batch := func(version int64, n int) []mapped {
		var ms []mapped
		for i := range 50 {
			l := simList{id: fmt.Sprintf("e%d-%d", version, i), version: version, cos: neighbours(n, 0.9)}
			if i%2 == 1 {
				l.version = 10 - version // odd products: the first batch is the newer one
			}
			m := s.mapRecord(&kgo.Record{Value: simEnvelope(t, product(i), l)})
			require.NoError(t, m.reason)
			ms = append(ms, m)
		}
		return ms
	}
	for _, ms := range [][]mapped{batch(1, 8), batch(2, 3)} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = writeRows(ctx, tx, ms, s.states)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
	}
	for i := range 50 {
		got, _ := storedSimilarities(t, pool, product(i))
		want, event := 3, fmt.Sprintf("e2-%d", i) // even products: the second batch's list
		if i%2 == 1 {
			want, event = 8, fmt.Sprintf("e1-%d", i)
		}
		require.Len(t, got["cosine"], want, "product %d", i)
		var others int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM product_similarities WHERE product_id = $1 AND last_event_id <> $2",
			product(i), event).Scan(&others))
		require.Zero(t, others, "product %d: rows of another list than %s", i, event)
	}
}

func TestCheckSets(t *testing.T) {
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	o := Order{Version: 3, OccurredAt: at, EventID: "e1"}
	list := Row{Table: ProductSimilarityListsTable, Values: []any{"a", "cosine", at}, Order: o}
	member := func(typ string, o Order) Row {
		return Row{Table: ProductSimilaritiesTable, Values: []any{"a", "b", typ, 0.5, at}, Order: o}
	}
	cases := []struct {
		name    string
		rows    []Row
		wantErr bool
	}{
		{name: "a list and its rows", rows: []Row{list, member("cosine", o)}},
		{name: "an empty list", rows: []Row{list}},
		{name: "a row without its list", rows: []Row{member("cosine", o)}, wantErr: true},
		{name: "a row of another group", rows: []Row{list, member("jaccard", o)}, wantErr: true},
		{name: "a row of another order", rows: []Row{list, member("cosine", Order{Version: 4, OccurredAt: at, EventID: "e1"})}, wantErr: true},
		{name: "no set rows", rows: []Row{{Table: RecommendationCacheTable}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSets(tc.rows)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestSpecWithASetNeedsItsListsTable(t *testing.T) {
	pool := migrated(t)
	spec := Recommendations()
	spec.Tables = []*Table{UserInteractionsTable, ProductSimilaritiesTable}
	_, err := New(spec, pool, cluster.Clients)
	require.ErrorContains(t, err, "not in the spec")

	other := &Table{Name: "other_set", Kind: ReplacedSet, Columns: ProductSimilaritiesTable.Columns,
		Key: ProductSimilaritiesTable.Key, Lists: ProductSimilarityListsTable}
	spec.Tables = []*Table{ProductSimilarityListsTable, ProductSimilaritiesTable, other}
	_, err = New(spec, pool, cluster.Clients)
	require.ErrorContains(t, err, "lists table of both")
}
