package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Delivery claims. Every payd instance on a shared PostgreSQL database
// delivers webhooks; an instance takes a delivery by claiming it: in one
// transaction it picks the due deliveries at the head of their invoice's line
// that nobody holds (SELECT … FOR UPDATE SKIP LOCKED, so two claimers never
// wait for each other nor get the same row) and marks them claimed_by it
// until claim_until, with a new token (claim + 1). A dead or cut-off
// instance's claims run out and anyone takes them again. Recording an
// attempt's outcome requires the token unchanged (RecordWebhookAttempts): an
// instance whose claim ran out and was taken writes no state over the new
// owner's. An invoice's later delivery is no head while an earlier one is
// pending, claimed or not, so per-invoice order holds across instances.
//
// A lone SQLite payd (one process: the lock file) keeps its claims in memory
// (memClaims) with the same rules: no write per claim, and none left behind
// by a crash.

// WebhookClaim asks ClaimWebhookDeliveries for one endpoint's work.
type WebhookClaim struct {
	EndpointID string
	Holder     string    // the claiming instance
	Limit      int       // deliveries to claim at most
	Now        time.Time // deliveries due by Now, and claims expired by Now, are taken
	Until      time.Time // the new claims' expiry
}

// ClaimWebhookDeliveries claims for c.Holder, until c.Until, up to c.Limit
// due pending deliveries of one endpoint that are at the head of their
// invoice's line (no earlier event of the same invoice is pending for this
// endpoint: it waits until those were delivered or failed for good) and not
// claimed by anyone, or whose claim expired by c.Now; soonest due first, with
// their events' type, invoice and payload, and each with its claim token
// (WebhookDelivery.Claim). next is when the endpoint's soonest pending
// delivery that is not due yet is due (zero: none); a delivery claimed by
// another instance becomes free when its claim runs out, which next does not
// tell. The claim ends when its outcome is recorded (RecordWebhookAttempts),
// when it is released (ReleaseWebhookClaims), or at Until.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, c WebhookClaim) (ds []WebhookDelivery, next time.Time, err error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if db.pg {
		return db.pgClaimWebhookDeliveries(ctx, c)
	}
	return db.claims.claim(ctx, db, c)
}

// ReleaseWebhookClaims gives up holder's claims on endpointID's deliveries
// ("": every endpoint's) at once (a graceful stop; call it after the
// holder's attempts ended), so other claimers take those deliveries without
// waiting for the claims to run out. A released claim keeps its token: an
// outcome recorded before anyone claimed the delivery again still counts.
func (db *DB) ReleaseWebhookClaims(ctx context.Context, holder, endpointID string) error {
	if !db.pg {
		db.claims.release(holder, endpointID)
		return nil
	}
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET claim_until = 0
			WHERE status = 'pending' AND claimed_by = ? AND (? = '' OR endpoint_id = ?) AND claim_until > 0`, holder, endpointID, endpointID); err != nil {
			return fmt.Errorf("store: release webhook claims of %s: %w", holder, err)
		}
		return nil
	})
}

// pgTxIdle bounds how long PostgreSQL keeps a claim or record transaction
// whose instance went silent (a network cut between two statements) before
// it ends the session: its row locks would otherwise keep the claimed rows
// from everyone (SKIP LOCKED skips them) after the claims ran out.
const pgTxIdle = `SELECT set_config('idle_in_transaction_session_timeout', '10s', true)`

// pgClaim claims heads for one endpoint (?1 endpoint, ?2 now ms, ?3 limit,
// ?4 holder, ?5 until ms). The heads are locked FOR UPDATE SKIP LOCKED in a
// materialized CTE (locked once, whatever the plan), so concurrent claimers
// pass over each other's rows; a row claimed and committed by another since
// this statement's snapshot is re-checked under its lock and dropped (its
// claim_until moved).
const pgClaim = `WITH heads AS MATERIALIZED (
		SELECT d1.id FROM webhook_deliveries d1 JOIN events e1 ON e1.id = d1.event_id
		WHERE d1.endpoint_id = ?1 AND d1.status = 'pending' AND d1.next_attempt_at <= ?2 AND d1.claim_until <= ?2
		AND NOT EXISTS (SELECT 1 FROM events e2 JOIN webhook_deliveries d2 ON d2.endpoint_id = d1.endpoint_id AND d2.event_id = e2.id
			WHERE e2.invoice_id = e1.invoice_id AND e2.seq < e1.seq AND d2.status = 'pending')
		ORDER BY d1.next_attempt_at, d1.id LIMIT ?3
		FOR UPDATE OF d1 SKIP LOCKED)
	UPDATE webhook_deliveries d SET claimed_by = ?4, claim_until = ?5, claim = d.claim + 1
	FROM heads h, events e WHERE d.id = h.id AND e.id = d.event_id
	RETURNING d.id, d.endpoint_id, d.event_id, e.type, d.event_seq, e.invoice_id, e.payload, d.attempts, d.retry, d.gen, d.next_attempt_at, d.claim`

func (db *DB) pgClaimWebhookDeliveries(ctx context.Context, c WebhookClaim) ([]WebhookDelivery, time.Time, error) {
	now, until := c.Now.UnixMilli(), c.Until.UnixMilli()
	var out []WebhookDelivery
	err := db.Write(ctx, func(tx *Tx) error {
		out = out[:0]
		if _, err := tx.ExecContext(ctx, pgTxIdle); err != nil {
			return fmt.Errorf("store: claim deliveries of %s: %w", c.EndpointID, err)
		}
		rows, err := tx.QueryContext(ctx, pgClaim, c.EndpointID, now, c.Limit, c.Holder, until)
		if err != nil {
			return fmt.Errorf("store: claim deliveries of %s: %w", c.EndpointID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var d WebhookDelivery
			var payload string
			var next int64
			if err := rows.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.EventSeq, &d.InvoiceID, &payload, &d.Attempts, &d.Retry, &d.Gen, &next, &d.Claim); err != nil {
				return fmt.Errorf("store: claim deliveries of %s: %w", c.EndpointID, err)
			}
			d.Payload = []byte(payload)
			d.NextAttemptAt = time.UnixMilli(next)
			d.ClaimUntil = time.UnixMilli(until)
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim deliveries of %s: %w", c.EndpointID, err)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	slices.SortFunc(out, func(a, b WebhookDelivery) int {
		if n := a.NextAttemptAt.Compare(b.NextAttemptAt); n != 0 {
			return n
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var soon *int64
	if err := db.r.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM webhook_deliveries
		WHERE endpoint_id = ? AND status = 'pending' AND next_attempt_at > ?`, c.EndpointID, now).Scan(&soon); err != nil || soon == nil {
		return out, time.Time{}, nil // a hint only (the caller polls too): none, or not known now
	}
	return out, time.UnixMilli(*soon), nil
}

