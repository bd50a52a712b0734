package topics

// Gift card topics. The card processor owns every card, keyed by the card's
// key (HMAC-SHA256 of the normalized code, hex); two index processors find
// cards by redemption ID and by order ID; an ingress re-keys inbound order
// events by order ID.
const (
	// GiftCardCommands carries every gift card command, keyed by card key.
	GiftCardCommands = "gift_card.commands"
	// GiftCardCreations carries client create commands, keyed by command
	// ID: the creation index remembers which card key each command ID
	// created, so a retry that generated another code cannot issue a
	// second card.
	GiftCardCreations = "gift_card.creations"
	// GiftCardRedemptions carries refund commands and redemption index
	// records, keyed by redemption ID.
	GiftCardRedemptions = "gift_card.redemptions"
	// GiftCardOrders carries order index records from the card processor and
	// re-keyed order events from the ingress, keyed by order ID.
	GiftCardOrders = "gift_card.orders"
	// GiftCardReplies carries the results of the gift card commands that
	// asked for them (Envelope.ReplyTopic), keyed by the command's
	// correlation ID: the returns saga's store-credit cards.
	GiftCardReplies = "gift_card.replies"

	// GiftCardCreated ... GiftCardVoided are the seed's events, keyed by card key.
	GiftCardCreated  = "gift_card.created"
	GiftCardRedeemed = "gift_card.redeemed"
	GiftCardRefunded = "gift_card.refunded"
	GiftCardExpired  = "gift_card.expired"
	GiftCardVoided   = "gift_card.voided"
	// GiftCardTransfers carries transfer saga events (debited, credited,
	// reversed, completed), keyed by card key.
	GiftCardTransfers = "gift_card.transfers"
	// GiftCardHolds carries hold events (authorized, captured, released,
	// expired), keyed by card key.
	GiftCardHolds = "gift_card.holds"
)

// Gift card processor groups.
const (
	GiftCardCardsGroup           = "gift_card.cards"
	GiftCardCreationIndexGroup   = "gift_card.creation-index"
	GiftCardRedemptionIndexGroup = "gift_card.redemption-index"
	GiftCardOrderIndexGroup      = "gift_card.order-index"
	GiftCardIngressGroup         = "gift_card.ingress"
)

func init() { domainCatalogs = append(domainCatalogs, giftCardTopics) }

func giftCardTopics() []Topic {
	event := func(name, msg string) Topic {
		return Topic{Name: name, Cleanup: Delete, Key: "card key", Message: msg,
			Producers: []string{"gift card processor"}, Consumers: []string{"gift card sinks"}}
	}
	table := func(group, key, msg string) Topic {
		return Topic{Name: GroupTable(group), Cleanup: Compact, Key: key, Message: msg,
			Producers: []string{group}, Consumers: []string{group}}
	}
	dlq := func(group string) Topic {
		return Topic{Name: DLQ(group), Cleanup: Delete, Key: "original key", Message: "DeadLetter",
			Producers: []string{group}, Consumers: []string{"operators"}}
	}
	return []Topic{
		{Name: GiftCardCommands, Cleanup: Delete, Key: "card key", Message: "gift_card.* command envelope",
			Producers: []string{"HTTP API", "CLI", "creation index", "redemption index", "order index", "card processor (saga steps, expiry)"}, Consumers: []string{GiftCardCardsGroup}},
		{Name: GiftCardCreations, Cleanup: Delete, Key: "command ID", Message: "gift_card.create command envelope",
			Producers: []string{"HTTP API", "CLI"}, Consumers: []string{GiftCardCreationIndexGroup}},
		{Name: GiftCardRedemptions, Cleanup: Delete, Key: "redemption ID", Message: "gift_card.refund command, gift_card.redemption_recorded",
			Producers: []string{"HTTP API", "CLI", GiftCardCardsGroup}, Consumers: []string{GiftCardRedemptionIndexGroup}},
		{Name: GiftCardOrders, Cleanup: Delete, Key: "order ID", Message: "gift_card.order_* index records, order.* events",
			Producers: []string{GiftCardCardsGroup, GiftCardIngressGroup}, Consumers: []string{GiftCardOrderIndexGroup}},
		{Name: GiftCardReplies, Cleanup: Delete, Key: "correlation ID (the return ID of a store-credit card)",
			Message: "CommandResult of a command that named this reply topic", Producers: []string{GiftCardCardsGroup, GiftCardCreationIndexGroup, GiftCardRedemptionIndexGroup},
			Consumers: []string{ReturnsIngressGroup}},
		table(GiftCardCardsGroup, "card key", "giftcards.CardState"),
		table(GiftCardCreationIndexGroup, "command ID", "giftcards.CreationEntry"),
		table(GiftCardRedemptionIndexGroup, "redemption ID", "giftcards.RedemptionEntry"),
		table(GiftCardOrderIndexGroup, "order ID", "giftcards.OrderState"),
		dlq(GiftCardCardsGroup), dlq(GiftCardCreationIndexGroup), dlq(GiftCardRedemptionIndexGroup), dlq(GiftCardOrderIndexGroup), dlq(GiftCardIngressGroup),
		event(GiftCardCreated, "gift_card.created"),
		event(GiftCardRedeemed, "gift_card.redeemed"),
		event(GiftCardRefunded, "gift_card.refunded"),
		event(GiftCardExpired, "gift_card.expired"),
		event(GiftCardVoided, "gift_card.voided"),
		event(GiftCardTransfers, "gift_card.transfer_*"),
		event(GiftCardHolds, "gift_card.hold_*"),
	}
}
