package store

import (
	"context"
	"fmt"
	"strings"
)

// UpdateWebhookEndpoint replaces an API endpoint's URL, secret, events,
// format, disabled flag and options (its id, source, CreatedAt and
// CreatedSeq stay). ErrNotFound when there is no such endpoint of source "api".
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error {
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = ?, secret = ?, events = ?, format = ?, disabled = ?, options = ?
			WHERE id = ? AND source = 'api'`,
			e.URL, e.Secret, strings.Join(e.Events, " "), e.Format, e.Disabled, e.Options, e.ID)
		if err != nil {
			return fmt.Errorf("store: update webhook endpoint %s: %w", e.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// SetWebhookDisabled sets an API endpoint's disabled flag alone. Enabling
// also moves its CreatedSeq to the highest event seq now, so the events
// committed while it was disabled are passed over whenever the fan-out reads
// them. ErrNotFound when there is no such endpoint of source "api".
func (db *DB) SetWebhookDisabled(ctx context.Context, id string, disabled bool) error {
	q := `UPDATE webhook_endpoints SET disabled = 1 WHERE id = ? AND source = 'api'`
	if !disabled {
		q = `UPDATE webhook_endpoints SET disabled = 0, created_seq = MAX(created_seq, (SELECT COALESCE(MAX(seq), 0) FROM events))
			WHERE id = ? AND source = 'api'`
	}
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, q, id)
		if err != nil {
			return fmt.Errorf("store: disable webhook endpoint %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
