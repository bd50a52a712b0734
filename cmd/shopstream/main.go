// Command shopstream runs ShopStream's gift card, returns and
// recommendation workers on Kafka, and talks to them.
//
//	shopstream dev                 everything in one process on an embedded broker
//	shopstream run                 join a Kafka cluster (start several copies to scale out)
//	shopstream topics create|list  create or list the catalog's topics
//	shopstream send DOMAIN ...     produce a command and print its result
//	shopstream publish TOPIC DATA  produce an inbound event as the service owning TOPIC would
//
// Every flag can also be set by a SHOPSTREAM_* environment variable
// (--data-dir → SHOPSTREAM_DATA_DIR); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "shopstream:", err)
		os.Exit(1)
	}
}

// subcommands maps a subcommand's name to its entry point.
var subcommands = map[string]func(ctx context.Context, args []string) error{
	"dev":    devCommand,
	"run":    runCommand,
	"topics": topicsCommand,
	"send":   sendCommand,
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		return nil
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		usage()
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd(ctx, args[1:])
}

func usage() {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: shopstream COMMAND [flags]\n\ncommands: %v\n\nRun 'shopstream COMMAND -h' for a command's flags.\n", names)
}
