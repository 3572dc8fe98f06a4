package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// Webhook delivery statuses (webhook_deliveries.status).
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// WebhookEndpoint is a stored webhook endpoint. Secret is stored as given
// (it must be re-sent in every signature, so it cannot be hashed).
type WebhookEndpoint struct {
	ID        string
	URL       string
	Secret    string
	Events    []string // "*" = every type
	Source    string   // "config" | "api"
	CreatedAt time.Time
	// CreatedSeq is the highest event seq when the endpoint was created (or
	// last enabled, SetWebhookDisabled): it
	// receives events with a greater seq only.
	CreatedSeq int64
	// Format names the body format ("" = payd's own, "greenfield"), Disabled
	// endpoints get no new deliveries, Options is the format's opaque JSON.
	Format   string
	Disabled bool
	Options  string
}

// WebhookDelivery is a queued delivery of one event to one endpoint, with the
// event it carries.
type WebhookDelivery struct {
	ID            int64
	EndpointID    string
	EventID       string
	EventType     string
	EventSeq      int64
	InvoiceID     string // the event's invoice: deliveries of one invoice go out in EventSeq order
	Payload       []byte
	Attempts      int // attempts made so far, ever
	Retry         int // failed attempts since the event was (re)queued
	Gen           int64
	NextAttemptAt time.Time
	// Claim is the token of the claim ClaimWebhookDeliveries took, valid
	// until ClaimUntil; recording the outcome needs it unchanged.
	Claim      int64
	ClaimUntil time.Time
}

// WebhookAttempt is one recorded delivery attempt.
type WebhookAttempt struct {
	EndpointID string
	EventID    string
	Attempt    int
	StatusCode int
	Error      string
	DurationMS int64
	At         time.Time
}

const endpointCols = `id, url, secret, events, source, created_at, created_seq`

// endpointSelect is endpointCols and the format columns (00005_greenfield).
const endpointSelect = endpointCols + `, format, disabled, options`

func scanEndpoint(sc interface{ Scan(...any) error }) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	var events string
	var created int64
	if err := sc.Scan(&e.ID, &e.URL, &e.Secret, &events, &e.Source, &created, &e.CreatedSeq, &e.Format, &e.Disabled, &e.Options); err != nil {
		return e, err
	}
	e.Events = strings.Fields(events)
	e.CreatedAt = fromUnix(created)
	return e, nil
}

func queryEndpoints(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]WebhookEndpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+endpointSelect+` FROM webhook_endpoints ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhook endpoints: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// WebhookEndpoints lists every endpoint, oldest first, secrets included.
func (db *DB) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	return queryEndpoints(ctx, db.r)
}

// WebhookEndpoint returns one endpoint, or ErrNotFound.
func (db *DB) WebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	e, err := scanEndpoint(db.r.QueryRowContext(ctx, `SELECT `+endpointSelect+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("store: webhook endpoint %s: %w", id, err)
	}
	return e, nil
}

// CreateWebhookEndpoint stores a new endpoint; its CreatedSeq is the highest
// event seq at commit. ErrConflict when the id exists.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) (WebhookEndpoint, error) {
	err := db.Write(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&e.CreatedSeq); err != nil {
			return fmt.Errorf("store: create webhook endpoint: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointSelect+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			e.ID, e.URL, e.Secret, strings.Join(e.Events, " "), e.Source, unix(e.CreatedAt), e.CreatedSeq, e.Format, e.Disabled, e.Options)
		if err != nil {
			return fmt.Errorf("store: create webhook endpoint: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		return nil
	})
	return e, err
}

// SyncConfigWebhookEndpoints makes the endpoints of source "config" equal to
// eps in one transaction: new ones are created (CreatedSeq = the highest event
// seq now), existing ones keep their CreatedAt and CreatedSeq but take the
// given URL, secret and events, and config endpoints not in eps are deleted
// with their queued deliveries.
func (db *DB) SyncConfigWebhookEndpoints(ctx context.Context, eps []WebhookEndpoint) error {
	return db.Write(ctx, func(tx *Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&last); err != nil {
			return fmt.Errorf("store: sync webhook endpoints: %w", err)
		}
		keep := map[string]bool{}
		for _, e := range eps {
			keep[e.ID] = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`) VALUES (?, ?, ?, ?, 'config', ?, ?)
				ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events, source = 'config'`,
				e.ID, e.URL, e.Secret, strings.Join(e.Events, " "), unix(e.CreatedAt), last); err != nil {
				return fmt.Errorf("store: sync webhook endpoint %s: %w", e.ID, err)
			}
		}
		all, err := queryEndpoints(ctx, tx)
		if err != nil {
			return err
		}
		for _, e := range all {
			if e.Source == "config" && !keep[e.ID] {
				if err := deleteEndpoint(ctx, tx, e.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func deleteEndpoint(ctx context.Context, tx *Tx, id string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete webhook endpoint %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = ?`, id); err != nil {
		return fmt.Errorf("store: delete webhook deliveries of %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE endpoint_id = ?`, id); err != nil {
		return fmt.Errorf("store: delete webhook attempts of %s: %w", id, err)
	}
	return nil
}

