package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// InvoiceSearch filters the console's invoice list. Zero fields match all.
type InvoiceSearch struct {
	// Query matches an invoice id, an order id, a deposit address or a txid
	// exactly.
	Query         string
	Status        invoice.Status
	Method        string    // "bitcoin/btc"
	From, To      time.Time // created in [From, To)
	StartingAfter string    // inv_… cursor; newest first
	Limit         int
}

// SearchInvoices returns up to f.Limit invoices matching f, newest first,
// and whether more follow.
func (db *DB) SearchInvoices(ctx context.Context, f InvoiceSearch) (invs []*invoice.Invoice, hasMore bool, err error) {
	var where []string
	var args []any
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, `(id = ? OR order_id = ?
			OR id IN (SELECT invoice_id FROM invoice_methods WHERE address = ? OR lower(address) = lower(?))
			OR id IN (SELECT invoice_id FROM payments WHERE txid = ? OR lower(txid) = lower(?)))`)
		args = append(args, q, q, q, q, q, q)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Method != "" {
		where = append(where, "id IN (SELECT invoice_id FROM invoice_methods WHERE method = ?)")
		args = append(args, f.Method)
	}
	if !f.From.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, unix(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, unix(f.To))
	}
	if f.StartingAfter != "" {
		where = append(where, "id < ?")
		args = append(args, f.StartingAfter)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := `SELECT ` + invoiceCols + ` FROM invoices`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("store: search invoices: %w", err)
	}
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("store: search invoices: %w", err)
		}
		invs = append(invs, inv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(invs) > f.Limit {
		invs, hasMore = invs[:f.Limit], true
	}
	if err := loadDetails(ctx, db.r, invs); err != nil {
		return nil, false, err
	}
	return invs, hasMore, nil
}

// InvoiceCounts are invoices created in a window, and how many of those are
// settled and expired now.
type InvoiceCounts struct {
	Created, Settled, Expired int
}

