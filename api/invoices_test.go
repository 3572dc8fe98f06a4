package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
)

const createBody = `{"amount":"25.00","currency":"USD","methods":["bitcoin/btc"],"order_id":"A-1001","metadata":{"customer":"42"}}`

func TestCreateInvoice(t *testing.T) {
	e := newEnv(t)
	st, h, b := e.do("POST", "/v1/invoices", e.key, createBody)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, b)
	}
	var v invoice.View
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, "inv_") || v.CheckoutURL != "https://pay.example/i/"+v.ID || string(v.Metadata) != `{"customer":"42"}` {
		t.Fatalf("view: %+v", v)
	}
	if h.Get("Location") != "/v1/invoices/"+v.ID || h.Get("X-Request-Id") == "" {
		t.Fatalf("headers: %v", h)
	}
}

func TestCreateInvoiceErrors(t *testing.T) {
	svcErr := func(status int, code, field string) func(context.Context, service.CreateRequest) (*invoice.Invoice, error) {
		return func(context.Context, service.CreateRequest) (*invoice.Invoice, error) {
			return nil, fmt.Errorf("create: %w", &service.Error{Status: status, Code: code, Field: field, Message: code})
		}
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		body   string
		ctype  string
		svc    func(context.Context, service.CreateRequest) (*invoice.Invoice, error)
		status int
		code   string
		field  string
	}{
		{"malformed", `{"amount":`, "", nil, 400, httpx.CodeInvalidJSON, ""},
		{"syntax", `{"amount" "1"}`, "", nil, 400, httpx.CodeInvalidJSON, ""},
		{"empty", ``, "", nil, 400, httpx.CodeInvalidJSON, ""},
		{"two values", `{"amount":"1","currency":"USD"}{}`, "", nil, 400, httpx.CodeInvalidJSON, ""},
		{"not an object", `[1,2]`, "", nil, 400, httpx.CodeInvalidField, ""},
		{"unknown field", `{"amount":"1","currency":"USD","colour":"red"}`, "", nil, 400, httpx.CodeInvalidField, "colour"},
		{"number amount", `{"amount":25.5,"currency":"USD"}`, "", nil, 400, httpx.CodeInvalidField, "amount"},
		{"missing amount", `{"currency":"USD"}`, "", nil, 400, httpx.CodeInvalidField, "amount"},
		{"missing currency", `{"amount":"1"}`, "", nil, 400, httpx.CodeInvalidField, "currency"},
		{"huge amount", `{"amount":"` + strings.Repeat("9", 101) + `","currency":"USD"}`, "", nil, 400, httpx.CodeInvalidAmount, "amount"},
		{"order_id too long", `{"amount":"1","currency":"USD","order_id":"` + long(129) + `"}`, "", nil, 400, httpx.CodeInvalidField, "order_id"},
		{"description too long", `{"amount":"1","currency":"USD","description":"` + long(1001) + `"}`, "", nil, 400, httpx.CodeInvalidField, "description"},
		{"metadata too big", `{"amount":"1","currency":"USD","metadata":{"a":"` + long(8200) + `"}}`, "", nil, 400, httpx.CodeInvalidField, "metadata"},
		{"metadata not object", `{"amount":"1","currency":"USD","metadata":[1]}`, "", nil, 400, httpx.CodeInvalidField, "metadata"},
		{"expires_in low", `{"amount":"1","currency":"USD","expires_in":59}`, "", nil, 400, httpx.CodeInvalidField, "expires_in"},
		{"expires_in high", `{"amount":"1","currency":"USD","expires_in":604801}`, "", nil, 400, httpx.CodeInvalidField, "expires_in"},
		{"expires_in string", `{"amount":"1","currency":"USD","expires_in":"60"}`, "", nil, 400, httpx.CodeInvalidField, "expires_in"},
		{"confirmations", `{"amount":"1","currency":"USD","confirmations":{"bitcoin":101}}`, "", nil, 400, httpx.CodeInvalidField, "confirmations"},
		{"redirect_url", `{"amount":"1","currency":"USD","redirect_url":"javascript:alert(1)"}`, "", nil, 400, httpx.CodeInvalidField, "redirect_url"},
		{"control chars", `{"amount":"1","currency":"USD","order_id":"a\u0000b"}`, "", nil, 400, httpx.CodeInvalidField, "order_id"},
		{"too many methods", `{"amount":"1","currency":"USD","methods":[` + strings.TrimSuffix(strings.Repeat(`"a/b",`, 65), ",") + `]}`, "", nil, 400, httpx.CodeInvalidField, "methods"},
		{"wrong content type", createBody, "text/plain", nil, 415, httpx.CodeInvalidJSON, ""},
		{"service invalid_amount", createBody, "", svcErr(400, httpx.CodeInvalidAmount, "amount"), 400, httpx.CodeInvalidAmount, "amount"},
		{"service unknown_currency", createBody, "", svcErr(422, httpx.CodeUnknownCurrency, "currency"), 422, httpx.CodeUnknownCurrency, "currency"},
		{"service unknown_method", createBody, "", svcErr(422, httpx.CodeUnknownMethod, "methods"), 422, httpx.CodeUnknownMethod, "methods"},
		{"service no_rate", createBody, "", svcErr(422, httpx.CodeNoRate, "methods"), 422, httpx.CodeNoRate, "methods"},
		{"service unavailable", createBody, "", svcErr(503, httpx.CodeUnavailable, ""), 500, httpx.CodeInternal, ""},
		{"service internal", createBody, "", func(context.Context, service.CreateRequest) (*invoice.Invoice, error) {
			return nil, errors.New("disk on fire")
		}, 500, httpx.CodeInternal, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.inv.CreateFn = tc.svc
			if tc.svc == nil {
				e.inv.CreateFn = func(context.Context, service.CreateRequest) (*invoice.Invoice, error) {
					t.Error("service called for a bad request")
					return nil, errors.New("unreachable")
				}
			}
			hdr := []string{}
			if tc.ctype != "" {
				hdr = append(hdr, "Content-Type", tc.ctype)
			}
			st, _, b := e.do("POST", "/v1/invoices", e.key, tc.body, hdr...)
			code, field := errCode(t, b)
			if st != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("got %d %s %q, want %d %s %q: %s", st, code, field, tc.status, tc.code, tc.field, b)
			}
			if st == 500 && strings.Contains(string(b), "disk on fire") {
				t.Fatalf("500 leaked internals: %s", b)
			}
		})
	}
}

func TestCreateBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	big := `{"amount":"1","currency":"USD","description":"` + strings.Repeat("x", httpx.MaxBody) + `"}`
	st, _, b := e.do("POST", "/v1/invoices", e.key, big)
	if code, _ := errCode(t, b); st != 413 || code != httpx.CodeBodyTooLarge {
		t.Fatalf("got %d %s", st, b)
	}
	if e.inv.calls.Load() != 0 {
		t.Fatal("service called")
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	st1, _, b1 := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "order-1")
	// Same body, different whitespace: the same request.
	st2, h2, b2 := e.do("POST", "/v1/invoices", e.key, strings.ReplaceAll(createBody, ",", ", "), "Idempotency-Key", "order-1")
	if st1 != 201 || st2 != 201 || string(b1) != string(b2) || h2.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d\n%s\n%s", st1, st2, b1, b2)
	}
	if n := e.inv.created.Load(); n != 1 {
		t.Fatalf("created %d invoices", n)
	}
	// Same key, different body → 409.
	st, _, b := e.do("POST", "/v1/invoices", e.key, strings.Replace(createBody, "25.00", "26.00", 1), "Idempotency-Key", "order-1")
	if code, field := errCode(t, b); st != 409 || code != httpx.CodeConflict || field != "Idempotency-Key" {
		t.Fatalf("different body: %d %s", st, b)
	}
	// Another API key has its own key space.
	other := e.makeKey(nil)
	if st, _, _ := e.do("POST", "/v1/invoices", other, createBody, "Idempotency-Key", "order-1"); st != 201 || e.inv.created.Load() != 2 {
		t.Fatalf("other key: %d, created %d", st, e.inv.created.Load())
	}
	// Bad keys.
	for _, k := range []string{" ", strings.Repeat("k", 256)} {
		st, _, b := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", k)
		if code, field := errCode(t, b); st != 400 || code != httpx.CodeInvalidField || field != "Idempotency-Key" {
			t.Fatalf("key %q: %d %s", k, st, b)
		}
	}
	// Errors are not remembered: a failed create may be retried with the key.
	e.inv.CreateFn = func(context.Context, service.CreateRequest) (*invoice.Invoice, error) {
		return nil, &service.Error{Status: 422, Code: httpx.CodeNoRate, Field: "methods", Message: "no rate"}
	}
	if st, _, _ := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "order-2"); st != 422 {
		t.Fatalf("failing create: %d", st)
	}
	e.inv.CreateFn = nil
	if st, _, _ := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "order-2"); st != 201 {
		t.Fatalf("retry after failure: %d", st)
	}
}

