// Package client is a small Go client for payd's HTTP API (the v1 contract in
// docs/api.md): invoices, events, webhooks and the public status endpoint.
// The project's own tests and the `payd invoice` CLI use it; bots may too.
//
// It imports only invoice (for the invoice object and event body) and the
// standard library: never service, api or store, so it describes the API as
// seen from the wire. It does not retry, cache or verify webhook signatures.
// API errors come back as *Error with the contract's code, message and field.
package client
