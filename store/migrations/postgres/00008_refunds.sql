-- +goose Up
-- PostgreSQL dialect of ../00008_refunds.sql (same version, same schema).
-- Refunds (rf_…) and sweeps (sw_…): the unsigned transactions payd builds
-- for the merchant's own wallet, and what it saw of them on chain. The
-- queried columns are columns; the rest of the record (amounts as decimal
-- strings, inputs, change, the PSBT, EVM fields) is one JSON object in data.
CREATE TABLE refunds (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,              -- refund | sweep
    invoice_id TEXT NOT NULL DEFAULT '',   -- '' for a sweep
    chain      TEXT NOT NULL,
    status     TEXT NOT NULL,
    address    TEXT NOT NULL DEFAULT '',   -- destination ('' while awaiting_address)
    txid       TEXT NOT NULL DEFAULT '',
    block_hash TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL DEFAULT 0, -- claim link deadline (awaiting_address)
    data       TEXT NOT NULL
);
CREATE INDEX refunds_invoice ON refunds (invoice_id, id) WHERE invoice_id <> '';
CREATE INDEX refunds_open ON refunds (chain, status, address);
CREATE INDEX refunds_block ON refunds (chain, block_hash) WHERE block_hash <> '';

-- The outputs an open or finished Bitcoin refund/sweep spends: one row per
-- outpoint, so two transactions of payd's never spend the same output.
-- Rows go when their refund is canceled or expires.
CREATE TABLE refund_inputs (
    chain     TEXT NOT NULL,
    outpoint  TEXT NOT NULL,              -- txid:vout
    refund_id TEXT NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    PRIMARY KEY (chain, outpoint)
);
CREATE INDEX refund_inputs_refund ON refund_inputs (refund_id);

-- +goose Down
DROP TABLE refund_inputs;
DROP TABLE refunds;
