package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/testnode"
)

// gfHook is one Greenfield webhook as the shop's receiver got it.
type gfHook struct {
	sig  string
	body []byte
	ev   struct {
		Type, InvoiceID, StoreID, WebhookID string
		PaymentMethodID                     string
		AfterExpiration, OverPaid           *bool
		PartiallyPaid, ManuallyMarked       *bool
		Payment                             *struct{ ID, Value, Status string }
	}
}

type gfReceiver struct {
	mu  sync.Mutex
	got []gfHook
}

func (r *gfReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	h := gfHook{sig: req.Header.Get("BTCPay-Sig"), body: b}
	_ = json.Unmarshal(b, &h.ev)
	r.mu.Lock()
	r.got = append(r.got, h)
	r.mu.Unlock()
}

// waitFor waits until the invoice got a webhook of each type, in any order.
func (r *gfReceiver) waitFor(t *testing.T, p *testnode.Payd, invoiceID string, timeout time.Duration, types ...string) map[string]gfHook {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		found := map[string]gfHook{}
		var seen []string
		r.mu.Lock()
		for _, h := range r.got {
			if h.ev.InvoiceID == invoiceID {
				seen = append(seen, h.ev.Type)
				if _, ok := found[h.ev.Type]; !ok {
					found[h.ev.Type] = h
				}
			}
		}
		r.mu.Unlock()
		all := true
		for _, typ := range types {
			_, ok := found[typ]
			all = all && ok
		}
		if all {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("invoice %s: webhooks %v, want %v within %s\nlog:\n%s", invoiceID, seen, types, timeout, p.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gf calls payd's Greenfield API the way btcpayserver-greenfield-php does.
func gf(t *testing.T, p *testnode.Payd, key, method, path, body string, out any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, p.URL+path, rd)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "token "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// nodeVerifies checks a BTCPay-Sig with Node's crypto, independently of payd.
func nodeVerifies(t *testing.T, secret string, h gfHook) {
	t.Helper()
	cmd := exec.Command("node", "../../api/greenfield/testdata/verify-sig.js")
	cmd.Env = append(cmd.Environ(), "SECRET="+secret, "HEADER="+h.sig)
	cmd.Stdin = bytes.NewReader(h.body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s webhook: BTCPay-Sig does not verify with node: %v %s", h.ev.Type, err, out)
	}
}

type gfInvoice struct {
	ID, Status, AdditionalStatus, CheckoutLink, Amount string
	CreatedTime                                        int64
}

type gfMethod struct {
	PaymentMethodID, Destination, Amount, Due, PaymentMethodPaid string
	Payments                                                     []struct {
		ID, Value, Status string
		ReceivedDate      int64
	}
}

// TestGreenfieldOnRealNodes: a shop speaking Greenfield (as the WooCommerce
// plugin does) gets BTC and USDC invoices settled on btcd and anvil, and
// signed Greenfield webhooks for each step, including an expiry with a
// partial payment.
func TestGreenfieldOnRealNodes(t *testing.T) {
	stack := testnode.StartStack(t)
	rc := &gfReceiver{}
	shop := httptest.NewServer(rc)
	defer shop.Close()
	p := stack.StartPayd(t, testnode.PaydOptions{
		ExtraYAML: "greenfield:\n  enabled: true\n  store_id: StoreABC\n  store_name: E2E shop\n",
	})
	out, err := p.Run("apikey", "create", "--name", "woocommerce", "--greenfield")
	if err != nil {
		t.Fatalf("apikey create --greenfield: %v\n%s", err, out)
	}
	key := ""
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "payd_") {
			key = f
		}
	}
	if !strings.Contains(out, "store id StoreABC") || key == "" {
		t.Fatalf("apikey create --greenfield printed:\n%s", out)
	}

	var perms struct{ Permissions []string }
	gf(t, p, key, "GET", "/api/v1/api-keys/current", "", &perms)
	if len(perms.Permissions) != 5 {
		t.Fatalf("permissions %v", perms.Permissions)
	}
	var pms []struct{ PaymentMethodID string }
	gf(t, p, key, "GET", "/api/v1/stores/StoreABC/payment-methods", "", &pms)
	var ids []string
	for _, m := range pms {
		ids = append(ids, m.PaymentMethodID)
	}
	if strings.Join(ids, " ") != "BTC-CHAIN ETH-CHAIN USDC-ETH" {
		t.Fatalf("payment methods %v", ids)
	}
	var wh struct{ ID, Secret string }
	gf(t, p, key, "POST", "/api/v1/stores/StoreABC/webhooks", `{"enabled": true, "automaticRedelivery": true, "url": "`+shop.URL+`/wc-api/btcpaygf_default/", "authorizedEvents": {"everything": false, "specificEvents": ["InvoiceReceivedPayment", "InvoicePaymentSettled", "InvoiceProcessing", "InvoiceExpired", "InvoiceSettled", "InvoiceInvalid"]}}`, &wh)

	create := func(body string) (gfInvoice, []gfMethod) {
		t.Helper()
		var inv gfInvoice
		gf(t, p, key, "POST", "/api/v1/stores/StoreABC/invoices", body, &inv)
		if inv.Status != "New" || inv.CheckoutLink != p.URL+"/i/"+inv.ID {
			t.Fatalf("created %+v", inv)
		}
		var ms []gfMethod
		gf(t, p, key, "GET", "/api/v1/stores/StoreABC/invoices/"+inv.ID+"/payment-methods", "", &ms)
		return inv, ms
	}
	status := func(id string) gfInvoice {
		var inv gfInvoice
		gf(t, p, key, "GET", "/api/v1/stores/StoreABC/invoices/"+id, "", &inv)
		return inv
	}

	// Started first: expires after a minute with a partial payment.
	exp, expMs := create(`{"amount": "0.001", "currency": "BTC", "metadata": {"orderId": "43"}, "checkout": {"paymentMethods": ["BTC_CHAIN"], "expirationMinutes": 1, "speedPolicy": null}}`)
	stack.BTC.Pay(expMs[0].Destination, 40_000, false)

	// BTC: to the mempool (processing), then mined (settled).
	btc, btcMs := create(`{"amount": "0.001", "currency": "BTC", "metadata": {"orderId": "42"}, "checkout": {"paymentMethods": ["BTC_CHAIN"], "expirationMinutes": null}}`)
	if len(btcMs) != 1 || btcMs[0].PaymentMethodID != "BTC-CHAIN" || btcMs[0].Amount != "0.001" {
		t.Fatalf("payment methods %+v", btcMs)
	}
	txid := stack.BTC.Pay(btcMs[0].Destination, 100_000, false)
	got := rc.waitFor(t, p, btc.ID, 20*time.Second, "InvoiceReceivedPayment", "InvoiceProcessing")
	if s := status(btc.ID); s.Status != "Processing" {
		t.Fatalf("BTC invoice after the mempool payment: %+v", s)
	}
	if rp := got["InvoiceReceivedPayment"].ev; rp.Payment == nil || rp.Payment.Status != "Processing" || !strings.HasPrefix(rp.Payment.ID, txid+"-") ||
		rp.Payment.Value != "0.001" || rp.PaymentMethodID != "BTC-CHAIN" || rp.AfterExpiration == nil || *rp.AfterExpiration {
		t.Errorf("InvoiceReceivedPayment: %s", got["InvoiceReceivedPayment"].body)
	}
	stack.BTC.Generate(1)
	got = rc.waitFor(t, p, btc.ID, 20*time.Second, "InvoiceReceivedPayment", "InvoiceProcessing", "InvoicePaymentSettled", "InvoiceSettled")
	if s := status(btc.ID); s.Status != "Settled" || s.AdditionalStatus != "None" {
		t.Fatalf("BTC invoice after a block: %+v", s)
	}
	if st := got["InvoiceSettled"].ev; st.OverPaid == nil || *st.OverPaid || st.ManuallyMarked == nil || *st.ManuallyMarked || st.StoreID != "StoreABC" || st.WebhookID != wh.ID {
		t.Errorf("InvoiceSettled: %s", got["InvoiceSettled"].body)
	}
	var ms []gfMethod
	gf(t, p, key, "GET", "/api/v1/stores/StoreABC/invoices/"+btc.ID+"/payment-methods", "", &ms)
	if ms[0].PaymentMethodPaid != "0.001" || ms[0].Due != "0" || len(ms[0].Payments) != 1 || ms[0].Payments[0].Status != "Settled" || ms[0].Payments[0].ReceivedDate < btc.CreatedTime {
		t.Errorf("payment methods after settlement: %+v", ms)
	}
	for _, h := range got {
		nodeVerifies(t, wh.Secret, h)
	}

	// USDC on anvil: mined at once, so received and settled (no processing step).
	usdc, usdcMs := create(`{"amount": "5.00", "currency": "USD", "metadata": {"orderId": "44"}, "checkout": {"paymentMethods": ["USDC_ETH"]}}`)
	if len(usdcMs) != 1 || usdcMs[0].PaymentMethodID != "USDC-ETH" || usdcMs[0].Amount != "5" {
		t.Fatalf("payment methods %+v", usdcMs)
	}
	stack.EVM.TransferToken(stack.USDC, usdcMs[0].Destination, big.NewInt(5_000_000))
	got = rc.waitFor(t, p, usdc.ID, 20*time.Second, "InvoiceReceivedPayment", "InvoicePaymentSettled", "InvoiceSettled")
	if s := status(usdc.ID); s.Status != "Settled" {
		t.Fatalf("USDC invoice: %+v", s)
	}
	if rp := got["InvoiceReceivedPayment"].ev; rp.PaymentMethodID != "USDC-ETH" || rp.Payment == nil || rp.Payment.Value != "5" {
		t.Errorf("USDC InvoiceReceivedPayment: %s", got["InvoiceReceivedPayment"].body)
	}
	for _, h := range got {
		nodeVerifies(t, wh.Secret, h)
	}

	// The expiring one: received, then expired with partiallyPaid.
	got = rc.waitFor(t, p, exp.ID, 90*time.Second, "InvoiceReceivedPayment", "InvoiceExpired")
	if ex := got["InvoiceExpired"].ev; ex.PartiallyPaid == nil || !*ex.PartiallyPaid {
		t.Errorf("InvoiceExpired: %s", got["InvoiceExpired"].body)
	}
	if s := status(exp.ID); s.Status != "Expired" || s.AdditionalStatus != "PaidPartial" {
		t.Errorf("expired invoice: %+v", s)
	}
	for _, h := range got {
		nodeVerifies(t, wh.Secret, h)
	}
	// Every webhook the shop got was signed, Greenfield-shaped, for this store.
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, h := range rc.got {
		if h.ev.StoreID != "StoreABC" || !strings.HasPrefix(h.sig, "sha256=") || h.ev.Type == "" {
			t.Errorf("webhook %s", h.body)
		}
	}
}
