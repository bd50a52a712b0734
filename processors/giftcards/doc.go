// Package giftcards is the gift card service: a ledgered, double-spend-safe
// card keyed by the HMAC of its code, on goka processors.
//
// The pure domain (no Kafka) is in code.go (codes and card keys), card.go
// (state, ledger, statuses), operations.go (create, redeem, refund,
// transfer, void, expiry, holds), orders.go (the order index's refund and
// cancel allocation) and results.go. The goka wiring is in processor.go
// (the card processor), redemptions.go (the redemption index), orderindex.go
// (the order index), ingress.go (re-keying inbound order events), expiry.go
// (the expiry ticker) and service.go (everything together).
//
// The clear code never enters this package's state or messages: the edge
// (HTTP API, CLI) generates codes with a CodeGenerator and sends only the
// card key and the last four characters.
package giftcards
