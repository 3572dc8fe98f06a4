package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Admin is a user of the merchant console (package dashboard).
type Admin struct {
	ID           string // adm_…
	Name         string
	PasswordHash string // PHC string; never the password
	Role         string // "admin" | "viewer"
	TOTPSecret   string // base32; "" = no second factor
	FailedLogins int
	LockedUntil  time.Time // zero = not locked
	CreatedAt    time.Time
}

// AdminSession is a console session, stored by the hash of its cookie value.
type AdminSession struct {
	IDHash     string
	AdminID    string
	CSRF       string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// AuditEntry is one write action done through the console.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Admin  string // the admin's name
	Action string // "invoice.cancel", "apikey.revoke", …
	Target string // the id acted on
	Detail string // e.g. the reason given
	IP     string
}

const adminCols = `id, name, password_hash, role, totp_secret, failed_logins, locked_until, created_at`

func scanAdmin(sc interface{ Scan(...any) error }) (Admin, error) {
	var a Admin
	var locked, created int64
	err := sc.Scan(&a.ID, &a.Name, &a.PasswordHash, &a.Role, &a.TOTPSecret, &a.FailedLogins, &locked, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("store: admin: %w", err)
	}
	if locked > 0 {
		a.LockedUntil = fromUnix(locked)
	}
	a.CreatedAt = fromUnix(created)
	return a, nil
}

// CreateAdmin stores a new console user, or replaces the password (and
// role) of the one with the same name, clearing its lockout and ending its
// sessions. It returns the stored admin.
func (db *DB) CreateAdmin(ctx context.Context, a Admin) (Admin, error) {
	err := db.Write(ctx, func(tx *Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM admins WHERE name = ?`, a.Name).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO admins (id, name, password_hash, role, totp_secret, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				a.ID, a.Name, a.PasswordHash, a.Role, a.TOTPSecret, unix(a.CreatedAt))
			return err
		case err != nil:
			return err
		}
		a.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE admins SET password_hash = ?, role = ?, totp_secret = ?, failed_logins = 0, locked_until = 0 WHERE id = ?`,
			a.PasswordHash, a.Role, a.TOTPSecret, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE admin_id = ?`, id)
		return err
	})
	if err != nil {
		return Admin{}, fmt.Errorf("store: create admin: %w", err)
	}
	return db.Admin(ctx, a.ID)
}

// AdminByName returns the console user with this name (ErrNotFound if none).
func (db *DB) AdminByName(ctx context.Context, name string) (Admin, error) {
	return scanAdmin(db.r.QueryRowContext(ctx, `SELECT `+adminCols+` FROM admins WHERE name = ?`, name))
}

// Admin returns the console user with this id (ErrNotFound if none).
func (db *DB) Admin(ctx context.Context, id string) (Admin, error) {
	return scanAdmin(db.r.QueryRowContext(ctx, `SELECT `+adminCols+` FROM admins WHERE id = ?`, id))
}

// AdminCount returns how many console users there are.
func (db *DB) AdminCount(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM admins`).Scan(&n)
	return n, err
}

// RecordLoginFailure counts a wrong password for the admin and, when the
// count reaches limit, locks it until lockUntil. It returns the new count.
func (db *DB) RecordLoginFailure(ctx context.Context, adminID string, limit int, lockUntil time.Time) (int, error) {
	var n int
	err := db.Write(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE admins SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins`, adminID).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			_, err := tx.ExecContext(ctx, `UPDATE admins SET locked_until = ? WHERE id = ?`, unix(lockUntil), adminID)
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: login failure: %w", err)
	}
	return n, nil
}

// ResetLoginFailures clears the failure count and lockout after a good login.
func (db *DB) ResetLoginFailures(ctx context.Context, adminID string) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE admins SET failed_logins = 0, locked_until = 0 WHERE id = ?`, adminID)
		return err
	})
}

// SetAdminTOTP sets (or with "" clears) an admin's TOTP secret.
func (db *DB) SetAdminTOTP(ctx context.Context, adminID, secret string) error {
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE admins SET totp_secret = ? WHERE id = ?`, secret, adminID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// CreateAdminSession stores a session; sessions past their expiry are
// deleted in the same write.
func (db *DB) CreateAdminSession(ctx context.Context, s AdminSession) error {
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE expires_at <= ?`, unix(s.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_sessions (id_hash, admin_id, csrf, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			s.IDHash, s.AdminID, s.CSRF, unix(s.CreatedAt), unix(s.LastSeenAt), unix(s.ExpiresAt))
		if err != nil {
			return fmt.Errorf("store: create session: %w", err)
		}
		return nil
	})
}

// AdminSession returns the session with this id hash (ErrNotFound if none).
func (db *DB) AdminSession(ctx context.Context, idHash string) (AdminSession, error) {
	var s AdminSession
	var created, seen, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT id_hash, admin_id, csrf, created_at, last_seen_at, expires_at FROM admin_sessions WHERE id_hash = ?`, idHash).
		Scan(&s.IDHash, &s.AdminID, &s.CSRF, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("store: session: %w", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromUnix(created), fromUnix(seen), fromUnix(expires)
	return s, nil
}

// TouchAdminSession records activity on a session (for the idle expiry).
func (db *DB) TouchAdminSession(ctx context.Context, idHash string, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ?`, unix(now), idHash)
		return err
	})
}

// DeleteAdminSession ends one session.
func (db *DB) DeleteAdminSession(ctx context.Context, idHash string) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// DeleteAdminSessions ends every session of an admin ("sign out everywhere").
func (db *DB) DeleteAdminSessions(ctx context.Context, adminID string) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE admin_id = ?`, adminID)
		return err
	})
}

// AddAudit appends an entry to the audit log.
func (db *DB) AddAudit(ctx context.Context, e AuditEntry) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, admin, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?)`,
			unix(e.At), e.Admin, e.Action, e.Target, e.Detail, e.IP)
		if err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		return nil
	})
}

// AuditLog returns up to limit entries, newest first, with id below before
// (0 = from the newest).
func (db *DB) AuditLog(ctx context.Context, before int64, limit int) ([]AuditEntry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, at, admin, action, target, detail, ip FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Admin, &e.Action, &e.Target, &e.Detail, &e.IP); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		e.At = fromUnix(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
