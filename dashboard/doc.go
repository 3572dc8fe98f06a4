// Package dashboard is payd's merchant console: server-rendered HTML pages
// under a configurable path (default /dashboard/) of `payd run`, for the
// merchant who will never write a curl command. It shows invoices, payments,
// webhook deliveries, API keys and reports, and lets a signed-in admin create
// invoices and payment links, re-deliver webhooks, cancel and mark invoices,
// manage webhook endpoints and API keys.
//
// Everything is embedded (templates, CSS, a little progressive JavaScript; no
// third-party assets) and every page works without JavaScript.
//
// Security: admins are made with `payd admin create`; passwords are stored
// as argon2id hashes; sessions live in the database (by the SHA-256 of the
// cookie value) with an idle and an absolute expiry; every form carries a
// CSRF token; logins are rate limited per client and an account is locked
// after LockoutAfter wrong passwords; an optional TOTP code is a second
// factor. Every write action is appended to the audit log.
//
// The console is a delivery package beside checkout and api: it drives
// service, webhook and store through the small interfaces it declares
// (Invoices, Store, Webhooks) and imports no other delivery package. The
// /v1 API stays the one way in for programs; the console does not add rules
// of its own, so its forms fail with the same messages as the API.
package dashboard
