package watcher

import (
	"context"
	"errors"
	"strings"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/store"
)

// Refunds and sweeps are watched like payments: their destination is in
// the backend's watched set, so a transfer to it arrives as a chain.Transfer
// to an address no invoice owns. The watcher matches it to the open refund
// paying that address that amount, records the transaction and its block,
// counts confirmations at every block and completes the refund — all in
// the same transaction as the block's payments and cursor.

// refundTransfer records a transfer to a refund's or sweep's destination.
func (b *batch) refundTransfer(ctx context.Context, tr chain.Transfer) error {
	rs, err := b.tx.OpenRefundsTo(ctx, tr.Chain, tr.Address)
	if err != nil || len(rs) == 0 {
		return err
	}
	var height uint64
	var hash string
	if tr.Block != nil {
		height, hash = tr.Block.Height, tr.Block.Hash
	}
	// An EVM sweep lists several transfers to its address: each transfer
	// seen is matched to one of them.
	for _, r := range rs {
		if len(r.Transfers) > 0 && refund.SeenTransfer(r, tr.Token, tr.Amount, tr.TxID, height, hash, b.now.Truncate(1e9)) {
			b.log.Info("sweep transfer seen", "sweep", r.ID, "txid", tr.TxID, "block", height)
			return b.tx.SaveRefund(ctx, r)
		}
	}
	var pick *refund.Refund
	for _, r := range rs {
		if len(r.Transfers) > 0 {
			continue
		}
		if !strings.EqualFold(r.Token, tr.Token) || r.Sent == nil || tr.Amount.Cmp(r.Sent) < 0 {
			continue
		}
		if r.TxID == tr.TxID {
			pick = r
			break
		}
		if pick == nil || (pick.TxID != "" && r.TxID == "") {
			pick = r
		}
	}
	if pick == nil {
		b.log.Debug("transfer to a refund address matches no open refund", "address", tr.Address, "txid", tr.TxID, "amount", tr.Amount.String())
		return nil
	}
	if !refund.Seen(pick, tr.TxID, height, hash, b.now.Truncate(1e9)) {
		return nil
	}
	b.log.Info("refund transaction seen", "refund", pick.ID, "txid", tr.TxID, "block", height)
	return b.tx.SaveRefund(ctx, pick)
}

// unmineRefunds forgets the block of refunds whose transaction was in a
// disconnected block.
func (b *batch) unmineRefunds(ctx context.Context, chainName, hash string) error {
	sweeps, err := b.tx.OpenSweeps(ctx, chainName)
	if err != nil {
		return err
	}
	for _, r := range sweeps {
		if len(r.Transfers) > 0 && refund.UnmineTransfers(r, hash, b.now.Truncate(1e9)) {
			if err := b.tx.SaveRefund(ctx, r); err != nil {
				return err
			}
		}
	}
	rs, err := b.tx.RefundsInBlock(ctx, chainName, hash)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if refund.Unmine(r, b.now.Truncate(1e9)) {
			if err := b.tx.SaveRefund(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// countRefunds counts the confirmations of mined refunds at tip and
// completes those with enough, returning their events.
func (b *batch) countRefunds(ctx context.Context, chainName string, tip uint64) ([]invoice.Event, error) {
	rs, err := b.tx.MinedRefunds(ctx, chainName)
	if err != nil {
		return nil, err
	}
	var out []invoice.Event
	for _, r := range rs {
		before := r.Confirmations
		done := refund.Count(r, tip, b.now.Truncate(1e9))
		if !done && before == r.Confirmations {
			continue
		}
		if err := b.tx.SaveRefund(ctx, r); err != nil {
			return nil, err
		}
		if !done {
			continue
		}
		t := refund.EventCompleted
		var inv *invoice.Invoice
		if r.Kind == refund.KindSweep {
			t = refund.EventSweepCompleted
		} else if inv, err = b.tx.Invoice(ctx, r.InvoiceID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		ev, err := refund.NewEvent(t, r, inv, b.now, refund.ViewOptions{BaseURL: b.view.BaseURL}, b.view)
		if err != nil {
			return nil, err
		}
		b.log.Info("refund completed", "refund", r.ID, "kind", r.Kind, "txid", r.TxID, "confirmations", r.Confirmations)
		out = append(out, ev)
	}
	if len(out) > 0 {
		if err := b.tx.InsertEvents(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
