// Package metrics owns payd's Prometheus metrics: one private registry (with
// the Go and process collectors), the /metrics handler, and small typed
// observers the other parts call — invoice and payment events by payment
// method, webhook deliveries by outcome, HTTP latency by route pattern and
// status class, per-chain tip/processed heights, lag and readiness, the
// address gap per method, the database's ping, and — several payd on one
// PostgreSQL database — this instance's id and its leases. Every metric name
// starts with "payd_".
//
// It imports only invoice (to read events) and the standard library besides
// the Prometheus client. It does not decide what to observe: the API, the
// watcher loops and the webhook manager (wired in cmd/payd) call it. All
// methods are safe on a nil *Metrics, which observes nothing, so tests and
// tools can pass nil.
package metrics
