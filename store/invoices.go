package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// querier is what both the read pool and a write transaction offer.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// InsertInvoice stores a new invoice with its methods, and records each
// deposit address as the invoice's (one row per chain address: the methods of
// one chain share it). An address already handed out → ErrConflict.
func (tx *Tx) InsertInvoice(ctx context.Context, inv *invoice.Invoice) error {
	_, err := tx.exec(ctx, `INSERT INTO invoices (id, status, exception, amount, currency, currency_decimals, currency_fiat,
		order_id, description, metadata, redirect_url, tolerance_bp, created_at, expires_at, settled_at, monitor_until, sequence, link_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, string(inv.Status), string(inv.Exception), inv.Amount.String(), inv.Currency.Code, inv.Currency.Decimals, inv.Currency.Fiat,
		inv.OrderID, inv.Description, nullJSON(inv.Metadata), inv.RedirectURL, inv.ToleranceBP, unix(inv.CreatedAt), unix(inv.ExpiresAt),
		nullTime(inv.SettledAt), unix(inv.MonitorUntil), inv.Sequence, inv.LinkID)
	if err != nil {
		return fmt.Errorf("store: insert invoice %s: %w", inv.ID, err)
	}
	seen := map[string]bool{}
	for i, m := range inv.Methods {
		_, err := tx.exec(ctx, `INSERT INTO invoice_methods (invoice_id, method, chain, kind, chain_id, asset, asset_decimals, token,
			address, derive_index, amount_due, rate, rate_source, rate_time, confirmations_required, position)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inv.ID, m.Method, m.Chain, string(m.Kind), m.ChainID, m.Asset.Code, m.Asset.Decimals, m.Token,
			m.Address, m.DeriveIdx, m.AmountDue.String(), m.Rate, m.RateSource, unix(m.RateTime), m.ConfirmationsRequired, i)
		if err != nil {
			return fmt.Errorf("store: insert method %s of %s: %w", m.Method, inv.ID, err)
		}
		key := m.Chain + "\x00" + m.Address
		if seen[key] {
			continue
		}
		seen[key] = true
		_, err = tx.exec(ctx, `INSERT INTO addresses (chain, address, derive_index, invoice_id, created_at, watch_until) VALUES (?, ?, ?, ?, ?, ?)`,
			m.Chain, m.Address, m.DeriveIdx, inv.ID, unix(inv.CreatedAt), unix(inv.MonitorUntil))
		if err != nil {
			if isUnique(err) {
				return fmt.Errorf("store: address %s on %s already handed out: %w", m.Address, m.Chain, ErrConflict)
			}
			return fmt.Errorf("store: insert address %s: %w", m.Address, err)
		}
	}
	for i := range inv.Payments {
		if err := tx.upsertPayment(ctx, inv, &inv.Payments[i]); err != nil {
			return err
		}
	}
	return nil
}

// SaveInvoice writes an invoice's status, exception, settled_at,
// monitor_until and sequence, and inserts or updates its payments (by id).
// When monitor_until moved, its addresses are watched until then too.
func (tx *Tx) SaveInvoice(ctx context.Context, inv *invoice.Invoice) error {
	res, err := tx.exec(ctx, `UPDATE invoices SET status = ?, exception = ?, settled_at = ?, monitor_until = ?, sequence = ?, expires_at = ? WHERE id = ?`,
		string(inv.Status), string(inv.Exception), nullTime(inv.SettledAt), unix(inv.MonitorUntil), inv.Sequence, unix(inv.ExpiresAt), inv.ID)
	if err != nil {
		return fmt.Errorf("store: save invoice %s: %w", inv.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.exec(ctx, `UPDATE addresses SET watch_until = ? WHERE invoice_id = ? AND watch_until < ?`,
		unix(inv.MonitorUntil), inv.ID, unix(inv.MonitorUntil)); err != nil {
		return fmt.Errorf("store: extend watch of %s: %w", inv.ID, err)
	}
	for i := range inv.Payments {
		if err := tx.upsertPayment(ctx, inv, &inv.Payments[i]); err != nil {
			return err
		}
	}
	return nil
}

func (tx *Tx) upsertPayment(ctx context.Context, inv *invoice.Invoice, p *invoice.Payment) error {
	m, ok := inv.MethodByName(p.Method)
	if !ok {
		return fmt.Errorf("store: payment %s of %s: unknown method %s", p.ID, inv.ID, p.Method)
	}
	var confirmedAt any
	if p.Status == invoice.PaymentConfirmed && !p.ConfirmedAt.IsZero() {
		confirmedAt = unix(p.ConfirmedAt)
	}
	_, err := tx.exec(ctx, `INSERT INTO payments (id, invoice_id, method, chain, txid, output_index, address, amount,
		block_height, block_hash, confirmations, status, rbf, seen_at, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET block_height = excluded.block_height, block_hash = excluded.block_hash,
		confirmations = excluded.confirmations, status = excluded.status, rbf = excluded.rbf,
		confirmed_at = COALESCE(payments.confirmed_at, excluded.confirmed_at)`,
		p.ID, inv.ID, p.Method, m.Chain, p.TxID, p.OutputIndex, m.Address, p.Amount.String(),
		p.BlockHeight, p.BlockHash, p.Confirmations, string(p.Status), p.RBF, unix(p.SeenAt), confirmedAt)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("store: payment %s:%d on %s recorded twice: %w", p.TxID, p.OutputIndex, m.Chain, ErrConflict)
		}
		return fmt.Errorf("store: save payment %s: %w", p.ID, err)
	}
	return nil
}