func TestIdempotencyExpires(t *testing.T) {
	now := testNow
	var mu sync.Mutex
	e := newEnv(t, func(_ *Config, d *Deps) {
		d.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "k")
	mu.Lock()
	now = now.Add(IdempotencyTTL + time.Second)
	mu.Unlock()
	st, h, _ := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "k")
	if st != 201 || h.Get("Idempotent-Replayed") != "" || e.inv.created.Load() != 2 {
		t.Fatalf("after 24 h: %d replayed=%q created=%d", st, h.Get("Idempotent-Replayed"), e.inv.created.Load())
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	e := newEnv(t)
	const n = 50
	var wg sync.WaitGroup
	bodies := make([]string, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, b := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "same")
			codes[i], bodies[i] = st, string(b)
		}()
	}
	wg.Wait()
	if c := e.inv.created.Load(); c != 1 {
		t.Fatalf("%d invoices created, want 1", c)
	}
	for i := range n {
		if codes[i] != 201 || bodies[i] != bodies[0] {
			t.Fatalf("request %d: %d %s", i, codes[i], bodies[i])
		}
	}
	// Persisted: a fresh API (a restart) still replays.
	a2 := New(Config{}, e.api.d)
	mux := http.NewServeMux()
	a2.Register(mux)
	e.srv.Config.Handler = mux
	st, h, b := e.do("POST", "/v1/invoices", e.key, createBody, "Idempotency-Key", "same")
	if st != 201 || string(b) != bodies[0] || h.Get("Idempotent-Replayed") != "true" || e.inv.created.Load() != 1 {
		t.Fatalf("after restart: %d %s", st, b)
	}
}

func TestGetInvoice(t *testing.T) {
	e := newEnv(t)
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	e.inv.byID[inv.ID] = inv
	st, _, b := e.do("GET", "/v1/invoices/"+inv.ID, e.readKey, nil)
	if st != 200 || !strings.Contains(string(b), `"customer":"42"`) {
		t.Fatalf("get: %d %s", st, b)
	}
	evt := invoice.NewID(invoice.PrefixEvent, testNow)
	for _, id := range []string{invoice.NewID(invoice.PrefixInvoice, testNow), evt, "inv_short", "inv_" + strings.Repeat("!", 20), "x"} {
		calls := e.inv.calls.Load()
		st, _, b := e.do("GET", "/v1/invoices/"+id, e.readKey, nil)
		if code, _ := errCode(t, b); st != 404 || code != httpx.CodeNotFound {
			t.Fatalf("%s: %d %s", id, st, b)
		}
		if strings.HasPrefix(id, "inv_") && len(id) > 20 && !strings.Contains(id, "!") {
			continue // a well-formed unknown id reaches the service
		}
		if e.inv.calls.Load() != calls {
			t.Fatalf("%s reached the service", id)
		}
	}
}

func TestPublicStatus(t *testing.T) {
	e := newEnv(t)
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	e.inv.byID[inv.ID] = inv
	st, h, b := e.do("GET", "/i/"+inv.ID+"/status", "", nil)
	if st != 200 || strings.Contains(string(b), "metadata") || strings.Contains(string(b), "customer") {
		t.Fatalf("public: %d %s", st, b)
	}
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("no CORS header")
	}
	if st, _, _ := e.do("GET", "/i/"+invoice.NewID(invoice.PrefixEvent, testNow)+"/status", "", nil); st != 404 {
		t.Fatalf("evt id: %d", st)
	}
	if st, _, _ := e.do("GET", "/i/"+invoice.NewID(invoice.PrefixInvoice, testNow)+"/status", "", nil); st != 404 {
		t.Fatalf("unknown id: %d", st)
	}
}

