package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	if err := parseInterspersed(fs, args); err != nil {
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
	// a group named on the command line that has no row, or a row with an
	// error, fails the command after printing what there is
	var failed []string
	seen := map[string]bool{}
	for _, l := range lags {
		seen[l.Group] = true
		if l.Err != "" && l.Topic == "" {
			failed = append(failed, l.Group+": "+l.Err)
		}
	}
	for _, g := range fs.Args() {
		if !seen[g] {
			failed = append(failed, g+": no such group, or it has committed no offsets")
		}
	}
	var lagErr error
	if len(failed) > 0 {
		lagErr = fmt.Errorf("lag: %s", strings.Join(failed, "; "))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(lags), lagErr)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
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
	return errors.Join(tw.Flush(), lagErr)
}
