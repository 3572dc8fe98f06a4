package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// batch is the invoices one write transaction touched, with the payment
// events each accumulated; flush evaluates them and stores the results.
type batch struct {
	tx     *store.Tx
	now    time.Time
	invs   map[string]*entry
	order  []string
	window time.Duration
	view   invoice.ViewOptions
	log    *slog.Logger
	// catchUpTo is the node's tip height when the watcher started: blocks
	// up to it were mined while payd was not watching (0 = unknown).
	catchUpTo uint64
}

type entry struct {
	inv     *invoice.Invoice
	events  []invoice.EventType
	changed bool // something visible changed: bump the sequence
	dirty   bool // something must be saved
}

func newBatch(tx *store.Tx, now time.Time, window time.Duration, view invoice.ViewOptions, log *slog.Logger) *batch {
	return &batch{tx: tx, now: now, invs: map[string]*entry{}, window: window, view: view, log: log}
}

func (b *batch) load(ctx context.Context, id string) (*entry, error) {
	if e, ok := b.invs[id]; ok {
		return e, nil
	}
	inv, err := b.tx.Invoice(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &entry{inv: inv}
	b.invs[id] = e
	b.order = append(b.order, id)
	return e, nil
}

// methodFor finds the invoice method a transfer pays: same chain, and the
// same token contract (or both native).
func methodFor(inv *invoice.Invoice, tr chain.Transfer) (*invoice.Method, bool) {
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if m.Chain == tr.Chain && strings.EqualFold(m.Token, tr.Token) {
			return m, true
		}
	}
	return nil, false
}

// transfer records one transfer: a new payment, or news of a known one (it
// was mined, or came back after a reorg).
func (b *batch) transfer(ctx context.Context, tr chain.Transfer) error {
	if tr.Amount == nil || tr.Amount.Sign() <= 0 {
		b.log.Debug("zero-value transfer ignored", "txid", tr.TxID, "address", tr.Address)
		return nil
	}
	id, err := b.tx.AddressOwner(ctx, tr.Chain, tr.Address)
	if errors.Is(err, store.ErrNotFound) {
		return b.refundTransfer(ctx, tr) // not ours (any more), or a refund's destination
	}
	if err != nil {
		return err
	}
	e, err := b.load(ctx, id)
	if err != nil {
		return err
	}
	inv := e.inv
	m, ok := methodFor(inv, tr)
	if !ok {
		b.log.Warn("payment in an asset the invoice did not ask for; not counted",
			"invoice", inv.ID, "asset", tr.Asset, "token", tr.Token, "txid", tr.TxID, "amount", tr.Amount.String())
		return nil
	}
	for i := range inv.Payments {
		p := &inv.Payments[i]
		if p.Method != m.Method || p.TxID != tr.TxID || p.OutputIndex != tr.Index {
			continue
		}
		// Known payment.
		if p.Status == invoice.PaymentOrphaned || p.Status == invoice.PaymentReplaced {
			p.Status = invoice.PaymentPending
			e.changed, e.dirty = true, true
		}
		if tr.Block != nil && p.BlockHash != tr.Block.Hash {
			p.BlockHeight, p.BlockHash = tr.Block.Height, tr.Block.Hash
			e.changed, e.dirty = true, true
		}
		return nil
	}
	seen := b.now
	if tr.Block != nil && tr.Block.Height <= b.catchUpTo && !tr.Block.Time.IsZero() && tr.Block.Time.Before(seen) {
		// Caught up after downtime: the block was mined before this watcher
		// was following the chain, so the payment arrived no later than its
		// block. (While following live, a block's own timestamp is not
		// trusted: miners may set it up to hours in the past.)
		seen = tr.Block.Time.UTC()
		// Nothing paid the address before the invoice made it: a block
		// timestamp that says otherwise is skewed (anvil after a reorg, a
		// miner's clock), not evidence.
		if seen.Before(inv.CreatedAt) {
			seen = inv.CreatedAt
		}
	}
	p := invoice.Payment{
		ID: invoice.NewID(invoice.PrefixPayment, b.now), Method: m.Method, TxID: tr.TxID, OutputIndex: tr.Index,
		Amount: tr.Amount, Status: invoice.PaymentPending, RBF: tr.RBF, SeenAt: seen.Truncate(time.Second),
	}
	if tr.Block != nil {
		p.BlockHeight, p.BlockHash = tr.Block.Height, tr.Block.Hash
	}
	inv.Payments = append(inv.Payments, p)
	e.events = append(e.events, invoice.EventPaymentReceived)
	e.changed, e.dirty = true, true
	if !b.now.Before(inv.ExpiresAt) {
		// Late activity keeps the addresses watched a while longer.
		if until := b.now.Add(b.window); until.After(inv.MonitorUntil) {
			inv.MonitorUntil = until
		}
	}
	b.log.Info("payment received", "invoice", inv.ID, "method", m.Method, "txid", tr.TxID, "index", tr.Index,
		"amount", invoice.FormatTrimmed(tr.Amount, m.Asset.Decimals), "block", tr.Block != nil)
	return nil
}

