package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	e.inv.byID[inv.ID] = inv
	path := "/v1/invoices/" + inv.ID
	revokedSecret, rk, _ := apikey.Generate("old", nil, time.Now())
	if err := e.db.CreateAPIKey(context.Background(), rk); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RevokeAPIKey(context.Background(), rk.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	id, _, _ := apikey.Parse(e.key)
	wrongSecret := "payd_" + strings.TrimPrefix(id, "key_") + "_" + strings.Repeat("a", 52)
	unknown, _, _ := apikey.Generate("x", nil, time.Now())
	webhookOnly := e.makeKey([]string{apikey.ScopeWebhooksRead})
	tests := []struct {
		name, header string
		status       int
		code         string
	}{
		{"none", "", 401, httpx.CodeUnauthorized},
		{"basic", "Basic dXNlcjpwYXNz", 401, httpx.CodeUnauthorized},
		{"malformed", "Bearer sk_live_123", 401, httpx.CodeUnauthorized},
		{"unknown", "Bearer " + unknown, 401, httpx.CodeUnauthorized},
		{"wrong secret", "Bearer " + wrongSecret, 401, httpx.CodeUnauthorized},
		{"revoked", "Bearer " + revokedSecret, 401, httpx.CodeUnauthorized},
		{"missing scope", "Bearer " + webhookOnly, 403, httpx.CodeForbidden},
		{"ok", "Bearer " + e.readKey, 200, ""},
		{"ok lower-case scheme", "bearer " + e.readKey, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, h, b := e.do("GET", path, "", nil, "Authorization", tc.header)
			if st != tc.status {
				t.Fatalf("%d %s", st, b)
			}
			if tc.code != "" {
				if code, _ := errCode(t, b); code != tc.code {
					t.Fatalf("code %s", code)
				}
			}
			if st == 401 && h.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	k, err := e.db.APIKey(context.Background(), func() string { id, _, _ := apikey.Parse(e.readKey); return id }())
	if err != nil || k.LastUsedAt == nil {
		t.Fatalf("last use not recorded: %v %v", k.LastUsedAt, err)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.APIRateLimit, c.PublicRateLimit, c.TrustProxy = 1, 1, true })
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	e.inv.byID[inv.ID] = inv
	limited := func(path, key string, hdr ...string) (int, http.Header, []byte) {
		for range 10 {
			st, h, b := e.do("GET", path, key, nil, hdr...)
			if st == 429 {
				return st, h, b
			}
		}
		return 0, nil, nil
	}
	st, h, b := limited("/v1/invoices/"+inv.ID, e.key)
	if code, _ := errCode(t, b); st != 429 || code != httpx.CodeRateLimited || h.Get("Retry-After") == "" {
		t.Fatalf("api key: %d %v %s", st, h, b)
	}
	// Another key has its own bucket.
	if st, _, _ := e.do("GET", "/v1/invoices/"+inv.ID, e.readKey, nil); st != 200 {
		t.Fatalf("other key: %d", st)
	}
	st, h, b = limited("/i/"+inv.ID+"/status", "", "X-Forwarded-For", "203.0.113.7")
	if code, _ := errCode(t, b); st != 429 || code != httpx.CodeRateLimited || h.Get("Retry-After") == "" {
		t.Fatalf("public: %d %s", st, b)
	}
	if st, _, _ := e.do("GET", "/i/"+inv.ID+"/status", "", nil, "X-Forwarded-For", "203.0.113.8"); st != 200 {
		t.Fatalf("other client: %d", st)
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, testNow))
	var evs []invoice.Event
	for i, typ := range []invoice.EventType{invoice.EventCreated, invoice.EventPaymentReceived, invoice.EventSettled} {
		ev, err := invoice.NewEvent(typ, inv, testNow.Add(time.Duration(i)*time.Second), invoice.ViewOptions{BaseURL: "https://pay.example"})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.InsertEvents(ctx, evs) }); err != nil {
		t.Fatal(err)
	}
	type page struct {
		Data []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"data"`
		HasMore bool `json:"has_more"`
	}
	get := func(q string) page {
		t.Helper()
		st, _, b := e.do("GET", "/v1/events"+q, e.readKey, nil)
		var p page
		if err := json.Unmarshal(b, &p); st != 200 || err != nil {
			t.Fatalf("%s: %d %s", q, st, b)
		}
		return p
	}
	p := get("?limit=2")
	if len(p.Data) != 2 || !p.HasMore || p.Data[0].ID != evs[0].ID || p.Data[1].Type != "invoice.payment_received" {
		t.Fatalf("first page %+v", p)
	}
	p = get("?limit=2&starting_after=" + p.Data[1].ID)
	if len(p.Data) != 1 || p.HasMore || p.Data[0].ID != evs[2].ID {
		t.Fatalf("second page %+v", p)
	}
	if p := get(""); len(p.Data) != 3 || p.HasMore {
		t.Fatalf("all %+v", p)
	}
	st, _, b := e.do("GET", "/v1/events?starting_after="+invoice.NewID(invoice.PrefixEvent, testNow), e.readKey, nil)
	if code, f := errCode(t, b); st != 404 || code != httpx.CodeNotFound || f != "starting_after" {
		t.Fatalf("unknown cursor: %d %s", st, b)
	}
	st, _, b = e.do("GET", "/v1/events?starting_after="+inv.ID, e.readKey, nil)
	if code, f := errCode(t, b); st != 400 || code != httpx.CodeInvalidField || f != "starting_after" {
		t.Fatalf("inv cursor: %d %s", st, b)
	}

	// Redeliver.
	var redelivered string
	e.wh.RedeliverFn = func(_ context.Context, id string) error { redelivered = id; return nil }
	if st, _, b := e.do("POST", "/v1/events/"+evs[1].ID+"/redeliver", e.key, nil); st != 202 || redelivered != evs[1].ID {
		t.Fatalf("redeliver: %d %s", st, b)
	}
	for _, id := range []string{invoice.NewID(invoice.PrefixEvent, testNow), inv.ID} {
		st, _, b := e.do("POST", "/v1/events/"+id+"/redeliver", e.key, nil)
		if code, _ := errCode(t, b); st != 404 || code != httpx.CodeNotFound {
			t.Fatalf("redeliver %s: %d %s", id, st, b)
		}
	}
	if st, _, _ := e.do("POST", "/v1/events/"+evs[1].ID+"/redeliver", e.readKey, nil); st != 403 {
		t.Fatalf("redeliver with read key: %d", st)
	}
}

func TestWebhooks(t *testing.T) {
	e := newEnv(t)
	id := invoice.NewID(invoice.PrefixWebhook, testNow)
	ep := webhook.Endpoint{ID: id, URL: "https://shop.example/hook", Events: []string{"*"}, Secret: "whsec_abc", Source: "api", CreatedAt: testNow}
	var gotEvents []string
	e.wh.CreateFn = func(_ context.Context, url string, events []string) (webhook.Endpoint, error) {
		if strings.Contains(url, "127.0.0.1") {
			return webhook.Endpoint{}, &webhook.ValidationError{Field: "url", Message: "url points to a private address"}
		}
		gotEvents = events
		return ep, nil
	}
	e.wh.ListFn = func(context.Context) ([]webhook.Endpoint, error) { return []webhook.Endpoint{ep}, nil }
	e.wh.GetFn = func(_ context.Context, x string) (webhook.Endpoint, error) {
		if x != id {
			return webhook.Endpoint{}, fmt.Errorf("endpoint %s: %w", x, webhook.ErrNotFound)
		}
		return ep, nil
	}
	e.wh.DeleteFn = func(_ context.Context, x string) error {
		if x != id {
			return webhook.ErrNotFound
		}
		return nil
	}
	e.wh.AttemptsFn = func(_ context.Context, x string, limit int) ([]webhook.Attempt, error) {
		var out []webhook.Attempt
		for i := range 3 {
			out = append(out, webhook.Attempt{EventID: invoice.NewID(invoice.PrefixEvent, testNow), Attempt: i + 1, StatusCode: 500, Error: "HTTP 500", DurationMS: 12, At: testNow})
		}
		return out[:min(limit, 3)], nil
	}

	st, _, b := e.do("POST", "/v1/webhooks", e.key, `{"url":"https://shop.example/hook"}`)
	if st != 201 || !strings.Contains(string(b), `"secret":"whsec_abc"`) || len(gotEvents) != 1 || gotEvents[0] != "*" {
		t.Fatalf("create: %d %s %v", st, b, gotEvents)
	}
	for body, field := range map[string]string{
		`{"url":"ftp://x"}`: "url", `{}`: "url", `{"url":"https://a.example","events":["invoice.paid"]}`: "events",
		`{"url":"https://a.example","events":["*","invoice.settled"]}`: "events", `{"url":"https://127.0.0.1/x"}`: "url",
		`{"url":"https://a.example","secret":"x"}`: "secret",
	} {
		st, _, b := e.do("POST", "/v1/webhooks", e.key, body)
		if code, f := errCode(t, b); st != 400 || code != httpx.CodeInvalidField || f != field {
			t.Errorf("%s: %d %s", body, st, b)
		}
	}
	if st, _, b := e.do("GET", "/v1/webhooks", e.key, nil); st != 200 || strings.Contains(string(b), "whsec") || !strings.Contains(string(b), id) {
		t.Fatalf("list: %d %s", st, b)
	}
	if st, _, b := e.do("GET", "/v1/webhooks/"+id, e.key, nil); st != 200 || strings.Contains(string(b), "whsec") {
		t.Fatalf("get: %d %s", st, b)
	}
	for _, x := range []string{invoice.NewID(invoice.PrefixWebhook, testNow), invoice.NewID(invoice.PrefixInvoice, testNow)} {
		for _, m := range []string{"GET", "DELETE"} {
			st, _, b := e.do(m, "/v1/webhooks/"+x, e.key, nil)
			if code, _ := errCode(t, b); st != 404 || code != httpx.CodeNotFound {
				t.Fatalf("%s %s: %d %s", m, x, st, b)
			}
		}
	}
	st, _, b = e.do("GET", "/v1/webhooks/"+id+"/deliveries?limit=2", e.key, nil)
	var page struct {
		Data    []attemptView `json:"data"`
		HasMore bool          `json:"has_more"`
	}
	if err := json.Unmarshal(b, &page); err != nil || st != 200 || len(page.Data) != 2 || !page.HasMore || page.Data[0].At != "2026-11-22T16:12:48Z" {
		t.Fatalf("deliveries: %d %s", st, b)
	}
	if st, _, _ := e.do("GET", "/v1/webhooks/"+invoice.NewID(invoice.PrefixWebhook, testNow)+"/deliveries", e.key, nil); st != 404 {
		t.Fatalf("deliveries of unknown: %d", st)
	}
	if st, _, _ := e.do("DELETE", "/v1/webhooks/"+id, e.key, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	// Scopes: invoices-only keys see no webhooks.
	if st, _, _ := e.do("GET", "/v1/webhooks", e.readKey, nil); st != 403 {
		t.Fatalf("read key list: %d", st)
	}
	ro := e.makeKey([]string{apikey.ScopeWebhooksRead})
	if st, _, _ := e.do("DELETE", "/v1/webhooks/"+id, ro, nil); st != 403 {
		t.Fatalf("webhooks:read delete: %d", st)
	}
	e.wh.ListFn = func(context.Context) ([]webhook.Endpoint, error) { return nil, errors.New("db gone") }
	if st, _, b := e.do("GET", "/v1/webhooks", e.key, nil); st != 500 || strings.Contains(string(b), "db gone") {
		t.Fatalf("internal: %d %s", st, b)
	}
}

func TestPaymentsReport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := e.db.Writer()
	inv := invoice.NewID(invoice.PrefixInvoice, testNow)
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(`INSERT INTO invoices (id, status, amount, currency, currency_decimals, currency_fiat, order_id, created_at, expires_at, monitor_until)
		VALUES (?, 'settled', '2500', 'USD', 2, 1, '=HYPERLINK("x")', ?, ?, ?)`, inv, testNow.Unix(), testNow.Unix()+900, testNow.Unix()+90000)
	mustExec(`INSERT INTO invoice_methods (invoice_id, method, chain, kind, asset, asset_decimals, address, derive_index, amount_due, rate, confirmations_required)
		VALUES (?, 'bitcoin/btc', 'bitcoin', 'bitcoin', 'BTC', 8, 'bcrt1q', 0, '41234', '60630.12', 1)`, inv)
	mustExec(`INSERT INTO invoice_methods (invoice_id, method, chain, kind, chain_id, asset, asset_decimals, address, derive_index, amount_due, rate, confirmations_required)
		VALUES (?, 'ethereum/usdc', 'ethereum', 'evm', 1, 'USDC', 6, '0xabc', 0, '25000000', '1.00', 12)`, inv)
	day1, day2 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	mustExec(`INSERT INTO payments (id, invoice_id, method, chain, txid, output_index, address, amount, block_height, block_hash, confirmations, status, seen_at, confirmed_at)
		VALUES ('pay_1', ?, 'bitcoin/btc', 'bitcoin', 'tx1', 1, 'bcrt1q', '20000', 101, 'h', 1, 'confirmed', ?, ?)`, inv, day1.Unix(), day1.Unix()+600)
	mustExec(`INSERT INTO payments (id, invoice_id, method, chain, txid, output_index, address, amount, status, seen_at)
		VALUES ('pay_2', ?, 'ethereum/usdc', 'ethereum', '0xtx2', 7, '0xabc', '12500000', 'pending', ?)`, inv, day2.Unix())

	read := func(q string) [][]string {
		t.Helper()
		st, h, b := e.do("GET", "/v1/reports/payments.csv"+q, e.readKey, nil)
		if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
			t.Fatalf("%s: %d %s", q, st, b)
		}
		rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	rows := read("")
	if len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(store.PaymentReportHeader, ",") {
		t.Fatalf("rows %q", rows)
	}
	// 0.0002 BTC × 60630.12 = 12.126024 → 12.12 USD; 12.5 USDC × 1.00 = 12.50.
	want1 := []string{"pay_1", inv, `'=HYPERLINK("x")`, "bitcoin/btc", "BTC", "0.0002", "USD", "60630.12", "12.12", "tx1", "1", "confirmed", "2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z"}
	want2 := []string{"pay_2", inv, `'=HYPERLINK("x")`, "ethereum/usdc", "USDC", "12.5", "USD", "1.00", "12.50", "0xtx2", "7", "pending", "2026-11-23T10:00:00Z", ""}
	if strings.Join(rows[1], "|") != strings.Join(want1, "|") || strings.Join(rows[2], "|") != strings.Join(want2, "|") {
		t.Fatalf("rows\n%q\n%q", rows[1], rows[2])
	}
	if rows := read("?from=2026-11-23"); len(rows) != 2 || rows[1][0] != "pay_2" {
		t.Fatalf("from date: %q", rows)
	}
	if rows := read("?from=2026-11-01&to=2026-11-22"); len(rows) != 2 || rows[1][0] != "pay_1" {
		t.Fatalf("to date (inclusive day): %q", rows)
	}
	if rows := read("?to=2026-11-22T10:00:00Z"); len(rows) != 1 {
		t.Fatalf("to exclusive: %q", rows)
	}
	for q, field := range map[string]string{"?from=yesterday": "from", "?to=2026-13-01": "to", "?from=2026-11-23&to=2026-11-01": "to", "?format=xls": "format"} {
		st, _, b := e.do("GET", "/v1/reports/payments.csv"+q, e.readKey, nil)
		if code, f := errCode(t, b); st != 400 || code != httpx.CodeInvalidField || f != field {
			t.Errorf("%s: %d %s", q, st, b)
		}
	}
}

