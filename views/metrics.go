package views

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/streams/topics"
)

var (
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shopstream_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern, method and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. ~16 s
	}, []string{"route", "method", "status"})
	consumerLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shopstream_consumer_lag",
		Help: "Records a consumer group has not committed yet, by group, topic and partition.",
	}, []string{"group", "topic", "partition"})
	consumerLagTotal = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shopstream_consumer_lag_total",
		Help: "Records a consumer group has not committed yet, over all its partitions.",
	}, []string{"group"})
)

// observeHTTP records a request's latency under its route pattern (never
// the raw path, so IDs do not explode the label space).
func observeHTTP(r *http.Request, status int, d time.Duration) {
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	httpDuration.WithLabelValues(route, r.Method, strconv.Itoa(status)).Observe(d.Seconds())
}

// LagSample is the lag of every group at one moment.
type LagSample struct {
	At         time.Time             `json:"at"`
	Partitions []topics.PartitionLag `json:"partitions"`
	// Totals is the lag per group over all its partitions.
	Totals map[string]int64 `json:"totals"`
}

// LagMonitor samples every consumer group's lag at an interval, exports it
// as Prometheus gauges and keeps a window of recent samples for the
// dashboard.
type LagMonitor struct {
	adm      *kadm.Client
	interval time.Duration
	keep     int
	logger   *slog.Logger

	mu      sync.RWMutex
	samples []LagSample
}

// NewLagMonitor samples through adm every interval and keeps the last keep
// samples.
func NewLagMonitor(adm *kadm.Client, interval time.Duration, keep int, logger *slog.Logger) *LagMonitor {
	return &LagMonitor{adm: adm, interval: interval, keep: keep, logger: logger}
}

// Run samples until ctx is done.
func (m *LagMonitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.Sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample takes one sample now.
func (m *LagMonitor) Sample(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, m.interval+5*time.Second)
	defer cancel()
	lags, err := topics.Lag(sctx, m.adm)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.Warn("sampling consumer lag", "err", err)
		}
		return
	}
	s := LagSample{At: time.Now().UTC(), Partitions: lags, Totals: map[string]int64{}}
	for _, l := range lags {
		if l.Lag < 0 {
			continue
		}
		s.Totals[l.Group] += l.Lag
		consumerLag.WithLabelValues(l.Group, l.Topic, strconv.Itoa(int(l.Partition))).Set(float64(l.Lag))
	}
	for g, total := range s.Totals {
		consumerLagTotal.WithLabelValues(g).Set(float64(total))
	}
	m.mu.Lock()
	m.samples = append(m.samples, s)
	if over := len(m.samples) - m.keep; over > 0 {
		m.samples = append([]LagSample(nil), m.samples[over:]...)
	}
	m.mu.Unlock()
}

// Samples returns the window of recent samples, oldest first.
func (m *LagMonitor) Samples() []LagSample {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]LagSample(nil), m.samples...)
}

// RegisterOps adds /metrics (the default Prometheus registry: processor,
// HTTP, lag and Go runtime metrics) and, with a lag monitor,
// GET /v1/ops/lag (the recent samples as JSON).
func RegisterOps(s *Server, lag *LagMonitor) {
	s.Handle("GET /metrics", promhttp.Handler())
	if lag != nil {
		s.HandleFunc("GET /v1/ops/lag", func(w http.ResponseWriter, _ *http.Request) {
			WriteJSON(w, http.StatusOK, map[string]any{"samples": lag.Samples()})
		})
	}
}