// memClaims are the delivery claims of a SQLite database, in memory: one
// process opens it (the lock file), so nobody else could see them.
type memClaims struct {
	mu    sync.Mutex
	token int64
	eps   map[string]map[int64]memClaim // endpoint → delivery id → claim
}

type memClaim struct {
	holder string
	token  int64
	until  int64 // unix ms
	pinned bool  // its outcome is being recorded: held past until
}

// claim reads the endpoint's heads, leaving out the deliveries claimed and
// not expired, and claims the due ones. An expired claim stays until the
// delivery is claimed again (with a new token) or its outcome recorded, as a
// PostgreSQL row keeps it.
func (m *memClaims) claim(ctx context.Context, db *DB, c WebhookClaim) ([]WebhookDelivery, time.Time, error) {
	now, until := c.Now.UnixMilli(), c.Until.UnixMilli()
	m.mu.Lock()
	held := m.eps[c.EndpointID]
	exclude := make([]int64, 0, len(held))
	for id, cl := range held {
		if cl.live(now) {
			exclude = append(exclude, id)
		}
	}
	m.mu.Unlock()
	ds, err := db.pendingWebhookDeliveries(ctx, c.EndpointID, c.Limit, exclude)
	if err != nil {
		return nil, time.Time{}, err
	}
	var next time.Time
	for i, d := range ds {
		if d.NextAttemptAt.After(c.Now) {
			next, ds = d.NextAttemptAt, ds[:i]
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eps == nil {
		m.eps = map[string]map[int64]memClaim{}
	}
	held = m.eps[c.EndpointID]
	if held == nil {
		held = map[int64]memClaim{}
		m.eps[c.EndpointID] = held
	}
	out := ds[:0]
	for _, d := range ds {
		if cl, ok := held[d.ID]; ok && cl.live(now) {
			continue // claimed meanwhile by a concurrent claimer
		}
		m.token++
		held[d.ID] = memClaim{holder: c.Holder, token: m.token, until: until}
		d.Claim, d.ClaimUntil = m.token, c.Until
		out = append(out, d)
	}
	return out, next, nil
}

// live reports whether the claim keeps others off at now.
func (cl memClaim) live(now int64) bool { return cl.pinned || cl.until > now }

// pin marks the claims of rs whose token is unchanged as being recorded and
// reports, per result, whether it still holds its claim.
func (m *memClaims) pin(rs []WebhookResult) []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok := make([]bool, len(rs))
	for i, r := range rs {
		d := r.Delivery
		cl, found := m.eps[d.EndpointID][d.ID]
		if found && cl.token == d.Claim && d.Claim != 0 {
			cl.pinned = true
			m.eps[d.EndpointID][d.ID] = cl
			ok[i] = true
		}
	}
	return ok
}

// unpin ends the claims pin took, recorded or not (a failed write leaves the
// deliveries due, to be claimed again).
func (m *memClaims) unpin(rs []WebhookResult, pinned []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range rs {
		d := r.Delivery
		if !pinned[i] {
			continue
		}
		if cl, found := m.eps[d.EndpointID][d.ID]; found && cl.token == d.Claim {
			delete(m.eps[d.EndpointID], d.ID)
		}
	}
}

func (m *memClaims) release(holder, endpointID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ep, held := range m.eps {
		if endpointID != "" && ep != endpointID {
			continue
		}
		for id, cl := range held {
			if cl.holder == holder {
				cl.until = 0
				held[id] = cl
			}
		}
	}
}

// dropEndpoint forgets the claims of a deleted endpoint.
func (m *memClaims) dropEndpoint(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.eps, id)
}
