package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shopstream/streams/topics"
)

// cliEnv is what a `send` subcommand gets: configured clients, a running
// commander, where to print, and the wait for results.
type cliEnv struct {
	clients   *topics.Clients
	commander *topics.Commander
	out       io.Writer
	timeout   time.Duration
	actor     topics.Actor
}

// stdout is where `send` prints results (tests capture it).
var stdout io.Writer = os.Stdout

// senders maps a domain name to its `send` entry point; domain files of this
// package register theirs.
var senders = map[string]func(ctx context.Context, env *cliEnv, args []string) error{}

// sendCommand produces a command to Kafka and prints its result.
func sendCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the result")
	actorID := fs.String("actor-id", "cli", "actor ID recorded with the command")
	actorType := fs.String("actor-type", topics.ActorStaff, "actor type: customer, staff or system")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: shopstream send [flags] DOMAIN ACTION [action flags]\ndomains: %s\n", strings.Join(senderNames(), ", "))
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("send: which domain?")
	}
	send, ok := senders[rest[0]]
	if !ok {
		return fmt.Errorf("send: unknown domain %q (have %s)", rest[0], strings.Join(senderNames(), ", "))
	}
	cfg := config{brokers: *brokers}
	clients, err := topics.NewClients(cfg.brokerList(), topics.WithClientID("shopstream-cli"))
	if err != nil {
		return err
	}
	commander, err := topics.NewCommander(ctx, clients)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = commander.Run(cctx) }()
	env := &cliEnv{clients: clients, commander: commander, out: stdout, timeout: *timeout,
		actor: topics.Actor{ID: *actorID, Type: *actorType}}
	return send(ctx, env, rest[1:])
}

func senderNames() []string {
	var n []string
	for k := range senders {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// submit produces env and prints its result as indented JSON; a failed
// command is an error carrying its code.
func (e *cliEnv) submit(ctx context.Context, topic, key string, env *topics.Envelope) (*topics.CommandResult, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	res, err := e.commander.Submit(ctx, topic, key, env)
	if err != nil {
		return nil, err
	}
	if !res.OK && !res.Pending {
		return res, res.Error
	}
	var pretty any
	if err := json.Unmarshal(res.Result, &pretty); err == nil {
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(pretty)
	}
	return res, nil
}
