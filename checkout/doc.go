// Package checkout serves the hosted checkout page a shopper pays an invoice
// on: GET /i/{id} (server-rendered HTML from embedded html/template files),
// the per-method QR codes GET /i/{id}/qr/{chain}/{asset}.png|.svg, and the
// embedded, fingerprinted static assets under /static/.
//
// The page works without JavaScript (everything needed to pay is in the HTML,
// and a <noscript> meta refresh reloads it) and updates live with it: the
// embedded script listens on the public websocket /i/{id}/ws (served by
// package live, mounted by cmd/payd) or polls /i/{id}/status (package api),
// and on every newer invoice sequence fetches the page again and swaps its
// content in place.
//
// Every response carries strict security headers (a Content-Security-Policy
// without inline script or style, nosniff, no referrer, frame-ancestors from
// the config). Strings are translated (en, ru, id) by Accept-Language or ?lang=.
//
// checkout reads invoices through its own small Invoices interface and must
// not import store, watcher, api, live or cmd. It does not create invoices
// itself, or serve the websocket or the JSON status. Payment links (/l/{id},
// links.go) are rendered here but made into invoices by a LinkVisitor
// (service); Register mounts them only when given that handler.
//
// The refund claim page (/r/{id}, claim.go) is mounted by RegisterClaims: it
// shows a refund's public view (refund.ViewOptions.Public: no reason, no
// invoice, the address masked) and takes the shopper's address through a
// Claims (service.ProvideAddress), with a per-refund HMAC form token, a
// Sec-Fetch-Site/Origin check and per-IP limits (docs/refunds.md "Claim link").
package checkout