// The database away (PostgreSQL restarting, the network cut): requests
// answer 503 unavailable with Retry-After, not 500 internal, and show
// nothing of the error.
func TestDatabaseOutageIs503(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"refused", fmt.Errorf("store: begin: failed to connect to 127.0.0.1:5432: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 503},
		{"conn closed", fmt.Errorf("store: commit: %w", pgconn.ErrConnClosed), 503},
		{"server shutting down", fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), 503},
		{"a fault of payd's", errors.New("store: scan: invalid amount"), 500},
	} {
		e.inv.GetFn = func(context.Context, string) (*invoice.Invoice, error) { return nil, tt.err }
		st, h, b := e.do("GET", "/v1/invoices/"+invoice.NewID(invoice.PrefixInvoice, testNow), e.key, nil)
		if st != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, st, b, tt.want)
		}
		if code, _ := errCode(t, b); st == 503 && (code != httpx.CodeUnavailable || h.Get("Retry-After") != "1") {
			t.Errorf("%s: %s, Retry-After %q", tt.name, b, h.Get("Retry-After"))
		}
		if strings.Contains(string(b), "store:") || strings.Contains(string(b), "127.0.0.1") {
			t.Errorf("%s: the body shows the error: %s", tt.name, b)
		}
	}
}

func TestOperations(t *testing.T) {
	e := newEnv(t)
	if st, _, b := e.do("GET", "/healthz", "", nil); st != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("healthz: %d %s", st, b)
	}
	if st, _, b := e.do("GET", "/readyz", "", nil); st != 200 || string(b) != `{"status":"ready","version":"test"}`+"\n" {
		t.Fatalf("readyz: %d %s", st, b)
	}
	e.ready = Readiness{Reasons: []string{"database: locked", "bitcoin: 12 blocks behind"}}
	st, _, b := e.do("GET", "/readyz", "", nil)
	if code, _ := errCode(t, b); st != 503 || code != httpx.CodeUnavailable || !strings.Contains(string(b), "12 blocks behind") {
		t.Fatalf("readyz not ready: %d %s", st, b)
	}
	// Several instances on PostgreSQL: the database's health and this
	// instance's leases, ready or not.
	db := &DatabaseHealth{Driver: "postgres", Reachable: true, PingMS: 0.42}
	inst := &InstanceHealth{ID: "h-1-ab", Leads: []string{"bitcoin"},
		Leases:  []LeaseHealth{{Name: "watcher:bitcoin", Token: 3, AgeSeconds: 1.5, ExpiresAt: "2026-01-02T03:04:05Z"}},
		Leaders: map[string]string{"watcher:bitcoin": "h-1-ab", "expirer": "h-2-cd"}}
	for _, tt := range []struct {
		reasons []string
		status  int
		want    string
	}{
		{nil, 200, `{"status":"ready","version":"test",` +
			`"database":{"driver":"postgres","reachable":true,"ping_ms":0.42},` +
			`"instance":{"id":"h-1-ab","leads":["bitcoin"],"leases":[{"name":"watcher:bitcoin","token":3,"age_seconds":1.5,"expires_at":"2026-01-02T03:04:05Z"}],` +
			`"leaders":{"expirer":"h-2-cd","watcher:bitcoin":"h-1-ab"}}}`},
		{[]string{"database: unreachable"}, 503, `{"error":{"code":"unavailable","message":"not ready: database: unreachable"},"status":"not_ready","version":"test",` +
			`"reasons":["database: unreachable"],` +
			`"database":{"driver":"postgres","reachable":true,"ping_ms":0.42},` +
			`"instance":{"id":"h-1-ab","leads":["bitcoin"],"leases":[{"name":"watcher:bitcoin","token":3,"age_seconds":1.5,"expires_at":"2026-01-02T03:04:05Z"}],` +
			`"leaders":{"expirer":"h-2-cd","watcher:bitcoin":"h-1-ab"}}}`},
	} {
		e.ready = Readiness{Reasons: tt.reasons, Database: db, Instance: inst}
		if st, _, b := e.do("GET", "/readyz", "", nil); st != tt.status || strings.TrimSpace(string(b)) != tt.want {
			t.Fatalf("readyz with %v:\n got %d %s\nwant %d %s", tt.reasons, st, b, tt.status, tt.want)
		}
	}
	e.ready = Readiness{}
	if st, _, b := e.do("GET", "/metrics", "", nil); st != 200 || !strings.Contains(string(b), "payd_up") {
		t.Fatalf("metrics: %d %s", st, b)
	}
	if e.observed.Load() == 0 {
		t.Fatal("Observe never called")
	}
	// Websocket route: auth enforced in front of the hub.
	if st, _, _ := e.do("GET", "/v1/events/ws", "", nil); st != 401 {
		t.Fatalf("ws without key: %d", st)
	}
	if st, _, _ := e.do("GET", "/v1/events/ws", e.makeKey([]string{apikey.ScopeWebhooksRead}), nil); st != 403 {
		t.Fatalf("ws without scope: %d", st)
	}
	if st, _, _ := e.do("GET", "/v1/events/ws", e.readKey, nil); st != 204 {
		t.Fatalf("ws: %d", st)
	}
	// Unknown routes and methods answer in the contract's shape.
	st, _, b = e.do("GET", "/v1/nothing", e.key, nil)
	if code, _ := errCode(t, b); st != 404 || code != httpx.CodeNotFound {
		t.Fatalf("unknown: %d %s", st, b)
	}
	st, h, b := e.do("PUT", "/v1/invoices", e.key, nil)
	if code, _ := errCode(t, b); st != 405 || code != httpx.CodeMethodNotAllowed || h.Get("Allow") == "" {
		t.Fatalf("405: %d %v %s", st, h, b)
	}
}

func TestMetricsNil(t *testing.T) {
	e := newEnv(t, func(_ *Config, d *Deps) { d.Metrics, d.Observe = nil, nil })
	if st, _, b := e.do("GET", "/metrics", "", nil); st != 404 {
		t.Fatalf("metrics nil: %d %s", st, b)
	}
}

func TestPanicIsInternal(t *testing.T) {
	e := newEnv(t)
	e.inv.GetFn = func(context.Context, string) (*invoice.Invoice, error) { panic("boom") }
	st, _, b := e.do("GET", "/v1/invoices/"+invoice.NewID(invoice.PrefixInvoice, testNow), e.key, nil)
	if code, _ := errCode(t, b); st != 500 || code != httpx.CodeInternal || strings.Contains(string(b), "boom") {
		t.Fatalf("panic: %d %s", st, b)
	}
}
