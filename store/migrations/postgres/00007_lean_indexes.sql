-- +goose Up
-- PostgreSQL dialect of ../00007_lean_indexes.sql (same version, same schema):
-- INTEGER is BIGINT, rowid keys are identity columns, amounts stay TEXT.
-- Fewer index entries per invoice creation, the same query plans.
-- addresses (chain, address) already finds an invoice by address, so
-- invoice_methods_address is never used; the expirer's deadlines only ever
-- look at new (expires_at) and processing (monitor_until) invoices, so
-- partial indexes on those statuses replace the full ones (a new invoice
-- enters one small index instead of three, and settled invoices leave them).
DROP INDEX invoice_methods_address;
DROP INDEX invoices_monitor;
DROP INDEX invoices_expiry;
DROP INDEX invoices_status_monitor;
CREATE INDEX invoices_new_expiry ON invoices (expires_at) WHERE status = 'new';
CREATE INDEX invoices_processing_monitor ON invoices (monitor_until) WHERE status = 'processing';

-- +goose Down
DROP INDEX invoices_processing_monitor;
DROP INDEX invoices_new_expiry;
CREATE INDEX invoices_status_monitor ON invoices (status, monitor_until);
CREATE INDEX invoices_expiry ON invoices (status, expires_at);
CREATE INDEX invoices_monitor ON invoices (monitor_until);
CREATE INDEX invoice_methods_address ON invoice_methods (chain, address);
