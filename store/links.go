package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrGone: the row exists but may no longer be used (a payment link that was
// deleted, has expired or has reached its max_uses).
var ErrGone = errors.New("store: gone")

// Link is a stored payment link: the template of the invoices its visits
// create.
type Link struct {
	ID          string // lnk_…
	Amount      string // decimal string in Currency, as validated at creation
	Currency    string
	Methods     []string // empty = every enabled method
	Description string
	Metadata    json.RawMessage // nil = none
	MaxUses     int64           // 0 = unlimited
	Uses        int64           // invoices created through the link
	ExpiresAt   time.Time       // zero = never
	CreatedAt   time.Time
	DeletedAt   time.Time // zero = not deleted
}

// Usable reports whether a visit at now may create an invoice.
func (l Link) Usable(now time.Time) bool {
	return l.DeletedAt.IsZero() && (l.MaxUses == 0 || l.Uses < l.MaxUses) &&
		(l.ExpiresAt.IsZero() || now.Unix() < l.ExpiresAt.Unix())
}

const linkCols = `id, amount, currency, methods, description, metadata, max_uses, uses, expires_at, created_at, deleted_at`

func scanLink(sc interface{ Scan(...any) error }) (Link, error) {
	var l Link
	var methods string
	var meta sql.NullString
	var expires, deleted sql.NullInt64
	var created int64
	if err := sc.Scan(&l.ID, &l.Amount, &l.Currency, &methods, &l.Description, &meta, &l.MaxUses, &l.Uses, &expires, &created, &deleted); err != nil {
		return l, err
	}
	l.Methods = strings.Fields(methods)
	if meta.Valid {
		l.Metadata = json.RawMessage(meta.String)
	}
	if expires.Valid {
		l.ExpiresAt = fromUnix(expires.Int64)
	}
	if deleted.Valid {
		l.DeletedAt = fromUnix(deleted.Int64)
	}
	l.CreatedAt = fromUnix(created)
	return l, nil
}

func nullUnix(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

// CreateLink stores a new payment link (Uses and DeletedAt are ignored).
// ErrConflict when the id exists.
func (db *DB) CreateLink(ctx context.Context, l Link) error {
	var meta sql.NullString
	if len(l.Metadata) > 0 {
		meta = sql.NullString{String: string(l.Metadata), Valid: true}
	}
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO links (`+linkCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL) ON CONFLICT (id) DO NOTHING`,
			l.ID, l.Amount, l.Currency, strings.Join(l.Methods, " "), l.Description, meta, l.MaxUses, nullUnix(l.ExpiresAt), unix(l.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: create link: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		return nil
	})
}

// Link returns one payment link, deleted or not, or ErrNotFound.
func (db *DB) Link(ctx context.Context, id string) (Link, error) {
	l, err := scanLink(db.r.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("store: link %s: %w", id, err)
	}
	return l, nil
}

// DeleteLink marks a link deleted at now. ErrNotFound when there is no such
// link or it is already deleted.
func (db *DB) DeleteLink(ctx context.Context, id string, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, unix(now), id)
		if err != nil {
			return fmt.Errorf("store: delete link %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// UseLink takes one use of a link at now, atomically: the use counter only
// moves while the link is not deleted, not expired and below max_uses, so
// concurrent visits never exceed max_uses. It returns the link after the
// increment; ErrNotFound for an unknown id, ErrGone for a deleted, expired or
// used-up link. A caller that then fails to create the invoice gives the use
// back with ReleaseLinkUse.
func (db *DB) UseLink(ctx context.Context, id string, now time.Time) (Link, error) {
	var l Link
	err := db.Write(ctx, func(tx *Tx) error {
		var err error
		l, err = scanLink(tx.QueryRowContext(ctx, `UPDATE links SET uses = uses + 1
			WHERE id = ? AND deleted_at IS NULL AND (max_uses = 0 OR uses < max_uses) AND (expires_at IS NULL OR expires_at > ?)
			RETURNING `+linkCols, id, unix(now)))
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM links WHERE id = ?`, id).Scan(&one); {
			case errors.Is(err, sql.ErrNoRows):
				return ErrNotFound
			case err != nil:
				return fmt.Errorf("store: use link %s: %w", id, err)
			}
			return ErrGone
		}
		if err != nil {
			return fmt.Errorf("store: use link %s: %w", id, err)
		}
		return nil
	})
	return l, err
}

// ReleaseLinkUse gives back a use taken by UseLink whose invoice could not be
// created.
func (db *DB) ReleaseLinkUse(ctx context.Context, id string) error {
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE links SET uses = uses - 1 WHERE id = ? AND uses > 0`, id); err != nil {
			return fmt.Errorf("store: release link use %s: %w", id, err)
		}
		return nil
	})
}
