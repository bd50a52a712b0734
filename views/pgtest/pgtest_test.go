package pgtest_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/views/pgtest"
)

var db = pgtest.New("pgtest")

func TestMain(m *testing.M) { os.Exit(db.Run(m)) }

func TestSchemaIsTheSearchPath(t *testing.T) {
	pool := db.Pool(t)
	ctx := context.Background()
	var path string
	require.NoError(t, pool.QueryRow(ctx, "SHOW search_path").Scan(&path))
	require.Equal(t, db.Schema(t), path)

	_, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS probe (id int)")
	require.NoError(t, err)
	var schema string
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe' AND table_schema = $1",
		db.Schema(t)).Scan(&schema))
	require.Equal(t, db.Schema(t), schema)
}

func TestConfigUsesTheSchema(t *testing.T) {
	cfg := db.Config(t)
	require.Equal(t, db.Schema(t), cfg.ConnConfig.RuntimeParams["search_path"])
}

// TestUnreachableDatabase runs this package's tests again in a child process
// against a port where nothing listens.
func TestUnreachableDatabase(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		t.Skip("child process")
	}
	cases := []struct {
		name     string
		ci       string
		wantFail bool
		wantText string
	}{
		{name: "skipped outside CI", ci: "", wantFail: false, wantText: "--- SKIP: TestSchemaIsTheSearchPath"},
		{name: "fails under CI=true", ci: "true", wantFail: true, wantText: "CI=true: PostgreSQL is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestSchemaIsTheSearchPath$", "-test.v")
			cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", "CI="+tc.ci,
				"DATABASE_URL=postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
			out, err := cmd.CombinedOutput()
			if tc.wantFail {
				require.Error(t, err, "output:\n%s", out)
			} else {
				require.NoError(t, err, "output:\n%s", out)
			}
			require.Contains(t, string(out), tc.wantText)
			require.Contains(t, string(out), "PostgreSQL is unreachable at postgres@127.0.0.1:1/test")
		})
	}
}
