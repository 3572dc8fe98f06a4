package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// refundData is the JSON of a refund row's data column.
type refundData struct {
	Invoices    []string          `json:"invoices,omitempty"`
	Method      string            `json:"method"`
	ChainKind   invoice.ChainKind `json:"chain_kind"`
	ChainID     uint64            `json:"chain_id,omitempty"`
	Asset       invoice.Asset     `json:"asset"`
	Token       string            `json:"token,omitempty"`
	Amount      string            `json:"amount"`
	Sent        string            `json:"sent"`
	Fee         string            `json:"fee"`
	Currency    invoice.Asset     `json:"currency"`
	Requested   string            `json:"requested"`
	RateMode    refund.RateMode   `json:"rate_mode,omitempty"`
	Rate        string            `json:"rate,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	From        string            `json:"from,omitempty"`
	FeeRate     int64             `json:"fee_rate,omitempty"`
	Inputs      []refund.Input    `json:"inputs,omitempty"`
	Change      *refund.Change    `json:"change,omitempty"`
	PSBT        []byte            `json:"psbt,omitempty"`
	EVM         *refund.EVMTx     `json:"evm,omitempty"`
	Transfers   []transferData    `json:"transfers,omitempty"`
	BlockHeight uint64            `json:"block_height,omitempty"`
	Confs       int               `json:"confirmations"`
	ConfsReq    int               `json:"confirmations_required"`
	UpdatedAt   int64             `json:"updated_at"`
	CompletedAt int64             `json:"completed_at,omitempty"`
	Sequence    int64             `json:"sequence"`
}

// transferData is one transfer of an EVM sweep in data (amount a decimal string).
type transferData struct {
	InvoiceID   string        `json:"invoice_id"`
	Asset       invoice.Asset `json:"asset"`
	Token       string        `json:"token,omitempty"`
	Amount      string        `json:"amount"`
	Tx          refund.EVMTx  `json:"tx"`
	TxID        string        `json:"txid,omitempty"`
	BlockHeight uint64        `json:"block_height,omitempty"`
	BlockHash   string        `json:"block_hash,omitempty"`
}

func str(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

func num(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return new(big.Int)
	}
	return v
}

// SaveRefund inserts or replaces a refund, and (for a refund that holds its
// inputs) locks the outputs it spends: ErrConflict when another refund
// already spends one of them. A refund that no longer holds (canceled,
// expired) releases its outputs.
func (tx *Tx) SaveRefund(ctx context.Context, r *refund.Refund) error {
	d := refundData{Invoices: r.Invoices, Method: r.Method, ChainKind: r.ChainKind, ChainID: r.ChainID, Asset: r.Asset, Token: r.Token,
		Amount: str(r.Amount), Sent: str(r.Sent), Fee: str(r.Fee), Currency: r.Currency, Requested: str(r.Requested),
		RateMode: r.RateMode, Rate: r.Rate, Reason: r.Reason, From: r.From, FeeRate: r.FeeRate, Inputs: r.Inputs, Change: r.Change,
		PSBT: r.PSBT, EVM: r.EVM, BlockHeight: r.BlockHeight, Confs: r.Confirmations, ConfsReq: r.ConfirmationsRequired,
		UpdatedAt: unix(r.UpdatedAt), Sequence: r.Sequence}
	for _, t := range r.Transfers {
		d.Transfers = append(d.Transfers, transferData{InvoiceID: t.InvoiceID, Asset: t.Asset, Token: t.Token, Amount: str(t.Amount), Tx: t.Tx,
			TxID: t.TxID, BlockHeight: t.BlockHeight, BlockHash: t.BlockHash})
	}
	if r.CompletedAt != nil {
		d.CompletedAt = unix(*r.CompletedAt)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("store: encode refund %s: %w", r.ID, err)
	}
	var exp int64
	if !r.ExpiresAt.IsZero() {
		exp = unix(r.ExpiresAt)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, kind, invoice_id, chain, status, address, txid, block_hash, created_at, expires_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, address = excluded.address, txid = excluded.txid,
			block_hash = excluded.block_hash, expires_at = excluded.expires_at, data = excluded.data`,
		r.ID, string(r.Kind), r.InvoiceID, r.Chain, string(r.Status), r.Address, r.TxID, r.BlockHash, unix(r.CreatedAt), exp, string(b)); err != nil {
		return fmt.Errorf("store: save refund %s: %w", r.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM refund_inputs WHERE refund_id = ?`, r.ID); err != nil {
		return fmt.Errorf("store: refund inputs of %s: %w", r.ID, err)
	}
	if !r.Status.Holds() {
		return nil
	}
	for _, in := range r.Inputs {
		res, err := tx.ExecContext(ctx, `INSERT INTO refund_inputs (chain, outpoint, refund_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			r.Chain, in.Outpoint(), r.ID)
		if err != nil {
			return fmt.Errorf("store: lock %s for %s: %w", in.Outpoint(), r.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: output %s is already spent by another refund or sweep", ErrConflict, in.Outpoint())
		}
	}
	return nil
}

const refundCols = `id, kind, invoice_id, chain, status, address, txid, block_hash, created_at, expires_at, data`

func scanRefund(sc interface{ Scan(...any) error }) (*refund.Refund, error) {
	r := &refund.Refund{}
	var kind, status, data string
	var created, exp int64
	if err := sc.Scan(&r.ID, &kind, &r.InvoiceID, &r.Chain, &status, &r.Address, &r.TxID, &r.BlockHash, &created, &exp, &data); err != nil {
		return nil, err
	}
	var d refundData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, fmt.Errorf("store: decode refund %s: %w", r.ID, err)
	}
	r.Kind, r.Status, r.CreatedAt = refund.Kind(kind), refund.Status(status), fromUnix(created)
	if exp != 0 {
		r.ExpiresAt = fromUnix(exp)
	}
	r.Invoices, r.Method, r.ChainKind, r.ChainID, r.Asset, r.Token = d.Invoices, d.Method, d.ChainKind, d.ChainID, d.Asset, d.Token
	r.Amount, r.Sent, r.Fee, r.Currency, r.Requested = num(d.Amount), num(d.Sent), num(d.Fee), d.Currency, num(d.Requested)
	r.RateMode, r.Rate, r.Reason, r.From, r.FeeRate, r.Inputs, r.Change = d.RateMode, d.Rate, d.Reason, d.From, d.FeeRate, d.Inputs, d.Change
	r.PSBT, r.EVM, r.BlockHeight, r.Confirmations, r.ConfirmationsRequired = d.PSBT, d.EVM, d.BlockHeight, d.Confs, d.ConfsReq
	r.UpdatedAt, r.Sequence = fromUnix(d.UpdatedAt), d.Sequence
	for _, t := range d.Transfers {
		r.Transfers = append(r.Transfers, refund.Transfer{InvoiceID: t.InvoiceID, Asset: t.Asset, Token: t.Token, Amount: num(t.Amount), Tx: t.Tx,
			TxID: t.TxID, BlockHeight: t.BlockHeight, BlockHash: t.BlockHash})
	}
	if d.CompletedAt != 0 {
		t := fromUnix(d.CompletedAt)
		r.CompletedAt = &t
	}
	return r, nil
}

