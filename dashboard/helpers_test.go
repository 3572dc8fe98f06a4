package dashboard

import (
	"context"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// fakeInvoices serves invoices from a real store and records the actions.
type fakeInvoices struct {
	db      *store.DB
	mu      sync.Mutex
	actions []string
	created uint32
	// getErr, when set, is what every Get returns: a database outage.
	getErr error
}

func (f *fakeInvoices) Create(ctx context.Context, req service.CreateRequest) (*invoice.Invoice, error) {
	if req.Amount == "" {
		return nil, &service.Error{Status: 400, Code: "invalid_amount", Field: "amount", Message: "amount is required"}
	}
	f.record("create " + req.Amount)
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, time.Now()), time.Now(), req.OrderID, req.Description, nil)
	f.mu.Lock()
	f.created++
	inv.Methods[0].DeriveIdx = 1_000_000 + f.created // apart from the seeded invoices
	f.mu.Unlock()
	// As the service does: the invoice and its idempotency record in one
	// transaction.
	err := f.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.InsertInvoice(ctx, inv); err != nil {
			return err
		}
		if k := req.Idempotency; k != nil {
			resp, err := k.Response(inv)
			if err != nil {
				return err
			}
			return tx.SaveIdempotency(ctx, store.IdempotencyRecord{APIKeyID: k.APIKeyID, Key: k.Key, RequestHash: k.RequestHash,
				StatusCode: 201, Response: resp, CreatedAt: time.Now()}, k.ExpireBefore)
		}
		return nil
	})
	return inv, err
}
func (f *fakeInvoices) Get(ctx context.Context, id string) (*invoice.Invoice, error) {
	f.mu.Lock()
	gerr := f.getErr
	f.mu.Unlock()
	if gerr != nil {
		return nil, gerr
	}
	inv, err := f.db.Invoice(ctx, id)
	if err != nil {
		return nil, service.ErrNotFound
	}
	return inv, nil
}
func (f *fakeInvoices) Cancel(ctx context.Context, id string) (*invoice.Invoice, error) {
	f.record("cancel " + id)
	return f.Get(ctx, id)
}
func (f *fakeInvoices) Mark(ctx context.Context, id string, s invoice.Status) (*invoice.Invoice, error) {
	f.record("mark " + id + " " + string(s))
	return f.Get(ctx, id)
}
func (f *fakeInvoices) CreateLink(ctx context.Context, req service.LinkRequest) (store.Link, error) {
	f.record("link")
	return store.Link{ID: "lnk_0000000000000000000000"}, nil
}
func (f *fakeInvoices) record(s string) {
	f.mu.Lock()
	f.actions = append(f.actions, s)
	f.mu.Unlock()
}
func (f *fakeInvoices) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

type fakeWebhooks struct{ redelivered []string }

func (f *fakeWebhooks) CreateEndpoint(ctx context.Context, u string, events []string) (webhook.Endpoint, error) {
	return webhook.Endpoint{ID: "wh_00000000000000000000", URL: u, Events: events, Secret: "whsec_x", Source: "api"}, nil
}
func (f *fakeWebhooks) Endpoints(ctx context.Context) ([]webhook.Endpoint, error) { return nil, nil }
func (f *fakeWebhooks) DeleteEndpoint(ctx context.Context, id string) error       { return nil }
func (f *fakeWebhooks) Attempts(ctx context.Context, id string, n int) ([]webhook.Attempt, error) {
	return nil, nil
}
func (f *fakeWebhooks) SendTest(ctx context.Context, id string) (webhook.Attempt, error) {
	return webhook.Attempt{EventID: "evt_test", StatusCode: 500, Error: "status 500: <script>alert('test')</script>", DurationMS: 3}, nil
}
func (f *fakeWebhooks) RotateSecret(ctx context.Context, id string) (webhook.Endpoint, error) {
	return webhook.Endpoint{ID: id, URL: "https://x.example", Secret: "whsec_rotated", Source: "api"}, nil
}
func (f *fakeWebhooks) SetDisabled(ctx context.Context, id string, disabled bool) (webhook.Endpoint, error) {
	return webhook.Endpoint{ID: id, URL: "https://x.example", Source: "api", Disabled: disabled}, nil
}
func (f *fakeWebhooks) Redeliver(ctx context.Context, id string) error {
	f.redelivered = append(f.redelivered, id)
	return nil
}

