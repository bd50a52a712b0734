package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/streams/topics"
)

func init() { subcommands["lag"] = lagCommand }

// lagCommand prints every consumer group's committed and end offsets and
// lag per partition, like `kafka-consumer-groups --describe`.
func lagCommand(ctx context.Context, args []string) error {
	fs := newFlagSet("lag")
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	k, err := cliClient(*brokers, "shopstream-lag")
	if err != nil {
		return err
	}
	defer k.Close()
	lags, err := topics.Lag(ctx, kadm.NewClient(k), fs.Args()...)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(lags)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCLIENT-ID\tHOST")
	for _, l := range lags {
		if l.Err != "" && l.Topic == "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\t\n", l.Group, l.State, "error: "+l.Err)
			continue
		}
		committed := "-"
		if l.Committed >= 0 {
			committed = fmt.Sprint(l.Committed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\n", l.Group, l.State, l.Topic, l.Partition, committed, l.End, l.Lag, l.ClientID, l.Host)
	}
	return tw.Flush()
}
