-- +goose Up
-- The invoice engine's deadlines and the watcher's lookups.
CREATE INDEX invoices_expiry ON invoices (status, expires_at);
CREATE INDEX invoices_status_monitor ON invoices (status, monitor_until);
CREATE INDEX payments_pending ON payments (chain, status, confirmations);

-- +goose Down
DROP INDEX payments_pending;
DROP INDEX invoices_status_monitor;
DROP INDEX invoices_expiry;