func testInvoice(id string, now time.Time, orderID, desc string, meta []byte) *invoice.Invoice {
	return &invoice.Invoice{
		ID: id, Status: invoice.StatusNew, Amount: big.NewInt(2500), Currency: invoice.FiatAsset("USD"),
		OrderID: orderID, Description: desc, Metadata: meta,
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute), MonitorUntil: now.Add(24 * time.Hour), Sequence: 1,
		Methods: []invoice.Method{{Method: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC,
			Address: "bcrt1q" + strings.ToLower(id[len(id)-20:]), DeriveIdx: 1, AmountDue: big.NewInt(41234), Rate: "60630.12",
			RateSource: "static", RateTime: now, ConfirmationsRequired: 1}},
	}
}

// testEnv is a console on a real SQLite store with one admin.
type testEnv struct {
	t        *testing.T
	db       *store.DB
	h        *Handler
	srv      *httptest.Server
	inv      *fakeInvoices
	hooks    *fakeWebhooks
	now      time.Time
	mu       sync.Mutex
	failures []string
	actions  []string
}

const (
	testAdmin    = "alice"
	testPassword = "correct horse battery"
)

func newTestEnv(t *testing.T, baseURL string, role string) *testEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "payd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, db: db, inv: &fakeInvoices{db: db}, hooks: &fakeWebhooks{}, now: time.Now().UTC().Truncate(time.Second)}
	hash, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAdmin(ctx, store.Admin{ID: "adm_test", Name: testAdmin, PasswordHash: hash, Role: role, CreatedAt: e.now}); err != nil {
		t.Fatal(err)
	}
	e.h, err = New(Config{Path: "/dashboard", BaseURL: baseURL, Methods: []string{"bitcoin/btc"},
		Explorers: map[string]string{"bitcoin": "https://mempool.space/tx/{txid}"}}, Deps{
		Invoices: e.inv, Store: db, Webhooks: e.hooks,
		OnLoginFailure: func(r string) { e.mu.Lock(); e.failures = append(e.failures, r); e.mu.Unlock() },
		OnAction:       func(a string) { e.mu.Lock(); e.actions = append(e.actions, a); e.mu.Unlock() },
		Now:            func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.h.Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *testEnv) insert(inv *invoice.Invoice) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.InsertInvoice(ctx, inv) }); err != nil {
		e.t.Fatal(err)
	}
}

// client is a browser: a cookie jar, no redirect following.
func (e *testEnv) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	code int
	body string
	hdr  http.Header
}

func (e *testEnv) do(c *http.Client, method, path string, form url.Values, hdr ...string) resp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{code: res.StatusCode, body: string(b), hdr: res.Header}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the first CSRF token in a page.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// login signs in with c and returns the session's CSRF token.
func (e *testEnv) login(c *http.Client, password string) resp {
	e.t.Helper()
	page := e.do(c, "GET", "/dashboard/login", nil)
	return e.do(c, "POST", "/dashboard/login", url.Values{"csrf": {csrfOf(e.t, page.body)}, "name": {testAdmin}, "password": {password}})
}

func (e *testEnv) signedIn() (*http.Client, string) {
	e.t.Helper()
	c := e.client()
	if r := e.login(c, testPassword); r.code != http.StatusSeeOther {
		e.t.Fatalf("sign in: %d\n%s", r.code, r.body)
	}
	home := e.do(c, "GET", "/dashboard/", nil)
	if home.code != 200 {
		e.t.Fatalf("overview after sign-in: %d\n%s", home.code, home.body)
	}
	return c, csrfOf(e.t, home.body)
}

func sessionCookieOf(c *http.Client, base string) string {
	u, _ := url.Parse(base + "/dashboard/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			return ck.Value
		}
	}
	return ""
}
