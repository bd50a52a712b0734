package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

// The OpenAPI document describes exactly the routes the server registers:
// every route is described, and every described operation is a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	cluster, err := kafkatest.Start()
	require.NoError(t, err)
	defer cluster.Close()
	cat, err := topics.NewCatalog(kafkatest.Partitions)
	require.NoError(t, err)
	cluster.EnsureCatalog(t, cat)

	// as run: views, and the secrets it requires
	t.Setenv(giftCardSecret, "openapi-test-gift-card-secret-0123456789")
	t.Setenv(storeCreditSecret, "openapi-test-store-credit-secret-0123456789")
	cfg := config{httpAddr: "127.0.0.1:0", dataDir: t.TempDir(), partitions: kafkatest.Partitions, resultTimeout: 1e9, lagInterval: 1e9} // views: the zero tableReads
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, _, closeAll, err := build(context.Background(), &cfg, logger, cluster.Clients, cat)
	require.NoError(t, err)
	defer closeAll()

	registered := p.server.Routes()

	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(views.OpenAPIDocument(), &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "OpenAPI 3")
	var described []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(registered)
	sort.Strings(described)
	t.Logf("registered routes:\n%s", strings.Join(registered, "\n"))
	require.Equal(t, registered, described)
}
