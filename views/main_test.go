package views_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/state"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

var cluster *kafkatest.Cluster

// readsFrom is where the fixtures' returns and recommendations services
// read returns, orders and profiles: "tables", the processors' own, as
// shopstream dev does, or "views", as shopstream run does by default.
// make test runs this package in both.
var readsFrom = flag.String("views.reads", "tables", "where the fixtures' returns and recommendations services read: tables or views")

// tableReads reports whether the fixtures read the processors' tables
// (-views.reads).
func tableReads(t testing.TB) bool {
	t.Helper()
	switch *readsFrom {
	case "tables":
		return true
	case "views":
		return false
	}
	t.Fatalf("-views.reads %q: tables or views", *readsFrom)
	return false
}

func TestMain(m *testing.M) {
	var err error
	if stateDir, err = os.MkdirTemp("", "views-state-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kafkatest.Main(m, &cluster, func() { _ = os.RemoveAll(stateDir) })
}

// stateDir holds the Pebble databases of fixtures that run as shopstream
// does (the recommendations service).
var stateDir string

// pebbleStorage is a Pebble storage builder without write-ahead log under
// stateDir/name, configured as shopstream configures its tables and views.
func pebbleStorage(t testing.TB, name string) storage.Builder {
	t.Helper()
	sb, err := state.NewBuilder(filepath.Join(stateDir, name), append([]state.Option{state.WithoutWAL()}, recommendations.StorageOptions()...)...)
	require.NoError(t, err)
	return sb
}

// echoState is the fixture processor's per-key state.
type echoState struct {
	Count    int            `json:"count"`
	Commands command.Ledger `json:"commands"`
}

// codeRefused is the fixture's domain error code, answered with 409.
const codeRefused = "echo_refused"

var _ = views.RegisterStatus(codeRefused, 409)

// echoFixture is a command processor like the domains' ones: "echo.say"
// succeeds with the payload and the key's count, "echo.refuse" fails with a
// typed error; both are idempotent by command ID. Its input has no other
// meaning.
type echoFixture struct {
	input  string
	group  string
	server *httptest.Server
	cmds   *views.Commands
}

func startEcho(t *testing.T) *echoFixture {
	t.Helper()
	input := cluster.Unique("echo-in")
	group := goka.Group(cluster.Unique("echo"))
	cluster.CreateTopic(t, input, topics.Delete)
	cluster.CreateTopic(t, string(goka.GroupTable(group)), topics.Compact)
	cluster.CreateTopic(t, topics.DLQ(string(group)), topics.Delete)
	ensureResultsTopic(t)

	edges := []goka.Edge{
		goka.Input(goka.Stream(input), new(topics.BytesCodec), func(ctx goka.Context, msg any) {
			env := command.Decode(ctx, msg)
			if env == nil {
				return
			}
			st := &echoState{}
			if v := ctx.Value(); v != nil {
				st = v.(*echoState)
			}
			prev, err := st.Commands.Check(env)
			switch {
			case err != nil:
				command.Reply(ctx, topics.Failed(env, err))
				return
			case prev != nil:
				command.Reply(ctx, prev)
				return
			}
			var res *topics.CommandResult
			if env.Type == "echo.refuse" {
				res = topics.Failed(env, topics.NewError(codeRefused, "refused on purpose"))
			} else {
				st.Count++
				res, _ = topics.Succeeded(env, map[string]any{"said": env.Data, "count": st.Count})
			}
			st.Commands.Remember(env, res, 0)
			ctx.SetValue(st)
			command.Reply(ctx, res)
		}),
		goka.Persist(new(topics.JSONCodec[echoState])),
	}
	g := goka.DefineGroup(group, append(edges, command.Edges(group)...)...)
	proc, err := goka.NewProcessor(cluster.Clients.Brokers(), g, cluster.Clients.ProcessorOptions(storage.MemoryBuilder())...)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	commander, err := topics.NewCommander(ctx, cluster.Clients)
	require.NoError(t, err)
	cmds, err := views.NewCommands(cluster.Clients, commander, storage.MemoryBuilder(), views.WithResultTimeout(3*time.Second))
	require.NoError(t, err)
	srv, err := views.NewServer()
	require.NoError(t, err)
	cmds.Register(srv)
	f := &echoFixture{input: input, group: string(group), cmds: cmds}
	srv.HandleFunc("POST /v1/echo/{key}", func(w http.ResponseWriter, r *http.Request) {
		id, err := views.CommandID(r)
		if err != nil {
			views.WriteError(w, r, err)
			return
		}
		var body map[string]any
		if err := views.DecodeJSON(r, &body); err != nil {
			views.WriteError(w, r, err)
			return
		}
		typ := "echo.say"
		if r.URL.Query().Get("refuse") != "" {
			typ = "echo.refuse"
		}
		env, err := topics.NewEnvelope(typ, time.Now(), body, topics.WithCommandID(id))
		require.NoError(t, err)
		topic := input
		if r.URL.Query().Get("nowhere") != "" {
			topic = f.nowhere(t)
		}
		if r.URL.Query().Get("absent") != "" {
			topic = "echo-absent-topic" // never created: the broker takes nothing
		}
		cmds.Submit(w, r, topic, r.PathValue("key"), env, http.StatusOK)
	})

	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{proc.Run, commander.Run, cmds.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	kafkatest.Eventually(t, 30*time.Second, func() bool { return cmds.Recovered() && proc.Recovered() })
	f.server = httptest.NewServer(srv.Handler())
	t.Cleanup(f.server.Close)
	return f
}

var nowhereOnce sync.Once
var nowhereTopic string

// nowhere is a topic no processor reads: commands sent there never get a result.
func (f *echoFixture) nowhere(t *testing.T) string {
	nowhereOnce.Do(func() {
		nowhereTopic = cluster.Unique("nowhere")
		cluster.CreateTopic(t, nowhereTopic, topics.Delete)
	})
	return nowhereTopic
}

var resultsOnce sync.Once

func ensureResultsTopic(t *testing.T) {
	resultsOnce.Do(func() { cluster.CreateTopic(t, topics.CommandResults, topics.Compact) })
}
