-- +goose Up
-- PostgreSQL dialect of ../00002_engine.sql (same version, same schema):
-- INTEGER is BIGINT, rowid keys are identity columns, amounts stay TEXT.
-- The invoice engine's deadlines and the watcher's lookups.
CREATE INDEX invoices_expiry ON invoices (status, expires_at);
CREATE INDEX invoices_status_monitor ON invoices (status, monitor_until);
CREATE INDEX payments_pending ON payments (chain, status, confirmations);

-- +goose Down
DROP INDEX payments_pending;
DROP INDEX invoices_status_monitor;
DROP INDEX invoices_expiry;
