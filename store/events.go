package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/payd/payd/invoice"
)

// InsertEvents appends events to the outbox inside tx. Each event gets the
// next global sequence number, written back into evs[i].Seq.
func (tx *Tx) InsertEvents(ctx context.Context, evs []invoice.Event) error {
	if tx.db.pg {
		return tx.pgInsertEvents(ctx, evs)
	}
	for i := range evs {
		e := &evs[i]
		res, err := tx.exec(ctx, `INSERT INTO events (id, type, invoice_id, created_at, payload) VALUES (?, ?, ?, ?, ?)`,
			e.ID, string(e.Type), e.InvoiceID, unix(e.CreatedAt), string(e.Payload))
		if err != nil {
			return fmt.Errorf("store: insert event %s: %w", e.ID, err)
		}
		if e.Seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("store: insert event %s: %w", e.ID, err)
		}
	}
	return nil
}

const eventCols = `seq, id, type, invoice_id, created_at, payload`

func scanEvent(sc interface{ Scan(...any) error }) (invoice.Event, error) {
	var e invoice.Event
	var typ, payload string
	var created int64
	if err := sc.Scan(&e.Seq, &e.ID, &typ, &e.InvoiceID, &created, &payload); err != nil {
		return e, err
	}
	e.Type = invoice.EventType(typ)
	e.CreatedAt = fromUnix(created)
	e.Payload = []byte(payload)
	return e, nil
}

// EventsAfter returns up to limit events with seq > after, oldest first.
func (db *DB) EventsAfter(ctx context.Context, after int64, limit int) ([]invoice.Event, error) {
	return db.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// InvoiceEvents returns every event of one invoice, oldest first.
func (db *DB) InvoiceEvents(ctx context.Context, invoiceID string) ([]invoice.Event, error) {
	return db.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE invoice_id = ? ORDER BY seq`, invoiceID)
}

func (db *DB) queryEvents(ctx context.Context, q string, args ...any) ([]invoice.Event, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var out []invoice.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Event returns the event with id evt_…, or ErrNotFound.
func (db *DB) Event(ctx context.Context, id string) (invoice.Event, error) {
	e, err := scanEvent(db.r.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("store: event %s: %w", id, err)
	}
	return e, nil
}

// LastEventSeq returns the highest event seq (0 when there are none).
func (db *DB) LastEventSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(seq) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last event: %w", err)
	}
	return seq.Int64, nil
}
