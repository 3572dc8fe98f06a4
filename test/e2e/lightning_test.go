package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// TestLightning runs payd against two real lnd nodes on btcd regtest: the
// payer's node opened a channel to the merchant's, whose invoice macaroon
// payd holds. Subtests share the nodes and run in order.
func TestLightning(t *testing.T) {
	start := time.Now()
	l := testnode.StartLightning(t, 1_000_000)
	btc := testnode.StartBtcd(t)
	t.Logf("nodes up in %s", time.Since(start).Round(time.Millisecond))
	hooks := newHookReceiver(t)
	e := newEnv(t, &testnode.Stack{}, testnode.PaydOptions{Chains: testnode.LightningChains(t, l, btc), ExtraYAML: hooks.yaml()})
	ln := []string{"lightning/btc"}

	// Created first: it expires after the minimum 60 s while the others run.
	late := e.create(client.CreateInvoiceRequest{Amount: "0.00002", Currency: "BTC", Methods: ln, ExpiresIn: 60})

	var paid *invoice.View
	t.Run("paid: settled, webhooks signed", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.0005", Currency: "BTC", Methods: ln, Description: "2 × T-shirt"})
		m := method(t, v, "lightning/btc")
		if !strings.HasPrefix(m.Address, "lnbcrt") || m.PaymentURI != "lightning:"+m.Address || m.AmountDue != "0.0005" || m.ConfirmationsRequired != 0 {
			t.Fatalf("lightning method = %+v", m)
		}
		if err := l.Payer.PayErr(m.Address); err != nil {
			t.Fatalf("payer: %v", err)
		}
		s := e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
		if s.AmountPaid != "0.0005" || len(s.Payments) != 1 || s.Payments[0].Status != invoice.PaymentConfirmed ||
			len(s.Payments[0].TxID) != 64 || s.Payments[0].Amount != "0.0005" || s.SettledAt == nil {
			t.Fatalf("settled invoice: %+v", s)
		}
		e.wantEvents(v.ID, created, received, confirmed, settled)
		e.waitHooks(hooks, v.ID, 20*time.Second)
		paid = s
	})

	t.Run("BOLT11 agrees under an independent decoder", func(t *testing.T) {
		if paid == nil {
			t.Fatal("needs the paid invoice")
		}
		m := method(t, paid, "lightning/btc")
		d := decodeBOLT11(t, m.Address)
		created, _ := time.Parse(time.RFC3339, paid.CreatedAt)
		expires, _ := time.Parse(time.RFC3339, paid.ExpiresAt)
		if d.AmountMsat != "50000000" || d.PaymentHash != paid.Payments[0].TxID ||
			d.Expiry != int64(expires.Sub(created)/time.Second) || d.Description != "2 × T-shirt" {
			t.Fatalf("decoded %+v; invoice %s amount 0.0005 BTC, hash %s, expiry %s", d, paid.ID, paid.Payments[0].TxID, expires.Sub(created))
		}
		if d.Timestamp < created.Unix()-5 || d.Timestamp > created.Unix()+5 {
			t.Fatalf("BOLT11 timestamp %d, invoice created %d", d.Timestamp, created.Unix())
		}
	})

	t.Run("unified BIP21 with bitcoin/btc", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.0001", Currency: "BTC", Methods: []string{"bitcoin/btc", "lightning/btc"}})
		b, lm := method(t, v, "bitcoin/btc"), method(t, v, "lightning/btc")
		if want := "bitcoin:" + b.Address + "?amount=0.0001&lightning=" + lm.Address; b.PaymentURI != want {
			t.Fatalf("bitcoin payment_uri = %s\nwant %s", b.PaymentURI, want)
		}
		if lm.PaymentURI != "lightning:"+lm.Address {
			t.Fatalf("lightning payment_uri = %s", lm.PaymentURI)
		}
		resp, err := http.Get(e.payd.URL + "/i/" + v.ID)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "lightning="+lm.Address) {
			t.Fatalf("checkout page does not offer the unified URI")
		}
		// Paid over Lightning, the invoice settles like any other.
		if err := l.Payer.PayErr(lm.Address); err != nil {
			t.Fatalf("payer: %v", err)
		}
		e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
	})

	t.Run("payd down while paid: caught up", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.0003", Currency: "BTC", Methods: ln})
		e.payd.Stop()
		if err := l.Payer.PayErr(method(t, v, "lightning/btc").Address); err != nil {
			t.Fatalf("payer: %v", err)
		}
		e.payd.Start()
		e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
		e.wantEvents(v.ID, created, received, confirmed, settled)
		e.waitHooks(hooks, v.ID, 20*time.Second)
	})

	t.Run("cancelled: BOLT11 cancelled in lnd, cannot be paid", func(t *testing.T) {
		e := e.sub(t)
		v := e.create(client.CreateInvoiceRequest{Amount: "0.0001", Currency: "BTC", Methods: ln})
		if _, err := e.c.CancelInvoice(context.Background(), v.ID); err != nil {
			t.Fatal(err)
		}
		bolt11 := method(t, v, "lightning/btc").Address
		waitCanceled(t, l.Merchant, bolt11, 20*time.Second)
		if err := l.Payer.PayErr(bolt11); err == nil {
			t.Fatalf("a cancelled invoice was paid")
		}
		if s := e.wait(v.ID, invoice.StatusExpired, "", 5*time.Second); len(s.Payments) != 0 {
			t.Fatalf("payments = %+v", s.Payments)
		}
	})

	t.Run("expired: cannot be paid", func(t *testing.T) {
		e := e.sub(t)
		e.wait(late.ID, invoice.StatusExpired, "", 90*time.Second)
		bolt11 := method(t, late, "lightning/btc").Address
		waitCanceled(t, l.Merchant, bolt11, 20*time.Second)
		if err := l.Payer.PayErr(bolt11); err == nil {
			t.Fatalf("an expired invoice was paid")
		}
		e.wantEvents(late.ID, created, expired)
	})

	t.Run("payd check: alias, pubkey, inbound liquidity", func(t *testing.T) {
		out, err := e.payd.Run("check")
		if err != nil {
			t.Fatalf("payd check: %v\n%s", err, out)
		}
		if !strings.Contains(out, `alias "merchant", pubkey `+l.Merchant.PubKey) || !strings.Contains(out, "1 active channels, inbound liquidity ") {
			t.Fatalf("payd check output:\n%s", out)
		}
	})

	t.Run("admin macaroon refused", func(t *testing.T) {
		cfg, err := os.ReadFile(e.payd.Config)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		bad := strings.Replace(string(cfg), "macaroon: "+l.Merchant.InvoiceMacaroon, "macaroon: "+l.Merchant.AdminMacaroon, 1)
		bad = strings.Replace(bad, filepath.Join(e.payd.Dir, "payd.db"), filepath.Join(dir, "payd.db"), 1)
		if bad == string(cfg) {
			t.Fatal("config has no macaroon line to replace")
		}
		path := filepath.Join(dir, "payd.yaml")
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"check"}, {"run"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			out, err := exec.CommandContext(ctx, testnode.PaydBin(t), append(args, "--config", path)...).CombinedOutput()
			cancel()
			if err == nil || !strings.Contains(string(out), "admin macaroon") || !strings.Contains(string(out), "chains.lightning") {
				t.Fatalf("payd %s with admin.macaroon: err %v\n%s", args[0], err, out)
			}
		}
	})

	t.Run("lnd stopped: readyz 503 with the reason", func(t *testing.T) {
		l.Merchant.Stop()
		// The subscription may break first (its reason shows at once); the
		// health poll then names the cause, which is what readyz must end on.
		deadline := time.Now().Add(30 * time.Second)
		for {
			body := waitReadyz(t, e.payd.URL, http.StatusServiceUnavailable, 30*time.Second)
			if strings.Contains(body, "chain lightning: lnd unreachable") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz body: %s", body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		l.Merchant.Restart()
		waitReadyz(t, e.payd.URL, http.StatusOK, 90*time.Second)
	})
	t.Logf("TestLightning took %s", time.Since(start).Round(time.Millisecond))
}

