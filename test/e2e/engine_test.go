package e2e

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// TestEngine drives the invoice engine through the API on real nodes.
func TestEngine(t *testing.T) {
	stack := testnode.StartStack(t)
	e := newEnv(t, stack, testnode.PaydOptions{})
	btc := []string{"bitcoin/btc"}

	// Started first, it runs while the others do: an invoice that expires
	// after 60 s, then receives the full amount late.
	lateDone := make(chan struct{})
	late := e.create(client.CreateInvoiceRequest{Amount: "0.0007", Currency: "BTC", Methods: btc, ExpiresIn: 60})

	t.Run("exact payment: processing then settled", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: btc, OrderID: "exact"})
		if m := method(t, v, "bitcoin/btc"); m.AmountDue != "0.001" || !strings.HasPrefix(m.PaymentURI, "bitcoin:"+m.Address+"?amount=0.001") {
			t.Fatalf("method = %+v", m)
		}
		e.payBTC(v, 100_000)
		e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
		stack.BTC.Generate(1)
		s := e.wait(v.ID, invoice.StatusSettled, "", 10*time.Second)
		if s.AmountPaid != "0.001" || len(s.Payments) != 1 || s.Payments[0].Confirmations != 1 || s.SettledAt == nil {
			t.Fatalf("settled invoice: %+v", s)
		}
		e.wantEvents(v.ID, created, received, process, confirmed, settled)
	})

	t.Run("partial then top-up", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: btc})
		e.payBTC(v, 40_000)
		p := e.wait(v.ID, invoice.StatusNew, "underpaid", 10*time.Second)
		if p.AmountPaid != "0.0004" {
			t.Fatalf("amount_paid = %s", p.AmountPaid)
		}
		e.payBTC(v, 60_000)
		e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
		stack.BTC.Generate(1)
		s := e.wait(v.ID, invoice.StatusSettled, "", 10*time.Second)
		if len(s.Payments) != 2 {
			t.Fatalf("payments = %+v", s.Payments)
		}
	})

	t.Run("overpaid", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: btc})
		e.payBTC(v, 150_000)
		stack.BTC.Generate(1)
		s := e.wait(v.ID, invoice.StatusSettled, "overpaid", 10*time.Second)
		if s.AmountPaid != "0.0015" {
			t.Fatalf("amount_paid = %s", s.AmountPaid)
		}
	})

	t.Run("USDC on anvil", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "25.00", Currency: "USD", Methods: []string{"ethereum/usdc"}})
		m := method(t, v, "ethereum/usdc")
		if m.AmountDue != "25" || !strings.Contains(m.PaymentURI, "/transfer?address="+m.Address+"&uint256=25000000") {
			t.Fatalf("method = %+v", m)
		}
		stack.EVM.TransferToken(stack.USDC, m.Address, big.NewInt(25_000_000))
		s := e.wait(v.ID, invoice.StatusSettled, "", 15*time.Second)
		if s.AmountPaid != "25.00" || s.Payments[0].Method != "ethereum/usdc" {
			t.Fatalf("settled: %+v", s)
		}
	})

	t.Run("two methods add up", func(t *testing.T) {
		e := e.sub(t)
		// 30.00 USD: 0.0005 BTC at 60000, or 30 USDC.
		v := e.create(client.CreateInvoiceRequest{Amount: "30.00", Currency: "USD", Methods: []string{"bitcoin/btc", "ethereum/usdc"}})
		if b := method(t, v, "bitcoin/btc"); b.AmountDue != "0.0005" || b.Rate != "60000" {
			t.Fatalf("btc method = %+v", b)
		}
		e.payBTC(v, 25_000)
		e.wait(v.ID, invoice.StatusNew, "underpaid", 10*time.Second)
		stack.EVM.TransferToken(stack.USDC, method(t, v, "ethereum/usdc").Address, big.NewInt(15_000_000))
		e.wait(v.ID, invoice.StatusProcessing, "", 15*time.Second)
		stack.BTC.Generate(1)
		s := e.wait(v.ID, invoice.StatusSettled, "", 10*time.Second)
		if s.AmountPaid != "30.00" {
			t.Fatalf("amount_paid = %s", s.AmountPaid)
		}
	})

	t.Run("reorg unsettles and re-settles", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.002", Currency: "BTC", Methods: btc})
		e.payBTC(v, 200_000)
		e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
		hash := stack.BTC.Generate(1)[0]
		e.wait(v.ID, invoice.StatusSettled, "", 10*time.Second)
		stack.BTC.InvalidateBlock(hash)
		// The payment leaves the chain and returns to the mempool.
		e.wait(v.ID, invoice.StatusProcessing, "", 15*time.Second)
		stack.BTC.Generate(1)
		s := e.wait(v.ID, invoice.StatusSettled, "", 10*time.Second)
		if len(s.Payments) != 1 || s.Payments[0].Status != invoice.PaymentConfirmed {
			t.Fatalf("payments = %+v", s.Payments)
		}
		e.wantEvents(v.ID, created, received, process, confirmed, settled, reorged, process, confirmed, settled)
	})

	t.Run("payd CLI creates an invoice and prints its checkout URL", func(t *testing.T) {
		e := e.sub(t)
		out, err := e.payd.Run("invoice", "create", "--amount", "0.001", "--currency", "BTC")
		if err != nil {
			t.Fatalf("payd invoice create: %v\n%s", err, out)
		}
		url := strings.TrimSpace(out)
		if !strings.HasPrefix(url, e.payd.URL+"/i/inv_") {
			t.Fatalf("output %q is not a checkout URL", out)
		}
		id := strings.TrimPrefix(url, e.payd.URL+"/i/")
		if _, err := e.c.GetInvoice(context.Background(), id); err != nil {
			t.Fatalf("the printed invoice does not exist: %v", err)
		}
	})

	t.Run("expired, then paid late", func(t *testing.T) {
		e := e.sub(t)
		defer close(lateDone)
		e.wait(late.ID, invoice.StatusExpired, "", 75*time.Second)
		e.payBTC(late, 70_000)
		stack.BTC.Generate(1)
		// paid_late may be set while the payment is still in the mempool
		// (the watcher can see it before the block): wait for both.
		s := e.waitFor(late.ID, "expired/paid_late with its payment confirmed", 10*time.Second, func(v *invoice.View) bool {
			return v.Status == invoice.StatusExpired && v.Exception != nil && *v.Exception == "paid_late" &&
				len(v.Payments) > 0 && v.Payments[0].Status == invoice.PaymentConfirmed
		})
		if len(s.Payments) != 1 {
			t.Fatalf("late payment: %+v", s.Payments)
		}
		e.wantEvents(late.ID, created, expired, received, confirmed)
	})
	<-lateDone
}