// DeleteWebhookEndpoint deletes an endpoint with its deliveries and attempts;
// ErrNotFound when there is none.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	if err := db.Write(ctx, func(tx *Tx) error { return deleteEndpoint(ctx, tx, id) }); err != nil {
		return err
	}
	if !db.pg {
		db.claims.dropEndpoint(id)
	}
	return nil
}

// WebhookCursor returns the seq of the last event fanned out to the delivery
// queue (0 before the first).
func (db *DB) WebhookCursor(ctx context.Context) (int64, error) {
	var seq int64
	err := db.r.QueryRowContext(ctx, `SELECT seq FROM webhook_cursor WHERE id = 1`).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: webhook cursor: %w", err)
	}
	return seq, nil
}

// FanOutWebhookEvents queues, in ONE write transaction, a delivery due at now
// for every (event, endpoint) with event.Seq > endpoint.CreatedSeq and
// match(endpoint, event), then advances the cursor to the last event's seq
// (it never moves back). A delivery queued behind a pending delivery of the same invoice to the same
// endpoint (one waiting for a retry) is due no earlier than that one: it
// could not go out before it anyway (ClaimWebhookDeliveries). evs must be
// the events after the caller's cursor, oldest first. It returns the ids of
// the endpoints the events are for and the cursor now.
//
// On PostgreSQL every instance fans out: the transaction takes the cursor row
// FOR UPDATE SKIP LOCKED, skips the events another instance already fanned
// out (seq at or below the stored cursor), and does nothing when another
// instance's fan-out holds the row (it is doing this work now; the caller
// tries again on its next wake-up), so no instance ever waits for another's
// fan-out, and the cursor only moves forward. The unique (endpoint_id,
// event_id) key makes a delivery row exist once whatever happens.
func (db *DB) FanOutWebhookEvents(ctx context.Context, evs []invoice.Event, now time.Time, match func(WebhookEndpoint, invoice.Event) bool) (touched []string, cursor int64, err error) {
	if len(evs) == 0 {
		return nil, 0, nil
	}
	err = db.Write(ctx, func(tx *Tx) error {
		touched, cursor = touched[:0], evs[len(evs)-1].Seq
		eps, err := queryEndpoints(ctx, tx)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, ev := range evs {
			for _, ep := range eps {
				if ev.Seq > ep.CreatedSeq && match(ep, ev) && !seen[ep.ID] {
					seen[ep.ID] = true
					touched = append(touched, ep.ID)
				}
			}
		}
		var done int64 // events at or below done are fanned out already
		if db.pg {
			var busy bool
			if done, busy, err = tx.lockWebhookCursor(ctx); err != nil || busy {
				cursor = evs[0].Seq - 1
				return err
			}
			if done >= cursor {
				cursor = done
				return nil
			}
		}
		for _, ev := range evs {
			if ev.Seq <= done {
				continue
			}
			for _, ep := range eps {
				if ev.Seq <= ep.CreatedSeq || !match(ep, ev) {
					continue
				}
				if _, err := tx.exec(ctx, queueDelivery, ep.ID, ev.ID, ev.Seq, now.UnixMilli(), ev.InvoiceID); err != nil {
					return fmt.Errorf("store: queue delivery of %s to %s: %w", ev.ID, ep.ID, err)
				}
			}
		}
		if _, err := tx.exec(ctx, `INSERT INTO webhook_cursor (id, seq) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > webhook_cursor.seq`, cursor); err != nil {
			return fmt.Errorf("store: advance webhook cursor: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return touched, cursor, nil
}

// lockWebhookCursor (PostgreSQL) locks the fan-out cursor's row and returns
// its seq, or busy when another transaction holds it. The row is created
// first when the database has none yet.
func (tx *Tx) lockWebhookCursor(ctx context.Context) (seq int64, busy bool, err error) {
	const lock = `SELECT seq FROM webhook_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED`
	err = tx.QueryRowContext(ctx, lock).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_cursor`).Scan(&n); err == nil && n > 0 {
			return 0, true, nil
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO webhook_cursor (id, seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`)
		}
		if err == nil {
			err = tx.QueryRowContext(ctx, lock).Scan(&seq)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return 0, true, nil
		}
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: lock webhook cursor: %w", err)
	}
	return seq, false, nil
}

// queueDelivery inserts a pending delivery (?1 endpoint, ?2 event id, ?3 event
// seq, ?4 now in ms, ?5 invoice id), due at now or when the latest pending
// delivery of an earlier event of the same invoice to the same endpoint is.
// CROSS JOIN keeps SQLite walking the invoice's few events first (the
// subqueries here and in the delivery queries), not the endpoint's queue.
const queueDelivery = `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, status, next_attempt_at, updated_at)
	SELECT ?1, ?2, ?3, 'pending', MAX(?4, COALESCE((SELECT MAX(d.next_attempt_at) FROM events e
		CROSS JOIN webhook_deliveries d ON d.endpoint_id = ?1 AND d.event_id = e.id
		WHERE e.invoice_id = ?5 AND e.seq < ?3 AND d.status = 'pending'), 0)), ?4
	WHERE true
	ON CONFLICT (endpoint_id, event_id) DO NOTHING`

// pendingWebhookDeliveries returns up to limit pending deliveries of one
// endpoint that are at the head of their invoice's line, soonest due first,
// skipping the ids in exclude (those claimed), with their events' type,
// invoice and payload. A delivery is at the head when no pending delivery of
// an earlier event (lower seq) of the same invoice to the same endpoint
// exists: an event waits until the invoice's earlier events were delivered
// or failed for good, so at most one delivery per invoice is returned, and
// none behind an excluded one. SQLite's ClaimWebhookDeliveries takes the due
// ones.
func (db *DB) pendingWebhookDeliveries(ctx context.Context, endpointID string, limit int, exclude []int64) ([]WebhookDelivery, error) {
	q := `SELECT d.id, d.endpoint_id, d.event_id, e.type, d.event_seq, e.invoice_id, e.payload, d.attempts, d.retry, d.gen, d.next_attempt_at
		FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
		WHERE d.endpoint_id = ? AND d.status = 'pending'
		AND NOT EXISTS (SELECT 1 FROM events e2 CROSS JOIN webhook_deliveries d2 ON d2.endpoint_id = d.endpoint_id AND d2.event_id = e2.id
			WHERE e2.invoice_id = e.invoice_id AND e2.seq < e.seq AND d2.status = 'pending')`
	args := []any{endpointID}
	if len(exclude) > 0 {
		q += ` AND d.id NOT IN (?` + strings.Repeat(`, ?`, len(exclude)-1) + `)`
		for _, id := range exclude {
			args = append(args, id)
		}
	}
	q += ` ORDER BY d.next_attempt_at, d.id LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: pending deliveries of %s: %w", endpointID, err)
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		var d WebhookDelivery
		var payload string
		var next int64
		if err := rows.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.EventSeq, &d.InvoiceID, &payload, &d.Attempts, &d.Retry, &d.Gen, &next); err != nil {
			return nil, fmt.Errorf("store: pending deliveries of %s: %w", endpointID, err)
		}
		d.Payload = []byte(payload)
		d.NextAttemptAt = time.UnixMilli(next)
		out = append(out, d)
	}
	return out, rows.Err()
}

// WebhookResult is the outcome of one attempt of Delivery: the attempt row,
// and the delivery's next Status (DeliverySucceeded, DeliveryFailed when no
// retry is left, or DeliveryPending to retry at Next).
type WebhookResult struct {
	Delivery WebhookDelivery
	Attempt  WebhookAttempt
	Status   string
	Next     time.Time
}

// RecordWebhookAttempts stores the attempts in ONE write transaction (group
// commit) and, for each delivery whose claim (WebhookDelivery.Claim) is still
// held and that was not re-queued meanwhile (its gen changed), sets its
// status and next attempt time; either way the claim ends. A delivery to
// retry also pushes the later pending deliveries of its invoice to the same
// endpoint back to its Next: they wait for it. The attempt of a delivery
// deleted meanwhile (its endpoint was deleted) is dropped. lost counts the
// results whose claim ran out and was taken by another claimer: their attempt
// is logged but the delivery's state is the new owner's (fencing).
func (db *DB) RecordWebhookAttempts(ctx context.Context, rs []WebhookResult) (lost int, err error) {
	if len(rs) == 0 {
		return 0, nil
	}
	var held []bool // SQLite: the claims pinned for this transaction
	if !db.pg {
		held = db.claims.pin(rs)
		defer db.claims.unpin(rs, held)
	}
	err = db.Write(ctx, func(tx *Tx) error {
		lost = 0
		if db.pg {
			if _, err := tx.ExecContext(ctx, pgTxIdle); err != nil {
				return fmt.Errorf("store: record attempts: %w", err)
			}
		}
		for i, r := range rs {
			d, a := r.Delivery, r.Attempt
			if _, err := tx.exec(ctx, `INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, status_code, error, duration_ms, at)
				SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?)`,
				a.EndpointID, a.EventID, a.Attempt, a.StatusCode, a.Error, a.DurationMS, a.At.UnixMilli(), d.ID); err != nil {
				return fmt.Errorf("store: record attempt of %s: %w", d.EventID, err)
			}
			// The claim column's token: PostgreSQL's claims live in the
			// row; SQLite's in memory (held), its column stays 0.
			token := d.Claim
			if !db.pg {
				if !held[i] {
					lost++
					continue
				}
				token = 0
			}
			retry := 1
			if r.Status == DeliverySucceeded {
				retry = 0
			}
			res, err := tx.exec(ctx, `UPDATE webhook_deliveries SET status = ?, retry = retry + ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?,
				claimed_by = '', claim_until = 0
				WHERE id = ? AND gen = ? AND claim = ?`, r.Status, retry, r.Next.UnixMilli(), a.At.UnixMilli(), d.ID, d.Gen, token)
			if err != nil {
				return fmt.Errorf("store: update delivery of %s: %w", d.EventID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// Re-queued meanwhile (gen), deleted, or claimed by another.
				res, err := tx.exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, claimed_by = '', claim_until = 0 WHERE id = ? AND claim = ?`, d.ID, token)
				if err != nil {
					return fmt.Errorf("store: update delivery of %s: %w", d.EventID, err)
				}
				if n, _ := res.RowsAffected(); n == 0 && db.pg {
					var exists int
					if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE id = ?`, d.ID).Scan(&exists); err != nil {
						return fmt.Errorf("store: update delivery of %s: %w", d.EventID, err)
					}
					if exists > 0 {
						lost++
					}
				}
				continue
			}
			if r.Status == DeliveryPending && d.InvoiceID != "" {
				if _, err := tx.exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ?1
					WHERE id IN (SELECT d.id FROM events e CROSS JOIN webhook_deliveries d ON d.endpoint_id = ?2 AND d.event_id = e.id
						WHERE e.invoice_id = ?3 AND e.seq > ?4 AND d.status = 'pending' AND d.next_attempt_at < ?1)`,
					r.Next.UnixMilli(), d.EndpointID, d.InvoiceID, d.EventSeq); err != nil {
					return fmt.Errorf("store: defer deliveries after %s: %w", d.EventID, err)
				}
			}
		}
		return nil
	})
	return lost, err
}

