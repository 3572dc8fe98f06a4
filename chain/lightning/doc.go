// Package lightning is payd's backend for Lightning payments through the
// merchant's own LND node: one BOLT11 invoice per payd invoice, settlement
// pushed by LND's invoice subscription, and the node's health for /readyz.
//
// What it owns: a small REST client for LND (net/http, TLS pinned to the
// node's tls.cert, the macaroon in the Grpc-Metadata-macaroon header; no lnd
// Go packages), a decoder of lnd's macaroon format that refuses any macaroon
// able to move funds (see CheckMacaroon), and a chain.Backend whose "blocks"
// are LND's settle indexes.
//
// How settlement maps onto chain.Backend: every invoice LND settles has a
// settle_index (1, 2, 3, … across the node). The backend reports each as a
// BlockConnected event at height settle_index (hash "settle-<n>", time the
// settle date) carrying a Transfer when the settled invoice is one of the
// watched BOLT11 payment requests: TxID is the payment hash, Index 0, Amount
// the paid amount in whole satoshis. The watcher stores that height as the
// chain cursor in the same transaction as the payment, so after a restart
// Run resubscribes with settle_index = cursor and LND replays every
// settlement payd missed. A settled payment is in a "block" at once, so it
// counts as confirmed (Lightning has no confirmations).
//
// It imports chain only; never watcher, store or anything above. It stores
// nothing.
package lightning