// unmine takes the payments of a disconnected block off it. A payment whose
// transaction the node still holds (held: back in its mempool, or already
// mined in the new branch, as the node said in this same step) stays
// pending, so the invoice shows processing while it waits to be mined
// again; only a payment the node no longer has becomes orphaned. Either way
// the invoice gets invoice.payment_reorged, with its snapshot in that state.
func (b *batch) unmine(ctx context.Context, chainName string, blk chain.BlockRef, held map[string]chain.TxState) error {
	ids, err := b.tx.InvoicesWithBlock(ctx, chainName, blk.Hash)
	if err != nil {
		return err
	}
	return b.eachPayment(ctx, ids, chainName, "payment reorged out", []any{"block", blk},
		func(p *invoice.Payment) (touched, reorged bool) {
			if p.BlockHash != blk.Hash {
				return false, false
			}
			p.BlockHeight, p.BlockHash, p.Confirmations = 0, "", 0
			if p.Status != invoice.PaymentPending && p.Status != invoice.PaymentConfirmed {
				return true, false
			}
			switch st := held[p.TxID]; st {
			case chain.TxInMempool, chain.TxMined:
				p.Status = invoice.PaymentPending
				b.log.Info("reorged payment still held by the node", "txid", p.TxID, "node", st.String())
			default:
				p.Status = invoice.PaymentOrphaned
			}
			return true, true
		})
}

// replace marks unconfirmed payments of a double-spent transaction replaced.
func (b *batch) replace(ctx context.Context, chainName, txid, by string) error {
	ids, err := b.tx.InvoicesWithTx(ctx, chainName, txid)
	if err != nil {
		return err
	}
	return b.eachPayment(ctx, ids, chainName, "payment replaced", []any{"txid", txid, "replaced_by", by},
		func(p *invoice.Payment) (touched, reorged bool) {
			if p.TxID != txid || p.BlockHeight != 0 {
				return false, false
			}
			switch p.Status {
			case invoice.PaymentPending, invoice.PaymentConfirmed, invoice.PaymentOrphaned:
				p.Status, p.Confirmations = invoice.PaymentReplaced, 0
				return true, true
			}
			return false, false
		})
}

// eachPayment applies fn to every payment on chainName of the invoices ids.
// fn reports whether it changed the payment and whether the payment was
// reorged (lost its block, or was replaced); an invoice with such a payment
// gets invoice.payment_reorged and a warning (msg, attrs).
func (b *batch) eachPayment(ctx context.Context, ids []string, chainName, msg string, attrs []any,
	fn func(p *invoice.Payment) (touched, reorged bool)) error {
	for _, id := range ids {
		e, err := b.load(ctx, id)
		if err != nil {
			return err
		}
		anyReorged := false
		for i := range e.inv.Payments {
			p := &e.inv.Payments[i]
			if !onChain(e.inv, p, chainName) {
				continue
			}
			touched, reorged := fn(p)
			if touched {
				e.changed, e.dirty = true, true
			}
			anyReorged = anyReorged || reorged
		}
		if anyReorged {
			e.events = append(e.events, invoice.EventPaymentReorged)
			b.log.Warn(msg, append([]any{"invoice", id}, attrs...)...)
		}
	}
	return nil
}

func onChain(inv *invoice.Invoice, p *invoice.Payment, chainName string) bool {
	m, ok := inv.MethodByName(p.Method)
	return ok && m.Chain == chainName
}

// count loads the invoices whose payments on the chain still count
// confirmations.
func (b *batch) count(ctx context.Context, chainName string, maxConf int) error {
	for _, q := range []func(context.Context, string) ([]string, error){
		func(ctx context.Context, c string) ([]string, error) { return b.tx.InvoicesCounting(ctx, c, maxConf) },
		b.tx.InvoicesUnminedPending,
	} {
		ids, err := q(ctx, chainName)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := b.load(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush sets confirmations from the tip of chainName (when tip > 0),
// evaluates every touched invoice, and saves the changed ones with their
// events. It returns the events written.
func (b *batch) flush(ctx context.Context, chainName string, tip uint64) ([]invoice.Event, error) {
	var out []invoice.Event
	for _, id := range b.order {
		e := b.invs[id]
		inv := e.inv
		if tip > 0 {
			for i := range inv.Payments {
				p := &inv.Payments[i]
				m, ok := inv.MethodByName(p.Method)
				if !ok || m.Chain != chainName {
					continue
				}
				before := p.Status
				changed, confirmed := invoice.Confirm(p, m.ConfirmationsRequired, tip)
				if !changed {
					continue
				}
				e.dirty = true
				if before != p.Status || p.Status == invoice.PaymentPending {
					e.changed = true // the shopper sees "n of m" move
				}
				if confirmed {
					if p.ConfirmedAt.IsZero() {
						p.ConfirmedAt = b.now.Truncate(time.Second)
					}
					e.events = append(e.events, invoice.EventPaymentConfirmed)
				}
			}
		}
		evs, changed := invoice.Evaluate(inv, b.now)
		if changed {
			e.changed, e.dirty = true, true
			b.log.Info("invoice status", "invoice", inv.ID, "status", inv.Status, "exception", inv.Exception)
		}
		e.events = append(dedupe(e.events), evs...)
		if !e.dirty {
			continue
		}
		if e.changed || len(e.events) > 0 {
			inv.Sequence++
		}
		for _, t := range e.events {
			ev, err := invoice.NewEvent(t, inv, b.now, b.view)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		if err := b.tx.SaveInvoice(ctx, inv); err != nil {
			return nil, fmt.Errorf("save %s: %w", inv.ID, err)
		}
	}
	if err := b.tx.InsertEvents(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// dedupe drops repeated payment event types (one payment_received for two
// outputs in one block is enough: the invoice object lists both).
func dedupe(ts []invoice.EventType) []invoice.EventType {
	var out []invoice.EventType
	seen := map[invoice.EventType]bool{}
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
