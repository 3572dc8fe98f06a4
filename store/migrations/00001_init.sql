-- +goose Up
-- Amounts are integers in base units written as decimal strings (TEXT): they
-- can exceed 2^63 (wei). Times are unix seconds (INTEGER, UTC).

CREATE TABLE invoices (
    id                TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    exception         TEXT NOT NULL DEFAULT '',
    amount            TEXT NOT NULL,
    currency          TEXT NOT NULL,
    currency_decimals INTEGER NOT NULL,
    currency_fiat     INTEGER NOT NULL DEFAULT 0,
    order_id          TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    metadata          TEXT,
    redirect_url      TEXT NOT NULL DEFAULT '',
    tolerance_bp      INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    settled_at        INTEGER,
    monitor_until     INTEGER NOT NULL,
    sequence          INTEGER NOT NULL DEFAULT 1,
    link_id           TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX invoices_status ON invoices (status, id);
CREATE INDEX invoices_order ON invoices (order_id, id) WHERE order_id <> '';
CREATE INDEX invoices_monitor ON invoices (monitor_until);

-- One row per payment method of an invoice.
CREATE TABLE invoice_methods (
    invoice_id             TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    method                 TEXT NOT NULL,
    chain                  TEXT NOT NULL,
    kind                   TEXT NOT NULL,
    chain_id               INTEGER NOT NULL DEFAULT 0,
    asset                  TEXT NOT NULL,
    asset_decimals         INTEGER NOT NULL,
    token                  TEXT NOT NULL DEFAULT '',
    address                TEXT NOT NULL,
    derive_index           INTEGER NOT NULL,
    amount_due             TEXT NOT NULL,
    rate                   TEXT NOT NULL DEFAULT '',
    rate_source            TEXT NOT NULL DEFAULT '',
    rate_time              INTEGER NOT NULL DEFAULT 0,
    confirmations_required INTEGER NOT NULL,
    position               INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (invoice_id, method)
) WITHOUT ROWID;
CREATE INDEX invoice_methods_address ON invoice_methods (chain, address);

-- Every deposit address ever handed out: an address belongs to one invoice,
-- forever. One address serves every asset of its chain for that invoice.
CREATE TABLE addresses (
    chain        TEXT NOT NULL,
    address      TEXT NOT NULL,
    derive_index INTEGER NOT NULL,
    invoice_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    watch_until  INTEGER NOT NULL,
    PRIMARY KEY (chain, address),
    UNIQUE (chain, derive_index)
) WITHOUT ROWID;
CREATE INDEX addresses_watch ON addresses (chain, watch_until);

-- Next derivation index per chain (monotonic; never reused).
CREATE TABLE derivation_counters (
    chain      TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL DEFAULT '',
    next_index INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    method       TEXT NOT NULL,
    chain        TEXT NOT NULL,
    txid         TEXT NOT NULL,
    output_index INTEGER NOT NULL,
    address      TEXT NOT NULL,
    amount       TEXT NOT NULL,
    block_height INTEGER NOT NULL DEFAULT 0,
    block_hash   TEXT NOT NULL DEFAULT '',
    confirmations INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL,
    rbf          INTEGER NOT NULL DEFAULT 0,
    seen_at      INTEGER NOT NULL,
    confirmed_at INTEGER,
    UNIQUE (chain, txid, output_index, method)
) WITHOUT ROWID;
CREATE INDEX payments_invoice ON payments (invoice_id);
CREATE INDEX payments_block ON payments (chain, block_hash) WHERE block_hash <> '';
CREATE INDEX payments_txid ON payments (chain, txid);

-- The outbox: every event, written in the same transaction as the change that
-- caused it. seq gives the global order for polling and websocket replay.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX events_invoice ON events (invoice_id, seq);

-- The tail of each chain payd has processed (the cursor is the highest row).
CREATE TABLE chain_blocks (
    chain      TEXT NOT NULL,
    height     INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    parent     TEXT NOT NULL,
    time       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chain, height)
) WITHOUT ROWID;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    api_key_id   TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
DROP TABLE chain_blocks;
DROP TABLE events;
DROP TABLE payments;
DROP TABLE derivation_counters;
DROP TABLE addresses;
DROP TABLE invoice_methods;
DROP TABLE invoices;
