package main

import (
	"flag"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/shopstream/streams/processors/giftcards"
)

// composeFile is the part of compose.yml this test reads.
type composeFile struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

// compose.yml cannot be run here (no Docker engine), so what it says of
// shopstream is checked against the binary and the other services: the
// command is one of shopstream's, every variable it sets is one shopstream
// reads and parses, and the addresses it names are the ones the Kafka,
// PostgreSQL and Prometheus services serve and scrape. A flag renamed, or a
// port or password changed on one side only, fails here instead of on the
// first `docker compose up`.
func TestComposeRunsShopstreamAsConfigured(t *testing.T) {
	b, err := os.ReadFile("../../compose.yml")
	require.NoError(t, err)
	var compose composeFile
	require.NoError(t, yaml.Unmarshal(b, &compose))
	svc, ok := compose.Services["shopstream"]
	require.True(t, ok, "compose.yml has no shopstream service")

	require.NotEmpty(t, svc.Command)
	require.Equal(t, "run", svc.Command[0], "compose runs shopstream joined to its Kafka")
	require.Contains(t, subcommands, svc.Command[0])

	t.Run("every variable is read", func(t *testing.T) {
		flags, _, _ := runFlags()
		fromFlags := map[string]bool{}
		flags.VisitAll(func(f *flag.Flag) { fromFlags[envName(f.Name)] = true })
		source := moduleSource(t)
		for name := range svc.Environment {
			switch {
			case fromFlags[name]:
			case strings.Contains(source, `"`+name+`"`): // read by name, e.g. DATABASE_URL by the sinks
			default:
				t.Errorf("compose.yml sets %s, which shopstream run does not read", name)
			}
		}
	})

	for name, value := range svc.Environment {
		t.Setenv(name, value)
	}
	flags, cfg, _ := runFlags()
	require.NoError(t, parseFlags(flags, svc.Command[1:]), "shopstream run with compose.yml's environment")

	t.Run("secrets run accepts", func(t *testing.T) {
		for _, name := range []string{giftCardSecret, storeCreditSecret} {
			secret, err := envSecret(name, "", false, nil)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(secret), giftcards.MinSecretLen, name)
		}
	})

	t.Run("HTTP on the published port", func(t *testing.T) {
		_, port, err := net.SplitHostPort(cfg.httpAddr)
		require.NoError(t, err)
		require.NotEqual(t, "127.0.0.1", strings.Split(cfg.httpAddr, ":")[0], "a container must listen beyond its loopback")
		published := false
		for _, p := range svc.Ports {
			published = published || strings.HasSuffix(p, ":"+port)
		}
		require.True(t, published, "ports %v do not publish the HTTP port %s", svc.Ports, port)
		prometheus, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
		require.NoError(t, err)
		require.Contains(t, string(prometheus), `"shopstream:`+port+`"`, "Prometheus scrapes another port")
	})

	t.Run("state on the volume", func(t *testing.T) {
		mounted := false
		for _, v := range svc.Volumes {
			_, target, _ := strings.Cut(v, ":")
			mounted = mounted || filepath.Clean(target) == filepath.Clean(cfg.dataDir)
		}
		require.True(t, mounted, "--data-dir %s is not on a volume (%v): state would be lost with the container", cfg.dataDir, svc.Volumes)
	})

	t.Run("brokers are the Kafka service's advertised listener", func(t *testing.T) {
		kafka := compose.Services["kafka"]
		brokers := cfg.brokerList()
		require.NotEmpty(t, brokers)
		for _, broker := range brokers {
			require.Contains(t, strings.Split(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"], ","), "DOCKER://"+broker)
		}
	})

	t.Run("database is the PostgreSQL service", func(t *testing.T) {
		u, err := url.Parse(svc.Environment["DATABASE_URL"])
		require.NoError(t, err)
		pg := compose.Services["postgres"].Environment
		password, _ := u.User.Password()
		require.Equal(t, "postgres", u.Hostname())
		require.Equal(t, pg["POSTGRES_USER"], u.User.Username())
		require.Equal(t, pg["POSTGRES_PASSWORD"], password)
		require.Equal(t, pg["POSTGRES_DB"], strings.TrimPrefix(u.Path, "/"))
	})
}

// moduleSource is the module's non-test Go source, in one string.
func moduleSource(t *testing.T) string {
	t.Helper()
	var all strings.Builder
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		all.Write(b)
		return err
	})
	require.NoError(t, err)
	return all.String()
}
