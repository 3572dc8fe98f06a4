-- +goose Up
-- PostgreSQL dialect of ../00010_leases.sql (same version, same schema):
-- INTEGER is BIGINT, rowid keys are identity columns, amounts stay TEXT.
-- Leases: which payd instance runs a singleton part (a chain's watcher, the
-- expirer, webhook delivery) when several share one PostgreSQL database. A
-- lease is held until expires_at (unix milliseconds) unless renewed; token is
-- the fencing token, +1 on every change of holder, and every write of the
-- part checks it in its own transaction. A lone SQLite payd never writes here.
-- (00008 and 00009 are taken by refunds and Lightning.)
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
