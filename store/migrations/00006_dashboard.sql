-- +goose Up
-- The merchant console (package dashboard): its users, their sessions and the
-- audit log of every write action done through it.

-- password_hash is a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
-- failed_logins counts wrong passwords since the last good one; locked_until
-- (unix seconds, 0 = not locked) is set when it reaches the lockout limit.
-- totp_secret is the base32 TOTP key ('' = no second factor).
CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'admin',  -- admin | viewer
    totp_secret   TEXT NOT NULL DEFAULT '',
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- A session is stored by the SHA-256 of its cookie value, never the value.
CREATE TABLE admin_sessions (
    id_hash      TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    admin    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL DEFAULT '',
    detail   TEXT NOT NULL DEFAULT '',
    ip       TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE admin_sessions;
DROP TABLE admins;