// CountInvoices counts invoices created in [from, to).
func (db *DB) CountInvoices(ctx context.Context, from, to time.Time) (InvoiceCounts, error) {
	var c InvoiceCounts
	err := db.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN status = 'settled' THEN 1 ELSE 0 END), 0), coalesce(sum(CASE WHEN status = 'expired' THEN 1 ELSE 0 END), 0)
		FROM invoices WHERE created_at >= ? AND created_at < ?`, unix(from), unix(to)).Scan(&c.Created, &c.Settled, &c.Expired)
	if err != nil {
		return c, fmt.Errorf("store: count invoices: %w", err)
	}
	return c, nil
}

// Received is what confirmed payments brought in over a window for one
// method, summed exactly in base units, with the value in each invoice
// currency at the locked rates.
type Received struct {
	Method   string
	Asset    invoice.Asset
	Amount   *big.Int
	Payments int
	// Value maps an invoice currency code to its sum in base units (fiat:
	// cents), only for payments whose method had a rate.
	Value map[string]*big.Int
	// Currencies gives the decimals of each key of Value.
	Currencies map[string]invoice.Asset
}

// ReceivedByMethod sums confirmed payments first seen in [from, to), per
// method. Amounts are TEXT integers that may exceed 2^63 (wei), so they are
// added here with big.Int, never by SQLite.
func (db *DB) ReceivedByMethod(ctx context.Context, from, to time.Time) ([]Received, error) {
	byMethod := map[string]*Received{}
	var order []string
	err := db.PaymentsReport(ctx, from, to, func(p PaymentReportRow) error {
		if p.Status != string(invoice.PaymentConfirmed) {
			return nil
		}
		amt, ok := new(big.Int).SetString(p.Amount, 10)
		if !ok {
			return nil
		}
		r := byMethod[p.Method]
		if r == nil {
			r = &Received{Method: p.Method, Asset: invoice.Asset{Code: p.Asset, Decimals: p.AssetDecimals}, Amount: new(big.Int),
				Value: map[string]*big.Int{}, Currencies: map[string]invoice.Asset{}}
			byMethod[p.Method] = r
			order = append(order, p.Method)
		}
		r.Amount.Add(r.Amount, amt)
		r.Payments++
		cur := invoice.Asset{Code: p.Currency, Decimals: p.CurrencyDecimals, Fiat: p.CurrencyFiat}
		var v *big.Int
		if p.Currency == p.Asset {
			v = amt
		} else if x, ok := invoice.ValueAt(amt, p.AssetDecimals, p.Rate, p.CurrencyDecimals); ok {
			v = x
		}
		if v != nil {
			if r.Value[cur.Code] == nil {
				r.Value[cur.Code] = new(big.Int)
				r.Currencies[cur.Code] = cur
			}
			r.Value[cur.Code].Add(r.Value[cur.Code], v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Received, 0, len(order))
	for _, m := range order {
		out = append(out, *byMethod[m])
	}
	return out, nil
}

// DayCount is one day's invoices created and settled (UTC days).
type DayCount struct {
	Day              time.Time
	Created, Settled int
}

// InvoicesPerDay counts invoices created (and settled, by settled_at) on each
// UTC day of [from, to); days without any are included with zeros.
func (db *DB) InvoicesPerDay(ctx context.Context, from, to time.Time) ([]DayCount, error) {
	from = from.UTC().Truncate(24 * time.Hour)
	var out []DayCount
	idx := map[int64]int{}
	for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
		idx[d.Unix()/86400] = len(out)
		out = append(out, DayCount{Day: d})
	}
	count := func(col string, set func(*DayCount, int)) error {
		rows, err := db.r.QueryContext(ctx, `SELECT `+col+` / 86400, count(*) FROM invoices WHERE `+col+` >= ? AND `+col+` < ? GROUP BY 1`,
			unix(from), unix(to))
		if err != nil {
			return fmt.Errorf("store: invoices per day: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var day int64
			var n int
			if err := rows.Scan(&day, &n); err != nil {
				return err
			}
			if i, ok := idx[day]; ok {
				set(&out[i], n)
			}
		}
		return rows.Err()
	}
	if err := count("created_at", func(d *DayCount, n int) { d.Created = n }); err != nil {
		return nil, err
	}
	if err := count("settled_at", func(d *DayCount, n int) { d.Settled = n }); err != nil {
		return nil, err
	}
	return out, nil
}

// FailingEndpoint is a webhook endpoint whose latest attempts failed.
type FailingEndpoint struct {
	ID, URL    string
	Pending    int // deliveries waiting for a retry after a failure
	Failed     int // deliveries that gave up
	LastError  string
	LastStatus int
	LastAt     time.Time
}

// FailingWebhookEndpoints lists endpoints with deliveries that failed and
// are waiting for a retry or gave up.
func (db *DB) FailingWebhookEndpoints(ctx context.Context) ([]FailingEndpoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT e.id, e.url,
			coalesce(sum(CASE WHEN d.status = 'pending' AND d.retry > 0 THEN 1 ELSE 0 END), 0), coalesce(sum(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), 0)
		FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id
		GROUP BY e.id HAVING sum(CASE WHEN d.status = 'pending' AND d.retry > 0 THEN 1 ELSE 0 END) + sum(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) > 0 ORDER BY e.id`)
	if err != nil {
		return nil, fmt.Errorf("store: failing endpoints: %w", err)
	}
	var out []FailingEndpoint
	for rows.Next() {
		var f FailingEndpoint
		if err := rows.Scan(&f.ID, &f.URL, &f.Pending, &f.Failed); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		var at int64
		err := db.r.QueryRowContext(ctx, `SELECT status_code, error, at FROM webhook_attempts WHERE endpoint_id = ? ORDER BY id DESC LIMIT 1`, out[i].ID).
			Scan(&out[i].LastStatus, &out[i].LastError, &at)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		if at > 0 {
			out[i].LastAt = time.UnixMilli(at).UTC()
		}
	}
	return out, nil
}

// InvoiceWebhookAttempts returns every delivery attempt of the invoice's
// events, newest first, with the event type.
func (db *DB) InvoiceWebhookAttempts(ctx context.Context, invoiceID string) ([]InvoiceAttempt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT a.endpoint_id, coalesce(e2.url, ''), a.event_id, e.type, a.attempt, a.status_code, a.error, a.duration_ms, a.at
		FROM webhook_attempts a JOIN events e ON e.id = a.event_id LEFT JOIN webhook_endpoints e2 ON e2.id = a.endpoint_id
		WHERE e.invoice_id = ? ORDER BY a.id DESC LIMIT 500`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("store: invoice attempts: %w", err)
	}
	defer rows.Close()
	var out []InvoiceAttempt
	for rows.Next() {
		var a InvoiceAttempt
		var at int64
		if err := rows.Scan(&a.EndpointID, &a.URL, &a.EventID, &a.EventType, &a.Attempt, &a.StatusCode, &a.Error, &a.DurationMS, &at); err != nil {
			return nil, err
		}
		a.At = time.UnixMilli(at).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// InvoiceAttempt is a webhook delivery attempt of one of an invoice's events.
type InvoiceAttempt struct {
	WebhookAttempt
	URL       string
	EventType string
}

// SetWebhookSecret replaces an endpoint's signing secret (ErrNotFound if
// there is no such endpoint).
func (db *DB) SetWebhookSecret(ctx context.Context, id, secret string) error {
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET secret = ? WHERE id = ?`, secret, id)
		if err != nil {
			return fmt.Errorf("store: set webhook secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
