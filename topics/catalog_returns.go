package topics

// Topics of the returns domain (processors/returns). Every internal topic is
// keyed by the aggregate that owns it: order ID for the order processor,
// return ID for the return processor and the simulated services' inputs.
const (
	// ReturnsOrders carries what the order processor consumes, keyed by
	// order ID: order.completed and shipment.delivered re-keyed by the
	// ingress, return.initiate commands and return.release messages.
	ReturnsOrders = "returns.orders"
	// ReturnsCommands carries return commands (approve, reject, receive,
	// complete, cancel, ...) and the order processor's return.create
	// hand-offs, keyed by return ID.
	ReturnsCommands = "returns.commands"
	// ReturnsReplies carries the answers of payments, gift cards, inventory,
	// shipping labels and notifications to the saga, keyed by return ID.
	ReturnsReplies = "returns.replies"

	// Requests to other ShopStream services, keyed by return ID. In dev and
	// tests the returns simulators answer them.
	PaymentsRefunds      = "payments.refund-requests"
	InventoryRestocks    = "inventory.restock-requests"
	ShippingLabels       = "shipping.label-requests"
	NotificationsSend    = "notifications.send-requests"
	OrdersReplacements   = "orders.replacement-requests"
	ReturnInitiatedTopic = "return.initiated"
	ReturnApprovedTopic  = "return.approved"
	ReturnReceivedTopic  = "return.received"
	ReturnCompletedTopic = "return.completed"
	ReturnRejectedTopic  = "return.rejected"
	ReturnCancelledTopic = "return.cancelled"
	// ReturnActionRequiredTopic carries return.action_required: a return
	// parked for a person (refund_failed, requires_action).
	ReturnActionRequiredTopic = "return.action_required"
	InventoryRestocked        = "inventory.restocked"
)

// Goka groups of the returns domain.
const (
	ReturnsIngressGroup    = "returns.ingress"
	ReturnsOrdersGroup     = "returns.order-processor"
	ReturnsReturnsGroup    = "returns.return-processor"
	ReturnsSimulatorsGroup = "returns.simulators"
)

func init() { domainCatalogs = append(domainCatalogs, returnsTopics) }

func returnsTopics() []Topic {
	byReturn := func(name, msg string, producers, consumers []string) Topic {
		return Topic{Name: name, Cleanup: Delete, Key: "return ID", Message: msg, Producers: producers, Consumers: consumers}
	}
	event := func(name string) Topic {
		return byReturn(name, name+" (returns.Summary)", []string{ReturnsReturnsGroup}, []string{"return sinks"})
	}
	table := func(group, key, msg string, extraConsumers ...string) Topic {
		return Topic{Name: GroupTable(group), Cleanup: Compact, Key: key, Message: msg,
			Producers: []string{group}, Consumers: append([]string{group, "HTTP API views"}, extraConsumers...)}
	}
	dlq := func(group string) Topic {
		return Topic{Name: DLQ(group), Cleanup: Delete, Key: "original key", Message: "DeadLetter",
			Producers: []string{group}, Consumers: []string{"operators"}}
	}
	saga := []string{ReturnsReturnsGroup}
	sims := []string{"the service", ReturnsSimulatorsGroup + " (dev)"}
	return []Topic{
		{Name: ReturnsOrders, Cleanup: Delete, Key: "order ID", Message: "order.completed, shipment.delivered, return.initiate, return.release",
			Producers: []string{ReturnsIngressGroup, "HTTP API", "CLI", ReturnsReturnsGroup}, Consumers: []string{ReturnsOrdersGroup}},
		byReturn(ReturnsCommands, "return.* command envelope, return.create", []string{"HTTP API", "CLI", ReturnsOrdersGroup}, saga),
		byReturn(ReturnsReplies, "returns.Reply (payments, gift cards, inventory, labels, notifications)",
			[]string{ReturnsIngressGroup, "payments", "inventory", "shipping", "notifications"}, saga),
		byReturn(PaymentsRefunds, "payments.refund (returns.RefundRequest)", saga, sims),
		byReturn(InventoryRestocks, "inventory.restock (returns.RestockRequest)", saga, sims),
		byReturn(ShippingLabels, "shipping.label_requested (returns.LabelRequest)", saga, sims),
		byReturn(NotificationsSend, "notification.send (returns.NotificationRequest)", saga, sims),
		byReturn(OrdersReplacements, "order.replacement_requested (returns.ReplacementOrderRequest)", saga, []string{"orders service"}),
		event(ReturnInitiatedTopic), event(ReturnApprovedTopic), event(ReturnReceivedTopic),
		event(ReturnCompletedTopic), event(ReturnRejectedTopic), event(ReturnCancelledTopic), event(ReturnActionRequiredTopic),
		byReturn(InventoryRestocked, "inventory.restocked (returns.RestockedEvent)", saga, []string{"inventory sinks"}),
		table(ReturnsOrdersGroup, "order ID", "returns.OrderRecord"),
		// the returns sink reads it for the audit entries no event carries
		table(ReturnsReturnsGroup, "return ID", "returns.ReturnRecord", SinkReturns),
		table(ReturnsSimulatorsGroup, "return ID", "simulators.State"),
		dlq(ReturnsIngressGroup), dlq(ReturnsOrdersGroup), dlq(ReturnsReturnsGroup), dlq(ReturnsSimulatorsGroup),
	}
}
