// Package webhook delivers payd's events to webhook endpoints, durably and
// signed (API.md "Events and webhooks").
//
// It owns: webhook endpoints (from the config file and from the API), the
// fan-out of committed events into a per-endpoint delivery queue, delivery
// workers with bounded concurrency, the retry schedule, the SSRF guard, and
// the Payd-Signature scheme (Sign, Verify).
//
// How it works. Events are written to the events table (the outbox) in the
// same transaction as the change that caused them. A fan-out step reads the
// events after a persisted cursor and, in ONE write transaction, queues a
// delivery row per matching endpoint and advances the cursor; an endpoint
// receives the events created after it was. One worker per endpoint takes its
// due deliveries that are at the head of their invoice's line, up to
// Config.EndpointConcurrency in flight to the endpoint (one at a time while
// it fails) and Config.Concurrency in all, so a slow or dead endpoint never
// delays another. An invoice's events go to an endpoint in event order: each
// waits until the earlier ones were answered 2xx or failed for good,
// including across retries. Attempts are recorded, with the deliveries' next
// states, in batched transactions. Nothing lives only in memory: after a
// crash, deliveries that were in flight or not yet recorded are simply due
// again (at-least-once; consumers deduplicate by Payd-Event-Id).
//
// Several Managers, one per payd instance, may share one PostgreSQL
// database: each fans out and delivers, claiming the deliveries it takes
// (store.ClaimWebhookDeliveries) until Config.ClaimTTL; it sends one only
// while the claim outlasts the request, and its outcome is recorded only
// while the claim is its own, so an instance that died or lost the database
// leaves its deliveries to the others once its claims ran out.
//
// Imports: invoice and store of payd's, plus the standard library. It must
// not import api, live, checkout or cmd. It does not serve HTTP (api maps the
// Manager's methods to /v1/webhooks and /v1/events/{id}/redeliver), does not
// create events, and does not order events of different invoices
// (invoice.sequence lets a consumer drop stale news, e.g. after a redeliver).
package webhook
