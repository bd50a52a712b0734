package giftcards

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/command"
	"github.com/shopstream/streams/topics"
)

// history runs ops on a fresh card, trimming the row to window after each
// (window 0: never trimmed, as before the window existed), and returns the
// final card and every transaction its events carried, in order.
func history(t *testing.T, window int, ops []func(c *Card, m Meta) (*Card, []Event)) (*Card, []Transaction) {
	t.Helper()
	cmdSeq = 0 // the same command IDs for every call
	c, evs, err := Create(CreateCommand{CardKey: testKey("history"), Last4: "AB2C", Amount: usd("100.00"), PurchaserID: "user_1"}, meta(t0), 0)
	require.NoError(t, err)
	var txs []Transaction
	collect := func(evs []Event) {
		for _, e := range evs {
			if e.Data.Transaction != nil {
				txs = append(txs, *e.Data.Transaction)
			}
		}
	}
	collect(evs)
	for i, op := range ops {
		before := c.TransactionCount()
		n, evs := op(c, meta(t0.Add(time.Duration(i+1)*time.Minute)))
		collect(evs)
		require.Equal(t, before+int64(len(evs)-countNoTx(evs)), n.TransactionCount(), "every transaction is in an event")
		if window > 0 {
			n = n.Trim(window)
			require.LessOrEqual(t, len(n.Transactions), window)
		}
		requireInvariants(t, n)
		c = n
	}
	return c, txs
}

func countNoTx(evs []Event) int {
	n := 0
	for _, e := range evs {
		if e.Data.Transaction == nil {
			n++
		}
	}
	return n
}

// mixedOps is a card's history touching every transaction type a live card
// can have: redemptions, a refund of the first redemption (after its
// transaction has left any small window), a hold captured, a transfer out
// reversed, a transfer in, and finally a void.
func mixedOps(t *testing.T) []func(c *Card, m Meta) (*Card, []Event) {
	var firstRedemption, holdID, transferID string
	ops := []func(c *Card, m Meta) (*Card, []Event){}
	for i := range 6 {
		ops = append(ops, func(c *Card, m Meta) (*Card, []Event) {
			n, ev, res, err := c.Redeem(RedeemCommand{CardKey: c.Key, OrderID: fmt.Sprint("order-", i), Amount: amt("3.00")}, m)
			require.NoError(t, err)
			if i == 0 {
				firstRedemption = res.RedemptionID
			}
			return n, ev
		})
	}
	return append(ops,
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, res, err := c.Refund(RefundCommand{RedemptionID: firstRedemption, Amount: amt("1.00")}, m)
			require.NoError(t, err)
			require.Equal(t, "83.00", res.NewBalance.Amount.StringFixed(2))
			return n, ev
		},
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, res, err := c.Authorize(AuthorizeCommand{CardKey: c.Key, OrderID: "order-h", Amount: Amount{Decimal: dec("5")}}, m, 0)
			require.NoError(t, err)
			holdID = res.HoldID
			return n, ev
		},
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, _, err := c.Capture(CaptureCommand{CardKey: c.Key, HoldID: holdID, Amount: amt("4")}, m)
			require.NoError(t, err)
			return n, ev
		},
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, credit, err := c.TransferDebit(TransferCommand{CardKey: c.Key, ToKey: testKey("elsewhere"), Amount: Amount{Decimal: dec("2")}}, m, Origin{CommandID: m.CommandID})
			require.NoError(t, err)
			transferID = credit.TransferID
			return n, ev
		},
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, _, changed := c.TransferReverse(TransferReverseCommand{TransferID: transferID, Error: topics.AsError(ErrInvalidCode)}, m)
			require.True(t, changed)
			return n, ev
		},
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, err := TransferCredit(c, TransferCreditCommand{TransferID: "tr-in", FromKey: testKey("other"), ToKey: c.Key, Amount: usd("7.00")}, m)
			require.NoError(t, err)
			return n, ev
		},
		func(c *Card, m Meta) (*Card, []Event) {
			n, ev, _, err := c.Void(VoidCommand{CardKey: c.Key, Reason: "fraud", AdminID: "admin_1"}, staff(m.At))
			require.NoError(t, err)
			return n, ev
		},
	)
}