// TestKill9BetweenMempoolAndConfirmation kills payd with SIGKILL after the
// payment was seen unconfirmed, mines while it is down, restarts it, and
// expects the same end state as without the crash: settled, one payment,
// every event once.
func TestKill9BetweenMempoolAndConfirmation(t *testing.T) {
	stack := testnode.StartStack(t)
	e := newEnv(t, stack, testnode.PaydOptions{})
	v := e.create(client.CreateInvoiceRequest{Amount: "0.003", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	u := e.create(client.CreateInvoiceRequest{Amount: "12.00", Currency: "USD", Methods: []string{"ethereum/usdc"}})
	e.payBTC(v, 300_000)
	e.wait(v.ID, invoice.StatusProcessing, "", 10*time.Second)
	e.payd.Kill()
	stack.BTC.Generate(2)
	stack.EVM.TransferToken(stack.USDC, method(t, u, "ethereum/usdc").Address, big.NewInt(12_000_000))
	stack.EVM.Mine(2)
	e.payd.Start()
	s := e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
	if len(s.Payments) != 1 {
		t.Fatalf("payments after restart: %+v", s.Payments)
	}
	e.wantEvents(v.ID, created, received, process, confirmed, settled)
	us := e.wait(u.ID, invoice.StatusSettled, "", 20*time.Second)
	if len(us.Payments) != 1 {
		t.Fatalf("USDC payments after restart: %+v", us.Payments)
	}
	e.wantEvents(u.ID, created, received, confirmed, settled)
	// A second crash and restart changes nothing.
	e.payd.Kill()
	e.payd.Start()
	time.Sleep(time.Second)
	e.wantEvents(v.ID, created, received, process, confirmed, settled)
	e.wantEvents(u.ID, created, received, confirmed, settled)
}
