package topics

import (
	"strings"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Processor metrics, recorded for every goka processor built with
// Clients.ProcessorOptions and exported on the default Prometheus registry.
var (
	processorIn = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_processor_messages_in_total",
		Help: "Records handed to a processor callback, by group and input topic.",
	}, []string{"group", "topic"})
	processorOut = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_processor_messages_out_total",
		Help: "Records emitted by a processor, by group and output topic (DLQ included).",
	}, []string{"group", "topic"})
	processorDLQ = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_processor_dead_letters_total",
		Help: "Records a processor sent to its dead-letter queue.",
	}, []string{"group"})
	processorFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_processor_failures_total",
		Help: "Callbacks that failed (ctx.Fail), which stops the processor.",
	}, []string{"group"})
	processorLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shopstream_processor_latency_seconds",
		Help: "Time from a record's timestamp (when it was produced) to its callback: how far behind real time a processor works.",
		// 1 ms .. ~65 s
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
	}, []string{"group", "topic"})
)

// The metrics of a label set are resolved once and kept (resolving hashes
// the labels: ~2% of the gift card benchmark's CPU when done per record).
var (
	inputMetrics = newMetricCache(func(k streamKey) inputCounters {
		return inputCounters{in: processorIn.WithLabelValues(k.group, k.topic), latency: processorLatency.WithLabelValues(k.group, k.topic)}
	})
	outputMetrics = newMetricCache(func(k streamKey) prometheus.Counter {
		return processorOut.WithLabelValues(k.group, k.topic)
	})
	// Counters that are usually zero exist from a group's first record on,
	// so that rate() and increase() see them start.
	groupMetrics = newMetricCache(func(group string) groupCounters {
		return groupCounters{dlq: processorDLQ.WithLabelValues(group), failures: processorFailures.WithLabelValues(group)}
	})
)

type streamKey struct{ group, topic string }

type inputCounters struct {
	in      prometheus.Counter
	latency prometheus.Observer
}

type groupCounters struct{ dlq, failures prometheus.Counter }

// metricCache maps label values to resolved metrics; safe for concurrent use.
type metricCache[K comparable, V any] struct {
	mu      sync.RWMutex
	m       map[K]V
	resolve func(K) V
}

func newMetricCache[K comparable, V any](resolve func(K) V) *metricCache[K, V] {
	return &metricCache[K, V]{m: map[K]V{}, resolve: resolve}
}

func (c *metricCache[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = c.resolve(k)
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// instrument wraps a goka context so that its callback's input, emits,
// dead letters and failures are counted.
func instrument(ctx goka.Context) goka.Context {
	group := string(ctx.Group())
	m := inputMetrics.get(streamKey{group, string(ctx.Topic())})
	m.in.Inc()
	if ts := ctx.Timestamp(); !ts.IsZero() {
		m.latency.Observe(max(time.Since(ts).Seconds(), 0))
	}
	return &instrumentedContext{inner: ctx, group: group, counters: groupMetrics.get(group)}
}

// instrumentedContext embeds goka.Context under another name: goka.Context
// has a method called Context, which an embedded field of that name would
// shadow.
type instrumentedContext struct {
	inner
	group    string
	counters groupCounters
}

type inner = goka.Context

func (c *instrumentedContext) Emit(topic goka.Stream, key string, value any, options ...goka.ContextOption) {
	outputMetrics.get(streamKey{c.group, string(topic)}).Inc()
	if strings.HasSuffix(string(topic), ".dlq") {
		c.counters.dlq.Inc()
	}
	c.inner.Emit(topic, key, value, options...)
}

func (c *instrumentedContext) Fail(err error) {
	c.counters.failures.Inc()
	c.inner.Fail(err)
}
