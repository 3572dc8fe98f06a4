package greenfield

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// received is one webhook POST as the receiver got it.
type received struct {
	sig  string
	body []byte
	ev   webhookEvent
}

type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var ev webhookEvent
		_ = json.Unmarshal(b, &ev)
		r.mu.Lock()
		r.got = append(r.got, received{sig: req.Header.Get("BTCPay-Sig"), body: b, ev: ev})
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the deliveries once n arrived.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]received(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			var types []string
			for _, g := range got {
				types = append(types, g.ev.Type)
			}
			t.Fatalf("got %d webhooks (%v), want %d", len(got), types, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeVerify checks a BTCPay-Sig with Node's crypto (testdata/verify-sig.js),
// an implementation independent of payd's.
func nodeVerify(t *testing.T, secret, header string, body []byte) error {
	t.Helper()
	cmd := exec.Command("node", "testdata/verify-sig.js")
	cmd.Env = append(cmd.Environ(), "SECRET="+secret, "HEADER="+header)
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errorsAs(err, &ee) {
			t.Fatalf("run node (it must be installed for this test): %v", err)
		}
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

func TestNodeRejectsBadSignature(t *testing.T) {
	body := []byte(`{"type":"InvoiceSettled"}`)
	good := webhook.SignGreenfield("s3cret", body)
	if err := nodeVerify(t, "s3cret", good, body); err != nil {
		t.Fatalf("node rejects payd's signature: %v", err)
	}
	for _, bad := range []string{webhook.SignGreenfield("other", body), strings.ToUpper(good), strings.TrimPrefix(good, "sha256="), ""} {
		if err := nodeVerify(t, "s3cret", bad, body); err == nil {
			t.Errorf("node accepted %q", bad)
		}
	}
	if err := nodeVerify(t, "s3cret", good, append(body, ' ')); err == nil {
		t.Error("node accepted a signature over another body")
	}
}

func (h *harness) createWebhook(url, events string) webhookView {
	h.t.Helper()
	code, b := h.do("POST", "/api/v1/stores/StoreABC/webhooks", `{"url":"`+url+`","authorizedEvents":`+events+`}`)
	if code != 200 {
		h.t.Fatalf("create webhook: %d %s", code, b)
	}
	return decodeJSON[webhookView](h.t, b)
}

func (h *harness) createInvoice(body string) invoiceView {
	h.t.Helper()
	code, b := h.do("POST", "/api/v1/stores/StoreABC/invoices", body)
	if code != 200 {
		h.t.Fatalf("create invoice: %d %s", code, b)
	}
	return decodeJSON[invoiceView](h.t, b)
}

// confirm confirms every pending payment of an invoice, as the watcher does
// when a block arrives.
func (h *harness) confirm(id string, now time.Time) {
	h.t.Helper()
	ctx := context.Background()
	err := h.db.Write(ctx, func(tx *store.Tx) error {
		inv, err := tx.Invoice(ctx, id)
		if err != nil {
			return err
		}
		types := []invoice.EventType{}
		for i := range inv.Payments {
			p := &inv.Payments[i]
			if p.Status == invoice.PaymentPending {
				p.Status, p.Confirmations, p.BlockHeight, p.BlockHash, p.ConfirmedAt = invoice.PaymentConfirmed, 1, 103, fmt.Sprintf("%064x", 103), now
				types = append(types, invoice.EventPaymentConfirmed)
			}
		}
		st, _ := invoice.Evaluate(inv, now)
		types = append(types, st...)
		inv.Sequence++
		var evs []invoice.Event
		for _, typ := range types {
			ev, err := invoice.NewEvent(typ, inv, now, h.svc.ViewOptions())
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		if err := tx.SaveInvoice(ctx, inv); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, evs)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.hooks.Wake()
}

// TestWebhooksSignedAndShaped: a Greenfield endpoint gets Greenfield bodies
// through payd's outbox, each signed with BTCPay-Sig as Node verifies it,
// with the per-type fields the plugins read.
func TestWebhooksSignedAndShaped(t *testing.T) {
	h := newHarness(t)
	rc := newReceiver(t)
	wh := h.createWebhook(rc.srv.URL+"/hook", `{"everything":false,"specificEvents":["InvoiceReceivedPayment","InvoicePaymentSettled","InvoiceProcessing","InvoiceExpired","InvoiceSettled","InvoiceInvalid"]}`)
	h.runHooks()

	// Paid in full in the mempool, then confirmed: received, processing, payment settled, settled.
	inv := h.createInvoice(`{"amount":"10.00","currency":"USD","metadata":{"orderId":"42","buyerEmail":null},"checkout":{"paymentMethods":["BTC_CHAIN"]}}`)
	h.payment(inv.ID, "bitcoin/btc", 16667, invoice.PaymentPending, time.Now())
	got := h.wait(t, rc, 2)
	h.confirm(inv.ID, time.Now())
	got = h.wait(t, rc, 4)

	// Underpaid and expired: received, expired with partiallyPaid.
	inv2 := h.createInvoice(`{"amount":"10","currency":"USD","checkout":{"paymentMethods":["USDC-ETH"],"expirationMinutes":1}}`)
	h.payment(inv2.ID, "ethereum/usdc", 4_000_000, invoice.PaymentConfirmed, time.Now())
	h.wait(t, rc, 6)
	h.expire(inv2.ID)
	got = h.wait(t, rc, 7)

	type want struct {
		typ     string
		invoice string
		check   func(e webhookEvent) bool
	}
	f, tr := false, true
	eq := func(p *bool, v *bool) bool { return p != nil && *p == *v }
	wants := []want{
		{"InvoiceReceivedPayment", inv.ID, func(e webhookEvent) bool {
			return eq(e.AfterExpiration, &f) && e.PaymentMethodID == "BTC-CHAIN" && e.Payment != nil && e.Payment.Value == "0.00016667" &&
				e.Payment.Status == "Processing" && strings.HasSuffix(e.Payment.ID, "-1") && e.Payment.Destination != ""
		}},
		{"InvoiceProcessing", inv.ID, func(e webhookEvent) bool { return eq(e.OverPaid, &f) }},
		{"InvoicePaymentSettled", inv.ID, func(e webhookEvent) bool { return e.Payment != nil && e.Payment.Status == "Settled" }},
		{"InvoiceSettled", inv.ID, func(e webhookEvent) bool { return eq(e.OverPaid, &f) && eq(e.ManuallyMarked, &f) }},
		{"InvoiceReceivedPayment", inv2.ID, func(e webhookEvent) bool { return e.PaymentMethodID == "USDC-ETH" && e.Payment.Value == "4" }},
		{"InvoicePaymentSettled", inv2.ID, func(e webhookEvent) bool { return e.PaymentMethodID == "USDC-ETH" }},
		{"InvoiceExpired", inv2.ID, func(e webhookEvent) bool { return eq(e.PartiallyPaid, &tr) }},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d webhooks, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		g := got[i]
		e := g.ev
		if e.Type != w.typ || e.InvoiceID != w.invoice || e.StoreID != storeID || e.WebhookID != wh.ID || e.IsRedelivery ||
			e.DeliveryID == "" || e.OriginalDeliveryID != e.DeliveryID || e.Timestamp < time.Now().Add(-time.Minute).Unix() || !w.check(e) {
			t.Errorf("webhook %d: %s\nwant type %s for %s", i, g.body, w.typ, w.invoice)
		}
		if err := nodeVerify(t, wh.Secret, g.sig, g.body); err != nil {
			t.Errorf("webhook %d (%s): BTCPay-Sig does not verify: %v", i, e.Type, err)
		}
		if err := webhook.VerifyGreenfield(wh.Secret, g.sig, g.body); err != nil {
			t.Errorf("webhook %d: VerifyGreenfield: %v", i, err)
		}
		checkShapes(t, "webhook "+e.Type, g.body)
	}
	if string(got[0].ev.Metadata) != `{"orderId":"42","buyerEmail":null}` {
		t.Errorf("metadata %s, want the invoice's verbatim", got[0].ev.Metadata)
	}

	// Deliveries list, then a redelivery of the settled one.
	code, b := h.do("GET", "/api/v1/stores/StoreABC/webhooks/"+wh.ID+"/deliveries?count=50", "")
	ds := decodeJSON[[]deliveryView](t, b)
	if code != 200 || len(ds) != 7 || ds[0].Status != "HttpSuccess" || ds[0].HTTPCode == nil || *ds[0].HTTPCode != 200 {
		t.Fatalf("deliveries: %d %s", code, b)
	}
	settled := got[3].ev
	code, b = h.do("POST", "/api/v1/stores/StoreABC/webhooks/"+wh.ID+"/deliveries/"+settled.DeliveryID+"/redeliver", "")
	if code != 200 {
		t.Fatalf("redeliver: %d %s", code, b)
	}
	got = h.wait(t, rc, 8)
	re := got[7]
	if re.ev.Type != "InvoiceSettled" || !re.ev.IsRedelivery || re.ev.OriginalDeliveryID != settled.DeliveryID || re.ev.DeliveryID == settled.DeliveryID {
		t.Errorf("redelivery: %s", re.body)
	}
	if err := nodeVerify(t, wh.Secret, re.sig, re.body); err != nil {
		t.Errorf("redelivery signature: %v", err)
	}

	// PUT moves the endpoint to another receiver; a disabled one gets nothing.
	rc2 := newReceiver(t)
	code, b = h.do("PUT", "/api/v1/stores/StoreABC/webhooks/"+wh.ID, `{"url":"`+rc2.srv.URL+`","enabled":true,"authorizedEvents":{"everything":true}}`)
	if code != 200 || strings.Contains(string(b), "secret") {
		t.Fatalf("update: %d %s", code, b)
	}
	off := h.createWebhook(rc.srv.URL+"/off", `{"everything":true}`)
	if code, b := h.do("PUT", "/api/v1/stores/StoreABC/webhooks/"+off.ID, `{"url":"`+rc.srv.URL+`/off","enabled":false}`); code != 200 {
		t.Fatalf("disable: %d %s", code, b)
	}
	inv3 := h.createInvoice(`{"amount":"1","currency":"USD"}`)
	g2 := rc2.wait(t, 1)
	if g2[0].ev.Type != "InvoiceCreated" || g2[0].ev.InvoiceID != inv3.ID {
		t.Errorf("after update: %s", g2[0].body)
	}
	if err := nodeVerify(t, wh.Secret, g2[0].sig, g2[0].body); err != nil {
		t.Errorf("after update, the secret must be kept: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // a delivery to the disabled endpoint would have arrived by now
	rc.mu.Lock()
	n := len(rc.got)
	rc.mu.Unlock()
	if n != 8 {
		t.Errorf("the first receiver got %d webhooks after the update and the disabled endpoint, want 8", n)
	}

	// DELETE, then it is gone.
	if code, b := h.do("DELETE", "/api/v1/stores/StoreABC/webhooks/"+wh.ID, ""); code != 200 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, b := h.do("GET", "/api/v1/stores/StoreABC/webhooks/"+wh.ID, ""); code != 404 || !strings.Contains(string(b), `"code":"webhook-not-found"`) {
		t.Errorf("after delete: %d %s", code, b)
	}
}

func (h *harness) wait(t *testing.T, r *receiver, n int) []received { return r.wait(t, n) }

// expire moves an invoice to expired as the expirer does.
func (h *harness) expire(id string) {
	h.t.Helper()
	ctx := context.Background()
	var evs []invoice.Event
	err := h.db.Write(ctx, func(tx *store.Tx) error {
		inv, err := tx.Invoice(ctx, id)
		if err != nil {
			return err
		}
		now := inv.ExpiresAt.Add(time.Second)
		st, _ := invoice.Evaluate(inv, now)
		if len(st) != 1 || st[0] != invoice.EventExpired {
			return fmt.Errorf("evaluate at expiry gave %v", st)
		}
		inv.Sequence++
		ev, err := invoice.NewEvent(invoice.EventExpired, inv, now, h.svc.ViewOptions())
		if err != nil {
			return err
		}
		evs = append(evs, ev)
		if err := tx.SaveInvoice(ctx, inv); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, evs)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.hooks.Wake()
}