// The row's window changes neither the transactions nor their IDs: the
// same history with and without trimming produces the same ledger, and
// every transaction's ID is derived as before from its position in the
// whole ledger.
func TestTransactionWindow(t *testing.T) {
	full, want := history(t, 0, mixedOps(t))
	require.Nil(t, full.Checkpoint)
	require.Len(t, full.Transactions, len(want))
	require.Equal(t, want, []Transaction(full.Transactions), "untrimmed, the row is the whole ledger")
	for i, tx := range want {
		require.Equal(t, DeriveID(full.Key, tx.CommandID, string(tx.Type), tx.ReferenceID, fmt.Sprint(i)), tx.ID,
			"transaction %d derives its ID from its position in the whole ledger", i)
	}
	for _, window := range []int{1, 2, 3, 8, 64} {
		t.Run(fmt.Sprintf("window=%d", window), func(t *testing.T) {
			c, got := history(t, window, mixedOps(t))
			require.Equal(t, want, got, "the same transactions, with the same IDs")
			require.Equal(t, full.Balance, c.Balance)
			require.Equal(t, full.TransactionCount(), c.TransactionCount())
			keep := min(window, len(want))
			require.Equal(t, want[len(want)-keep:], []Transaction(c.Transactions), "the most recent ones")
			if keep < len(want) {
				require.NotNil(t, c.Checkpoint)
				require.EqualValues(t, len(want)-keep, c.Checkpoint.Count)
				require.True(t, want[len(want)-keep-1].BalanceAfter.Equal(c.Checkpoint.Balance))
			} else {
				require.Nil(t, c.Checkpoint)
			}
			require.Equal(t, full.Redemptions, c.Redemptions, "redemptions are all kept")
		})
	}
}

func TestTrim(t *testing.T) {
	c := newCard(t, "10.00", "USD")
	for range 5 {
		c, _ = redeem(t, c, "1.00")
	}
	cases := []struct {
		name      string
		window    int
		keep      int
		count     int64
		base      string
		unchanged bool
	}{
		{"larger than the ledger", 10, 6, 0, "", true},
		{"exactly the ledger", 6, 6, 0, "", true},
		{"drops the oldest", 4, 4, 2, "9", false},
		{"one", 1, 1, 5, "6", false},
		{"below one keeps one", 0, 1, 5, "6", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := c.Trim(tc.window)
			requireInvariants(t, n)
			require.Len(t, n.Transactions, tc.keep)
			require.EqualValues(t, 6, n.TransactionCount())
			require.Len(t, c.Transactions, 6, "the card trimmed is never changed")
			if tc.unchanged {
				require.Same(t, c, n)
				return
			}
			require.EqualValues(t, tc.count, n.Checkpoint.Count)
			require.Equal(t, tc.base, n.Checkpoint.Balance.String())
			// Trimming a trimmed card again folds into the same checkpoint.
			again := n.Trim(1)
			requireInvariants(t, again)
			require.EqualValues(t, 5, again.Checkpoint.Count)
			require.Equal(t, "6", again.Checkpoint.Balance.String())
		})
	}
}

func TestCheckpointInvariants(t *testing.T) {
	base := newCard(t, "10.00", "USD")
	for range 4 {
		base, _ = redeem(t, base, "1.00")
	}
	base = base.Trim(2) // checkpoint: 3 transactions, balance 8
	requireInvariants(t, base)
	cases := map[string]func(c *Card){
		"checkpoint balance off":        func(c *Card) { c.Checkpoint.Balance = dec("9") },
		"checkpoint lost":               func(c *Card) { c.Checkpoint = nil },
		"negative checkpoint count":     func(c *Card) { c.Checkpoint.Count = -1 },
		"negative checkpoint balance":   func(c *Card) { c.Checkpoint.Balance = dec("-1") },
		"broken chain in the window":    func(c *Card) { c.Transactions[1].BalanceBefore = dec("7.5") },
		"balance off the window":        func(c *Card) { c.Balance = dec("5") },
		"after differs from its amount": func(c *Card) { c.Transactions[1].BalanceAfter = dec("6.5") },
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			c := base.Clone()
			corrupt(c)
			require.Error(t, c.CheckInvariants())
		})
	}
}

