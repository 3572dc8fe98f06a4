package e2e

import (
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// eventBodies returns the events of one invoice as the API (and webhooks)
// carry them, oldest first.
func (e *env) eventBodies(id string) []invoice.EventBody {
	e.t.Helper()
	var out []invoice.EventBody
	for _, ev := range e.allEvents() {
		if ev.Invoice.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

// wantReorgTail checks what a settled invoice went through after the block
// of its payment left the chain while the node still held the transaction:
// exactly payment_reorged (the invoice processing, its payment pending and
// off any block), processing, payment_confirmed, settled — never new, and
// every event's invoice in the state of that event.
func (e *env) wantReorgTail(id string) {
	e.t.Helper()
	evs := e.eventBodies(id)
	i := slices.IndexFunc(evs, func(b invoice.EventBody) bool { return b.Type == invoice.EventSettled })
	if i < 0 {
		e.t.Fatalf("no settled event: %+v", evs)
	}
	var tail []invoice.EventType
	for _, b := range evs[i+1:] {
		tail = append(tail, b.Type)
	}
	want := []invoice.EventType{reorged, process, confirmed, settled}
	if !slices.Equal(tail, want) {
		e.t.Fatalf("events after the first settlement: %v, want %v", tail, want)
	}
	r := evs[i+1].Invoice
	if r.Status != invoice.StatusProcessing || len(r.Payments) != 1 || r.Payments[0].Status != invoice.PaymentPending ||
		r.Payments[0].BlockHash != nil || r.Payments[0].Confirmations != 0 || r.SettledAt != nil {
		e.t.Fatalf("payment_reorged snapshot: status %s, payments %+v", r.Status, r.Payments)
	}
	for _, b := range evs {
		if st, ok := b.Type.StatusOf(); ok && b.Invoice.Status != st {
			e.t.Fatalf("event %s carries the invoice in status %s", b.Type, b.Invoice.Status)
		}
		if b.Invoice.Status == invoice.StatusNew && b.Type != created {
			e.t.Fatalf("event %s shows the invoice new again: %v", b.Type, tail)
		}
	}
}

// TestReorgPaymentBackInMempool removes the block of a settled payment while
// the node keeps the transaction (back in its mempool, or already mined in
// the replacing branch), on btcd and on anvil, with the replacement block
// arriving before and after payd's next poll. "Before" freezes payd
// (SIGSTOP) while the node disconnects and re-mines, so payd sees both in
// one poll; "after" lets payd see the branch without the payment first.
func TestReorgPaymentBackInMempool(t *testing.T) {
	stack := testnode.StartStack(t)
	e := newEnv(t, stack, testnode.PaydOptions{})
	const wait = 20 * time.Second

	settleBTC := func(e *env) (*invoice.View, string, string) {
		v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
		txid := e.payBTC(v, 100_000)
		e.wait(v.ID, invoice.StatusProcessing, "", wait)
		blk := stack.BTC.Generate(1)[0]
		e.wait(v.ID, invoice.StatusSettled, "", wait)
		return v, txid, blk
	}
	// settledAgain waits until the payment is confirmed in a block other
	// than old (judged from one invoice object, never from two reads).
	settledAgain := func(e *env, id, old string) *invoice.View {
		e.t.Helper()
		return e.waitFor(id, "settled again outside "+old, wait, func(v *invoice.View) bool {
			return v.Status == invoice.StatusSettled && len(v.Payments) == 1 && v.Payments[0].Status == invoice.PaymentConfirmed &&
				v.Payments[0].BlockHash != nil && *v.Payments[0].BlockHash != old
		})
	}

	t.Run("bitcoin, replacement block before the next poll", func(t *testing.T) {
		e := e.sub(t)
		v, txid, blk := settleBTC(e)
		e.payd.Pause()
		stack.BTC.InvalidateBlock(blk) // the tx goes back to btcd's mempool…
		fresh := stack.BTC.Generate(1) // …and is mined again at once
		e.payd.Resume()
		s := settledAgain(e, v.ID, blk)
		if p := s.Payments[0]; p.TxID != txid || p.BlockHash == nil || *p.BlockHash != fresh[0] {
			t.Fatalf("payment %+v, want tx %s in %s", p, txid, fresh[0])
		}
		e.wantReorgTail(v.ID)
	})

	t.Run("bitcoin, replacement block after the next poll", func(t *testing.T) {
		e := e.sub(t)
		v, txid, blk := settleBTC(e)
		stack.BTC.InvalidateBlock(blk)
		p := e.wait(v.ID, invoice.StatusProcessing, "", wait)
		if !stack.BTC.InMempool(txid) || p.Payments[0].Status != invoice.PaymentPending || p.Payments[0].BlockHash != nil {
			t.Fatalf("while in the mempool: %+v", p)
		}
		e.wantEvents(v.ID, created, received, process, confirmed, settled, reorged, process)
		fresh := stack.BTC.Generate(1)
		if s := settledAgain(e, v.ID, blk); *s.Payments[0].BlockHash != fresh[0] {
			t.Fatalf("payment %+v, want block %s", s.Payments[0], fresh[0])
		}
		e.wantReorgTail(v.ID)
	})

	// anvil: the transfer is mined and settled, then its block leaves the
	// chain and the same signed transaction goes back into the node's pool
	// (as geth does with the transactions of a reorged block).
	settleUSDC := func(e *env) (*invoice.View, string, string) {
		v := e.create(client.CreateInvoiceRequest{Amount: "3.00", Currency: "USD", Methods: []string{"ethereum/usdc"}})
		snap := stack.EVM.Snapshot()
		tx := stack.EVM.TransferToken(stack.USDC, method(e.t, v, "ethereum/usdc").Address, big.NewInt(3_000_000)) // mined at once
		stack.EVM.WaitReceipt(tx)
		s := e.wait(v.ID, invoice.StatusSettled, "", wait)
		if len(s.Payments) != 1 || s.Payments[0].BlockHash == nil {
			e.t.Fatalf("settled without a mined payment: %+v", s.Payments)
		}
		stack.EVM.SetAutomine(false)
		e.t.Cleanup(func() { stack.EVM.SetAutomine(true) })
		return s, tx, snap
	}

	t.Run("ethereum, replacement block before the next poll", func(t *testing.T) {
		e := e.sub(t)
		v, tx, snap := settleUSDC(e)
		raw := stack.EVM.RawTx(tx)
		e.payd.Pause()
		stack.EVM.Revert(snap) // the block leaves…
		stack.EVM.SendRaw(raw) // …its transfer waits in the pool…
		stack.EVM.Mine(1)      // …and is mined again in a new block at the same height
		e.payd.Resume()
		settledAgain(e, v.ID, *v.Payments[0].BlockHash)
		e.wantReorgTail(v.ID)
	})

	t.Run("ethereum, replacement block after the next poll", func(t *testing.T) {
		e := e.sub(t)
		v, tx, _ := settleUSDC(e)
		raw := stack.EVM.RawTx(tx)
		e.payd.Pause()
		stack.EVM.Reorg(1)     // an empty block replaces the transfer's block…
		stack.EVM.SendRaw(raw) // …and the transfer waits in the pool
		e.payd.Resume()
		p := e.wait(v.ID, invoice.StatusProcessing, "", wait)
		if !stack.EVM.Pending(tx) || p.Payments[0].Status != invoice.PaymentPending || p.Payments[0].BlockHash != nil {
			t.Fatalf("while in the pool: %+v", p)
		}
		e.wantEvents(v.ID, created, received, confirmed, settled, reorged, process)
		stack.EVM.Mine(1)
		settledAgain(e, v.ID, *v.Payments[0].BlockHash)
		e.wantReorgTail(v.ID)
	})

	if bad := e.violations(nil); len(bad) > 0 {
		t.Errorf("invariants: %v", bad)
	}
}
