package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// PaymentReportRow is one payment with what an accountant needs from its
// invoice and method: amounts are integers in base units (decimal strings)
// with their decimals, so the caller formats them without floats.
type PaymentReportRow struct {
	PaymentID        string
	InvoiceID        string
	OrderID          string
	Method           string // "bitcoin/btc"
	Chain            string
	Asset            string // "BTC"
	AssetDecimals    int
	Amount           string // base units of Asset
	Currency         string // the invoice currency ("USD", "BTC")
	CurrencyDecimals int
	CurrencyFiat     bool
	Rate             string // locked price of one Asset in Currency ("" if none)
	TxID             string
	OutputIndex      int64
	Status           string // pending, confirmed, orphaned, replaced
	SeenAt           time.Time
	ConfirmedAt      *time.Time
}

// PaymentsReport calls fn for every payment first seen in [from, to), oldest
// first, stopping at fn's first error. It streams from one read transaction,
// so a large report does not sit in memory.
func (db *DB) PaymentsReport(ctx context.Context, from, to time.Time, fn func(PaymentReportRow) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT p.id, p.invoice_id, i.order_id, p.method, p.chain, m.asset, m.asset_decimals,
			p.amount, i.currency, i.currency_decimals, i.currency_fiat, m.rate, p.txid, p.output_index, p.status,
			p.seen_at, p.confirmed_at
		FROM payments p
		JOIN invoices i ON i.id = p.invoice_id
		JOIN invoice_methods m ON m.invoice_id = p.invoice_id AND m.method = p.method
		WHERE p.seen_at >= ? AND p.seen_at < ?
		ORDER BY p.seen_at, p.id`, unix(from), unix(to))
	if err != nil {
		return fmt.Errorf("store: payments report: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r PaymentReportRow
		var fiat int
		var seen int64
		var confirmed sql.NullInt64
		if err := rows.Scan(&r.PaymentID, &r.InvoiceID, &r.OrderID, &r.Method, &r.Chain, &r.Asset, &r.AssetDecimals,
			&r.Amount, &r.Currency, &r.CurrencyDecimals, &fiat, &r.Rate, &r.TxID, &r.OutputIndex, &r.Status,
			&seen, &confirmed); err != nil {
			return fmt.Errorf("store: payments report: %w", err)
		}
		r.CurrencyFiat = fiat != 0
		r.SeenAt = fromUnix(seen)
		if confirmed.Valid {
			t := fromUnix(confirmed.Int64)
			r.ConfirmedAt = &t
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: payments report: %w", err)
	}
	return nil
}

// PaymentReportHeader is the payments CSV's header row, the same in
// GET /v1/reports/payments.csv and the console's export.
var PaymentReportHeader = []string{"payment_id", "invoice_id", "order_id", "method", "asset", "amount", "currency",
	"rate", "fiat_value", "txid", "output_index", "status", "seen_at", "confirmed_at"}

// Record is the row's CSV record under PaymentReportHeader: amounts as
// decimals of their asset, the fiat value at the locked rate, merchant text
// defused with CSVSafe.
func (p PaymentReportRow) Record() []string {
	asset := invoice.Asset{Code: p.Asset, Decimals: p.AssetDecimals}
	cur := invoice.Asset{Code: p.Currency, Decimals: p.CurrencyDecimals, Fiat: p.CurrencyFiat}
	amount, fiat := p.Amount, ""
	if amt, ok := new(big.Int).SetString(p.Amount, 10); ok {
		amount = invoice.FormatFor(asset, amt)
		if v, ok := invoice.ValueAt(amt, p.AssetDecimals, p.Rate, p.CurrencyDecimals); ok {
			fiat = invoice.FormatFor(cur, v)
		}
	}
	confirmed := ""
	if p.ConfirmedAt != nil {
		confirmed = invoice.FormatTime(*p.ConfirmedAt)
	}
	return []string{p.PaymentID, p.InvoiceID, CSVSafe(p.OrderID), p.Method, p.Asset, amount, p.Currency,
		p.Rate, fiat, p.TxID, strconv.FormatInt(p.OutputIndex, 10), p.Status, invoice.FormatTime(p.SeenAt), confirmed}
}

// CSVSafe defuses spreadsheet formula injection in merchant-supplied text.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
