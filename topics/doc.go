// Package topics is ShopStream's Kafka contract: the catalog of every topic,
// the JSON envelope every message travels in, money on the wire, the typed
// error codes commands fail with, the goka codecs, the shared FNV-1a
// partitioner, and the one place where Kafka clients (goka/Sarama and
// franz-go) are configured.
//
// Every producer of an internal topic must place keys with the partitioner
// in this package so that franz-go producers and goka processors agree on
// which partition owns a key. Topics produced by foreign clients (the
// inbound events of other ShopStream services) are never routed by their
// record key: an ingress step re-keys them onto internal topics.
package topics
