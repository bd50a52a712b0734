package sinks

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views/pgtest"
	"github.com/shopstream/streams/views/sinks/migrations"
)

var (
	db      = pgtest.New("sinks")
	cluster *kafkatest.Cluster

	migrateOnce sync.Once
	migrateErr  error
)

func TestMain(m *testing.M) {
	c, err := kafkatest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the embedded broker:", err)
		os.Exit(1)
	}
	cluster = c
	code := db.Run(m)
	c.Close()
	os.Exit(code)
}

// migrated returns the package's pool with the migrations applied (once).
func migrated(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := db.Pool(t)
	migrateOnce.Do(func() {
		_, migrateErr = migrations.Up(context.Background(), pool, nil)
		if migrateErr == nil {
			_, migrateErr = pool.Exec(context.Background(), testSchema)
		}
	})
	require.NoError(t, migrateErr)
	return pool
}
