package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
	"github.com/shopstream/streams/topics/kafkatest"
)

// testReturn is a return approved by staff whose approval notification
// was delivered after return.approved: a trail of three entries, the
// third of which no event carried.
func testReturn(id string) *returns.Return {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	approved := at.Add(time.Hour)
	return &returns.Return{ID: id, OrderID: "o1", CustomerID: "c1", Currency: "USD", Status: returns.StateApproved,
		Reason: returns.ReasonDefective, RefundMethod: returns.RefundOriginalPayment, ApprovedBy: "staff_7", ApprovedAt: &approved,
		Items:     []returns.ReturnItem{{LineItemID: "li_1", ProductID: "p1", QuantityRequested: 1, ExpectedCondition: returns.ConditionNew}},
		CreatedAt: at, UpdatedAt: approved.Add(time.Minute), AuditPublished: 2,
		Audit: []returns.AuditEntry{
			{Seq: 1, Action: returns.ActionInitiate, ActorID: "c1", ActorType: topics.ActorCustomer, NewState: returns.StatePending,
				Metadata: json.RawMessage(`{"reason":"defective"}`), CommandID: "cmd-1", At: at},
			{Seq: 2, Action: returns.ActionApprove, ActorID: "staff_7", ActorType: topics.ActorStaff, PreviousState: returns.StatePending,
				NewState: returns.StateApproved, CommandID: "cmd-2", At: approved},
			{Seq: 3, Action: returns.ActionNotified, ActorID: "returns-saga", ActorType: topics.ActorSystem,
				PreviousState: returns.StateApproved, NewState: returns.StateApproved,
				Metadata: json.RawMessage(`{"template":"return_approved","attempt":1}`), At: approved.Add(time.Minute)},
		}}
}

// changelogRecord is r's row on the return table's changelog, in the JSON
// form (DecodeTableRow reads it like the binary one).
func changelogRecord(t *testing.T, key string, r *returns.Return) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(returns.ReturnRecord{Return: r})
	require.NoError(t, err)
	return &kgo.Record{Topic: string(returns.ReturnTable), Partition: 3, Offset: 42, Key: []byte(key), Value: b}
}

