package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

const xss = `<script>alert(1)</script>`

// methodAnchor is the checkout page's element id of a method ("m-bitcoin-btc").
func methodAnchor(method string) string { return "m-" + strings.ReplaceAll(method, "/", "-") }

// TestCheckoutBrowser opens the hosted checkout page of the real payd binary
// in Debian's headless Chromium, pays on real nodes (btcd regtest, anvil) and
// watches the page follow the invoice live, without a reload.
func TestCheckoutBrowser(t *testing.T) {
	br := newBrowser(t, 100*time.Second) // fails early without chromium
	stack := testnode.StartStack(t)
	// Two EVM confirmations, so that the USDC payment (mined at once by
	// anvil) shows processing before settled, as the BTC one does.
	e := newEnv(t, stack, testnode.PaydOptions{EVMConfirmations: 2})

	const redirect = "https://shop.example/thanks"
	btcInv := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"},
		Description: xss, RedirectURL: redirect})
	usdcInv := e.create(client.CreateInvoiceRequest{Amount: "25.00", Currency: "USD", Methods: []string{"ethereum/usdc"},
		Description: xss, RedirectURL: redirect})
	partInv := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	nojsInv := e.create(client.CreateInvoiceRequest{Amount: "30.00", Currency: "USD", Methods: []string{"bitcoin/btc", "ethereum/usdc"}})

	t.Run("QR PNG decodes to payment_uri", func(t *testing.T) {
		for _, c := range []struct {
			v      *invoice.View
			method string
		}{{btcInv, "bitcoin/btc"}, {usdcInv, "ethereum/usdc"}, {nojsInv, "bitcoin/btc"}, {nojsInv, "ethereum/usdc"}} {
			m := method(t, c.v, c.method)
			url := e.payd.URL + "/i/" + c.v.ID + "/qr/" + c.method + ".png"
			if got := decodeQRPNG(t, url); got != m.PaymentURI {
				t.Errorf("%s decodes to\n %q\nthe invoice's payment_uri is\n %q", url, got, m.PaymentURI)
			}
		}
	})

	t.Run("page headers", func(t *testing.T) {
		resp, err := http.Get(e.payd.URL + "/i/" + btcInv.ID)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-") {
			t.Errorf("GET /i/{id}: %s, Content-Security-Policy %q", resp.Status, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options %q", got)
		}
	})

	// live opens the invoice's page, checks it against the API, pays with pay
	// and waits for each state in turn, proving with a window marker that the
	// page never reloaded.
	live := func(t *testing.T, v *invoice.View, name string, pay func(m invoice.MethodView), confs string, confirm func()) {
		tb := openTab(t, br, false)
		m := method(t, v, name)
		a := methodAnchor(name)
		tb.do(t, "open "+v.ID, chromedp.Navigate(e.payd.URL+"/i/"+v.ID+"?lang=en"),
			chromedp.WaitVisible(chromedp.CSS(`#`+a+` button.copy`)))

		if got := pageText(t, tb, "amount-"+a); got != m.AmountDue {
			t.Errorf("shown amount %q, the API says amount_due %q", got, m.AmountDue)
		}
		if got := pageText(t, tb, "address-"+a); got != m.Address {
			t.Errorf("shown address %q, the API says %q", got, m.Address)
		}
		if got := pageEval(t, tb, "wallet link", chromedp.Evaluate[string](`document.querySelector('#`+a+` a.wallet').href`)); got != m.PaymentURI {
			t.Errorf("wallet link %q, payment_uri %q", got, m.PaymentURI)
		}
		checkXSS(t, tb)
		tb.within(t, 10*time.Second, "QR image", chromedp.Poll[chromedp.Void](imagesLoaded))

		waitWS(t, tb, v.ID)
		tb.do(t, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 42`))
		frames := tb.wsFrames("/i/" + v.ID + "/ws")
		pay(m)
		waitProcessing(t, tb, confs)
		if tb.wsFrames("/i/"+v.ID+"/ws") <= frames {
			t.Error("the page showed processing without a message on its websocket")
		}
		confirm()
		tb.within(t, 20*time.Second, "settled", chromedp.WaitVisible(chromedp.CSS(`#checkout[data-status="settled"] #redirect`)))
		if got := pageText(t, tb, "state-title"); got != "Paid" {
			t.Errorf("settled title %q, want Paid", got)
		}
		if got := pageEval(t, tb, "redirect", chromedp.Evaluate[string](`document.getElementById('redirect').href`)); got != redirect {
			t.Errorf("redirect button goes to %q, want %q", got, redirect)
		}
		if got := pageEval(t, tb, "payment", chromedp.Text(chromedp.CSS(`.payment .txid`))); got == "" {
			t.Error("the settled page lists no payment")
		}
		if n := pageEval(t, tb, "marker", chromedp.Evaluate[int](`window.__noReload || 0`)); n != 42 {
			t.Error("the page reloaded instead of updating in place")
		}
		checkXSS(t, tb)
		if s := e.wait(v.ID, invoice.StatusSettled, "", 5*time.Second); s.AmountPaid == "" {
			t.Errorf("API: %+v", s)
		}
		tb.check(t)
	}

	t.Run("BTC: processing then settled, live", func(t *testing.T) {
		live(t, btcInv, "bitcoin/btc", func(m invoice.MethodView) {
			stack.BTC.Pay(m.Address, units(t, m.AmountDue, 8).Int64(), false)
		}, "0 of 1", func() { stack.BTC.Generate(1) })
	})

	t.Run("USDC: processing then settled, live", func(t *testing.T) {
		live(t, usdcInv, "ethereum/usdc", func(m invoice.MethodView) {
			stack.EVM.TransferToken(stack.USDC, m.Address, units(t, m.AmountDue, 6))
		}, "1 of 2", func() { stack.EVM.Mine(1) })
	})

	t.Run("BTC: partially paid, then topped up, live", func(t *testing.T) {
		tb := openTab(t, br, false)
		m := method(t, partInv, "bitcoin/btc")
		tb.do(t, "open", chromedp.Navigate(e.payd.URL+"/i/"+partInv.ID+"?lang=en"),
			chromedp.WaitVisible(chromedp.CSS(`#m-bitcoin-btc button.copy`)))
		waitWS(t, tb, partInv.ID)
		tb.do(t, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 42`))
		stack.BTC.Pay(m.Address, 40_000, false)
		tb.within(t, 15*time.Second, "partial", chromedp.WaitVisible(chromedp.ID("partial-text")))
		if got, want := pageText(t, tb, "partial-text"), "Received 0.0004 BTC of 0.001 BTC. Send 0.0006 BTC more to the same address."; got != want {
			t.Errorf("partial text %q, want %q", got, want)
		}
		if got := pageText(t, tb, "amount-m-bitcoin-btc"); got != "0.0006" {
			t.Errorf("amount to send %q, want what is left, 0.0006", got)
		}
		if got := pageText(t, tb, "address-m-bitcoin-btc"); got != m.Address {
			t.Errorf("address %q, want the same %q", got, m.Address)
		}
		// The QR code and wallet link now ask for what is left.
		rest := "bitcoin:" + m.Address + "?amount=0.0006"
		if got := pageEval(t, tb, "wallet link", chromedp.Evaluate[string](`document.querySelector('#m-bitcoin-btc a.wallet').href`)); got != rest {
			t.Errorf("wallet link %q, want %q", got, rest)
		}
		src := pageEval(t, tb, "qr src", chromedp.Evaluate[string](`document.querySelector('#m-bitcoin-btc a.qr img').src`))
		if got := decodeQRPNG(t, src); got != rest {
			t.Errorf("partial QR %s decodes to %q, want %q", src, got, rest)
		}
		tb.within(t, 10*time.Second, "QR image", chromedp.Poll[chromedp.Void](imagesLoaded))
		stack.BTC.Pay(m.Address, 60_000, false)
		waitProcessing(t, tb, "0 of 1")
		tb.check(t)
	})

	t.Run("JavaScript disabled", func(t *testing.T) {
		tb := openTab(t, br, true)
		tb.do(t, "open", chromedp.Navigate(e.payd.URL+"/i/"+nojsInv.ID+"?lang=en"),
			chromedp.WaitVisible(chromedp.ID("address-m-ethereum-usdc")))
		if n := pageEval(t, tb, "script ran", chromedp.Evaluate[int](`document.querySelectorAll('.tab[role=tab]').length`)); n != 0 {
			t.Fatalf("the page script ran with JavaScript disabled (%d enhanced tabs)", n)
		}
		for _, name := range []string{"bitcoin/btc", "ethereum/usdc"} {
			m, a := method(t, nojsInv, name), methodAnchor(name)
			if got := pageText(t, tb, "amount-"+a); got != m.AmountDue {
				t.Errorf("%s: shown amount %q, amount_due %q", name, got, m.AmountDue)
			}
			if got := pageText(t, tb, "address-"+a); got != m.Address {
				t.Errorf("%s: shown address %q, API %q", name, got, m.Address)
			}
			if got := pageEval(t, tb, "qr src", chromedp.Evaluate[string](`document.querySelector('#`+a+` a.qr img').src`)); !strings.HasPrefix(got, e.payd.URL+"/i/"+nojsInv.ID+"/qr/"+name+".png") {
				t.Errorf("%s: QR image %q", name, got)
			}
		}
		tb.within(t, 10*time.Second, "QR images", chromedp.Poll[chromedp.Void](imagesLoaded))
		// Without the websocket the page refreshes itself to follow the invoice.
		if got := pageEval(t, tb, "refresh", chromedp.Evaluate[string](`(document.querySelector('meta[http-equiv=refresh]') || {}).content || ''`)); got == "" {
			t.Error("no <meta http-equiv=refresh> in effect with JavaScript disabled")
		}
		if n := pageEval(t, tb, "images", chromedp.Evaluate[int](`document.querySelectorAll('a.qr img').length`)); n != 2 {
			t.Errorf("%d QR images, want 2", n)
		}
		tb.check(t)
	})
}

// waitWS waits until the page's websocket is open and has sent the
// snapshot: from then on every change must arrive live.
func waitWS(t *testing.T, tb *tab, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tb.wsFrames("/i/"+id+"/ws") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the page received nothing on /i/%s/ws within 10s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitProcessing waits for the processing state and its confirmation count,
// shown without a reload.
func waitProcessing(t *testing.T, tb *tab, confs string) {
	t.Helper()
	tb.within(t, 15*time.Second, "processing", chromedp.WaitVisible(chromedp.CSS(`#checkout[data-status="processing"] .payments`)))
	if got := pageText(t, tb, "state-title"); got != "Payment received" {
		t.Errorf("processing title %q, want Payment received", got)
	}
	if got := pageEval(t, tb, "confs", chromedp.Text(chromedp.CSS(`.payment .confs`))); !strings.Contains(got, confs) {
		t.Errorf("processing confirmations %q, want %q", got, confs)
	}
	if n := pageEval(t, tb, "marker", chromedp.Evaluate[int](`window.__noReload || 0`)); n != 42 {
		t.Error("the page reloaded to show processing")
	}
}

// checkXSS: the description is the literal text, no element was injected, and
// the only script is the page's own.
func checkXSS(t *testing.T, tb *tab) {
	t.Helper()
	if got := pageText(t, tb, "description"); got != xss {
		t.Errorf("description shown as %q, want the literal text %q", got, xss)
	}
	if n := pageEval(t, tb, "injected", chromedp.Evaluate[int](`document.querySelectorAll('#description *').length`)); n != 0 {
		t.Errorf("%d elements inside the description", n)
	}
	if n := pageEval(t, tb, "scripts", chromedp.Evaluate[int](`document.scripts.length`)); n != 1 {
		t.Errorf("%d script elements, want 1", n)
	}
}