func oneRefund(ctx context.Context, q querier, id string) (*refund.Refund, error) {
	r, err := scanRefund(q.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: refund %s: %w", id, err)
	}
	return r, nil
}

func manyRefunds(ctx context.Context, q querier, query string, args ...any) ([]*refund.Refund, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: refunds: %w", err)
	}
	defer rows.Close()
	var out []*refund.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, fmt.Errorf("store: refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Refund returns a refund or sweep by id, or ErrNotFound.
func (db *DB) Refund(ctx context.Context, id string) (*refund.Refund, error) {
	return oneRefund(ctx, db.r, id)
}

// Refund is (*DB).Refund inside a write transaction.
func (tx *Tx) Refund(ctx context.Context, id string) (*refund.Refund, error) {
	return oneRefund(ctx, tx.Tx, id)
}

// InvoiceRefunds returns an invoice's refunds, oldest first.
func (tx *Tx) InvoiceRefunds(ctx context.Context, invoiceID string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, tx.Tx, `SELECT `+refundCols+` FROM refunds WHERE invoice_id = ? ORDER BY id`, invoiceID)
}

// InvoiceRefunds returns an invoice's refunds, oldest first.
func (db *DB) InvoiceRefunds(ctx context.Context, invoiceID string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, db.r, `SELECT `+refundCols+` FROM refunds WHERE invoice_id = ? ORDER BY id`, invoiceID)
}

