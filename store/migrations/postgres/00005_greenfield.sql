-- +goose Up
-- PostgreSQL dialect of ../00005_greenfield.sql (same version, same schema):
-- INTEGER is BIGINT, rowid keys are identity columns, amounts stay TEXT.
-- Webhook endpoints may deliver in another body format than payd's own:
-- format '' = payd (Payd-Signature), 'greenfield' = BTCPay Greenfield
-- (BTCPay-Sig). disabled endpoints get no new deliveries. options is opaque
-- JSON owned by the format (Greenfield keeps enabled, automaticRedelivery and
-- authorizedEvents there).
ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN options TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN options;
ALTER TABLE webhook_endpoints DROP COLUMN disabled;
ALTER TABLE webhook_endpoints DROP COLUMN format;
