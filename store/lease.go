package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrLeaseLost: a write was fenced off because this instance no longer holds
// the lease it was made under (another instance took over).
var ErrLeaseLost = errors.New("store: lease lost")

// Lease is a held lease: its fencing token, when it was last taken or
// renewed and when it runs out.
type Lease struct {
	Name    string
	Holder  string
	Token   int64
	Renewed time.Time
	Expires time.Time
}

// AcquireLease takes or renews the lease name for holder until now+ttl. It
// succeeds when the lease is free, expired or already holder's; the token
// changes only when the holder does. held is false (and err nil) when another
// instance holds an unexpired lease.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (l Lease, held bool, err error) {
	nowMs, exp := now.UnixMilli(), now.Add(ttl).UnixMilli()
	// One statement, committed on its own: on PostgreSQL through the lease
	// connection, so a renewal never waits for this instance's writes.
	err = db.leaseConn().QueryRowContext(ctx, `INSERT INTO leases (name, holder, token, expires_at, renewed_at) VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
			holder = excluded.holder, expires_at = excluded.expires_at, renewed_at = excluded.renewed_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING token`, name, holder, exp, nowMs, nowMs).Scan(&l.Token)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("store: lease %s: %w", name, err)
	}
	return Lease{Name: name, Holder: holder, Token: l.Token, Renewed: time.UnixMilli(nowMs), Expires: time.UnixMilli(exp)}, true, nil
}

// ReleaseLease gives l up at once (a graceful stop), so another instance
// takes over without waiting for the expiry.
func (db *DB) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := db.leaseConn().ExecContext(ctx, `UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND token = ?`, l.Name, l.Holder, l.Token)
	if err != nil {
		return fmt.Errorf("store: release lease %s: %w", l.Name, err)
	}
	return nil
}

// leaseConn is where lease statements go: PostgreSQL's lease connection, or
// SQLite's one writer (one payd owns the file).
func (db *DB) leaseConn() *sql.DB {
	if db.leases != nil {
		return db.leases
	}
	return db.w
}

// LeaseHolder is one row of the lease table, for /readyz and metrics.
type LeaseHolder struct {
	Name      string
	Holder    string
	Token     int64
	Expires   time.Time
	RenewedAt time.Time
}

// Leases lists every lease.
func (db *DB) Leases(ctx context.Context) ([]LeaseHolder, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, holder, token, expires_at, renewed_at FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	defer rows.Close()
	var out []LeaseHolder
	for rows.Next() {
		var h LeaseHolder
		var exp, ren int64
		if err := rows.Scan(&h.Name, &h.Holder, &h.Token, &exp, &ren); err != nil {
			return nil, fmt.Errorf("store: leases: %w", err)
		}
		h.Expires, h.RenewedAt = time.UnixMilli(exp), time.UnixMilli(ren)
		out = append(out, h)
	}
	return out, rows.Err()
}

// Fence fails with ErrLeaseLost unless l is still held (same holder, same
// token, not expired at now). Called first in every write transaction of a
// leased part. On PostgreSQL it locks the lease row FOR SHARE: a takeover
// (which updates the row) waits until this transaction has committed, so no
// write of the old holder lands after the new one started. The transaction
// may then sit idle for no longer than the lease has left
// (idle_in_transaction_session_timeout, for this transaction only): when
// the network between this instance and the database is cut mid-transaction,
// PostgreSQL sees no disconnect and would otherwise keep the row locked —
// and every other instance out of the lease — until TCP keepalive gives up,
// hours later.
func (tx *Tx) Fence(ctx context.Context, l Lease, now time.Time) error {
	q := `SELECT token FROM leases WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?`
	args := []any{l.Name, l.Holder, l.Token, now.UnixMilli()}
	if tx.db.pg {
		q = `SELECT token, set_config('idle_in_transaction_session_timeout', ?, true) FROM leases
			WHERE name = ? AND holder = ? AND token = ? AND expires_at > ? FOR SHARE`
		args = append([]any{strconv.FormatInt(max(l.Expires.Sub(now).Milliseconds(), 1), 10)}, args...)
	}
	var tok int64
	var err error
	if tx.db.pg {
		var idle string
		err = tx.QueryRowContext(ctx, q, args...).Scan(&tok, &idle)
	} else {
		err = tx.QueryRowContext(ctx, q, args...).Scan(&tok)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s (token %d of %s)", ErrLeaseLost, l.Name, l.Token, l.Holder)
	}
	if err != nil {
		return fmt.Errorf("store: fence %s: %w", l.Name, err)
	}
	return nil
}
