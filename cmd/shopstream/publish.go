package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

func init() {
	subcommands["publish"] = publishCommand
}

// stdin is where `publish` reads a payload given as "-" (tests replace it).
var stdin io.Reader = os.Stdin

// errPublishUsage is returned for a publish without a valid topic or
// payload; nothing was produced.
var errPublishUsage = errors.New("publish: usage")

// publishCommand produces one inbound event as the service owning its topic
// would (orders, shipping, storefront, catalog): in an envelope, with the
// record key that service uses. `dev` runs none of those services; this is
// how an order to return, a delivery or a product view gets in.
func publishCommand(ctx context.Context, args []string) error {
	fs := newFlagSet("publish")
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	key := fs.String("key", "", "record key (default: the data's ID field the owning service keys by)")
	id := fs.String("id", "", "event ID (default: a new UUIDv7); the same ID again is the same event delivered twice")
	at := fs.String("occurred-at", "", "event time, RFC 3339 (default: now)")
	actorID := fs.String("actor-id", "cli", "actor ID")
	actorType := fs.String("actor-type", topics.ActorSystem, "actor type: customer, staff or system")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: shopstream publish [flags] TOPIC [DATA|-]\n\n"+
			"DATA is the event's data object as JSON (contracts/inbound-events.md); '-' or none reads it from stdin.\n"+
			"topics: %s\n\n", strings.Join(inboundTopics(), ", "))
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	env, recordKey, err := inboundEnvelope(fs.Args(), *key, *id, *at, topics.Actor{ID: *actorID, Type: *actorType})
	if err != nil {
		if errors.Is(err, errPublishUsage) {
			fs.Usage()
		}
		return err
	}
	raw, err := env.Encode()
	if err != nil {
		return err
	}
	cl, err := cliClient(*brokers, "shopstream-cli")
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rec, err := cl.ProduceSync(ctx, &kgo.Record{Topic: env.Type, Key: []byte(recordKey), Value: raw}).First()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	out, _ := json.Marshal(map[string]any{"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset,
		"key": recordKey, "id": env.ID, "occurred_at": env.OccurredAt})
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

// inboundEnvelope builds the envelope of `publish TOPIC [DATA]` and the
// record key, checking what the consumers' contract requires: an inbound
// topic, a JSON object, a valid actor and, for the default key, the ID field.
func inboundEnvelope(args []string, key, id, at string, actor topics.Actor) (*topics.Envelope, string, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, "", fmt.Errorf("%w: want TOPIC [DATA|-]", errPublishUsage)
	}
	topic := args[0]
	inbound, ok := inboundTopic(topic)
	if !ok {
		return nil, "", fmt.Errorf("%w: %q is not an inbound topic (have %s)", errPublishUsage, topic, strings.Join(inboundTopics(), ", "))
	}
	var data []byte
	if len(args) == 2 && args[1] != "-" {
		data = []byte(args[1])
	} else {
		var err error
		if data, err = io.ReadAll(stdin); err != nil {
			return nil, "", fmt.Errorf("publish: reading data: %w", err)
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(data), &fields); err != nil || fields == nil {
		return nil, "", errors.New("publish: data must be a JSON object")
	}
	if key == "" {
		var v string
		if err := json.Unmarshal(fields[inbound.KeyField], &v); err != nil || v == "" {
			return nil, "", fmt.Errorf("publish: data has no %s to key by (or pass --key)", inbound.KeyField)
		}
		key = v
	}
	when := time.Now()
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, "", fmt.Errorf("%w: --occurred-at: %v", errPublishUsage, err)
		}
		when = t
	}
	env, err := topics.NewEnvelope(topic, when, json.RawMessage(bytes.TrimSpace(data)), topics.WithActor(actor))
	if err != nil {
		return nil, "", err
	}
	if id != "" {
		env.ID = id
	}
	if err := env.Validate(); err != nil {
		return nil, "", fmt.Errorf("%w: %v", errPublishUsage, err)
	}
	return env, key, nil
}

// inboundTopic returns the catalog's inbound topic named name, whose
// KeyField is the field of data its owning service keys records by.
func inboundTopic(name string) (topics.Topic, bool) {
	for _, t := range topics.Inbound() {
		if t.Name == name {
			return t, true
		}
	}
	return topics.Topic{}, false
}

// inboundTopics returns the names of the inbound topics, sorted.
func inboundTopics() []string {
	in := topics.Inbound()
	out := make([]string, len(in))
	for i, t := range in {
		out[i] = t.Name
	}
	return out
}
