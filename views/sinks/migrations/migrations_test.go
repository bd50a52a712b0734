package migrations_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/views/pgtest"
	"github.com/shopstream/streams/views/sinks/migrations"
)

var db = pgtest.New("migrations")

func TestMain(m *testing.M) { os.Exit(db.Run(m)) }

func TestUpCreatesTheSeedTablesOnce(t *testing.T) {
	pool := db.Pool(t)
	ctx := context.Background()

	// What an earlier run in this process (go test -count) applied already.
	before, _, err := migrations.Version(ctx, pool)
	require.NoError(t, err)

	// Three processes starting at once: the lock lets one apply, the others
	// find the schema current.
	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			res, err := migrations.Up(ctx, pool, nil)
			applied[i], errs[i] = len(res), err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	files, err := fs.Glob(migrations.FS(), "*.sql")
	require.NoError(t, err)
	require.Equal(t, len(files)-int(before), applied[0]+applied[1]+applied[2], "each migration is applied by exactly one run")

	cur, latest, err := migrations.Version(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, int64(len(files)), latest)
	require.NoError(t, err)
	require.Equal(t, latest, cur)
	require.Positive(t, latest)

	columns := map[string][]string{
		"gift_cards": {"card_key", "code_last4", "original_amount", "current_balance", "currency", "status",
			"purchaser_id", "recipient_email", "message", "expires_at", "voided_at", "voided_by", "void_reason",
			"created_at", "updated_at", "version", "occurred_at"},
		"gift_card_transactions": {"id", "event_id", "gift_card_key", "transaction_type", "amount", "balance_before",
			"balance_after", "order_id", "reference_id", "metadata", "created_at"},
		"return_requests": {"id", "order_id", "customer_id", "status", "reason", "description", "refund_method",
			"estimated_refund", "actual_refund", "restocking_fee", "shipping_label_url", "tracking_number",
			"approved_by", "approved_at", "received_at", "completed_at", "cancelled_at", "created_at", "updated_at",
			"version", "occurred_at"},
		"return_items": {"return_request_id", "line_item_id", "product_id", "quantity_requested", "quantity_received",
			"expected_condition", "actual_condition", "unit_refund_amount", "restockable", "notes", "created_at",
			"updated_at", "version"},
		"return_audit_logs": {"id", "event_id", "return_request_id", "action", "actor_id", "actor_type",
			"previous_state", "new_state", "metadata", "created_at"},
		"user_interactions":        {"id", "event_id", "user_id", "product_id", "interaction_type", "weight", "metadata", "created_at"},
		"product_similarities":     {"product_id", "similar_product_id", "similarity_score", "similarity_type", "updated_at", "version"},
		"product_similarity_lists": {"product_id", "similarity_type", "updated_at", "version", "occurred_at", "last_event_id"},
		"recommendation_cache":     {"user_id", "recommendations", "strategy", "expires_at", "created_at", "version"},
		"sink_offsets":             {"sink", "topic", "partition", "next_offset"},
	}
	for table, want := range columns {
		t.Run(table, func(t *testing.T) {
			rows, err := pool.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1`, table)
			require.NoError(t, err)
			types := map[string]string{}
			for rows.Next() {
				var n, typ string
				require.NoError(t, rows.Scan(&n, &typ))
				types[n] = typ
			}
			require.NoError(t, rows.Err())
			for _, c := range want {
				require.Contains(t, types, c)
			}
			require.NotContains(t, types, "code", "gift card codes are never stored")
			for _, money := range []string{"original_amount", "current_balance", "amount", "balance_before",
				"balance_after", "estimated_refund", "actual_refund", "restocking_fee", "unit_refund_amount"} {
				if typ, ok := types[money]; ok {
					require.Equal(t, "numeric", typ, money)
				}
			}
			if typ, ok := types["metadata"]; ok {
				require.Equal(t, "jsonb", typ)
			}
		})
	}
}

// TestSimilarityListsMigration applies 00003 over product_similarities
// written before it (rows of every list, never deleted): each product and
// type keeps the rows of its newest event only, which
// product_similarity_lists records.
func TestSimilarityListsMigration(t *testing.T) {
	pool := db.Pool(t)
	ctx := context.Background()
	schema := fmt.Sprintf("migrations_similarities_%d", time.Now().UnixNano())
	_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	own, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(own.Close)
	sqlDB := stdlib.OpenDBFromPool(own)
	t.Cleanup(func() { _ = sqlDB.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS(), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 2)
	require.NoError(t, err)

	// a/cosine: lists e1 (v1: b, c, d), e2 (v2: b, c) and e0 (v3: e, at an
	// earlier time and with a smaller event ID), which wins by version.
	// a/frequently_bought_together: e1 only. z/cosine: e5 and e6 at one
	// version and time, e6 the greater ID.
	_, err = own.Exec(ctx, `INSERT INTO product_similarities
		(product_id, similar_product_id, similarity_type, similarity_score, updated_at, version, occurred_at, last_event_id) VALUES
		('a', 'b', 'cosine', 0.8, '2026-12-01 05:00:01Z', 2, '2026-12-01 05:00:01Z', 'e2'),
		('a', 'c', 'cosine', 0.5, '2026-12-01 05:00:01Z', 2, '2026-12-01 05:00:01Z', 'e2'),
		('a', 'd', 'cosine', 0.3, '2026-12-01 05:00:00Z', 1, '2026-12-01 05:00:00Z', 'e1'),
		('a', 'e', 'cosine', 0.2, '2026-12-01 04:00:00Z', 3, '2026-12-01 04:00:00Z', 'e0'),
		('a', 'b', 'frequently_bought_together', 0.4, '2026-12-01 05:00:00Z', 1, '2026-12-01 05:00:00Z', 'e1'),
		('z', 'b', 'cosine', 0.1, '2026-12-01 05:00:00Z', 1, '2026-12-01 05:00:00Z', 'e5'),
		('z', 'c', 'cosine', 0.1, '2026-12-01 05:00:00Z', 1, '2026-12-01 05:00:00Z', 'e6')`)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 3)
	require.NoError(t, err)

	var rows []string
	r, err := own.Query(ctx, `SELECT product_id || '/' || similarity_type || '/' || similar_product_id
		FROM product_similarities ORDER BY 1`)
	require.NoError(t, err)
	for r.Next() {
		var s string
		require.NoError(t, r.Scan(&s))
		rows = append(rows, s)
	}
	require.NoError(t, r.Err())
	require.Equal(t, []string{"a/cosine/e", "a/frequently_bought_together/b", "z/cosine/c"}, rows)

	var lists []string
	r, err = own.Query(ctx, `SELECT product_id || '/' || similarity_type || '/' || version || '/' || last_event_id
		FROM product_similarity_lists ORDER BY 1`)
	require.NoError(t, err)
	for r.Next() {
		var s string
		require.NoError(t, r.Scan(&s))
		lists = append(lists, s)
	}
	require.NoError(t, r.Err())
	require.Equal(t, []string{"a/cosine/3/e0", "a/frequently_bought_together/1/e1", "z/cosine/1/e6"}, lists)
}
