-- +goose Up
-- PostgreSQL dialect of ../00011_webhook_claims.sql (same version, same schema):
-- INTEGER is BIGINT.
-- Delivery claims: with several payd instances on one PostgreSQL database,
-- every instance delivers webhooks, and an instance takes a delivery by
-- claiming it (SELECT … FOR UPDATE SKIP LOCKED) for claim_until (unix
-- milliseconds); claim is the claim's token, +1 on every claim, and recording
-- an attempt's outcome requires it unchanged (a claimer whose claim expired
-- and was taken writes no state). A lone SQLite payd keeps its claims in
-- memory (store/claims.go): these columns stay at their defaults there, and
-- exist so both dialects have one schema.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_deliveries ADD COLUMN claim_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN claim BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN claim;
ALTER TABLE webhook_deliveries DROP COLUMN claim_until;
ALTER TABLE webhook_deliveries DROP COLUMN claimed_by;
