package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

// request is what the fake API saw.
type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// answer is what the fake API replies to one "METHOD /path".
type answer struct {
	status int
	body   string
	header map[string]string
}

// fakeAPI is an httptest server on 127.0.0.1 that answers canned JSON and
// records the requests.
type fakeAPI struct {
	mu      sync.Mutex
	answers map[string]answer
	seen    []request
	srv     *httptest.Server
}

func newFake(t *testing.T, answers map[string]answer) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b)})
		a, ok := f.answers[r.Method+" "+r.URL.EscapedPath()]
		f.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"no route"}}`)
			return
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("no request reached the fake API")
	}
	return f.seen[len(f.seen)-1]
}

func invoiceJSON(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/invoice.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateInvoice(t *testing.T) {
	inv := invoiceJSON(t)
	f := newFake(t, map[string]answer{"POST /v1/invoices": {status: 201, body: inv}})
	c := New(f.srv.URL+"/", "payd_key_secret", WithHTTPClient(f.srv.Client()))
	ctx := context.Background()

	tests := []struct {
		name     string
		req      CreateInvoiceRequest
		idem     string
		wantBody string
	}{
		{"minimal", CreateInvoiceRequest{Amount: "0.001", Currency: "BTC"}, "",
			`{"amount":"0.001","currency":"BTC"}`},
		{"every field", CreateInvoiceRequest{
			Amount: "25.00", Currency: "USD", Methods: []string{"bitcoin/btc", "ethereum/usdc"},
			OrderID: "A-1001", Description: "2 × T-shirt", Metadata: json.RawMessage(`{"customer":"42"}`),
			ExpiresIn: 900, Confirmations: map[string]int{"bitcoin": 0, "ethereum": 12},
			PaymentTolerance: "0.5", RedirectURL: "https://shop.example/thanks",
		}, "order-A-1001",
			`{"amount":"25.00","currency":"USD","methods":["bitcoin/btc","ethereum/usdc"],"order_id":"A-1001",` +
				`"description":"2 × T-shirt","metadata":{"customer":"42"},"expires_in":900,` +
				`"confirmations":{"bitcoin":0,"ethereum":12},"payment_tolerance":"0.5","redirect_url":"https://shop.example/thanks"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := c.CreateInvoice(ctx, tt.req, tt.idem)
			if err != nil {
				t.Fatal(err)
			}
			r := f.last(t)
			if r.Method != "POST" || r.Path != "/v1/invoices" {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
			if r.Body != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", r.Body, tt.wantBody)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer payd_key_secret" {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got, ok := r.Header["Idempotency-Key"]; (tt.idem == "") != !ok || (ok && got[0] != tt.idem) {
				t.Errorf("Idempotency-Key = %q, want %q", got, tt.idem)
			}
			if v.ID != "inv_8w1n3m0k6q2t9v4r7c5x" || v.Status != invoice.StatusNew || v.Amount != "25.00" ||
				len(v.Methods) != 1 || v.Methods[0].AmountDue != "0.00041234" ||
				len(v.Payments) != 1 || *v.Payments[0].BlockHeight != 870001 ||
				string(v.Metadata) != `{"customer": "42"}` || v.Exception != nil {
				t.Errorf("decoded invoice %+v", v)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	inv := invoiceJSON(t)
	evt := `{"id":"evt_2","type":"invoice.settled","created_at":"2026-11-22T16:20:00Z","invoice":` + inv + `}`
	wh := `{"id":"wh_1","url":"https://shop.example/hook","events":["*"],"created_at":"2026-11-22T16:00:00Z"}`
	f := newFake(t, map[string]answer{
		"GET /v1/invoices/inv_8w1n3m0k6q2t9v4r7c5x":         {status: 200, body: inv},
		"GET /v1/invoices":                                  {status: 200, body: `{"data":[` + inv + `,` + inv + `],"has_more":true}`},
		"POST /v1/invoices/inv_8w1n3m0k6q2t9v4r7c5x/cancel": {status: 200, body: inv},
		"POST /v1/invoices/inv_8w1n3m0k6q2t9v4r7c5x/mark":   {status: 200, body: inv},
		"GET /v1/events":                                    {status: 200, body: `{"data":[` + evt + `],"has_more":false}`},
		"POST /v1/events/evt_2/redeliver":                   {status: 202, body: `{}`},
		"POST /v1/webhooks":                                 {status: 201, body: strings.Replace(wh, `"created_at"`, `"secret":"whsec_abc","created_at"`, 1)},
		"GET /v1/webhooks":                                  {status: 200, body: `{"data":[` + wh + `],"has_more":false}`},
		"GET /v1/webhooks/wh_1":                             {status: 200, body: wh},
		"GET /v1/webhooks/wh_1/deliveries":                  {status: 200, body: `[{"event_id":"evt_2","attempt":2,"status_code":500,"error":"HTTP 500","duration_ms":12,"at":"2026-11-22T16:21:00Z"}]`},
		"DELETE /v1/webhooks/wh_1":                          {status: 204},
		"GET /i/inv_8w1n3m0k6q2t9v4r7c5x/status":            {status: 200, body: inv},
	})
	c := New(f.srv.URL, "k", WithHTTPClient(f.srv.Client()))
	ctx := context.Background()
	id := "inv_8w1n3m0k6q2t9v4r7c5x"

	type check struct {
		name                string
		call                func() error
		method, path, query string
		body                string
		noAuth              bool
	}
	checks := []check{
		{"get", func() error {
			v, err := c.GetInvoice(ctx, id)
			if err == nil && v.ID != id {
				err = errors.New("wrong id " + v.ID)
			}
			return err
		}, "GET", "/v1/invoices/" + id, "", "", false},
		{"get escapes the id", func() error {
			_, err := c.GetInvoice(ctx, "../x")
			if !IsCode(err, "not_found") {
				return errors.New("want not_found")
			}
			return nil
		}, "GET", "/v1/invoices/..%2Fx", "", "", false},
		{"list", func() error {
			l, err := c.ListInvoices(ctx, ListParams{Status: invoice.StatusSettled, OrderID: "A 1", Limit: 2, StartingAfter: "inv_z"})
			if err == nil && (len(l.Data) != 2 || !l.HasMore) {
				err = errors.New("wrong page")
			}
			return err
		}, "GET", "/v1/invoices", "limit=2&order_id=A+1&starting_after=inv_z&status=settled", "", false},
		{"list without filters", func() error {
			_, err := c.ListInvoices(ctx, ListParams{})
			return err
		}, "GET", "/v1/invoices", "", "", false},
		{"cancel", func() error { _, err := c.CancelInvoice(ctx, id); return err },
			"POST", "/v1/invoices/" + id + "/cancel", "", "", false},
		{"mark", func() error { _, err := c.MarkInvoice(ctx, id, invoice.StatusInvalid); return err },
			"POST", "/v1/invoices/" + id + "/mark", "", `{"status":"invalid"}`, false},
		{"events", func() error {
			evs, more, err := c.ListEvents(ctx, "evt_1", 10)
			if err == nil && (len(evs) != 1 || more || evs[0].Type != invoice.EventSettled || evs[0].Invoice.ID != id) {
				err = errors.New("wrong events")
			}
			return err
		}, "GET", "/v1/events", "limit=10&starting_after=evt_1", "", false},
		{"redeliver", func() error { return c.Redeliver(ctx, "evt_2") },
			"POST", "/v1/events/evt_2/redeliver", "", "", false},
		{"create webhook", func() error {
			w, err := c.CreateWebhook(ctx, "https://shop.example/hook", []string{"*"})
			if err == nil && (w.ID != "wh_1" || w.Secret != "whsec_abc") {
				err = errors.New("wrong webhook")
			}
			return err
		}, "POST", "/v1/webhooks", "", `{"url":"https://shop.example/hook","events":["*"]}`, false},
		{"list webhooks", func() error {
			ws, err := c.ListWebhooks(ctx)
			if err == nil && (len(ws) != 1 || ws[0].URL != "https://shop.example/hook" || ws[0].Secret != "") {
				err = errors.New("wrong webhooks")
			}
			return err
		}, "GET", "/v1/webhooks", "", "", false},
		{"get webhook", func() error { _, err := c.GetWebhook(ctx, "wh_1"); return err },
			"GET", "/v1/webhooks/wh_1", "", "", false},
		{"deliveries (bare array)", func() error {
			ds, err := c.Deliveries(ctx, "wh_1")
			if err == nil && (len(ds) != 1 || ds[0].Attempt != 2 || ds[0].StatusCode != 500) {
				err = errors.New("wrong deliveries")
			}
			return err
		}, "GET", "/v1/webhooks/wh_1/deliveries", "", "", false},
		{"delete webhook", func() error { return c.DeleteWebhook(ctx, "wh_1") },
			"DELETE", "/v1/webhooks/wh_1", "", "", false},
		{"public status sends no key", func() error {
			_, err := c.PublicStatus(ctx, id)
			return err
		}, "GET", "/i/" + id + "/status", "", "", true},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if err := ck.call(); err != nil {
				t.Fatal(err)
			}
			r := f.last(t)
			if r.Method != ck.method || r.Path != ck.path || r.Query != ck.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, ck.method, ck.path, ck.query)
			}
			if r.Body != ck.body {
				t.Errorf("body %q, want %q", r.Body, ck.body)
			}
			if ck.body != "" && r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			auth := r.Header.Get("Authorization")
			if ck.noAuth && auth != "" || !ck.noAuth && auth != "Bearer k" {
				t.Errorf("Authorization %q", auth)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	f := newFake(t, map[string]answer{
		"POST /v1/invoices":      {status: 422, body: `{"error":{"code":"invalid_amount","message":"amount has 9 decimals; BTC allows 8","field":"amount"}}`},
		"GET /v1/invoices/inv_a": {status: 401, body: `{"error":{"code":"unauthorized","message":"missing or unknown API key"}}`},
		"GET /v1/invoices":       {status: 429, body: `{"error":{"code":"rate_limited","message":"slow down"}}`, header: map[string]string{"Retry-After": "3"}},
		"GET /v1/webhooks":       {status: 502, body: "<html>Bad Gateway</html>"},
		"GET /v1/events":         {status: 200, body: `{"data":[`},
	})
	c := New(f.srv.URL, "k", WithHTTPClient(f.srv.Client()))
	ctx := context.Background()
	tests := []struct {
		name    string
		call    func() error
		want    *Error
		wantMsg string
	}{
		{"field error", func() error {
			_, err := c.CreateInvoice(ctx, CreateInvoiceRequest{Amount: "0.000000001", Currency: "BTC"}, "")
			return err
		}, &Error{Status: 422, Code: "invalid_amount", Message: "amount has 9 decimals; BTC allows 8", Field: "amount"},
			"invalid_amount: amount has 9 decimals; BTC allows 8 (field amount)"},
		{"unauthorized", func() error { _, err := c.GetInvoice(ctx, "inv_a"); return err },
			&Error{Status: 401, Code: "unauthorized", Message: "missing or unknown API key"},
			"unauthorized: missing or unknown API key"},
		{"rate limited", func() error { _, err := c.ListInvoices(ctx, ListParams{}); return err },
			&Error{Status: 429, Code: "rate_limited", Message: "slow down", RetryAfter: 3 * time.Second},
			"rate_limited: slow down"},
		{"not the contract's shape", func() error { _, err := c.ListWebhooks(ctx); return err },
			&Error{Status: 502, Message: "<html>Bad Gateway</html>"},
			"HTTP 502: <html>Bad Gateway</html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if !reflect.DeepEqual(e, tt.want) {
				t.Errorf("error %+v, want %+v", e, tt.want)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantMsg)
			}
			if !IsCode(err, tt.want.Code) {
				t.Errorf("IsCode(%q) false", tt.want.Code)
			}
		})
	}
	t.Run("truncated answer", func(t *testing.T) {
		_, _, err := c.ListEvents(ctx, "", 0)
		var e *Error
		if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "decode answer") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := New("http://127.0.0.1:1", "k")
		if _, err := dead.GetInvoice(ctx, "inv_a"); err == nil || !strings.Contains(err.Error(), "GET /v1/invoices/inv_a") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.GetInvoice(cctx, "inv_a"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}
