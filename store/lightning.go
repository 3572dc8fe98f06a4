package store

import (
	"context"
	"fmt"
	"time"

	"github.com/payd/payd/invoice"
)

// LightningInvoice is a BOLT11 invoice payd asked LND for.
type LightningInvoice struct {
	Chain          string
	PaymentHash    string // hex r_hash
	InvoiceID      string
	Method         string
	PaymentRequest string
	AddIndex       uint64
	CreatedAt      time.Time
}

// InsertLightningInvoices records BOLT11 invoices inside tx, with the payd
// invoices they belong to.
func (tx *Tx) InsertLightningInvoices(ctx context.Context, rows []LightningInvoice) error {
	for _, r := range rows {
		if _, err := tx.exec(ctx, `INSERT INTO lightning_invoices (chain, payment_hash, invoice_id, method, payment_request, add_index, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Chain, r.PaymentHash, r.InvoiceID, r.Method, r.PaymentRequest, r.AddIndex, unix(r.CreatedAt)); err != nil {
			return fmt.Errorf("store: insert lightning invoice %s: %w", r.PaymentHash, err)
		}
	}
	return nil
}

// LightningToCancel returns up to limit BOLT11 invoices whose payd invoice
// can no longer be paid on time (expired or invalid) and that LND has not
// cancelled yet, oldest first.
func (db *DB) LightningToCancel(ctx context.Context, limit int) ([]LightningInvoice, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT l.chain, l.payment_hash, l.invoice_id, l.method, l.payment_request, l.add_index, l.created_at
		FROM lightning_invoices l JOIN invoices i ON i.id = l.invoice_id
		WHERE l.cancelled_at IS NULL AND i.status IN (?, ?)
		ORDER BY l.created_at LIMIT ?`, string(invoice.StatusExpired), string(invoice.StatusInvalid), limit)
	if err != nil {
		return nil, fmt.Errorf("store: lightning to cancel: %w", err)
	}
	defer rows.Close()
	var out []LightningInvoice
	for rows.Next() {
		var r LightningInvoice
		var created int64
		if err := rows.Scan(&r.Chain, &r.PaymentHash, &r.InvoiceID, &r.Method, &r.PaymentRequest, &r.AddIndex, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkLightningCancelled records that LND cancelled (or can no longer
// settle) the BOLT11 invoice.
func (db *DB) MarkLightningCancelled(ctx context.Context, chainName, paymentHash string, at time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE lightning_invoices SET cancelled_at = ? WHERE chain = ? AND payment_hash = ?`, unix(at), chainName, paymentHash)
		return err
	})
}

// LightningInvoicesOf returns the BOLT11 invoices of a payd invoice.
func (db *DB) LightningInvoicesOf(ctx context.Context, invoiceID string) ([]LightningInvoice, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT chain, payment_hash, invoice_id, method, payment_request, add_index, created_at
		FROM lightning_invoices WHERE invoice_id = ? ORDER BY method`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("store: lightning invoices of %s: %w", invoiceID, err)
	}
	defer rows.Close()
	var out []LightningInvoice
	for rows.Next() {
		var r LightningInvoice
		var created int64
		if err := rows.Scan(&r.Chain, &r.PaymentHash, &r.InvoiceID, &r.Method, &r.PaymentRequest, &r.AddIndex, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