// TestMapReturnRow: a changelog row gives an audit row per entry of the
// trail, the very rows an event carrying the entries gives, and the
// return's current state ordered by the trail's length; what cannot be
// mapped is refused with ErrMalformedEvent (dead-lettered).
func TestMapReturnRow(t *testing.T) {
	r := testReturn("ret-row")
	rows, err := mapReturnRow(changelogRecord(t, r.ID, r))
	require.NoError(t, err)
	byTable := map[*Table][]Row{}
	for _, row := range rows {
		require.NoError(t, row.check())
		byTable[row.Table] = append(byTable[row.Table], row)
	}
	t.Run("an audit row per entry of the trail", func(t *testing.T) {
		audit := byTable[ReturnAuditLogsTable]
		require.Len(t, audit, 3)
		for i, row := range audit {
			require.Equal(t, auditEventID(r.ID, i+1), row.Values[0])
		}
		var md map[string]any
		require.NoError(t, json.Unmarshal([]byte(audit[2].Values[7].(string)), &md))
		require.Equal(t, map[string]any{"template": "return_approved", "attempt": 1.0, "seq": 3.0}, md)
	})
	t.Run("the same rows as an event carrying the entries", func(t *testing.T) {
		s := r.Summary()
		s.Audit = r.Audit[1:]
		env, err := topics.NewEnvelope(returns.EventApproved, r.UpdatedAt, s, topics.WithActor(topics.Actor{ID: "staff_7", Type: topics.ActorStaff}))
		require.NoError(t, err)
		evRows, err := mapReturn(env, nil)
		require.NoError(t, err)
		var evAudit []Row
		for _, row := range evRows {
			if row.Table == ReturnAuditLogsTable {
				evAudit = append(evAudit, row)
			}
		}
		require.Len(t, evAudit, 2)
		require.Equal(t, evAudit[0].Values, byTable[ReturnAuditLogsTable][1].Values)
		require.Equal(t, evAudit[1].Values, byTable[ReturnAuditLogsTable][2].Values)
	})
	t.Run("the current state, ordered by the trail's length", func(t *testing.T) {
		req := byTable[ReturnRequestsTable]
		require.Len(t, req, 1)
		require.Equal(t, int64(3), req[0].Order.Version)
		require.Equal(t, string(returns.StateApproved), req[0].Values[3])
		require.Nil(t, req[0].Values[10], "approved_by is return.approved's")
		require.Equal(t, r.ApprovedAt, req[0].Values[11])
		require.Equal(t, r.CreatedAt, req[0].Values[16])
		require.Equal(t, r.UpdatedAt, req[0].Values[17])
		require.Len(t, byTable[ReturnItemsTable], 1)
		older := Order{Version: 2, OccurredAt: r.UpdatedAt, EventID: topics.NewID()}
		same := Order{Version: 3, OccurredAt: r.UpdatedAt, EventID: topics.NewID()}
		newer := Order{Version: 4, OccurredAt: r.UpdatedAt.Add(-time.Hour), EventID: topics.NewID()}
		require.True(t, older.less(req[0].Order))
		require.True(t, same.less(req[0].Order), "of an event and the row its action wrote, the row is kept")
		require.True(t, req[0].Order.less(newer))
	})

	t.Run("estimated_refund is the approval's estimate, actual_refund the completion's", func(t *testing.T) {
		refund := func(total string) *returns.RefundBreakdown {
			return &returns.RefundBreakdown{Currency: "USD", TotalRefund: decimal.RequireFromString(total),
				RestockingFee: decimal.RequireFromString("1.00")}
		}
		for _, tc := range []struct {
			status          returns.State
			estimate, final any
		}{
			{status: returns.StateRefunding, estimate: "20.00"},
			{status: returns.StateRefundFailed, estimate: "20.00"},
			{status: returns.StateCompleted, estimate: "20.00", final: "18.50"},
		} {
			c := testReturn("ret-refund")
			c.Status, c.EstimatedRefund, c.ActualRefund = tc.status, refund("20"), refund("18.5")
			rows, err := mapReturnRow(changelogRecord(t, c.ID, c))
			require.NoError(t, err)
			require.Equal(t, []any{tc.estimate, tc.final, "1.00"}, rows[0].Values[7:10], "%s", tc.status)
		}
	})

	bad := func(mut func(*returns.Return)) func(t *testing.T) *kgo.Record {
		return func(t *testing.T) *kgo.Record {
			b := testReturn("ret-bad")
			mut(b)
			return changelogRecord(t, "ret-bad", b)
		}
	}
	cases := []struct {
		name    string
		rec     func(t *testing.T) *kgo.Record
		wantErr string // "" for no rows and no error
	}{
		{name: "a row without a return", rec: func(t *testing.T) *kgo.Record {
			rec := changelogRecord(t, "ret-none", nil)
			return rec
		}},
		{name: "a tombstone", rec: func(t *testing.T) *kgo.Record {
			rec := changelogRecord(t, "ret-gone", nil)
			rec.Value = nil
			return rec
		}, wantErr: "tombstone"},
		{name: "a row that does not decode", rec: func(t *testing.T) *kgo.Record {
			rec := changelogRecord(t, "ret-garbage", nil)
			rec.Value = []byte{0x01, 0x01}
			return rec
		}, wantErr: "undecodable"},
		{name: "a row of another return than its key", rec: func(t *testing.T) *kgo.Record {
			return changelogRecord(t, "ret-other", testReturn("ret-bad"))
		}, wantErr: `holds return "ret-bad"`},
		{name: "an invalid entry", rec: bad(func(r *returns.Return) { r.Audit[2].Seq = 0 }), wantErr: "invalid audit entry"},
		{name: "an unknown status", rec: bad(func(r *returns.Return) { r.Status = "lost" }), wantErr: `status "lost"`},
		{name: "an item without quantity", rec: bad(func(r *returns.Return) { r.Items[0].QuantityRequested = 0 }), wantErr: "invalid item"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := mapReturnRow(tc.rec(t))
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Empty(t, rows)
				return
			}
			require.ErrorIs(t, err, ErrMalformedEvent)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestBadChangelogRowsGoToTheDLQ: rows of the return table's changelog
// that cannot be mapped (a tombstone, bytes that do not decode) are
// dead-lettered with the reason, and the sink goes on with the next rows.
func TestBadChangelogRowsGoToTheDLQ(t *testing.T) {
	f := newFixture(t)
	spec := Returns()
	spec.Name, spec.Topics, spec.Raw = f.name, []string{f.topic}, map[string]RecordMapper{f.topic: mapReturnRow}
	s, err := New(spec, f.pool, cluster.Clients, WithDLQ(f.dlq), WithRetryBackoff(50*time.Millisecond))
	require.NoError(t, err)
	start(t, s)

	good, later := testReturn(cluster.Unique("ret-row")), testReturn(cluster.Unique("ret-row"))
	row := func(r *returns.Return) []byte { return changelogRecord(t, r.ID, r).Value }
	f.produce(good.ID, row(good))
	f.produce("ret-gone", nil)
	f.produce("ret-garbage", []byte{0x01, 0x01})
	f.produce(later.ID, row(later))
	for _, r := range []*returns.Return{good, later} {
		kafkatest.Eventually(t, 20*time.Second, func() bool {
			return f.count("SELECT count(*) FROM return_audit_logs WHERE return_request_id = $1", r.ID) == 3
		}, "the trail of %s", r.ID)
	}
	require.Equal(t, int64(2), s.Stats().DeadLetters.Load())

	cl := cluster.Producer(t, kgo.ConsumeTopics(f.dlq))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reasons := map[string]string{}
	for len(reasons) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var dl topics.DeadLetter
			require.NoError(t, json.Unmarshal(r.Value, &dl))
			require.Equal(t, CodeMalformedEvent, dl.Code)
			reasons[string(dl.Key)] = dl.Reason
		})
	}
	require.True(t, strings.Contains(reasons["ret-gone"], "tombstone"), "reasons: %v", reasons)
	require.True(t, strings.Contains(reasons["ret-garbage"], "undecodable"), "reasons: %v", reasons)
}

