package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

// capture runs `shopstream args...` and returns what it printed.
var captureMu sync.Mutex

func capture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	captureMu.Lock()
	defer captureMu.Unlock()
	var buf bytes.Buffer
	old := stdout
	stdout = &buf
	defer func() { stdout = old }()
	err := run(context.Background(), args)
	return buf.String(), err
}

// The CLI produces the same commands as the API and prints their results:
// a card created from the command line is redeemed with the code it
// printed, and a retried creation (same --id) issues no second card.
func TestSendGiftCardFromTheCommandLine(t *testing.T) {
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	_, stop := startDev(t, t.TempDir(), httpAddr, kafkaAddr)
	defer func() { require.NoError(t, stop()) }()
	send := func(args ...string) (string, error) {
		return capture(t, append([]string{"send", "--brokers", kafkaAddr, "gift-card"}, args...)...)
	}

	out, err := send("create", "--amount", "25.00", "--currency", "USD", "--id", "cli-create-1")
	require.NoError(t, err, out)
	code := regexp.MustCompile(`code: (GIFT-[0-9A-Z-]+)`).FindStringSubmatch(out)
	require.Len(t, code, 2, "the code is printed once: %s", out)

	_, err = send("create", "--amount", "25.00", "--currency", "USD", "--id", "cli-create-1")
	require.ErrorIs(t, err, topics.ErrIdempotencyConflict, "a retry with the same --id issues no second card")

	out, err = send("redeem", "--code", code[1], "--order", "order-cli", "--amount", "10.00")
	require.NoError(t, err, out)
	var red struct {
		Remaining topics.Money `json:"remaining_balance"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &red), out)
	require.Equal(t, "15.00 USD", red.Remaining.String())

	out, err = send("balance", "--code", code[1])
	require.NoError(t, err, out)
	require.Contains(t, out, `"status": "partially_redeemed"`)

	_, err = send("redeem", "--code", code[1], "--order", "order-cli-2", "--amount", "100.00")
	require.Error(t, err, "an overspend is refused with its code")
	require.Contains(t, err.Error(), "insufficient_balance")

	t.Run("lag of named groups, flags after them", func(t *testing.T) {
		out, err := capture(t, "lag", "gift_card.cards", "--json", "--brokers", kafkaAddr)
		require.NoError(t, err, out)
		var rows []topics.PartitionLag
		require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
		require.NotEmpty(t, rows)
		for _, r := range rows {
			require.Equal(t, "gift_card.cards", r.Group)
		}
		_, err = capture(t, "lag", "--brokers", kafkaAddr, "no-such-group")
		require.ErrorContains(t, err, "no-such-group: GROUP_ID_NOT_FOUND", "an unknown group fails the command")
	})

	t.Run("recs --rebuild prints the matrix in the API's snake_case", func(t *testing.T) {
		out, err := capture(t, "recs", "--rebuild", "1h", "--brokers", kafkaAddr)
		require.NoError(t, err, out)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &got), out)
		require.ElementsMatch(t, []string{"from", "to", "interactions", "users", "similarity", "neighbours", "bought", "records", "skipped"},
			slices.Collect(maps.Keys(got)))
	})

	// mistakes in the command line are named as such, before anything is sent
	t.Setenv("SHOPSTREAM_GIFT_CARD_CODE", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown action", []string{"frobnicate", "--code", code[1]}, `unknown action "frobnicate"`},
		{"help for an action", []string{"-h"}, `unknown action "-h"`},
		{"no code", []string{"balance"}, "--code (or SHOPSTREAM_GIFT_CARD_CODE) is required"},
		{"a refund without its redemption", []string{"refund", "--amount", "1.00"}, "--redemption is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := send(tc.args...)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
