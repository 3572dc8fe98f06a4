-- +goose Up
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
    max_uses    INTEGER NOT NULL DEFAULT 0,
    uses        INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
) WITHOUT ROWID;
CREATE INDEX invoices_link ON invoices (link_id, id) WHERE link_id <> '';

-- +goose Down
DROP INDEX invoices_link;
DROP TABLE links;
