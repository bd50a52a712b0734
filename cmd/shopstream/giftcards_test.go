package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGiftCardOptionsFromTheEnvironment(t *testing.T) {
	p := &platform{logger: slog.Default()}
	cases := []struct {
		name    string
		window  string
		options int
		wantErr bool
	}{
		{"unset: the default window", "", 1, false},
		{"a window", "16", 2, false},
		{"one", "1", 2, false},
		{"zero", "0", 0, true},
		{"negative", "-3", 0, true},
		{"not a number", "eight", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := giftCardOptions(p, func(k string) string {
				if k == "SHOPSTREAM_GIFT_CARD_TX_WINDOW" {
					return tc.window
				}
				return ""
			})
			if tc.wantErr {
				require.ErrorContains(t, err, "SHOPSTREAM_GIFT_CARD_TX_WINDOW")
				return
			}
			require.NoError(t, err)
			require.Len(t, opts, tc.options)
		})
	}
}

// dev and the CLI fall back to the development secrets, with a warning;
// run does not start without them, so no production card key or
// store-credit code is derived from a secret published in this repository.
func TestSecretsRequiredByRun(t *testing.T) {
	const secret = "an-operator-secret-of-at-least-32-bytes"
	cases := []struct {
		name    string
		set     string // the value of the variable, "" for unset
		dev     bool
		want    string
		warned  bool
		wantErr bool
	}{
		{"run, set", secret, false, secret, false, false},
		{"run, unset", "", false, "", false, true},
		{"dev, set", secret, true, secret, false, false},
		{"dev, unset: the development secret", "", true, devGiftCardSecret, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(giftCardSecret, tc.set)
			warned := false
			got, err := envSecret(giftCardSecret, devGiftCardSecret, tc.dev, func(string) { warned = true })
			if tc.wantErr {
				require.ErrorContains(t, err, giftCardSecret)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.warned, warned)
		})
	}

	// run stops before it connects to a cluster (none listens here)
	t.Setenv(giftCardSecret, "")
	err := runCommand(context.Background(), []string{"--brokers", "127.0.0.1:1", "--data-dir", t.TempDir()})
	require.ErrorContains(t, err, giftCardSecret)
	t.Setenv(giftCardSecret, secret)
	t.Setenv(storeCreditSecret, "")
	err = runCommand(context.Background(), []string{"--brokers", "127.0.0.1:1", "--data-dir", t.TempDir()})
	require.ErrorContains(t, err, storeCreditSecret)

	// each module of run stops before it builds anything
	t.Setenv(giftCardSecret, "")
	t.Setenv(storeCreditSecret, "")
	run := &platform{cfg: &config{dev: false}, logger: slog.Default()}
	_, err = wireGiftCards(run)
	require.ErrorContains(t, err, giftCardSecret)
	_, err = wireReturns(run)
	require.ErrorContains(t, err, storeCreditSecret)
	t.Setenv(storeCreditSecret, secret)
	_, err = wireReturns(run)
	require.ErrorContains(t, err, giftCardSecret, "store-credit cards are keyed with the gift card secret")
}