// oldRow is a card state as versions before the transaction window stored
// it: the whole ledger, redemptions as objects with their time.
const oldRow = `{"card":{"key":"%[1]s","last4":"AB2C","currency":"USD","original_amount":"50","balance":"37",
"status":"partially_redeemed","purchaser_id":"user_1","created_at":"2026-11-24T10:00:00Z","expires_at":"2027-11-24T10:00:00Z",
"transactions":[
{"id":"t0","type":"creation","amount":"50","balance_before":"0","balance_after":"50","command_id":"c0","at":"2026-11-24T10:00:00Z"},
{"id":"t1","type":"redemption","amount":"-20","balance_before":"50","balance_after":"30","order_id":"o1","reference_id":"r1","command_id":"c1","at":"2026-11-24T11:00:00Z"},
{"id":"t2","type":"redemption","amount":"-3","balance_before":"30","balance_after":"27","order_id":"o \"2\"","reference_id":"r2","command_id":"c2","at":"2026-11-24T11:00:00Z"},
{"id":"t3","type":"refund","amount":"10","balance_before":"27","balance_after":"37","order_id":"o1","reference_id":"f1","command_id":"c3","at":"2026-11-24T12:00:00Z"}],
"redemptions":[
{"id":"r1","order_id":"o1","amount":"20","refunded":"10","at":"2026-11-24T11:00:00Z"},
{"id":"r2","order_id":"o \"2\"","amount":"3","refunded":"0","hold_id":"h1","at":"2026-11-24T11:00:00Z"}],
"seq":4},"commands":{}}`

// A row stored before the window decodes, is a valid card, and is trimmed
// (and its redemptions compacted) when it is written again.
func TestOldRowDecodesAndIsTrimmed(t *testing.T) {
	key := testKey("old-row")
	var codec topics.JSONCodec[CardState]
	v, err := codec.Decode([]byte(fmt.Sprintf(oldRow, key)))
	require.NoError(t, err)
	c := v.(*CardState).Card
	requireInvariants(t, c)
	require.Nil(t, c.Checkpoint)
	require.EqualValues(t, 4, c.TransactionCount())
	require.Equal(t, []Redemption{
		{ID: "r1", OrderID: "o1", Amount: dec("20"), Refunded: dec("10")},
		{ID: "r2", OrderID: `o "2"`, Amount: dec("3"), Refunded: dec("0"), HoldID: "h1"},
	}, c.Redemptions)

	// The next command posts the fifth transaction with the ID the old
	// code derived (from the whole ledger's length), then the row is trimmed.
	m := meta(t0.Add(2 * time.Hour))
	n, _, res, err := c.Refund(RefundCommand{RedemptionID: "r1", Amount: amt("10")}, m)
	require.NoError(t, err)
	require.Equal(t, "47.00", res.NewBalance.Amount.StringFixed(2))
	tx := n.Transactions[len(n.Transactions)-1]
	require.Equal(t, DeriveID(key, m.CommandID, string(TxRefund), res.RefundID, "4"), tx.ID)
	n = n.Trim(2)
	requireInvariants(t, n)
	require.Equal(t, []string{"t3", tx.ID}, []string{n.Transactions[0].ID, n.Transactions[1].ID})
	require.Equal(t, &Checkpoint{Count: 3, Balance: dec("27")}, n.Checkpoint)

	raw, err := rowCodec{}.Encode(&CardState{Card: n}) // written again: in the binary form
	require.NoError(t, err)
	require.Equal(t, rowFormat, raw[0])
	back, err := rowCodec{}.Decode(raw)
	require.NoError(t, err)
	requireSameValue(t, reflect.ValueOf(n), reflect.ValueOf(back.(*CardState).Card), "Card")
	require.Equal(t, []string{res.RefundID}, back.(*CardState).Card.Redemptions[0].Refunds, "the refund made since is on its redemption")
}

