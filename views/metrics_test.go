package views_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics/kafkatest"
	"github.com/shopstream/streams/views"
)

func TestMetricsAndLag(t *testing.T) {
	f := startEcho(t)
	require.Equal(t, http.StatusOK, do(t, "POST", f.server.URL+"/v1/echo/metrics-key", "cmd-metrics-1", `{}`).status)

	srv, err := views.NewServer()
	require.NoError(t, err)
	lag := views.NewLagMonitor(cluster.Admin, time.Hour, 3, slog.Default())
	views.RegisterOps(srv, lag)
	ops := httptest.NewServer(srv.Handler())
	defer ops.Close()

	// The echo group commits its offsets; a sample shows it with lag 0 once
	// the commit has landed.
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		lag.Sample(context.Background())
		samples := lag.Samples()
		total, ok := samples[len(samples)-1].Totals[f.group]
		return ok && total == 0
	}, "the echo group's lag is sampled")
	require.LessOrEqual(t, len(lag.Samples()), 3, "only the last samples are kept")

	resp, err := http.Get(ops.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	require.Contains(t, text, `shopstream_http_request_duration_seconds_count{method="POST",route="POST /v1/echo/{key}",status="200"}`,
		"HTTP latency is recorded under the route pattern, not the raw path")
	require.Contains(t, text, `shopstream_processor_messages_in_total{group="`+f.group+`"`)
	require.Contains(t, text, `shopstream_consumer_lag_total{group="`+f.group+`"} 0`)

	r := do(t, "GET", ops.URL+"/v1/ops/lag", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NotEmpty(t, r.body["samples"])
}
