package main

import (
	"context"
	"fmt"
	"os"

	"github.com/shopstream/streams/topics"
)

// devCommand runs everything in one process on an embedded broker whose
// data lives under --data-dir, so a restart resumes where it stopped.
func devCommand(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("dev")
	cfg.flags(fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	cat, err := cfg.catalog()
	if err != nil {
		return err
	}
	opts, err := cfg.clientOptions(logger)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return err
	}
	broker, err := topics.StartEmbedded(topics.EmbeddedAddr(cfg.kafkaAddr),
		topics.EmbeddedDataDir(cfg.kafkaDir()), topics.EmbeddedPartitions(cat.Partitions()))
	if err != nil {
		return err
	}
	defer broker.Close()
	logger.Info("embedded Kafka broker listening", "addr", broker.Addrs(), "data", cfg.kafkaDir())
	clients, err := topics.NewClients(broker.Addrs(), opts...)
	if err != nil {
		return err
	}
	if err := ensureTopics(ctx, clients, cat, 1, logger); err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	err = serve(ctx, &cfg, logger, clients, cat)
	logger.Info("stopped")
	return err
}
