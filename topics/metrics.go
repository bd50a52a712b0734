package topics

import (
	"strings"
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

// instrument wraps a goka context so that its callback's input, emits,
// dead letters and failures are counted.
func instrument(ctx goka.Context) goka.Context {
	group, topic := string(ctx.Group()), string(ctx.Topic())
	processorIn.WithLabelValues(group, topic).Inc()
	// Counters that are usually zero exist from the first record on, so
	// that rate() and increase() see them start.
	processorDLQ.WithLabelValues(group)
	processorFailures.WithLabelValues(group)
	if ts := ctx.Timestamp(); !ts.IsZero() {
		processorLatency.WithLabelValues(group, topic).Observe(max(time.Since(ts).Seconds(), 0))
	}
	return &instrumentedContext{inner: ctx, group: group}
}

// instrumentedContext embeds goka.Context under another name: goka.Context
// has a method called Context, which an embedded field of that name would
// shadow.
type instrumentedContext struct {
	inner
	group string
}

type inner = goka.Context

func (c *instrumentedContext) Emit(topic goka.Stream, key string, value any, options ...goka.ContextOption) {
	processorOut.WithLabelValues(c.group, string(topic)).Inc()
	if strings.HasSuffix(string(topic), ".dlq") {
		processorDLQ.WithLabelValues(c.group).Inc()
	}
	c.inner.Emit(topic, key, value, options...)
}

func (c *instrumentedContext) Fail(err error) {
	processorFailures.WithLabelValues(c.group).Inc()
	c.inner.Fail(err)
}