func TestRedemptionEncoding(t *testing.T) {
	cases := []struct {
		name string
		r    Redemption
		want string
	}{
		{"fresh", Redemption{ID: "r", OrderID: "o", Amount: dec("12.34"), Refunded: dec("0")}, `["r","o","12.34"]`},
		{"zero value refunded", Redemption{ID: "r", OrderID: "o", Amount: dec("1")}, `["r","o","1"]`},
		{"partly refunded", Redemption{ID: "r", OrderID: "o", Amount: dec("12.34"), Refunded: dec("0.34")}, `["r","o","12.34","0.34"]`},
		{"captured hold", Redemption{ID: "r", OrderID: "o", Amount: dec("5"), Refunded: dec("0"), HoldID: "h"}, `["r","o","5","0","h"]`},
		{"order ID to escape", Redemption{ID: "r", OrderID: "a\"b\\c<é>\n", Amount: dec("5"), Refunded: dec("1")}, `["r","a\"b\\c\u003cé\u003e\n","5","1"]`},
		{"JPY", Redemption{ID: "r", OrderID: "o", Amount: dec("500"), Refunded: dec("0")}, `["r","o","500"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.r)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(raw))
			var back Redemption
			require.NoError(t, json.Unmarshal(raw, &back))
			require.Equal(t, tc.r.ID, back.ID)
			require.Equal(t, tc.r.OrderID, back.OrderID)
			require.Equal(t, tc.r.HoldID, back.HoldID)
			require.True(t, tc.r.Amount.Equal(back.Amount))
			require.True(t, tc.r.Refunded.Equal(back.Refunded))
		})
	}
	for name, bad := range map[string]string{
		"too short":       `["r","o"]`,
		"too long":        `["r","o","1","0","h","x"]`,
		"not an amount":   `["r","o","x"]`,
		"bad refunded":    `["r","o","1","y"]`,
		"not strings":     `["r","o",1]`,
		"object mistyped": `{"id":1}`,
		"empty":           `[]`,
		"not an array":    `"r"`,
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			var r Redemption
			require.Error(t, json.Unmarshal([]byte(bad), &r))
		})
	}
	t.Run("spaces and escapes", func(t *testing.T) {
		var r Redemption
		require.NoError(t, json.Unmarshal([]byte(" [ \"r\" ,\n\"o\\u0022\\\\\" , \"2.5\" ] "), &r))
		require.Equal(t, []string{"r", `o"\`, "2.5", "0"}, []string{r.ID, r.OrderID, r.Amount.String(), r.Refunded.String()})
	})
	for _, bad := range []string{`["r"`, `["r",]`, `["r" "o"]`, `["r","o","1"]x`, `["a","b","c","d","e","f"]`, `[1]`, `{`} {
		_, err := stringArray([]byte(bad), 5)
		require.Error(t, err, bad)
	}
}

