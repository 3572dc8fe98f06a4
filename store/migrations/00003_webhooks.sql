-- +goose Up
-- Webhook endpoints, the delivery queue derived from the events outbox, and
-- every delivery attempt. Delivery times are unix MILLISECONDS (retry
-- schedules can be shortened to sub-second steps in tests); created_at is unix
-- seconds like everywhere else.

-- Secrets are stored as given: payd must re-send them in every signature, so a
-- hash would not do. Protect the database file (mode 0600, backups alike).
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,            -- space separated; "*" = every type
    source      TEXT NOT NULL,            -- "config" | "api"
    created_at  INTEGER NOT NULL,
    created_seq INTEGER NOT NULL          -- receives events with seq > created_seq
) WITHOUT ROWID;

-- One row per (endpoint, event). status: pending | succeeded | failed.
-- retry counts failed attempts since the event was (re)queued; gen changes on
-- every redeliver so an attempt already in flight cannot overwrite it.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    endpoint_id     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_seq       INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    retry           INTEGER NOT NULL DEFAULT 0,
    gen             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    error       TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);

-- The fan-out cursor: every event with seq <= seq has its deliveries queued.
CREATE TABLE webhook_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);

-- +goose Down
DROP TABLE webhook_cursor;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
