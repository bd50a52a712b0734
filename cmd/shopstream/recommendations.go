package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/views"
)

func init() {
	modules = append(modules, module{name: "recommendations", wire: wireRecommendations})
	senders["interaction"] = sendInteraction
	subcommands["recs"] = recsCommand
}

// wireRecommendations runs the recommendations processors, combiner and
// views and adds their routes; --reads (SHOPSTREAM_READS) says whether user
// profiles are read from the users processor's table or a view
// (recommendations.WithTableReads).
func wireRecommendations(p *platform) ([]runner, error) {
	opts, err := recommendationsOptions(os.Getenv)
	if err != nil {
		return nil, err
	}
	if p.cfg.tableReads {
		opts = append(opts, recommendations.WithTableReads())
	}
	svc, err := recommendations.New(p.clients, p.procStorage, p.viewStorage, append(opts, recommendations.WithLogger(p.logger))...)
	if err != nil {
		return nil, err
	}
	views.RegisterRecommendations(p.server, svc, p.commands)
	return []runner{svc}, nil
}

// recommendationsOptions reads the service's options from the environment:
// SHOPSTREAM_RECOMMENDATIONS_COMBINE_WINDOW (a Go duration, default
// recommendations.DefaultCombineWindow) is how long the combiner collects
// increments before it sends one batch per product to the item processor
// (recommendations.New refuses a window that is not positive or past 10 s).
func recommendationsOptions(getenv func(string) string) ([]recommendations.Option, error) {
	var opts []recommendations.Option
	if s := getenv("SHOPSTREAM_RECOMMENDATIONS_COMBINE_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("SHOPSTREAM_RECOMMENDATIONS_COMBINE_WINDOW: %w", err)
		}
		opts = append(opts, recommendations.WithCombineWindow(d))
	}
	return opts, nil
}

// metaFlag collects repeated key=value flags.
type metaFlag map[string]string

func (m metaFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("metadata %q is not key=value", s)
	}
	m[k] = v
	return nil
}

// sendInteraction is `shopstream send interaction --user U --product P
// --type view|cart_add|wishlist|purchase`: it records one interaction through
// the user processor and prints whether it was recorded.
func sendInteraction(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("send interaction", flag.ContinueOnError)
	user := fs.String("user", "", "user ID (required)")
	product := fs.String("product", "", "product ID (required)")
	typ := fs.String("type", "view", "interaction type: view, cart_add, wishlist or purchase")
	qty := fs.Int("quantity", 0, "units (cart_add, purchase)")
	id := fs.String("id", "", "command ID (idempotency key); generated when empty")
	meta := metaFlag{}
	fs.Var(meta, "meta", "metadata key=value (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cmd, err := recommendations.NewRecordInteraction(recommendations.RecordInteraction{UserID: *user, ProductID: *product,
		InteractionType: recommendations.InteractionType(*typ), Quantity: *qty, Metadata: meta}, *id, time.Now(), env.actor)
	if err != nil {
		return err
	}
	_, err = env.submit(ctx, topics.RecommendationsCommands, *user, cmd)
	return err
}

// recsCommand is `shopstream recs [flags] USER`: it asks a running
// instance's HTTP API for the user's recommendations and prints them.
func recsCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("recs", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "base URL of a running shopstream HTTP API")
	limit := fs.Int("limit", recommendations.DefaultLimit, "number of recommendations")
	strategy := fs.String("strategy", string(recommendations.Hybrid), "collaborative, content_based or hybrid")
	exclude := fs.Bool("exclude-purchased", true, "leave out products the user bought")
	invalidate := fs.Bool("invalidate", false, "drop the user's cached recommendations first")
	rebuild := fs.Duration("rebuild", 0, "instead: rebuild the co-occurrence matrix from the interactions recorded in this last window (e.g. 24h) and print it")
	product := fs.String("product", "", "with --rebuild: print only this product's lists")
	brokers := fs.String("brokers", "127.0.0.1:9092", "with --rebuild: comma-separated Kafka bootstrap brokers")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shopstream recs [flags] USER\n       shopstream recs --rebuild WINDOW [--product P] [--brokers B]")
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *rebuild != 0 {
		cfg := config{brokers: *brokers}
		return rebuildCommand(ctx, cfg.brokerList(), *rebuild, *product, stdout)
	}
	switch {
	case fs.NArg() == 0:
		fs.Usage()
		return fmt.Errorf("recs: which user?")
	case fs.NArg() > 1:
		return fmt.Errorf("recs: one user, not %q (a boolean flag takes its value with =, as --exclude-purchased=false)", fs.Args())
	}
	user := fs.Arg(0)
	if err := recommendations.ValidateUser(user); err != nil {
		return err
	}
	base := strings.TrimRight(*api, "/") + "/v1/users/" + url.PathEscape(user) + "/recommendations"
	if *invalidate {
		if err := callAPI(ctx, http.MethodDelete, base+"/cache", io.Discard); err != nil {
			return err
		}
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}, "strategy": {*strategy}, "exclude_purchased": {strconv.FormatBool(*exclude)}}
	return callAPI(ctx, http.MethodGet, base+"?"+q.Encode(), os.Stdout)
}

// callAPI calls the HTTP API and prints the JSON answer indented; an error
// answer is returned as its typed error.
func callAPI(ctx context.Context, method, u string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Actor-Id", "cli")
	req.Header.Set("X-Actor-Type", topics.ActorStaff)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("recs: %s answered %s without JSON", u, resp.Status)
	}
	if resp.StatusCode >= 300 {
		var eb views.ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
			return eb.Error
		}
		return fmt.Errorf("recs: %s answered %s", u, resp.Status)
	}
	var pretty any
	_ = json.Unmarshal(body, &pretty)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(pretty)
}

// rebuildCommand is `shopstream recs --rebuild WINDOW`: the windowed
// co-occurrence rebuild (the seed's build_cooccurrence_matrix) over the
// recorded interactions in Kafka. It prints the window, the counts and every
// product's lists, or one product's.
func rebuildCommand(ctx context.Context, brokers []string, window time.Duration, product string, out io.Writer) error {
	if window < 0 {
		return fmt.Errorf("recs: --rebuild %v is negative", window)
	}
	clients, err := topics.NewClients(brokers, topics.WithClientID("shopstream-recs-rebuild"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	mx, stats, err := recommendations.RebuildFromKafka(ctx, clients, window, time.Now())
	if err != nil {
		return err
	}
	if product != "" {
		mx.Neighbours = map[string][]recommendations.Pair{product: mx.Neighbours[product]}
		mx.Bought = map[string][]recommendations.Pair{product: mx.Bought[product]}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*recommendations.CooccurrenceMatrix
		recommendations.RebuildStats
	}{mx, stats})
}
