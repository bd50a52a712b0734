package sinks

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
)

// Gift card read models. The card's key (HMAC of the code) stands for the
// seed's code: the code itself never reaches PostgreSQL.
var (
	// GiftCardsTable is the current state of every card.
	GiftCardsTable = &Table{Name: "gift_cards", Kind: CurrentState,
		Columns: []string{"card_key", "code_last4", "original_amount", "current_balance", "currency", "status",
			"purchaser_id", "recipient_email", "message", "batch_id", "expires_at", "voided_at", "voided_by",
			"void_reason", "created_at", "updated_at"},
		Key: []string{"card_key"},
		Merge: []string{"original_amount", "purchaser_id", "recipient_email", "message", "batch_id", "expires_at",
			"voided_at", "voided_by", "void_reason", "created_at"},
	}
	// GiftCardTransactionsTable is the immutable ledger.
	GiftCardTransactionsTable = &Table{Name: "gift_card_transactions", Kind: AppendOnly,
		Columns: []string{"id", "event_id", "gift_card_key", "transaction_type", "amount", "balance_before",
			"balance_after", "currency", "order_id", "reference_id", "metadata", "created_at"},
		Unique: []string{"id"},
	}
)

// GiftCards is the gift card sink: every gift card event topic into
// gift_cards and gift_card_transactions.
func GiftCards() Spec {
	return Spec{
		Name: topics.SinkGiftCards,
		Topics: []string{topics.GiftCardCreated, topics.GiftCardRedeemed, topics.GiftCardRefunded,
			topics.GiftCardExpired, topics.GiftCardVoided, topics.GiftCardTransfers, topics.GiftCardHolds},
		Tables: []*Table{GiftCardsTable, GiftCardTransactionsTable},
		Map:    mapGiftCard,
	}
}

var cardStatuses = []giftcards.Status{giftcards.StatusActive, giftcards.StatusPartiallyRedeemed,
	giftcards.StatusFullyRedeemed, giftcards.StatusExpired, giftcards.StatusVoided}

func mapGiftCard(env *topics.Envelope, _ *kgo.Record) ([]Row, error) {
	d, err := topics.DecodeData[giftcards.CardEvent](env)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedEvent, env.Type, err)
	}
	switch {
	case d.CardKey == "" || d.Last4 == "":
		return nil, fmt.Errorf("%w: %s without card key or last4", ErrMalformedEvent, env.Type)
	case d.Balance.Currency == "" || d.Balance.Amount.IsNegative():
		return nil, fmt.Errorf("%w: %s with balance %v", ErrMalformedEvent, env.Type, d.Balance)
	case !slices.Contains(cardStatuses, d.Status):
		return nil, fmt.Errorf("%w: %s with status %q", ErrMalformedEvent, env.Type, d.Status)
	case d.Seq < 0:
		return nil, fmt.Errorf("%w: %s with sequence number %d", ErrMalformedEvent, env.Type, d.Seq)
	}
	at := env.OccurredAt
	cur := d.Balance.Currency
	card := []any{d.CardKey, d.Last4, nil, topics.AmountString(d.Balance.Amount, cur), cur, string(d.Status),
		nonEmpty(d.PurchaserID), nonEmpty(d.RecipientEmail), nonEmpty(d.Message), nonEmpty(d.BatchID), d.ExpiresAt,
		nil, nil, nil, nil, at}
	switch env.Type {
	case giftcards.EventCreated:
		if d.Amount == nil {
			return nil, fmt.Errorf("%w: gift_card.created without amount", ErrMalformedEvent)
		}
		card[2] = topics.AmountString(d.Amount.Amount, cur)
		card[14] = at
	case giftcards.EventVoided:
		card[11], card[12], card[13] = at, nonEmpty(d.AdminID), nonEmpty(d.Reason)
	}
	// The card's event sequence number orders its current state exactly,
	// whichever topic an event came from and whatever its time; events
	// written before the card had one carry 0 and fall back to their time.
	rows := []Row{{Table: GiftCardsTable, Values: card, Order: Order{Version: d.Seq, OccurredAt: at, EventID: env.ID}}}

	if tx := d.Transaction; tx != nil {
		if tx.ID == "" || tx.Type == "" {
			return nil, fmt.Errorf("%w: %s with a transaction without ID or type", ErrMalformedEvent, env.Type)
		}
		meta := map[string]string{"event_type": env.Type, "command_id": env.CommandID,
			"correlation_id": env.CorrelationID, "redemption_id": d.RedemptionID, "refund_id": d.RefundID,
			"transfer_id": d.TransferID, "hold_id": d.HoldID, "counterparty_key": d.Counterparty, "reason": d.Reason}
		maps := map[string]string{}
		for k, v := range meta {
			if v != "" {
				maps[k] = v
			}
		}
		b, _ := json.Marshal(maps)
		created := tx.At
		if created.IsZero() {
			created = at
		}
		rows = append(rows, Row{Table: GiftCardTransactionsTable, Values: []any{tx.ID, env.ID, d.CardKey,
			string(tx.Type), topics.AmountString(tx.Amount, cur), topics.AmountString(tx.BalanceBefore, cur), topics.AmountString(tx.BalanceAfter, cur),
			d.Balance.Currency, nonEmpty(firstNonEmpty(tx.OrderID, d.OrderID)), nonEmpty(tx.ReferenceID), string(b), created}})
	}
	return rows, nil
}

// nonEmpty is s, or NULL when s is empty.
func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
