package store

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/payd/payd/invoice"
)

// Group commit writes many new invoices in one transaction; these write
// each table's rows of a batch with multi-row INSERTs (one statement per
// table per power-of-two chunk, each prepared once), instead of one
// statement per row: fewer statements, binds and cgo round trips in the
// single writer.

// maxBulkRows is the largest chunk one multi-row INSERT writes.
const maxBulkRows = 64

// bulkSQL caches the text of "INSERT … VALUES (?,…),(?,…)…" per table and
// row count, so the prepared-statement cache sees the same strings.
var bulkSQL sync.Map // key: prefix + "\x00" + rows → string

func bulkInsert(prefix string, cols, rows int) string {
	key := fmt.Sprintf("%s\x00%d", prefix, rows)
	if q, ok := bulkSQL.Load(key); ok {
		return q.(string)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(" VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	q := b.String()
	bulkSQL.Store(key, q)
	return q
}

// chunks splits n rows into power-of-two chunks of at most maxBulkRows
// (37 → 32, 4, 1), so a handful of statement shapes serve every batch.
func chunks(n int) []int {
	var out []int
	for n > 0 {
		c := maxBulkRows
		for c > n {
			c /= 2
		}
		out = append(out, c)
		n -= c
	}
	return out
}

// execRows runs prefix over rows (each a slice of cols values) in chunks.
func (tx *Tx) execRows(ctx context.Context, what, prefix string, cols int, rows [][]any) error {
	at := 0
	args := make([]any, 0, maxBulkRows*cols)
	for _, n := range chunks(len(rows)) {
		args = args[:0]
		for _, r := range rows[at : at+n] {
			args = append(args, r...)
		}
		if _, err := tx.exec(ctx, bulkInsert(prefix, cols, n), args...); err != nil {
			if isUnique(err) {
				return fmt.Errorf("store: insert %s: %w: %v", what, ErrConflict, err)
			}
			return fmt.Errorf("store: insert %s: %w", what, err)
		}
		at += n
	}
	return nil
}

// InsertNewInvoices stores new invoices (no payments yet) with their
// methods and addresses, several rows per statement. An address already
// handed out fails the whole call with ErrConflict; the caller retries the
// invoices one by one (InsertInvoice) to find which.
func (tx *Tx) InsertNewInvoices(ctx context.Context, invs []*invoice.Invoice) error {
	invRows := make([][]any, 0, len(invs))
	var methodRows, addrRows [][]any
	for _, inv := range invs {
		if len(inv.Payments) > 0 {
			return fmt.Errorf("store: invoice %s is not new (it has payments)", inv.ID)
		}
		invRows = append(invRows, []any{inv.ID, string(inv.Status), string(inv.Exception), inv.Amount.String(), inv.Currency.Code,
			inv.Currency.Decimals, inv.Currency.Fiat, inv.OrderID, inv.Description, nullJSON(inv.Metadata), inv.RedirectURL,
			inv.ToleranceBP, unix(inv.CreatedAt), unix(inv.ExpiresAt), nullTime(inv.SettledAt), unix(inv.MonitorUntil),
			inv.Sequence, inv.LinkID})
		seen := map[string]bool{}
		for i, m := range inv.Methods {
			methodRows = append(methodRows, []any{inv.ID, m.Method, m.Chain, string(m.Kind), m.ChainID, m.Asset.Code,
				m.Asset.Decimals, m.Token, m.Address, m.DeriveIdx, m.AmountDue.String(), m.Rate, m.RateSource, unix(m.RateTime),
				m.ConfirmationsRequired, i})
			key := m.Chain + "\x00" + m.Address
			if seen[key] {
				continue
			}
			seen[key] = true
			addrRows = append(addrRows, []any{m.Chain, m.Address, m.DeriveIdx, inv.ID, unix(inv.CreatedAt), unix(inv.MonitorUntil)})
		}
	}
	if err := tx.execRows(ctx, "invoices", `INSERT INTO invoices (id, status, exception, amount, currency, currency_decimals,
		currency_fiat, order_id, description, metadata, redirect_url, tolerance_bp, created_at, expires_at, settled_at,
		monitor_until, sequence, link_id)`, 18, invRows); err != nil {
		return err
	}
	if err := tx.execRows(ctx, "invoice methods", `INSERT INTO invoice_methods (invoice_id, method, chain, kind, chain_id,
		asset, asset_decimals, token, address, derive_index, amount_due, rate, rate_source, rate_time,
		confirmations_required, position)`, 16, methodRows); err != nil {
		return err
	}
	return tx.execRows(ctx, "addresses", `INSERT INTO addresses (chain, address, derive_index, invoice_id, created_at, watch_until)`,
		6, addrRows)
}

// InsertEventsBulk appends events to the outbox like InsertEvents, several
// rows per statement. SQLite gives the rows of one INSERT consecutive seq
// values (AUTOINCREMENT, one writer), so each event's Seq is derived from
// the statement's last insert id.
func (tx *Tx) InsertEventsBulk(ctx context.Context, evs []invoice.Event) error {
	if tx.db.pg {
		return tx.pgInsertEvents(ctx, evs)
	}
	at := 0
	args := make([]any, 0, maxBulkRows*5)
	for _, n := range chunks(len(evs)) {
		args = args[:0]
		for _, e := range evs[at : at+n] {
			args = append(args, e.ID, string(e.Type), e.InvoiceID, unix(e.CreatedAt), string(e.Payload))
		}
		res, err := tx.exec(ctx, bulkInsert(`INSERT INTO events (id, type, invoice_id, created_at, payload)`, 5, n), args...)
		if err != nil {
			return fmt.Errorf("store: insert %d events: %w", n, err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("store: insert %d events: %w", n, err)
		}
		for i := 0; i < n; i++ {
			evs[at+i].Seq = last - int64(n-1-i)
		}
		at += n
	}
	return nil
}

// AdvanceIndex records that a chain's derivation indexes below next are
// handed out (the counter never moves back).
func (tx *Tx) AdvanceIndex(ctx context.Context, chainName string, next uint32) error {
	if tx.db.pg {
		return tx.pgAdvanceIndex(ctx, chainName, next)
	}
	_, err := tx.exec(ctx, `INSERT INTO derivation_counters (chain, next_index) VALUES (?, ?)
		ON CONFLICT (chain) DO UPDATE SET next_index = CASE WHEN excluded.next_index > derivation_counters.next_index
		THEN excluded.next_index ELSE derivation_counters.next_index END`, chainName, next)
	if err != nil {
		return fmt.Errorf("store: advance index of %s: %w", chainName, err)
	}
	return nil
}