// WebhookAttempts returns up to limit attempts to one endpoint, newest first.
func (db *DB) WebhookAttempts(ctx context.Context, endpointID string, limit int) ([]WebhookAttempt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT endpoint_id, event_id, attempt, status_code, error, duration_ms, at
		FROM webhook_attempts WHERE endpoint_id = ? ORDER BY id DESC LIMIT ?`, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: attempts of %s: %w", endpointID, err)
	}
	defer rows.Close()
	var out []WebhookAttempt
	for rows.Next() {
		var a WebhookAttempt
		var at int64
		if err := rows.Scan(&a.EndpointID, &a.EventID, &a.Attempt, &a.StatusCode, &a.Error, &a.DurationMS, &at); err != nil {
			return nil, fmt.Errorf("store: attempts of %s: %w", endpointID, err)
		}
		a.At = time.UnixMilli(at).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// RequeueWebhookEvent makes event ev due now for each endpoint in
// endpointIDs, whatever its delivery's state (new row, succeeded, failed or
// pending), with a fresh retry budget. One write transaction.
func (db *DB) RequeueWebhookEvent(ctx context.Context, ev invoice.Event, endpointIDs []string, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		for _, id := range endpointIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, status, next_attempt_at, updated_at)
				VALUES (?, ?, ?, 'pending', ?, ?)
				ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = 'pending', retry = 0, gen = webhook_deliveries.gen + 1,
					next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at`,
				id, ev.ID, ev.Seq, now.UnixMilli(), now.UnixMilli()); err != nil {
				return fmt.Errorf("store: requeue %s for %s: %w", ev.ID, id, err)
			}
		}
		return nil
	})
}
