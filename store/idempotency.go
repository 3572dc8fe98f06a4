package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// IdempotencyRecord is the stored outcome of a request made with an
// Idempotency-Key (API.md "Create"): what to replay when the same API key sends
// the same key again.
type IdempotencyRecord struct {
	APIKeyID    string // key_… of the caller; keys are scoped per API key
	Key         string // the Idempotency-Key header, ≤ 255 bytes
	RequestHash string // hex SHA-256 of the request (method, path, compacted body)
	StatusCode  int
	Response    []byte // the exact response body
	CreatedAt   time.Time
}

// IdempotencyRecord returns the record for (apiKeyID, key) created at or after
// notBefore, or ErrNotFound. Older records count as absent (they have
// expired) and are overwritten by the next SaveIdempotency.
func (db *DB) IdempotencyRecord(ctx context.Context, apiKeyID, key string, notBefore time.Time) (IdempotencyRecord, error) {
	rec := IdempotencyRecord{APIKeyID: apiKeyID, Key: key}
	var resp string
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT request_hash, status_code, response, created_at FROM idempotency_keys
		WHERE api_key_id = ? AND key = ? AND created_at >= ?`, apiKeyID, key, unix(notBefore)).
		Scan(&rec.RequestHash, &rec.StatusCode, &resp, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, ErrNotFound
	}
	if err != nil {
		return rec, fmt.Errorf("store: idempotency record: %w", err)
	}
	rec.Response = []byte(resp)
	rec.CreatedAt = fromUnix(created)
	return rec, nil
}

// SaveIdempotency stores rec, replacing an expired record with the same key,
// and deletes every record created before expireBefore (they can no longer be
// replayed). A live record with the same key is never replaced: that returns
// ErrConflict.
func (db *DB) SaveIdempotency(ctx context.Context, rec IdempotencyRecord, expireBefore time.Time) error {
	return db.Write(ctx, func(tx *Tx) error { return tx.SaveIdempotency(ctx, rec, expireBefore) })
}

// SaveIdempotency is (*DB).SaveIdempotency inside a transaction, so a record
// can commit together with what it records (the invoice it created).
func (tx *Tx) SaveIdempotency(ctx context.Context, rec IdempotencyRecord, expireBefore time.Time) error {
	if _, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, unix(expireBefore)); err != nil {
		return fmt.Errorf("store: expire idempotency keys: %w", err)
	}
	res, err := tx.exec(ctx, `INSERT INTO idempotency_keys (api_key_id, key, request_hash, status_code, response, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (api_key_id, key) DO NOTHING`,
		rec.APIKeyID, rec.Key, rec.RequestHash, rec.StatusCode, string(rec.Response), unix(rec.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: save idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// PruneIdempotency deletes records created before t and says how many.
func (db *DB) PruneIdempotency(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, unix(t))
		if err != nil {
			return fmt.Errorf("store: prune idempotency keys: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
