// Package views is ShopStream's read side and HTTP edge: the HTTP JSON API
// under /v1, health and readiness, the goka views that serve lookups, and
// the mapping of typed domain errors to HTTP statuses. Domain routes live in
// one file per domain (giftcards.go, returns.go, recommendations.go).
package views
