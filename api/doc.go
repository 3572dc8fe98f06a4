// Package api is payd's merchant HTTP API (../shared/API.md, v1): invoices
// (create with Idempotency-Key, get, list, cancel, mark), events, webhook
// endpoints and their deliveries, the payments CSV report, the public
// /i/{id}/status view, /healthz, /readyz, /metrics and the OpenAPI document
// (openapi.yaml, embedded and served at GET /v1/openapi.yaml).
//
// It owns authentication (Bearer API keys checked with internal/apikey in
// constant time, scopes per route), per-key and per-IP rate limits, strict
// request decoding (internal/httpx), idempotency (serialized in process and
// persisted through IdempotencyStore) and the one function that turns any
// handler error into the contract's error body.
//
// It declares the small interfaces it needs (KeyStore, EventStore, Webhooks,
// IdempotencyStore, ReportStore); cmd/payd passes the concrete store, webhook
// manager and service. It may import invoice, internal/*, store (types and
// sentinel errors only), service and live; never watcher, chain/* or checkout.
//
// It does not deliver webhooks, run websockets (the live hub's handler is
// only wrapped with auth here) or implement the invoice rules (service does).
package api
