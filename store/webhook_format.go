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
