// Package watcher joins the chains to the invoices. One Watcher per chain
// consumes its chain.Backend's events — blocks connected and disconnected,
// mempool transfers, replacements — records payments idempotently (chain +
// txid + output index + method), counts confirmations on every new tip,
// applies the invoice status rules (invoice.Evaluate) and writes the changes,
// the events they cause and the chain cursor in one transaction. The Expirer
// moves invoices whose deadline passed (expiry, end of the monitoring window)
// with one timer on the next deadline, not by scanning.
//
// It imports invoice, chain and store; it does not import the API, webhook or
// live packages: it reports committed events through a Notify callback.
package watcher