// SpentOutpoints returns which of a chain's outpoints ("txid:vout") an
// open or finished refund or sweep already spends.
func (tx *Tx) SpentOutpoints(ctx context.Context, chainName string, outpoints []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, op := range outpoints {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT refund_id FROM refund_inputs WHERE chain = ? AND outpoint = ?`, chainName, op).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: spent outpoints: %w", err)
		}
		out[op] = true
	}
	return out, nil
}

// OpenRefundsTo returns the refunds and sweeps of a chain waiting for a
// transaction to address (ready or broadcast).
func (tx *Tx) OpenRefundsTo(ctx context.Context, chainName, address string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, tx.Tx, `SELECT `+refundCols+` FROM refunds WHERE chain = ? AND status IN ('ready', 'broadcast') AND address = ? ORDER BY id`,
		chainName, address)
}

// MinedRefunds returns a chain's broadcast refunds and sweeps whose
// transaction is in a block (they count confirmations).
func (tx *Tx) MinedRefunds(ctx context.Context, chainName string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, tx.Tx, `SELECT `+refundCols+` FROM refunds WHERE chain = ? AND status = 'broadcast' AND block_hash <> '' ORDER BY id`, chainName)
}

// RefundsInBlock returns a chain's refunds and sweeps whose transaction is in block hash.
func (tx *Tx) RefundsInBlock(ctx context.Context, chainName, hash string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, tx.Tx, `SELECT `+refundCols+` FROM refunds WHERE chain = ? AND block_hash = ? ORDER BY id`, chainName, hash)
}

// OpenRefundAddresses returns the destinations of a chain's ready and
// broadcast refunds and sweeps (the watcher watches them).
func (db *DB) OpenRefundAddresses(ctx context.Context, chainName string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT address FROM refunds WHERE chain = ? AND status IN ('ready', 'broadcast') AND address <> ''`, chainName)
	if err != nil {
		return nil, fmt.Errorf("store: refund addresses: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ExpiredClaims returns refunds awaiting an address past their deadline.
func (tx *Tx) ExpiredClaims(ctx context.Context, now time.Time, limit int) ([]*refund.Refund, error) {
	return manyRefunds(ctx, tx.Tx, `SELECT `+refundCols+` FROM refunds WHERE status = 'awaiting_address' AND expires_at > 0 AND expires_at <= ? ORDER BY id LIMIT ?`,
		unix(now), limit)
}

// SettledUnspent lists, for a sweep, the confirmed Bitcoin-style payments
// of settled invoices on a chain with at least minConf confirmations whose
// outputs no refund or sweep spends yet, oldest first: (invoice id, txid,
// vout, amount, address, derivation index).
func (db *DB) SettledUnspent(ctx context.Context, chainName string, minConf, limit int) ([]refund.Input, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT p.invoice_id, p.txid, p.output_index, p.amount, p.address, a.derive_index
		FROM payments p JOIN invoices i ON i.id = p.invoice_id
		JOIN addresses a ON a.chain = p.chain AND a.address = p.address
		WHERE p.chain = ? AND p.status = 'confirmed' AND p.confirmations >= ?
		AND (i.status = 'settled' OR (i.status = 'expired' AND i.exception = 'paid_late'))
		AND NOT EXISTS (SELECT 1 FROM refund_inputs r WHERE r.chain = p.chain AND r.outpoint = p.txid || ':' || p.output_index)
		ORDER BY p.seen_at, p.id LIMIT ?`, chainName, minConf, limit)
	if err != nil {
		return nil, fmt.Errorf("store: settled unspent: %w", err)
	}
	defer rows.Close()
	var out []refund.Input
	for rows.Next() {
		var in refund.Input
		var amount string
		if err := rows.Scan(&in.InvoiceID, &in.TxID, &in.Vout, &amount, &in.Address, &in.Index); err != nil {
			return nil, err
		}
		v := num(amount)
		if !v.IsInt64() || strings.HasPrefix(amount, "-") {
			continue
		}
		in.Amount = v.Int64()
		out = append(out, in)
	}
	return out, rows.Err()
}

// OpenSweeps returns a chain's ready and broadcast sweeps.
func (tx *Tx) OpenSweeps(ctx context.Context, chainName string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, tx.Tx, `SELECT `+refundCols+` FROM refunds WHERE chain = ? AND kind = 'sweep' AND status IN ('ready', 'broadcast') ORDER BY id`, chainName)
}

// OpenSweeps is (*Tx).OpenSweeps outside a transaction.
func (db *DB) OpenSweeps(ctx context.Context, chainName string) ([]*refund.Refund, error) {
	return manyRefunds(ctx, db.r, `SELECT `+refundCols+` FROM refunds WHERE chain = ? AND kind = 'sweep' AND status IN ('ready', 'broadcast') ORDER BY id`, chainName)
}

// SettledAddress is a deposit address of a settled invoice, for an EVM sweep.
type SettledAddress struct {
	InvoiceID string
	Address   string
	Index     uint32
}

// SettledAddresses lists the deposit addresses of a chain's settled (or
// paid-late) invoices with a confirmed payment of at least minConf
// confirmations, oldest first, at most limit.
func (db *DB) SettledAddresses(ctx context.Context, chainName string, minConf, limit int) ([]SettledAddress, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT p.invoice_id, p.address, MIN(a.derive_index)
		FROM payments p JOIN invoices i ON i.id = p.invoice_id
		JOIN addresses a ON a.chain = p.chain AND a.address = p.address
		WHERE p.chain = ? AND p.status = 'confirmed' AND p.confirmations >= ?
		AND (i.status = 'settled' OR (i.status = 'expired' AND i.exception = 'paid_late'))
		GROUP BY p.invoice_id, p.address ORDER BY MIN(p.seen_at), p.invoice_id LIMIT ?`, chainName, minConf, limit)
	if err != nil {
		return nil, fmt.Errorf("store: settled addresses: %w", err)
	}
	defer rows.Close()
	var out []SettledAddress
	for rows.Next() {
		var a SettledAddress
		if err := rows.Scan(&a.InvoiceID, &a.Address, &a.Index); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// OpenRefundsFrom returns the deposit addresses a chain's EVM refunds
// awaiting an address, ready or broadcast send from.
func (db *DB) OpenRefundsFrom(ctx context.Context, chainName string) ([]string, error) {
	rs, err := manyRefunds(ctx, db.r, `SELECT `+refundCols+` FROM refunds WHERE chain = ? AND kind = 'refund' AND status IN ('awaiting_address', 'ready', 'broadcast') ORDER BY id`, chainName)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		if r.From != "" {
			out = append(out, r.From)
		}
	}
	return out, nil
}