// waitHooks waits until every event of the invoice was delivered, signed.
func (e *env) waitHooks(r *hookReceiver, id string, timeout time.Duration) {
	e.t.Helper()
	var ids []string
	after := ""
	for {
		page, more, err := e.c.ListEvents(context.Background(), after, 200)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range page {
			if ev.Invoice.ID == id {
				ids = append(ids, ev.ID)
			}
			after = ev.ID
		}
		if !more {
			break
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		missing, _ := r.missing(ids)
		r.mu.Lock()
		bad := r.badSig
		r.mu.Unlock()
		if bad > 0 {
			e.t.Fatalf("%d webhook deliveries with a bad signature", bad)
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("webhooks not delivered: %v", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type decodedBOLT11 struct {
	AmountMsat  string `json:"amount_msat"`
	PaymentHash string `json:"payment_hash"`
	Expiry      int64  `json:"expiry"`
	Timestamp   int64  `json:"timestamp"`
	Description string `json:"description"`
}

// decodeBOLT11 decodes with the npm library light-bolt11-decoder (pinned in
// scripts/install-tools.sh): not payd's code, not lnd's.
func decodeBOLT11(t *testing.T, bolt11 string) decodedBOLT11 {
	t.Helper()
	mods, err := testnode.NodeModules("bolt11", "light-bolt11-decoder")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "testdata/bolt11-decode.js", bolt11)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node bolt11-decode.js: %v\n%s", err, out)
	}
	var d decodedBOLT11
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("decoder output %q: %v", out, err)
	}
	return d
}

// waitCanceled waits until the merchant's lnd shows the invoice CANCELED.
func waitCanceled(t *testing.T, n *testnode.LND, bolt11 string, timeout time.Duration) {
	t.Helper()
	var pr struct {
		Hash string `json:"payment_hash"`
	}
	n.Call("GET", "/v1/payreq/"+bolt11, nil, &pr)
	deadline := time.Now().Add(timeout)
	state := ""
	for {
		var inv struct {
			State string `json:"state"`
		}
		n.Call("GET", "/v1/invoice/"+pr.Hash, nil, &inv)
		if state = inv.State; state == "CANCELED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lnd invoice %s is %s, not CANCELED, after %s", pr.Hash, state, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReadyz polls /readyz until it answers status and returns the body.
func waitReadyz(t *testing.T, base string, status int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == status {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not %d after %s; last: %s", status, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