// Through the processor: a row is trimmed to the configured window on
// every write, a redemption whose transaction left the window is refunded
// (never beyond what it redeemed), and a row stored by an earlier version
// (the whole ledger) is trimmed on its next write.
func TestProcessorKeepsTheWindow(t *testing.T) {
	f := newFixture(t, WithTransactionWindow(3))
	_, key := f.create(t, "50.00", "USD")
	var rs []RedemptionResult
	var first *topics.CommandResult
	redeemCmd := func(i int) RedeemCommand {
		return RedeemCommand{CardKey: key, OrderID: fmt.Sprint("order-w", i), Amount: amt("2.00")}
	}
	for i := range 6 {
		res := f.send(t, topics.GiftCardCommands, key, TypeRedeem, fmt.Sprint("w-red-", i), redeemCmd(i), t0.Add(time.Hour))
		if i == 0 {
			first = res
		}
		rs = append(rs, decodeResult[RedemptionResult](t, res))
	}
	c := f.card(t, key)
	require.Len(t, c.Transactions, 3)
	require.EqualValues(t, 7, c.TransactionCount())
	requireInvariants(t, c)
	require.Len(t, c.Redemptions, 6)

	res := f.send(t, topics.GiftCardRedemptions, rs[0].RedemptionID, TypeRefund, "w-rf-1", RefundCommand{RedemptionID: rs[0].RedemptionID, Amount: amt("1.50")}, t0.Add(2*time.Hour))
	require.Equal(t, "39.50", decodeResult[RefundResult](t, res).NewBalance.Amount.StringFixed(2))
	res = f.send(t, topics.GiftCardRedemptions, rs[0].RedemptionID, TypeRefund, "w-rf-2", RefundCommand{RedemptionID: rs[0].RedemptionID, Amount: amt("0.51")}, t0.Add(2*time.Hour))
	requireCode(t, res, CodeRefundExceedsRedemption)
	res = f.send(t, topics.GiftCardRedemptions, rs[0].RedemptionID, TypeRefund, "w-rf-3", RefundCommand{RedemptionID: rs[0].RedemptionID}, t0.Add(2*time.Hour))
	require.Equal(t, "0.50", decodeResult[RefundResult](t, res).RefundedAmount.Amount.StringFixed(2), "the rest of it")
	c = f.card(t, key)
	requireInvariants(t, c)
	require.EqualValues(t, 9, c.TransactionCount())
	require.Equal(t, "40", c.Balance.String())

	// A repeat of the first redeem (its transaction long out of the
	// window) still answers the first result.
	again := f.send(t, topics.GiftCardCommands, key, TypeRedeem, "w-red-0", redeemCmd(0), t0.Add(3*time.Hour))
	require.True(t, again.Replayed)
	require.Equal(t, string(first.Result), string(again.Result), "the first result, byte for byte")
	require.Equal(t, "40", f.card(t, key).Balance.String(), "applied once")

	// A row with the whole ledger, as an earlier version stored it.
	oldKey := testKey("old-row-processor")
	var codec topics.JSONCodec[CardState]
	v, err := codec.Decode([]byte(fmt.Sprintf(oldRow, oldKey)))
	require.NoError(t, err)
	f.tt.SetTableValue(Table, oldKey, v)
	require.Len(t, f.card(t, oldKey).Transactions, 4)
	res = f.send(t, topics.GiftCardRedemptions, "r2", TypeRefund, "old-rf", RefundCommand{RedemptionID: "r2", CardKey: oldKey}, t0.Add(2*time.Hour))
	requireCode(t, res, CodeRedemptionNotFound) // the redemption index never saw r2: refunds go to the card key directly below
	res = f.send(t, topics.GiftCardCommands, oldKey, TypeRefund, "old-rf-2", RefundCommand{RedemptionID: "r2", CardKey: oldKey}, t0.Add(2*time.Hour))
	require.Equal(t, "40.00", decodeResult[RefundResult](t, res).NewBalance.Amount.StringFixed(2))
	c = f.card(t, oldKey)
	requireInvariants(t, c)
	require.Len(t, c.Transactions, 3, "trimmed on its first write")
	require.EqualValues(t, 5, c.TransactionCount())
	require.Equal(t, &Checkpoint{Count: 2, Balance: dec("30")}, c.Checkpoint)
}

