package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/chromedp/chromedp"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// TestDashboardRefund refunds a settled invoice from the console in a real
// browser, as a shop owner who never writes curl would: a refused amount
// keeps the form's values, a double submit makes one refund, the PSBT is
// downloaded with the session, signed by the merchant's wallet (the test's
// seed), pasted back and broadcast, and the refund completes once mined. A
// second refund through a claim link is canceled from the page.
func TestDashboardRefund(t *testing.T) {
	br := newBrowser(t, 90*time.Second)
	stack := testnode.StartStack(t)
	w := newWallet(t)
	e := newEnv(t, stack, testnode.PaydOptions{BTCKey: w.btc, EVMKey: w.evm})
	ctx := context.Background()
	const admin, password = "merchant", "a long e2e password"
	cmd := exec.Command(testnode.PaydBin(t), "admin", "create", "--name", admin, "--password-stdin", "--config", e.payd.Config)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("payd admin create: %v\n%s", err, out)
	}

	v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	e.payBTC(v, 100_000)
	stack.BTC.Generate(1)
	e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
	to := testnode.MustRegtestAddress(t, "p2wpkh")

	base := e.payd.URL + "/dashboard"
	tb := openTab(t, br, false)
	setVal := func(id, v string) chromedp.Action[chromedp.Void] {
		b, _ := json.Marshal(v)
		return chromedp.Evaluate[chromedp.Void](`document.getElementById('` + id + `').value = ` + string(b))
	}
	tb.do(t, "sign in", chromedp.Navigate(base+"/invoices/"+v.ID), chromedp.WaitVisible(chromedp.ID("login-form")),
		setVal("name", admin), setVal("password", password), chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("invoice-id")))
	tb.do(t, "detail", chromedp.WaitVisible(chromedp.ID("no-refunds")))
	if got := pageEval(t, tb, "refundable", chromedp.Evaluate[string](`document.getElementById('refund-method').textContent`)); !strings.Contains(got, "refundable 0.001 BTC") {
		t.Errorf("the refund form offers %q, want bitcoin/btc with 0.001 BTC refundable", got)
	}

	// Too much: the service's message, the typed values kept, nothing stored.
	tb.do(t, "too much", chromedp.Click(chromedp.CSS(`#refund-create summary`)),
		setVal("refund-amount", "0.0011"), setVal("refund-address", to), setVal("refund-reason", "returned <b>item</b>"),
		chromedp.Click(chromedp.ID("refund-submit")), chromedp.WaitVisible(chromedp.ID("action-error")))
	if got := pageText(t, tb, "action-error"); !strings.Contains(got, "above the refundable rest") {
		t.Errorf("too much refused with %q", got)
	}
	if got := pageEval(t, tb, "kept address", chromedp.Evaluate[string](`document.getElementById('refund-address').value`)); got != to {
		t.Errorf("the address field kept %q, want %q", got, to)
	}
	if rs, err := e.c.InvoiceRefunds(ctx, v.ID); err != nil || len(rs) != 0 {
		t.Fatalf("after a refused refund the API lists %+v (%v)", rs, err)
	}
	tb.mu.Lock()
	tb.console = nil // the 422 page is logged by the browser
	tb.mu.Unlock()

	// The same form sent twice (a double click, a reload that re-posts)
	// makes one refund: first by fetch, then by the button.
	tb.do(t, "amount", setVal("refund-amount", "0.0004"))
	if got := pageEval(t, tb, "first submit", chromedp.Evaluate[int](`(() => { const f = document.getElementById('refund-form');
		return fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f))}).then(r => r.status); })()`, chromedp.EvalAwaitPromise)); got != 200 {
		t.Fatalf("the first submit answered %d", got)
	}
	tb.do(t, "second submit", chromedp.Click(chromedp.ID("refund-submit")), chromedp.WaitVisible(chromedp.ID("flash")),
		chromedp.WaitVisible(chromedp.CSS(`tr.refund[data-status="ready"]`)))
	rs, err := e.c.InvoiceRefunds(ctx, v.ID)
	if err != nil || len(rs) != 1 || rs[0].Amount != "0.0004" || rs[0].Address == nil || *rs[0].Address != to || rs[0].Reason != "returned <b>item</b>" {
		t.Fatalf("after a double submit the API lists %+v (%v), want one refund of 0.0004 to %s", rs, err, to)
	}
	rf := rs[0]
	if got := pageEval(t, tb, "reason escaped", chromedp.Evaluate[int](`document.querySelectorAll('tr.refund b').length`)); got != 0 {
		t.Errorf("the reason's markup was rendered (%d <b> elements)", got)
	}

	// Download the PSBT with the session, sign it in "the wallet", paste it back.
	b64 := pageEval(t, tb, "download PSBT", chromedp.Evaluate[string](`fetch(document.querySelector('a.psbt-download').href)
		.then(r => r.arrayBuffer()).then(b => btoa(String.fromCharCode(...new Uint8Array(b))))`, chromedp.EvalAwaitPromise))
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || !bytes.HasPrefix(raw, []byte("psbt\xff")) {
		t.Fatalf("the console's PSBT download is not a binary PSBT (%v): %q", err, raw[:min(len(raw), 16)])
	}
	p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		t.Fatal(err)
	}
	signed := txHex(t, w.sign(t, p))
	tb.do(t, "broadcast", chromedp.Evaluate[chromedp.Void](`document.querySelector('tr.refund-actions[data-refund="`+rf.ID+`"] textarea[name=signed]').value = `+jsString(signed)),
		chromedp.Click(chromedp.CSS(`tr.refund-actions[data-refund="`+rf.ID+`"] button.broadcast`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.refund[data-refund="`+rf.ID+`"][data-status="broadcast"]`)))
	stack.BTC.Generate(1)
	e.waitRefund(rf.ID, refund.StatusCompleted, 20*time.Second)
	tb.do(t, "completed", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr.refund[data-refund="`+rf.ID+`"][data-status="completed"]`)))

	// A claim link for the rest, then canceled from the page.
	tb.do(t, "claim link", chromedp.Click(chromedp.CSS(`#refund-create summary`)), setVal("refund-amount", "0.0002"),
		chromedp.Click(chromedp.ID("refund-submit")), chromedp.WaitVisible(chromedp.CSS(`tr.refund[data-status="awaiting_address"] a.claim-url`)))
	claim := pageEval(t, tb, "claim url", chromedp.Evaluate[string](`document.querySelector('tr.refund[data-status="awaiting_address"] a.claim-url').href`))
	if !strings.HasPrefix(claim, e.payd.URL+"/r/rf_") {
		t.Errorf("claim link %q", claim)
	}
	cid := claim[strings.LastIndex(claim, "/")+1:]
	sel := `tr.refund-actions[data-refund="` + cid + `"]`
	tb.do(t, "cancel", chromedp.Click(chromedp.CSS(sel+` details summary`)), chromedp.Click(chromedp.CSS(sel+` input[name=confirm]`)),
		chromedp.Click(chromedp.CSS(sel+` button.cancel-refund`)), chromedp.WaitVisible(chromedp.CSS(`tr.refund[data-refund="`+cid+`"][data-status="canceled"]`)))
	if got, err := e.c.GetRefund(ctx, cid); err != nil || got.Status != refund.StatusCanceled {
		t.Errorf("the canceled refund: %+v (%v)", got, err)
	}

	// The refunds card fits a phone; PAYD_SCREENSHOT_DIR keeps a look at it.
	for _, size := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 900}, {"mobile", 390, 844}} {
		tb.do(t, "viewport "+size.name, chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(1)),
			chromedp.Navigate(base+"/invoices/"+v.ID+"?lang=en"), chromedp.WaitVisible(chromedp.ID("refund-list")))
		if sw := pageEval(t, tb, "overflow", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); int64(sw) > size.width {
			t.Errorf("%s: the invoice page with refunds is %dpx wide on a %dpx screen", size.name, sw, size.width)
		}
		if dir := os.Getenv("PAYD_SCREENSHOT_DIR"); dir != "" {
			img := pageEval(t, tb, "screenshot", chromedp.FullScreenshot(100))
			if err := os.WriteFile(filepath.Join(dir, "dashboard-refunds-"+size.name+".png"), img, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	tb.do(t, "audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	audit := pageEval(t, tb, "audit", chromedp.Text(chromedp.ID("audit")))
	for _, a := range []string{"refund.create", "refund.broadcast", "refund.cancel"} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s", a)
		}
	}
	tb.check(t)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
