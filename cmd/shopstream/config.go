package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/topics"
)

// config is what dev and run share.
type config struct {
	httpAddr      string
	dataDir       string
	brokers       string
	kafkaAddr     string
	partitions    int
	replication   int
	logLevel      string
	resultTimeout time.Duration
	lagInterval   time.Duration
	compression   string
	// tableReads: the services read their processors' own tables rather
	// than views of them (--reads tables). A processor's table holds only
	// the partitions this instance owns, so tables are right for one
	// instance, dev's default; views, run's default, for any number.
	tableReads bool
	// dev: the process is `shopstream dev`, which may fall back to the
	// development secrets (envSecret).
	dev bool
}

// flags declares the shared flags on fs.
func (c *config) flags(fs *flag.FlagSet, dev bool) {
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.dataDir, "data-dir", "./.shopstream", "directory for local state (and the embedded broker's log in dev)")
	fs.IntVar(&c.partitions, "partitions", 8, "partitions of every co-partitioned topic (must match existing topics)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.resultTimeout, "result-timeout", 5*time.Second, "how long the HTTP API waits for a command's result before answering 202")
	fs.DurationVar(&c.lagInterval, "lag-interval", 5*time.Second, "how often consumer lag is sampled for /metrics and /dashboard")
	fs.StringVar(&c.compression, "kafka-compression", string(topics.CompressionSnappy), "codec producers compress batches with: none, snappy, lz4, zstd, gzip")
	c.dev = dev
	c.tableReads = dev
	fs.Var((*readsValue)(&c.tableReads), "reads",
		"where the HTTP API reads returns, orders and user profiles: tables (the processors' own; one instance only) or views (any number of instances)")
	if dev {
		fs.StringVar(&c.kafkaAddr, "kafka", "127.0.0.1:9092", "where the embedded broker listens (any Kafka client can connect)")
	} else {
		fs.StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
		fs.IntVar(&c.replication, "replication", 1, "replication factor of topics created by this process")
	}
}

// The values of --reads.
const (
	readsTables = "tables"
	readsViews  = "views"
)

// readsValue is --reads, read into config.tableReads: a value other than
// tables or views fails the parse, whichever modules run.
type readsValue bool

func (v *readsValue) String() string {
	if v != nil && bool(*v) {
		return readsTables
	}
	return readsViews
}

func (v *readsValue) Set(s string) error {
	switch s {
	case readsTables:
		*v = true
	case readsViews:
		*v = false
	default:
		return fmt.Errorf("%q: tables or views", s)
	}
	return nil
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

// parseFlags parses args, then fills every flag not given on the command
// line from its SHOPSTREAM_* environment variable.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

// parseInterspersed is parseFlags for a command whose operands may come
// before its flags ("recs u4 --limit 2"): the flag package stops at the
// first operand. Operands are moved after the flags, "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var flags, operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			operands = append(operands, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil && i+1 < len(args) {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
					i++
					flags = append(flags, args[i])
				}
			}
		default:
			operands = append(operands, a)
		}
	}
	return parseFlags(fs, append(append(flags, "--"), operands...))
}

// envSecret returns the secret in the environment variable name. Without
// it, dev and the CLI (fallback) use devValue, with a warning; run refuses
// to start: the development secrets are in this repository, and card keys
// or a return's store-credit code derived with one can be derived by anyone.
func envSecret(name, devValue string, fallback bool, warn func(string)) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	if !fallback {
		return "", fmt.Errorf("%s is not set: shopstream run needs it (at least 32 bytes, the same for every process and the CLI); only dev falls back to the development secret", name)
	}
	warn(name + " is not set: using the development secret")
	return devValue, nil
}

// envName is the environment variable of a flag: --data-dir is
// SHOPSTREAM_DATA_DIR.
func envName(flagName string) string {
	return "SHOPSTREAM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *config) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", c.logLevel, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// clientOptions are the Kafka client options of dev and run: the logger and
// the compression codec.
func (c *config) clientOptions(logger *slog.Logger) ([]topics.ClientOption, error) {
	codec, err := topics.ParseCompression(c.compression)
	if err != nil {
		return nil, fmt.Errorf("--kafka-compression: %w", err)
	}
	return []topics.ClientOption{topics.WithLogger(logger), topics.WithCompression(codec)}, nil
}

func (c *config) brokerList() []string {
	var out []string
	for _, b := range strings.Split(c.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (c *config) catalog() (*topics.Catalog, error) { return topics.NewCatalog(int32(c.partitions)) }

// Where local data lives under --data-dir.
func (c *config) kafkaDir() string { return filepath.Join(c.dataDir, "kafka") }
func (c *config) stateDir() string { return filepath.Join(c.dataDir, "state") }
func (c *config) viewDir() string  { return filepath.Join(c.dataDir, "views") }

// cliClient is the franz-go client of a command that talks to the brokers
// itself (lag, publish), configured as every ShopStream client is.
func cliClient(brokers, clientID string) (*kgo.Client, error) {
	cfg := config{brokers: brokers}
	clients, err := topics.NewClients(cfg.brokerList(), topics.WithClientID(clientID))
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(clients.Kgo()...)
}
