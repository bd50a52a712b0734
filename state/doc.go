// Package state provides a Pebble-backed implementation of goka's
// storage.Storage interface, plus a storage.Builder that opens one Pebble
// database per topic partition.
//
// # Key-space layout
//
// Every Pebble key starts with a one-byte key-space tag:
//
//	0x00 "m"  metadata, e.g. 0x00 "offset" holds goka's local offset as an
//	          8-byte big-endian int64
//	0x01 "d"  user data: 0x01 followed by the goka key
//
// The tag is stripped on every read, so metadata is never visible through
// Get, Has or iterators, and a user key called "__offset" (the key goka's
// LevelDB storage reserves for its offset) is an ordinary key here.
//
// # Recovery and durability
//
// Kafka is the source of truth, so writes are never fsynced individually.
// Until MarkRecovered is called, Set and Delete are collected in an indexed
// Pebble batch; the latest offset passed to SetOffset is written into the same
// batch right before it is committed, so every commit atomically contains
// data together with an offset that never runs ahead of that data. The batch
// is committed (without fsync) when it reaches a size or operation-count
// threshold (and before Pebble would treat it as a "large batch" for its
// memtable), when an iterator is created, and on MarkRecovered and Close; the
// last two also sync the write-ahead log. Reads during recovery see the
// uncommitted batch. After MarkRecovered every Set, Delete and SetOffset is
// written straight to the database with pebble.NoSync (the write-ahead log
// stays enabled, so everything written survives a process restart).
//
// WithoutWAL turns the write-ahead log off, for tables whose changelog is
// the source of truth (all goka tables): a crash then loses the writes since
// the last memtable flush, and what survives is a prefix of the writes with
// an offset that does not run ahead of its data, so goka reads the rest
// again from the changelog. Close flushes, so a clean restart loses nothing.
//
// Such a storage also buffers its writes after MarkRecovered (WithWriteBuffer):
// the latest write per key and the latest offset stay in memory and reach
// Pebble together in one batch when the buffer is full, when four buffers
// of writes went into it since the last flush, when an iterator is created
// and on Close. Reads see the buffer first. A crash loses the buffer and
// the offset covering it together, so what survives is still a prefix.
// WithTopicOptions gives one table's partitions other settings (a larger
// buffer) within one builder.
//
// # Concurrency
//
// As goka requires, a storage is safe for any number of concurrent readers
// (Get, Has, GetOffset, iterators) together with a single writer (Set,
// Delete, SetOffset, MarkRecovered). Close may be called from any goroutine;
// it releases outstanding iterators, and all later operations fail with an
// error matching ErrClosed.
//
// # Iterators
//
// Iterators follow goka's LevelDB storage (goleveldb) exactly: a new iterator
// is positioned before the first pair, so Next must be called first. Seek(k)
// positions the iterator ON the first pair with key >= k and reports whether
// one exists; Key and Value are then valid immediately and Next moves to the
// pair after it (this is what goka.Iterator documents and what goka's merge
// iterator relies on). IteratorWithRange(start, limit) iterates [start, limit)
// when limit is non-empty and over all keys with prefix start otherwise.
// Iterators read a consistent snapshot taken when they are created.
//
// # Read cache
//
// CachedBuilder puts a write-through cache of the bytes last written per
// key in front of any storage a builder makes: a processor reads a key's
// value on every message for it, usually a moment after writing it, and
// the cache answers those reads without Pebble. It holds only what goka
// wrote after recovery, within a byte bound per partition.
//
// # Metrics and events
//
// Every open database is reported on the default Prometheus registry
// (shopstream_pebble_* and shopstream_state_write_buffer_bytes, labelled
// by store, table and partition). The Pebble events an operator has to act
// on (a disk operation over five seconds, a write stall, a failed flush or
// compaction, corrupt data, low disk space) are logged as errors through
// the storage's logger, naming the database, and counted; a listener given
// through WithPebbleOptions still receives every event.
//
// Subpackage binrow is the binary encoding the processors' table codecs
// write their rows with.
package state
