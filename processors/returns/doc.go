// Package returns is the returns domain of ShopStream streams: return
// requests for completed orders, from initiation through approval, receipt
// at the warehouse and completion with a refund, restock and customer
// notification.
//
// The package holds the pure domain and the goka wiring side by side:
//
//   - pure domain (no Kafka): Order and OrderState (what order.completed
//     and shipment.delivered said, and the quantities already under
//     return), Policy (the return policy as data, see policy.default.json),
//     RefundCalculator (exact decimal refunds), the transition table of the
//     return state machine, Return and its Apply functions, the append-only
//     audit trail;
//   - wiring: the ingress that re-keys inbound events by order ID, the
//     order processor keyed by order ID, the return processor keyed by
//     return ID that runs the completion saga, and Service that runs them.
//
// Because one goroutine owns each partition, the order processor
// serializes every initiation of one order: two returns racing for the
// same units cannot both reserve them.
package returns
