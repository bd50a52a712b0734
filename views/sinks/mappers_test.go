package sinks

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/processors/recommendations"
	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
)

// TestMappersRefuseMalformedEvents checks that every mapper refuses what it
// cannot write with ErrMalformedEvent (the record is dead-lettered), and
// maps a well-formed event.
func TestMappersRefuseMalformedEvents(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	usd := func(s string) topics.Money {
		return topics.Money{Amount: decimal.RequireFromString(s), Currency: "USD"}
	}
	fifty := usd("50.00")
	card := giftcards.CardEvent{CardKey: "k", Last4: "AB12", Status: giftcards.StatusActive, Amount: &fifty, Balance: usd("50.00")}
	summary := returns.Summary{ReturnID: "r1", OrderID: "o1", CustomerID: "c1", Status: returns.StatePending,
		Reason: returns.ReasonDefective, Items: []returns.SummaryItem{{LineItemID: "li", ProductID: "p", QuantityRequested: 1}}}
	batch := recommendations.Batch{UserID: "u1", OccurredAt: at, Items: []recommendations.Interaction{{EventID: "e1", ProductID: "p1", Type: recommendations.View}}}

	cases := []struct {
		name     string
		mapper   Mapper
		typ      string
		data     any
		wantRows int
		wantErr  bool
	}{
		{name: "gift card created", mapper: mapGiftCard, typ: giftcards.EventCreated, data: card, wantRows: 1},
		{name: "gift card without key", mapper: mapGiftCard, typ: giftcards.EventRedeemed, data: giftcards.CardEvent{Last4: "AB12", Status: giftcards.StatusActive, Balance: usd("1.00")}, wantErr: true},
		{name: "gift card with an unknown status", mapper: mapGiftCard, typ: giftcards.EventRedeemed, data: giftcards.CardEvent{CardKey: "k", Last4: "AB12", Status: "lost", Balance: usd("1.00")}, wantErr: true},
		{name: "gift card created without amount", mapper: mapGiftCard, typ: giftcards.EventCreated, data: giftcards.CardEvent{CardKey: "k", Last4: "AB12", Status: giftcards.StatusActive, Balance: usd("1.00")}, wantErr: true},
		{name: "gift card payload that is not an object", mapper: mapGiftCard, typ: giftcards.EventCreated, data: []int{1}, wantErr: true},
		{name: "return initiated", mapper: mapReturn, typ: returns.EventInitiated, data: summary, wantRows: 3},
		{name: "return with an unknown status", mapper: mapReturn, typ: returns.EventApproved, data: returns.Summary{ReturnID: "r", OrderID: "o", CustomerID: "c", Reason: "x", Status: "lost"}, wantErr: true},
		{name: "return without order", mapper: mapReturn, typ: returns.EventApproved, data: returns.Summary{ReturnID: "r", CustomerID: "c", Reason: "x", Status: returns.StateApproved}, wantErr: true},
		{name: "return item without quantity", mapper: mapReturn, typ: returns.EventApproved, data: returns.Summary{ReturnID: "r", OrderID: "o", CustomerID: "c", Reason: "x", Status: returns.StateApproved,
			Items: []returns.SummaryItem{{LineItemID: "li", ProductID: "p"}}}, wantErr: true},
		{name: "another event type on a return topic", mapper: mapReturn, typ: "return.shipped", data: summary, wantErr: true},
		{name: "interactions", mapper: mapRecommendations, typ: recommendations.TypeInteraction, data: batch, wantRows: 1},
		{name: "interaction of an unknown type", mapper: mapRecommendations, typ: recommendations.TypeInteraction,
			data: recommendations.Batch{UserID: "u1", OccurredAt: at, Items: []recommendations.Interaction{{EventID: "e", ProductID: "p", Type: "like"}}}, wantErr: true},
		{name: "generated without user", mapper: mapRecommendations, typ: recommendations.TypeGenerated, data: recommendations.Generated{Strategy: recommendations.Hybrid}, wantErr: true},
		{name: "an event type the recommendations sink does not map", mapper: mapRecommendations, typ: "recommendations.clicked", data: map[string]any{}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := topics.NewEnvelope(tc.typ, at, tc.data)
			require.NoError(t, err)
			rows, err := tc.mapper(env, nil)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrMalformedEvent)
				return
			}
			require.NoError(t, err)
			require.Len(t, rows, tc.wantRows)
			for _, r := range rows {
				require.NoError(t, r.check())
			}
		})
	}
}
