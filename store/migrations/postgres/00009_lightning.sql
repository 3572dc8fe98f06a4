-- +goose Up
-- PostgreSQL dialect of ../00009_lightning.sql (same version, same schema).
-- One row per BOLT11 invoice payd asked the merchant's LND for (lightning/btc
-- methods). The payment request is also the method's address (and so in
-- addresses, watched like one); payment_hash is LND's r_hash (hex), the key to
-- cancel the invoice at expiry. cancelled_at is set once LND cancelled it (or
-- it could no longer be: settled), so a restart finishes what was left.
CREATE TABLE lightning_invoices (
    chain           TEXT NOT NULL,
    payment_hash    TEXT NOT NULL,
    invoice_id      TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    method          TEXT NOT NULL,
    payment_request TEXT NOT NULL,
    add_index       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    cancelled_at    BIGINT,
    PRIMARY KEY (chain, payment_hash)
);
CREATE INDEX lightning_invoices_open ON lightning_invoices (invoice_id) WHERE cancelled_at IS NULL;

-- +goose Down
DROP TABLE lightning_invoices;
