// Package sinks writes ShopStream's output topics into PostgreSQL read
// models, exactly once.
//
// A Sink consumes a fixed set of topics with franz-go, assigning itself
// every partition (no consumer group): where it starts is the offsets it
// stored in PostgreSQL, never a group's. Each polled batch becomes one
// transaction holding the batch's rows and the next offset of every
// partition it consumed, so a crash at any point leaves either the whole
// batch (rows and offsets) or none of it. The offsets are updated only from
// the value the sink started from, so two copies of one sink cannot both
// commit the same records: the second one restarts from what the first
// stored.
//
// Rows are also idempotent by themselves. Append-only tables (ledgers, audit
// logs, interactions) are inserted with ON CONFLICT DO NOTHING on their
// event ID and never updated or deleted. Current-state tables are upserted
// and ordered per key by (version, occurred_at, last_event_id): a row is
// replaced only by a newer event, so a late or replayed event can never make
// a read model go backwards.
//
// A record that is not a valid envelope, or that a Mapper refuses, goes to
// the sink's dead-letter topic (topics.DLQ("sink-<name>")) with the reason,
// and the sink goes on.
//
// The per-domain mappers (GiftCards, Returns, Recommendations) turn the
// domains' events into rows of the seed's tables; the schema is in the
// migrations subpackage.
package sinks
