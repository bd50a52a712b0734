package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// topicsCommand: `topics create` creates the catalog's topics; `topics list`
// prints the catalog with what exists on the cluster.
func topicsCommand(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		return fmt.Errorf("usage: shopstream topics create|list [--brokers ...] [--partitions N]")
	}
	sub := args[0]
	fs := flag.NewFlagSet("topics "+sub, flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	partitions := fs.Int("partitions", 8, "partitions of every co-partitioned topic")
	replication := fs.Int("replication", 1, "replication factor of created topics")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg := config{brokers: *brokers, partitions: *partitions, logLevel: "info"}
	cat, err := cfg.catalog()
	if err != nil {
		return err
	}
	clients, err := topics.NewClients(cfg.brokerList())
	if err != nil {
		return err
	}
	if sub == "create" {
		logger, _ := cfg.logger()
		return ensureTopics(ctx, clients, cat, int16(*replication), logger)
	}
	k, err := kgo.NewClient(clients.Kgo()...)
	if err != nil {
		return err
	}
	defer k.Close()
	existing, err := kadm.NewClient(k).ListTopics(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tCLEANUP\tKEY\tMESSAGE\tEXISTS")
	for _, t := range cat.Topics() {
		exists := "no"
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			exists = fmt.Sprintf("yes (%d partitions)", len(d.Partitions))
		}
		key := t.Key
		if t.KeyField != "" { // an inbound topic: the field its producers key by
			key += " (data." + t.KeyField + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", t.Name, t.Partitions, t.Cleanup, key, strings.TrimSpace(t.Message), exists)
	}
	return tw.Flush()
}