// Invoice loads an invoice inside the transaction (ErrNotFound if none).
func (tx *Tx) Invoice(ctx context.Context, id string) (*invoice.Invoice, error) {
	return loadInvoice(ctx, tx, id)
}

// Invoice loads an invoice with its methods and payments (ErrNotFound if none).
func (db *DB) Invoice(ctx context.Context, id string) (*invoice.Invoice, error) {
	return loadInvoice(ctx, db.r, id)
}

const invoiceCols = `id, status, exception, amount, currency, currency_decimals, currency_fiat, order_id, description, metadata,
	redirect_url, tolerance_bp, created_at, expires_at, settled_at, monitor_until, sequence, link_id`

func scanInvoice(sc interface{ Scan(...any) error }) (*invoice.Invoice, error) {
	var inv invoice.Invoice
	var status, exception, amount string
	var meta sql.NullString
	var created, expires, monitor int64
	var settled sql.NullInt64
	if err := sc.Scan(&inv.ID, &status, &exception, &amount, &inv.Currency.Code, &inv.Currency.Decimals, &inv.Currency.Fiat,
		&inv.OrderID, &inv.Description, &meta, &inv.RedirectURL, &inv.ToleranceBP, &created, &expires, &settled, &monitor,
		&inv.Sequence, &inv.LinkID); err != nil {
		return nil, err
	}
	inv.Status, inv.Exception = invoice.Status(status), invoice.Exception(exception)
	var ok bool
	if inv.Amount, ok = new(big.Int).SetString(amount, 10); !ok {
		return nil, fmt.Errorf("store: invoice %s: bad amount %q", inv.ID, amount)
	}
	if meta.Valid {
		inv.Metadata = []byte(meta.String)
	}
	inv.CreatedAt, inv.ExpiresAt, inv.MonitorUntil = fromUnix(created), fromUnix(expires), fromUnix(monitor)
	if settled.Valid {
		t := fromUnix(settled.Int64)
		inv.SettledAt = &t
	}
	return &inv, nil
}

func loadInvoice(ctx context.Context, q querier, id string) (*invoice.Invoice, error) {
	inv, err := scanInvoice(q.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: invoice %s: %w", id, err)
	}
	if err := loadDetails(ctx, q, []*invoice.Invoice{inv}); err != nil {
		return nil, err
	}
	return inv, nil
}