// TestRawMapperNeedsItsTopic: a spec's raw mapper must name a topic the
// sink consumes, and be set.
func TestRawMapperNeedsItsTopic(t *testing.T) {
	pool := migrated(t)
	cases := []struct {
		name string
		raw  map[string]RecordMapper
	}{
		{name: "a topic the sink does not consume", raw: map[string]RecordMapper{"elsewhere": mapReturnRow}},
		{name: "a nil mapper", raw: map[string]RecordMapper{topics.ReturnApprovedTopic: nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := Returns()
			spec.Raw = tc.raw
			_, err := New(spec, pool, cluster.Clients)
			require.ErrorContains(t, err, "raw mapper")
		})
	}
}

// BenchmarkMapReturnRow: mapping one changelog row of a return whose trail
// has 3 entries and 15 (every entry is mapped, whatever is stored).
func BenchmarkMapReturnRow(b *testing.B) {
	for _, n := range []int{3, 15} {
		b.Run(fmt.Sprintf("%d entries", n), func(b *testing.B) {
			r := testReturn("ret-bench")
			for len(r.Audit) < n {
				e := r.Audit[len(r.Audit)-1]
				e.Seq++
				r.Audit = append(r.Audit, e)
			}
			v, err := json.Marshal(returns.ReturnRecord{Return: r})
			require.NoError(b, err)
			rec := &kgo.Record{Topic: string(returns.ReturnTable), Key: []byte(r.ID), Value: v}
			for b.Loop() {
				if _, err := mapReturnRow(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAuditMetadata: an audit row's metadata is the entry's object with
// seq and command_id added, winning over keys of the same name; what is
// not a JSON object is refused.
func TestAuditMetadata(t *testing.T) {
	cases := []struct {
		name      string
		metadata  string
		commandID string
		want      string // "" for an error
	}{
		{name: "no metadata", want: `{"seq":7}`},
		{name: "an empty object and a command", metadata: `{}`, commandID: "cmd-1", want: `{"seq":7,"command_id":"cmd-1"}`},
		{name: "an object", metadata: `{"template":"x","attempt":2}`, want: `{"template":"x","attempt":2,"seq":7}`},
		{name: "spaces around", metadata: " { \"a\" : [1, {\"b\": null}] } ", want: `{"a":[1,{"b":null}],"seq":7}`},
		{name: "keys of the same name", metadata: `{"seq":1,"command_id":"old"}`, commandID: "c\"2", want: `{"seq":7,"command_id":"c\"2"}`},
		{name: "not an object", metadata: `[1]`},
		{name: "not JSON", metadata: `{"a":`},
		{name: "two objects", metadata: `{}{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auditMetadata(returns.AuditEntry{Seq: 7, Metadata: json.RawMessage(tc.metadata), CommandID: tc.commandID})
			if tc.want == "" {
				require.ErrorIs(t, err, errNotAnObject)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
}
