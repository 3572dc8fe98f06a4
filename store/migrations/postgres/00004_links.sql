-- +goose Up
-- PostgreSQL dialect of ../00004_links.sql (same version, same schema):
-- INTEGER is BIGINT, rowid keys are identity columns, amounts stay TEXT.
-- Payment links: each visit of /l/{id} creates a fresh invoice (invoices.link_id)
-- from this template. amount is the decimal string in currency as validated at
-- creation; methods are space separated ('' = every enabled method).
-- max_uses 0 = unlimited; expires_at NULL = never; deleted_at set = deleted
-- (kept so /l/{id} answers 410 Gone rather than 404).
CREATE TABLE links (
    id          TEXT PRIMARY KEY,
    amount      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    methods     TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    metadata    TEXT,
    max_uses    BIGINT NOT NULL DEFAULT 0,
    uses        BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX invoices_link ON invoices (link_id, id) WHERE link_id <> '';

-- +goose Down
DROP INDEX invoices_link;
DROP TABLE links;
