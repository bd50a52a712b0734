package sinks

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Sink metrics, exported on the default Prometheus registry (/metrics).
var (
	sinkRecords = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_sink_records_total",
		Help: "Kafka records a sink committed to PostgreSQL (dead letters included).",
	}, []string{"sink"})
	sinkRows = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_sink_rows_total",
		Help: "Rows a sink wrote to PostgreSQL.",
	}, []string{"sink"})
	sinkDeadLetters = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "shopstream_sink_dead_letters_total",
		Help: "Records a sink sent to its dead-letter queue.",
	}, []string{"sink"})
	sinkLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shopstream_sink_lag",
		Help: "Records of a partition the sink has not committed to PostgreSQL yet: the partition's last stable offset (at assignment or the last fetch) minus the offset stored with the rows. Set by the process whose worker owns the partition; the offsets the sinks also commit to their Kafka groups are for display only, and PostgreSQL's are authoritative.",
	}, []string{"sink", "topic", "partition"})
	sinkBatchSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shopstream_sink_batch_duration_seconds",
		Help:    "Time to map, write and commit one batch (rows and offsets in one transaction).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms .. ~16 s
	}, []string{"sink"})
)
