package topics

import (
	"hash"
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Hasher is the hash goka uses to place keys (FNV-1a, 32 bit). Pass it to
// goka.WithHasher / WithViewHasher / WithEmitterHasher when a component does
// not use goka's default, so that every component agrees.
func Hasher() func() hash.Hash32 { return func() hash.Hash32 { return fnv.New32a() } }

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(b)
	return h.Sum32()
}

// PartitionFor returns the partition that owns key among n partitions:
// exactly what goka's Sarama producer and goka views compute (FNV-1a, the
// signed 32-bit sum modulo n, made non-negative).
func PartitionFor(key []byte, n int) int {
	p := int32(fnv32a(key)) % int32(n)
	if p < 0 {
		p = -p
	}
	return int(p)
}

// Partitioner is the franz-go partitioner every producer of an internal topic
// must use: keyed records land on PartitionFor(key); records without a key are
// spread stickily.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))
}
