package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/shopstream/streams/topics"
)

// runFlags declares run's flags: the shared ones and --create-topics.
func runFlags() (fs *flag.FlagSet, cfg *config, createTopics *bool) {
	cfg = new(config)
	fs = newFlagSet("run")
	cfg.flags(fs, false)
	createTopics = fs.Bool("create-topics", true, "create the catalog's missing topics on start")
	return fs, cfg, createTopics
}

// runCommand joins a Kafka cluster. Several copies with the same catalog
// share the partitions of every group; each needs its own --data-dir.
func runCommand(ctx context.Context, args []string) error {
	fs, cfg, createTopics := runFlags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// before anything touches the cluster: the modules check them again
	// when they are wired
	for _, name := range []string{giftCardSecret, storeCreditSecret} {
		if _, err := envSecret(name, "", false, nil); err != nil {
			return err
		}
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
	brokers := cfg.brokerList()
	if len(brokers) == 0 {
		return fmt.Errorf("no brokers: set --brokers or SHOPSTREAM_BROKERS")
	}
	clients, err := topics.NewClients(brokers, opts...)
	if err != nil {
		return err
	}
	if *createTopics {
		if err := ensureTopics(ctx, clients, cat, int16(cfg.replication), logger); err != nil {
			return fmt.Errorf("creating topics: %w", err)
		}
	}
	return serve(ctx, cfg, logger, clients, cat)
}