func TestTxWindowEncoding(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	w := TxWindow{
		{ID: "t1", Type: TxCreation, Amount: dec("50"), BalanceBefore: dec("0"), BalanceAfter: dec("50"), CommandID: "c1", At: at},
		{ID: "t2", Type: TxRedemption, Amount: dec("-0.01"), BalanceBefore: dec("50"), BalanceAfter: dec("49.99"),
			OrderID: "o \"1\" <é>", ReferenceID: "r1", CommandID: "c2", At: at.Add(time.Second)},
	}
	raw, err := json.Marshal(w)
	require.NoError(t, err)
	require.Equal(t, `[["t1","creation","50","0","50","","","c1","2026-11-24T10:00:00.123456789Z"],`+
		`["t2","redemption","-0.01","50","49.99","o \"1\" \u003cé\u003e","r1","c2","2026-11-24T10:00:01.123456789Z"]]`, string(raw))
	cases := map[string]string{
		"array form":             string(raw),
		"object form (earlier)":  mustJSON(t, []Transaction(w)),
		"array form with blanks": " [ " + string(raw[1:len(raw)-1]) + " ] ",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var back TxWindow
			require.NoError(t, json.Unmarshal([]byte(in), &back))
			require.Equal(t, w, back)
		})
	}
	var empty TxWindow
	require.NoError(t, json.Unmarshal([]byte(`[]`), &empty))
	require.Empty(t, empty)
	require.NoError(t, json.Unmarshal([]byte(`null`), &empty))
	require.Nil(t, empty)
	for name, bad := range map[string]string{
		"too few fields":  `[["t1","creation","50"]]`,
		"bad amount":      `[["t1","creation","x","0","50","","","c1","2026-11-24T10:00:00Z"]]`,
		"bad time":        `[["t1","creation","50","0","50","","","c1","yesterday"]]`,
		"not a string":    `[["t1","creation",50,"0","50","","","c1","2026-11-24T10:00:00Z"]]`,
		"too many fields": `[["t1","creation","50","0","50","","","c1","2026-11-24T10:00:00Z","x"]]`,
	} {
		var back TxWindow
		require.Error(t, json.Unmarshal([]byte(bad), &back), name)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}

// The row's command ledger keeps every entry and its order: the compact
// results (create, redeem) as arrays, every other result as the object it
// was; entries stored as objects by earlier versions decode as they were.
func TestCardLedgerEncoding(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 5, time.UTC)
	l := cardLedger{command.Ledger{Entries: []command.Entry{
		{ID: "create", Digest: "d1", Result: &topics.CommandResult{OK: true, CompletedAt: at}},
		{ID: "redeem", Digest: "d2", Result: &topics.CommandResult{OK: true, CompletedAt: at,
			Result: json.RawMessage(`{"balance":"9","available":"9","status":"partially_redeemed"}`)}},
		{ID: "refused", Digest: "d3", Result: &topics.CommandResult{CommandID: "refused", Type: TypeRedeem, CompletedAt: at,
			Error: topics.AsError(ErrInsufficientBalance.Withf("no"))}},
		{ID: "refund", Digest: "d4", Result: &topics.CommandResult{CommandID: "refund", Type: TypeRefund, OK: true, CompletedAt: at,
			Result: json.RawMessage(`{"refund_id":"x"}`)}},
		{ID: "pending", Digest: "d5", Result: &topics.CommandResult{OK: true, Pending: true, CompletedAt: at}},
	}}}
	raw, err := json.Marshal(l)
	require.NoError(t, err)
	require.Contains(t, string(raw), `{"entries":[["create","d1","2026-11-24T10:00:00.000000005Z"],`+
		`["redeem","d2","2026-11-24T10:00:00.000000005Z",{"balance":"9","available":"9","status":"partially_redeemed"}],{"id":"refused"`)
	old, err := json.Marshal(l.Ledger) // the form earlier versions stored
	require.NoError(t, err)
	for name, in := range map[string][]byte{"compact": raw, "earlier": old} {
		t.Run(name, func(t *testing.T) {
			var back cardLedger
			require.NoError(t, json.Unmarshal(in, &back))
			require.Len(t, back.Entries, len(l.Entries))
			for i, e := range l.Entries {
				require.Equal(t, e.ID, back.Entries[i].ID)
				require.Equal(t, e.Digest, back.Entries[i].Digest)
				require.Equal(t, mustJSON(t, e.Result), mustJSON(t, back.Entries[i].Result), "entry %s", e.ID)
			}
		})
	}
	var empty cardLedger
	require.NoError(t, json.Unmarshal([]byte(`{}`), &empty))
	require.Empty(t, empty.Entries)
	raw, err = json.Marshal(empty)
	require.NoError(t, err)
	require.Equal(t, `{}`, string(raw))
	for name, bad := range map[string]string{
		"too few fields": `{"entries":[["a","b"]]}`,
		"bad time":       `{"entries":[["a","b","soon"]]}`,
		"result string":  `{"entries":[["a","b","2026-11-24T10:00:00Z","x"]]}`,
	} {
		var back cardLedger
		require.Error(t, json.Unmarshal([]byte(bad), &back), name)
	}
}
