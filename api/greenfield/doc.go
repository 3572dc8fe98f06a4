// Package greenfield answers the subset of BTCPay Server's Greenfield API
// (/api/v1) that BTCPay's shop plugins use — WooCommerce ("BTCPay for
// WooCommerce V2"), Magento 2, PrestaShop, OpenCart 4, GiveWP — so a shop
// moves to payd by changing a URL and an API key (docs/greenfield.md).
//
// It owns: the /api/v1 routes and their auth (Authorization: token <key> or
// Bearer), the translation of Greenfield requests to service calls and of
// payd invoices to Greenfield's shapes (TitleCase statuses, decimal strings,
// unix-second times, method ids such as BTC-CHAIN and USDC-ETH), Greenfield's
// error bodies, and the Greenfield webhook body (WebhookFormat), which the
// webhook package sends through payd's own outbox and signs with BTCPay-Sig.
//
// It serves one store with a fixed id from the config. It imports service,
// webhook, store (ErrNotFound), invoice and internal/apikey; it must not
// import api (the /v1 API never learns it exists), checkout, live or cmd. It
// does not do pull payments, refunds, Lightning or store management, and
// holds no state of its own: invoices are payd's, webhook endpoints are
// payd's endpoints with format "greenfield".
package greenfield
