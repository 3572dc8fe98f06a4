package main

import (
	"context"
	"time"
)

// cancelInterval is how often the cancel loop looks for BOLT11 invoices to
// cancel without being woken (a restart, a node that was down).
const cancelInterval = 30 * time.Second

// cancelLoop cancels, in LND, the BOLT11 invoice of every payd invoice that
// expired (or turned invalid), so that a late payment cannot land on it. It
// runs after the commit that expired the invoice (woken by notify) and works
// from the database, so a crash or an unreachable node only delays it.
func (d *daemon) cancelLoop(ctx context.Context) error {
	t := time.NewTicker(cancelInterval)
	defer t.Stop()
	log := d.log.With("subsystem", "lightning")
	for {
		rows, err := d.db.LightningToCancel(ctx, 100)
		if err != nil && ctx.Err() == nil {
			log.Error("read lightning invoices to cancel", "err", err)
		}
		for _, r := range rows {
			n, ok := d.backends[r.Chain].(lnNode)
			if !ok {
				continue // chain no longer configured
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := n.Cancel(cctx, r.PaymentHash)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Warn("cannot cancel lightning invoice yet; will retry", "invoice", r.InvoiceID, "payment_hash", r.PaymentHash, "err", err)
				break
			}
			if err := d.db.MarkLightningCancelled(ctx, r.Chain, r.PaymentHash, time.Now()); err != nil && ctx.Err() == nil {
				log.Error("record lightning invoice cancelled", "invoice", r.InvoiceID, "err", err)
				break
			}
			log.Info("lightning invoice cancelled", "invoice", r.InvoiceID, "payment_hash", r.PaymentHash)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.cancel:
		case <-t.C:
		}
	}
}
