package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// TestRefundClaimPage creates a refund without an address on the real
// payd binary (btcd regtest), opens its claim_url in headless Chromium and
// types addresses as a shopper would: a wrong-network one and payd's own
// deposit address are refused on the page with nothing stored, a good one
// makes the refund ready (masked on the page) and the merchant's webhook
// receiver gets refund.address_provided. The PSBT is then signed with the
// merchant's seed, broadcast and mined, and the page says completed.
func TestRefundClaimPage(t *testing.T) {
	br := newBrowser(t, 100*time.Second) // fails early without chromium
	stack := testnode.StartStack(t)
	w := newWallet(t)
	rc := newHookReceiver(t)
	e := newEnv(t, stack, testnode.PaydOptions{BTCKey: w.btc, EVMKey: w.evm, ExtraYAML: rc.yaml()})
	ctx := context.Background()

	v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}, Metadata: json.RawMessage(`{"note": "<script>alert(1)</script>"}`)})
	other := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	e.payBTC(v, 100_000)
	stack.BTC.Generate(1)
	e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)

	rf, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0005", Reason: xss}, "")
	if err != nil {
		t.Fatalf("create refund: %v\n%s", err, e.payd.Tail(20))
	}
	if rf.Status != refund.StatusAwaitingAddress || rf.Address != nil || rf.ClaimURL != e.payd.URL+"/r/"+rf.ID || rf.ExpiresAt == nil {
		t.Fatalf("refund without address: %+v (payd at %s)", rf, e.payd.URL)
	}

	resp, err := http.Get(rf.ClaimURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("GET claim_url: %s, CSP %q", resp.Status, csp)
	}

	tb := openTab(t, br, false)
	tb.do(t, "open claim_url", chromedp.Navigate(rf.ClaimURL+"?lang=en"), chromedp.WaitVisible(chromedp.ID("claim-form")))
	if got := pageText(t, tb, "refund-amount"); got != "0.0005 BTC" {
		t.Errorf("amount on the page %q", got)
	}
	html := pageEval(t, tb, "page html", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, "alert(") || strings.Contains(html, v.ID) {
		t.Fatalf("the page shows the reason, metadata or the invoice:\n%s", html)
	}

	submit := func(t *testing.T, addr string) {
		t.Helper()
		// The previous answer's message goes first, so that waiting for
		// #address-error waits for the page this submission loads.
		tb.do(t, "type "+addr, chromedp.Evaluate[chromedp.Void](`var m = document.getElementById('address-error'); if (m) { m.remove(); }`),
			chromedp.Clear(chromedp.ID("address")), chromedp.SendKeys(chromedp.ID("address"), addr),
			chromedp.Click(chromedp.ID("claim-submit")))
	}
	for _, c := range []struct{ name, addr, want string }{
		{"mainnet address", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "This address is for another network"},
		{"payd's own deposit address", method(t, other, "bitcoin/btc").Address, "the store's own payment address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			submit(t, c.addr)
			tb.within(t, 10*time.Second, "error shown", chromedp.WaitVisible(chromedp.ID("address-error")))
			if got := pageText(t, tb, "address-error"); !strings.Contains(got, c.want) {
				t.Errorf("error %q, want %q", got, c.want)
			}
			got, err := e.c.GetRefund(ctx, rf.ID)
			if err != nil || got.Status != refund.StatusAwaitingAddress || got.Address != nil {
				t.Fatalf("after a bad address: %v %+v", err, got)
			}
		})
	}
	if ids := e.eventIDs(refund.EventAddressProvided); len(ids) != 0 {
		t.Fatalf("address_provided events after bad addresses: %v", ids)
	}

	shopper := testnode.MustRegtestAddress(t, "p2wpkh")
	submit(t, shopper)
	tb.within(t, 15*time.Second, "confirmation shown", chromedp.WaitVisible(chromedp.ID("refund-address")))
	if got := pageText(t, tb, "state-title"); got != "Address received" {
		t.Errorf("state after the claim %q", got)
	}
	if got := pageText(t, tb, "refund-address"); got != refund.Mask(shopper) || got == shopper {
		t.Errorf("address on the page %q, want masked %q", got, refund.Mask(shopper))
	}
	ready := e.waitRefund(rf.ID, refund.StatusReady, 10*time.Second)
	if ready.Address == nil || *ready.Address != shopper || ready.ClaimURL != "" || ready.PSBTURL == "" {
		t.Fatalf("refund after the claim: %+v", ready)
	}
	ids := e.eventIDs(refund.EventAddressProvided)
	if len(ids) != 1 {
		t.Fatalf("address_provided events: %v", ids)
	}
	waitDelivered(t, rc, ids, 20*time.Second)

	b64, err := e.c.RefundPSBT(ctx, rf.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := refund.Decode([]byte(b64))
	if err != nil {
		t.Fatal(err)
	}
	tx := w.sign(t, p)
	if _, err := e.c.BroadcastRefund(ctx, rf.ID, txHex(t, tx)); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	tb.do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("state-title")))
	if got := pageText(t, tb, "state-title"); got != "Refund sent" {
		t.Errorf("state after broadcast %q", got)
	}
	stack.BTC.Generate(1)
	e.waitRefund(rf.ID, refund.StatusCompleted, 20*time.Second)
	tb.do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("state-title")))
	if got := pageText(t, tb, "state-title"); got != "Refund completed" {
		t.Errorf("state after mining %q", got)
	}
	waitDelivered(t, rc, e.eventIDs(refund.EventCreated, refund.EventAddressProvided, refund.EventCompleted), 20*time.Second)

	resp, err = http.Get(e.payd.URL + "/r/rf_00000000000000000000000000ff")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown refund: %s", resp.Status)
	}
	tb.check(t)
}