func TestListInvoices(t *testing.T) {
	e := newEnv(t)
	var got service.ListFilter
	a, b := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow)), testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	e.inv.ListFn = func(_ context.Context, f service.ListFilter) ([]*invoice.Invoice, bool, error) {
		got = f
		return []*invoice.Invoice{a, b}, true, nil
	}
	st, _, body := e.do("GET", "/v1/invoices?status=settled&order_id=A-1001&limit=2&starting_after="+a.ID, e.readKey, nil)
	var page struct {
		Data    []invoice.View `json:"data"`
		HasMore bool           `json:"has_more"`
	}
	if err := json.Unmarshal(body, &page); err != nil || st != 200 || len(page.Data) != 2 || !page.HasMore {
		t.Fatalf("list: %d %s", st, body)
	}
	want := service.ListFilter{Status: invoice.StatusSettled, OrderID: "A-1001", Limit: 2, StartingAfter: a.ID}
	if got != want {
		t.Fatalf("filter %+v, want %+v", got, want)
	}
	e.do("GET", "/v1/invoices", e.readKey, nil)
	if got.Limit != 50 {
		t.Fatalf("default limit %d", got.Limit)
	}
	e.inv.ListFn = func(context.Context, service.ListFilter) ([]*invoice.Invoice, bool, error) { return nil, false, nil }
	if st, _, body := e.do("GET", "/v1/invoices", e.readKey, nil); st != 200 || !strings.Contains(string(body), `"data":[]`) {
		t.Fatalf("empty list: %s", body)
	}
	for q, field := range map[string]string{
		"limit=0": "limit", "limit=201": "limit", "limit=x": "limit", "status=paid": "status",
		"starting_after=evt_0123456789abcdefgh": "starting_after", "colour=red": "colour",
		"limit=1&limit=2": "limit", "order_id=" + strings.Repeat("x", 129): "order_id",
	} {
		st, _, b := e.do("GET", "/v1/invoices?"+q, e.readKey, nil)
		if code, f := errCode(t, b); st != 400 || code != httpx.CodeInvalidField || f != field {
			t.Errorf("%s: %d %s", q, st, b)
		}
	}
}

func TestCancelAndMark(t *testing.T) {
	e := newEnv(t)
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	e.inv.CancelFn = func(_ context.Context, id string) (*invoice.Invoice, error) {
		if id != inv.ID {
			return nil, service.ErrNotFound
		}
		if inv.Status != invoice.StatusNew {
			return nil, fmt.Errorf("cancel %s: %w", id, service.ErrConflict)
		}
		inv.Status = invoice.StatusExpired
		return inv, nil
	}
	var marked invoice.Status
	e.inv.MarkFn = func(_ context.Context, id string, s invoice.Status) (*invoice.Invoice, error) {
		if id != inv.ID {
			return nil, service.ErrNotFound
		}
		marked = s
		inv.Status, inv.Exception = s, invoice.ExceptionMarked
		return inv, nil
	}
	inv.Status = invoice.StatusNew
	inv.Payments = nil
	if st, _, b := e.do("POST", "/v1/invoices/"+inv.ID+"/cancel", e.key, nil); st != 200 || !strings.Contains(string(b), `"status":"expired"`) {
		t.Fatalf("cancel: %d %s", st, b)
	}
	st, _, b := e.do("POST", "/v1/invoices/"+inv.ID+"/cancel", e.key, nil)
	if code, _ := errCode(t, b); st != 409 || code != httpx.CodeConflict {
		t.Fatalf("second cancel: %d %s", st, b)
	}
	if st, _, _ := e.do("POST", "/v1/invoices/"+invoice.NewID(invoice.PrefixInvoice, testNow)+"/cancel", e.key, nil); st != 404 {
		t.Fatalf("cancel unknown: %d", st)
	}
	if st, _, b := e.do("POST", "/v1/invoices/"+inv.ID+"/mark", e.key, `{"status":"invalid"}`); st != 200 || marked != invoice.StatusInvalid || !strings.Contains(string(b), `"exception":"marked"`) {
		t.Fatalf("mark: %d %s", st, b)
	}
	for _, body := range []string{`{"status":"new"}`, `{}`, `{"status":"settled","x":1}`} {
		st, _, b := e.do("POST", "/v1/invoices/"+inv.ID+"/mark", e.key, body)
		if code, _ := errCode(t, b); st != 400 || code != httpx.CodeInvalidField {
			t.Fatalf("mark %s: %d %s", body, st, b)
		}
	}
	if st, _, _ := e.do("POST", "/v1/invoices/"+invoice.NewID(invoice.PrefixWebhook, testNow)+"/mark", e.key, `{"status":"settled"}`); st != 404 {
		t.Fatalf("mark wh id: %d", st)
	}
	// A read-only key may not cancel or mark.
	st, _, b = e.do("POST", "/v1/invoices/"+inv.ID+"/cancel", e.readKey, nil)
	if code, _ := errCode(t, b); st != 403 || code != httpx.CodeForbidden {
		t.Fatalf("read key cancel: %d %s", st, b)
	}
}
