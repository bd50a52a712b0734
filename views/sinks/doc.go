// Package sinks writes ShopStream's output topics into PostgreSQL read
// models, exactly once.
//
// A Sink consumes a fixed set of topics with franz-go. Its workers are
// members of one Kafka consumer group per sink, which only assigns
// partitions: copies of the sink in several processes split the work and
// take over each other's partitions. Where a worker starts a partition is
// the offset the sink stored in PostgreSQL, never a group's; nothing is
// committed to Kafka. Each polled batch becomes one transaction holding the
// batch's rows and the next offset of every partition it consumed, so a
// crash at any point leaves either the whole batch (rows and offsets) or
// none of it. The offsets are updated only from the value the worker
// started from, so two workers that both believe they own a partition
// cannot both commit the same records: the second one rolls back and
// rejoins from what the first stored.
//
// Rows are also idempotent by themselves. Append-only tables (ledgers, audit
// logs, interactions) skip rows whose event ID (or other unique column) is
// already stored, and are never updated or deleted. Current-state tables
// are upserted and ordered per key by (version, occurred_at,
// last_event_id): a row is replaced only by a newer event, so a late or
// replayed event can never make a read model go backwards. Replaced-set
// tables hold a list per group (a product's neighbours): a newer list,
// checked against the order its group's row of a current-state Lists table
// records, replaces the group's rows (deleting those it no longer has); an
// older one changes nothing.
//
// A record that is not a valid envelope, or that a Mapper refuses, goes to
// the sink's dead-letter topic (topics.DLQ("sink-<name>")) with the reason,
// and the sink goes on. A spec may also name topics whose values are not
// envelopes (Spec.Raw: a processor's table changelog), each with its own
// RecordMapper; what it refuses (a tombstone, a row that does not decode)
// is dead-lettered the same way.
//
// The per-domain mappers (GiftCards, Returns, Recommendations) turn the
// domains' events into rows of the seed's tables; the returns sink also
// reads the return processor's table changelog, for the audit entries no
// event carries. The schema is in the migrations subpackage.
package sinks
