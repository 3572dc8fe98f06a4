package e2e

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// afterFirst returns the events after the first invoice.settled.
func afterFirst(evs []string, typ invoice.EventType) []string {
	i := slices.Index(evs, string(typ))
	if i < 0 {
		return nil
	}
	return evs[i+1:]
}

// TestReorgs reorganises both chains at depths 1 to 6 under settled
// invoices, removes a settled payment and waits with it in the mempool, and
// replaces an unconfirmed payment with a conflicting transaction, checking
// the API's invoice objects and event lists each time, that a payment buried
// deeper than every reorg never moves, and the crash loop's invariants.
func TestReorgs(t *testing.T) {
	stack := testnode.StartStack(t)
	e := newEnv(t, stack, testnode.PaydOptions{})
	btc := []string{"bitcoin/btc"}
	usdc := []string{"ethereum/usdc"}
	reorgs, blocks := 0, 0

	// Anchors: one payment per chain buried 10 blocks deep before any reorg.
	ab := e.create(client.CreateInvoiceRequest{Amount: "0.0005", Currency: "BTC", Methods: btc})
	e.payBTC(ab, 50_000)
	au := e.create(client.CreateInvoiceRequest{Amount: "5.00", Currency: "USD", Methods: usdc})
	stack.EVM.TransferToken(stack.USDC, method(t, au, "ethereum/usdc").Address, big.NewInt(5_000_000))
	stack.BTC.Generate(10)
	stack.EVM.Mine(10)
	abs := e.wait(ab.ID, invoice.StatusSettled, "", 15*time.Second)
	aus := e.wait(au.ID, invoice.StatusSettled, "", 15*time.Second)

	for d := 1; d <= 6; d++ {
		t.Run(fmt.Sprintf("bitcoin depth %d", d), func(t *testing.T) {
			e := e.sub(t)
			v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: btc})
			txid := e.payBTC(v, 100_000)
			e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
			old := stack.BTC.Generate(d) // the payment is in old[0], d blocks from the tip
			s := e.waitFor(v.ID, fmt.Sprintf("settled with %d confirmations", d), 10*time.Second, func(v *invoice.View) bool {
				return v.Status == invoice.StatusSettled && len(v.Payments) == 1 && v.Payments[0].Confirmations == d
			})
			if p := s.Payments[0]; p.TxID != txid || p.BlockHash == nil || *p.BlockHash != old[0] || p.Confirmations != d {
				t.Fatalf("before the reorg: payment %+v, want block %s and %d confirmations", p, old[0], d)
			}
			stack.BTC.InvalidateBlock(old[0])
			fresh := stack.BTC.Generate(d + 1)
			reorgs++
			blocks += d
			s = e.waitFor(v.ID, "settled again in "+fresh[0], 15*time.Second, func(v *invoice.View) bool {
				return v.Status == invoice.StatusSettled && len(v.Payments) == 1 && v.Payments[0].BlockHash != nil &&
					*v.Payments[0].BlockHash == fresh[0]
			})
			if p := s.Payments[0]; p.Status != invoice.PaymentConfirmed || p.TxID != txid || p.Confirmations < 1 || s.AmountPaid != "0.001" {
				t.Fatalf("after the reorg: %+v", s)
			}
			evs := e.events(v.ID)
			if !slices.Equal(evs[:5], []string{string(created), string(received), string(process), string(confirmed), string(settled)}) {
				t.Fatalf("events before the reorg: %v", evs)
			}
			// The block left the chain; btcd holds the transaction (in its
			// mempool, or already in the new branch) when payd asks, so the
			// payment stays pending: processing, then settled again.
			tail := evs[5:]
			if !slices.Equal(tail, []string{string(reorged), string(process), string(confirmed), string(settled)}) {
				t.Fatalf("events after the reorg: %v, want payment_reorged processing payment_confirmed settled", tail)
			}
			t.Logf("events after the reorg: %s", strings.Join(tail, " "))
		})
	}

	for d := 1; d <= 6; d++ {
		t.Run(fmt.Sprintf("ethereum depth %d", d), func(t *testing.T) {
			e := e.sub(t)
			v := e.create(client.CreateInvoiceRequest{Amount: "2.00", Currency: "USD", Methods: usdc})
			addr := method(t, v, "ethereum/usdc").Address
			tx := stack.EVM.TransferToken(stack.USDC, addr, big.NewInt(2_000_000)) // mined at once
			h := stack.EVM.WaitReceipt(tx).Height()
			if d > 1 {
				stack.EVM.Mine(d - 1)
			}
			s := e.waitFor(v.ID, fmt.Sprintf("settled with %d confirmations", d), 15*time.Second, func(v *invoice.View) bool {
				return v.Status == invoice.StatusSettled && len(v.Payments) == 1 && v.Payments[0].Confirmations == d
			})
			if p := s.Payments[0]; p.TxID != tx || p.BlockHash == nil || *p.BlockHash != stack.EVM.BlockHash(h) {
				t.Fatalf("before the reorg: payment %+v, want block %d %s", p, h, stack.EVM.BlockHash(h))
			}
			// anvil replaces the last d blocks with empty ones: the transfer is gone.
			stack.EVM.Reorg(d)
			reorgs++
			blocks += d
			s = e.waitFor(v.ID, "new with its payment orphaned", 15*time.Second, func(v *invoice.View) bool {
				return v.Status == invoice.StatusNew && len(v.Payments) == 1 && v.Payments[0].Status == invoice.PaymentOrphaned
			})
			if p := s.Payments[0]; s.AmountPaid != "0.00" || p.BlockHash != nil || p.Confirmations != 0 || s.SettledAt != nil {
				t.Fatalf("after the reorg: %+v", s)
			}
			if evs := e.events(v.ID); evs[len(evs)-1] != string(reorged) {
				t.Fatalf("events after the reorg: %v", evs)
			}
			// The customer pays again: a second payment settles it.
			tx2 := stack.EVM.TransferToken(stack.USDC, addr, big.NewInt(2_000_000))
			s = e.wait(v.ID, invoice.StatusSettled, "", 15*time.Second)
			byTx := map[string]invoice.PaymentStatus{}
			for _, p := range s.Payments {
				byTx[p.TxID] = p.Status
			}
			if len(s.Payments) != 2 || byTx[tx] != invoice.PaymentOrphaned || byTx[tx2] != invoice.PaymentConfirmed || s.AmountPaid != "2.00" {
				t.Fatalf("paid again: %+v", s)
			}
			tail := afterFirst(e.events(v.ID), settled)
			if len(tail) == 0 || tail[0] != string(reorged) || tail[len(tail)-1] != string(settled) ||
				!slices.Contains(tail, string(received)) || !slices.Contains(tail, string(confirmed)) {
				t.Fatalf("events after the first settlement: %v", tail)
			}
		})
	}

	t.Run("settled payment reorged out, waits in the mempool, re-mined", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.002", Currency: "BTC", Methods: btc})
		txid := e.payBTC(v, 200_000)
		e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
		old := stack.BTC.Generate(3)
		e.wait(v.ID, invoice.StatusSettled, "", 10*time.Second)
		stack.BTC.InvalidateBlock(old[0])
		reorgs++
		blocks += 3
		p := e.wait(v.ID, invoice.StatusProcessing, "", 15*time.Second)
		if !stack.BTC.InMempool(txid) || len(p.Payments) != 1 || p.Payments[0].Status != invoice.PaymentPending ||
			p.Payments[0].BlockHash != nil || p.SettledAt != nil {
			t.Fatalf("while in the mempool: %+v", p)
		}
		e.wantEvents(v.ID, created, received, process, confirmed, settled, reorged, process)
		fresh := stack.BTC.Generate(4)
		s := e.waitFor(v.ID, "settled with 4 confirmations", 10*time.Second, func(v *invoice.View) bool {
			return v.Status == invoice.StatusSettled && len(v.Payments) == 1 && v.Payments[0].Confirmations == 4
		})
		if p := s.Payments[0]; p.Status != invoice.PaymentConfirmed || *p.BlockHash != fresh[0] {
			t.Fatalf("re-mined: %+v", s.Payments)
		}
		e.wantEvents(v.ID, created, received, process, confirmed, settled, reorged, process, confirmed, settled)
	})

	t.Run("unconfirmed payment replaced by a conflicting transaction (RBF)", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.003", Currency: "BTC", Methods: btc})
		txid := stack.BTC.Pay(method(t, v, "bitcoin/btc").Address, 300_000, true)
		e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
		stack.BTC.Replace(txid, testnode.MustRegtestAddress(t, "p2wpkh"))
		s := e.waitFor(v.ID, "new with its payment replaced", 15*time.Second, func(v *invoice.View) bool {
			return v.Status == invoice.StatusNew && len(v.Payments) == 1 && v.Payments[0].Status == invoice.PaymentReplaced
		})
		if s.AmountPaid != "0" || s.Exception != nil {
			t.Fatalf("after the replacement: %+v", s)
		}
		e.wantEvents(v.ID, created, received, process, reorged)
		// The replacement is mined: nothing changes for the invoice.
		stack.BTC.Generate(1)
		time.Sleep(time.Second)
		s, err := e.c.GetInvoice(context.Background(), v.ID)
		if err != nil || s.Status != invoice.StatusNew || s.Payments[0].Status != invoice.PaymentReplaced || s.AmountPaid != "0" {
			t.Fatalf("after the replacement was mined: %+v %v", s, err)
		}
		e.wantEvents(v.ID, created, received, process, reorged)
	})

	// The anchors never moved, and the invariants hold.
	for _, a := range []*invoice.View{abs, aus} {
		v, err := e.c.GetInvoice(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != invoice.StatusSettled || len(v.Payments) != 1 || *v.Payments[0].BlockHash != *a.Payments[0].BlockHash {
			t.Errorf("anchor %s moved: %+v, was %+v", a.ID, v, a)
		}
		if evs := e.events(a.ID); slices.Contains(evs, string(reorged)) {
			t.Errorf("anchor %s has events %v", a.ID, evs)
		}
	}
	if bad := e.violations(nil); len(bad) > 0 {
		t.Errorf("invariants: %s", strings.Join(bad, "\n"))
	}
	t.Logf("reorgs: %d (%d blocks replaced), 1 replacement by RBF", reorgs, blocks)
}