// loadDetails fills the methods and payments of invs.
func loadDetails(ctx context.Context, q querier, invs []*invoice.Invoice) error {
	if len(invs) == 0 {
		return nil
	}
	byID := make(map[string]*invoice.Invoice, len(invs))
	args := make([]any, len(invs))
	for i, inv := range invs {
		byID[inv.ID] = inv
		args[i] = inv.ID
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(invs)), ",") + ")"
	rows, err := q.QueryContext(ctx, `SELECT invoice_id, method, chain, kind, chain_id, asset, asset_decimals, token, address, derive_index,
		amount_due, rate, rate_source, rate_time, confirmations_required FROM invoice_methods WHERE invoice_id IN `+in+` ORDER BY invoice_id, position`, args...)
	if err != nil {
		return fmt.Errorf("store: methods: %w", err)
	}
	for rows.Next() {
		var m invoice.Method
		var invID, kind, due string
		var rateTime int64
		if err := rows.Scan(&invID, &m.Method, &m.Chain, &kind, &m.ChainID, &m.Asset.Code, &m.Asset.Decimals, &m.Token, &m.Address,
			&m.DeriveIdx, &due, &m.Rate, &m.RateSource, &rateTime, &m.ConfirmationsRequired); err != nil {
			rows.Close()
			return fmt.Errorf("store: methods: %w", err)
		}
		m.Kind = invoice.ChainKind(kind)
		m.AmountDue, _ = new(big.Int).SetString(due, 10)
		if rateTime > 0 {
			m.RateTime = fromUnix(rateTime)
		}
		inv := byID[invID]
		inv.Methods = append(inv.Methods, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT invoice_id, id, method, txid, output_index, amount, block_height, block_hash, confirmations,
		status, rbf, seen_at, confirmed_at FROM payments WHERE invoice_id IN `+in+` ORDER BY invoice_id, seen_at, id`, args...)
	if err != nil {
		return fmt.Errorf("store: payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p invoice.Payment
		var invID, amount, status string
		var seen int64
		var confirmed sql.NullInt64
		if err := rows.Scan(&invID, &p.ID, &p.Method, &p.TxID, &p.OutputIndex, &amount, &p.BlockHeight, &p.BlockHash, &p.Confirmations,
			&status, &p.RBF, &seen, &confirmed); err != nil {
			return fmt.Errorf("store: payments: %w", err)
		}
		p.Amount, _ = new(big.Int).SetString(amount, 10)
		p.Status = invoice.PaymentStatus(status)
		p.SeenAt = fromUnix(seen)
		if confirmed.Valid {
			p.ConfirmedAt = fromUnix(confirmed.Int64)
		}
		inv := byID[invID]
		inv.Payments = append(inv.Payments, p)
	}
	return rows.Err()
}

// ListInvoices returns up to limit invoices, newest first, after the cursor
// startingAfter (an invoice id), filtered by status and order id when set.
// hasMore reports whether more follow.
func (db *DB) ListInvoices(ctx context.Context, status invoice.Status, orderID, startingAfter string, limit int) (invs []*invoice.Invoice, hasMore bool, err error) {
	var where []string
	var args []any
	if status != "" {
		where = append(where, "status = ?")
		args = append(args, string(status))
	}
	if orderID != "" {
		where = append(where, "order_id = ?")
		args = append(args, orderID)
	}
	if startingAfter != "" {
		where = append(where, "id < ?")
		args = append(args, startingAfter)
	}
	q := `SELECT ` + invoiceCols + ` FROM invoices`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("store: list invoices: %w", err)
	}
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("store: list invoices: %w", err)
		}
		invs = append(invs, inv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(invs) > limit {
		invs, hasMore = invs[:limit], true
	}
	if err := loadDetails(ctx, db.r, invs); err != nil {
		return nil, false, err
	}
	return invs, hasMore, nil
}

// InvoiceExists reports whether an invoice with this id exists.
func (db *DB) InvoiceExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM invoices WHERE id = ?`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// NextIndexes hands out n consecutive derivation indexes of a chain's key
// and returns the first: monotonic, never reused.
func (tx *Tx) NextIndexes(ctx context.Context, chainName string, n int) (uint32, error) {
	return scanNextIndexes(tx.queryRow(ctx, nextIndexesSQL, chainName, n, n), chainName, n)
}

// nextIndexesSQL moves a chain's counter n on and returns its old value.
const nextIndexesSQL = `INSERT INTO derivation_counters (chain, next_index) VALUES (?, ?)
		ON CONFLICT (chain) DO UPDATE SET next_index = derivation_counters.next_index + excluded.next_index RETURNING next_index - ?`

func scanNextIndexes(row *sql.Row, chainName string, n int) (uint32, error) {
	var next int64
	if err := row.Scan(&next); err != nil {
		return 0, fmt.Errorf("store: next index of %s: %w", chainName, err)
	}
	if next+int64(n) > 1<<31 {
		return 0, fmt.Errorf("store: derivation indexes of %s exhausted", chainName)
	}
	return uint32(next), nil
}

// PeekIndex returns the next derivation index of a chain without using it.
func (db *DB) PeekIndex(ctx context.Context, chainName string) (uint32, error) {
	var next int64
	err := db.r.QueryRowContext(ctx, `SELECT next_index FROM derivation_counters WHERE chain = ?`, chainName).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint32(next), err
}

// AddressOwner returns the invoice a chain's address was handed to.
func (tx *Tx) AddressOwner(ctx context.Context, chainName, address string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT invoice_id FROM addresses WHERE chain = ? AND address = ?`, chainName, address).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: address owner: %w", err)
	}
	return id, nil
}

func (tx *Tx) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

// InvoicesWithBlock lists the invoices with a payment in block hash.
func (tx *Tx) InvoicesWithBlock(ctx context.Context, chainName, hash string) ([]string, error) {
	return tx.ids(ctx, `SELECT DISTINCT invoice_id FROM payments WHERE chain = ? AND block_hash = ?`, chainName, hash)
}

// InvoicesWithTx lists the invoices with a payment in transaction txid.
func (tx *Tx) InvoicesWithTx(ctx context.Context, chainName, txid string) ([]string, error) {
	return tx.ids(ctx, `SELECT DISTINCT invoice_id FROM payments WHERE chain = ? AND txid = ?`, chainName, txid)
}

// InvoicesCounting lists invoices with a mined payment on the chain whose
// confirmations are still counted: pending ones, and confirmed ones below
// maxConf (so the shown count keeps rising for a while).
func (tx *Tx) InvoicesCounting(ctx context.Context, chainName string, maxConf int) ([]string, error) {
	return tx.ids(ctx, `SELECT DISTINCT invoice_id FROM payments WHERE chain = ? AND block_height > 0
		AND (status = 'pending' OR (status = 'confirmed' AND confirmations < ?))`, chainName, maxConf)
}

// InvoicesUnminedPending lists invoices with a pending payment on the chain
// that is not in a block (for zero-confirmation re-evaluation).
func (tx *Tx) InvoicesUnminedPending(ctx context.Context, chainName string) ([]string, error) {
	return tx.ids(ctx, `SELECT DISTINCT invoice_id FROM payments WHERE chain = ? AND block_height = 0 AND status = 'pending'`, chainName)
}

// WatchedAddresses returns a chain's addresses still watched at now.
func (db *DB) WatchedAddresses(ctx context.Context, chainName string, now time.Time) ([]string, error) {
	return db.addresses(ctx, `SELECT address FROM addresses WHERE chain = ? AND watch_until > ?`, chainName, unix(now))
}

// UnwatchedSince returns a chain's addresses whose watch ended in (from, to].
func (db *DB) UnwatchedSince(ctx context.Context, chainName string, from, to time.Time) ([]string, error) {
	return db.addresses(ctx, `SELECT address FROM addresses WHERE chain = ? AND watch_until > ? AND watch_until <= ?`, chainName, unix(from), unix(to))
}

func (db *DB) addresses(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: addresses: %w", err)
	}
	return scanStrings(rows)
}

// scanStrings reads a one-column result of strings and closes rows.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// The expirer's queries name their partial indexes (00007_lean_indexes.sql):
// on a young database without statistics SQLite would pick invoices_status.
const (
	nextDeadlineSQL = `SELECT (SELECT MIN(expires_at) FROM invoices INDEXED BY invoices_new_expiry WHERE status = 'new'),
		(SELECT MIN(monitor_until) FROM invoices INDEXED BY invoices_processing_monitor WHERE status = 'processing')`
	dueInvoicesSQL = `SELECT id FROM (SELECT id FROM invoices INDEXED BY invoices_new_expiry WHERE status = 'new' AND expires_at <= ?
		UNION SELECT id FROM invoices INDEXED BY invoices_processing_monitor WHERE status = 'processing' AND monitor_until <= ?) AS due LIMIT ?`
)

// NextDeadline returns the earliest time an invoice changes by the clock
// alone: a new invoice's expires_at, or a processing invoice's
// monitor_until. ok is false when there is none.
func (db *DB) NextDeadline(ctx context.Context) (t time.Time, ok bool, err error) {
	var a, b sql.NullInt64
	err = db.queryRow(ctx, nextDeadlineSQL).Scan(&a, &b)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next deadline: %w", err)
	}
	switch {
	case a.Valid && b.Valid:
		return fromUnix(min(a.Int64, b.Int64)), true, nil
	case a.Valid:
		return fromUnix(a.Int64), true, nil
	case b.Valid:
		return fromUnix(b.Int64), true, nil
	}
	return time.Time{}, false, nil
}

// DueInvoices lists invoices whose deadline passed at now (see NextDeadline).
func (tx *Tx) DueInvoices(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return tx.ids(ctx, dueInvoicesSQL, unix(now), unix(now), limit)
}

func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return unix(*t)
}

func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || isPGUnique(err))
}

// ReserveIndexes hands out n consecutive derivation indexes of a chain in a
// transaction of their own and returns the first: on a database shared by
// several payd, each instance reserves blocks this way (the counter row's
// lock makes the reservation atomic across instances).
func (db *DB) ReserveIndexes(ctx context.Context, chainName string, n int) (uint32, error) {
	if db.pg {
		return db.pgReserveIndexes(ctx, chainName, n)
	}
	var first uint32
	err := db.Write(ctx, func(tx *Tx) error {
		var err error
		first, err = tx.NextIndexes(ctx, chainName, n)
		return err
	})
	return first, err
}
