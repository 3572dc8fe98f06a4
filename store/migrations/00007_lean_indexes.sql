-- +goose Up
-- Two indexes no query uses, each written on every invoice creation:
-- addresses (chain, address) already finds an invoice by address, and
-- invoices_status_monitor (status, monitor_until) serves every
-- monitor_until query.
DROP INDEX invoice_methods_address;
DROP INDEX invoices_monitor;

-- +goose Down
CREATE INDEX invoices_monitor ON invoices (monitor_until);
CREATE INDEX invoice_methods_address ON invoice_methods (chain, address);
