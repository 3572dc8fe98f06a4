package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payd/payd/internal/apikey"
)

// CreateAPIKey stores a key (its hash only).
func (db *DB) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Hash, strings.Join(k.Scopes, " "), unix(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: create api key: %w", err)
		}
		return nil
	})
}

func scanKey(sc interface{ Scan(...any) error }) (apikey.Key, error) {
	var k apikey.Key
	var scopes string
	var created int64
	var used, revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &created, &used, &revoked); err != nil {
		return k, err
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt = fromUnix(created)
	if used.Valid {
		t := fromUnix(used.Int64)
		k.LastUsedAt = &t
	}
	if revoked.Valid {
		t := fromUnix(revoked.Int64)
		k.RevokedAt = &t
	}
	return k, nil
}

const keyCols = `id, name, hash, scopes, created_at, last_used_at, revoked_at`

// APIKey returns the key with this id, revoked or not.
func (db *DB) APIKey(ctx context.Context, id string) (apikey.Key, error) {
	k, err := scanKey(db.queryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, ErrNotFound
	}
	return k, err
}

// APIKeys lists every key, newest first.
func (db *DB) APIKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []apikey.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes a key; ErrNotFound when there is no such active key.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, unix(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// TouchAPIKey records that a key was used (best effort, at most once a minute).
func (db *DB) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
			unix(now), id, unix(now)-60)
		return err
	})
}
