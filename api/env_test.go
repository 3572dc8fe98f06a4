package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// fakeInvoices is a service.Invoices of function fields; nil fields use an
// in-memory default.
type fakeInvoices struct {
	CreateFn func(ctx context.Context, req service.CreateRequest) (*invoice.Invoice, error)
	GetFn    func(ctx context.Context, id string) (*invoice.Invoice, error)
	ListFn   func(ctx context.Context, f service.ListFilter) ([]*invoice.Invoice, bool, error)
	CancelFn func(ctx context.Context, id string) (*invoice.Invoice, error)
	MarkFn   func(ctx context.Context, id string, s invoice.Status) (*invoice.Invoice, error)

	mu      sync.Mutex
	byID    map[string]*invoice.Invoice
	created atomic.Int64
	calls   atomic.Int64 // every call of any method
}

func (f *fakeInvoices) Create(ctx context.Context, req service.CreateRequest) (*invoice.Invoice, error) {
	f.calls.Add(1)
	if f.CreateFn != nil {
		return f.CreateFn(ctx, req)
	}
	time.Sleep(2 * time.Millisecond) // widen the window for concurrent duplicates
	inv := testInvoice(invoice.NewID(invoice.PrefixInvoice, time.Now()))
	inv.OrderID, inv.Description, inv.Metadata = req.OrderID, req.Description, req.Metadata
	f.mu.Lock()
	f.byID[inv.ID] = inv
	f.mu.Unlock()
	f.created.Add(1)
	return inv, nil
}

func (f *fakeInvoices) Get(ctx context.Context, id string) (*invoice.Invoice, error) {
	f.calls.Add(1)
	if f.GetFn != nil {
		return f.GetFn(ctx, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if inv, ok := f.byID[id]; ok {
		return inv, nil
	}
	return nil, service.ErrNotFound
}

func (f *fakeInvoices) List(ctx context.Context, fl service.ListFilter) ([]*invoice.Invoice, bool, error) {
	f.calls.Add(1)
	return f.ListFn(ctx, fl)
}

func (f *fakeInvoices) Cancel(ctx context.Context, id string) (*invoice.Invoice, error) {
	f.calls.Add(1)
	return f.CancelFn(ctx, id)
}

func (f *fakeInvoices) Mark(ctx context.Context, id string, s invoice.Status) (*invoice.Invoice, error) {
	f.calls.Add(1)
	return f.MarkFn(ctx, id, s)
}

// fakeWebhooks is a Webhooks of function fields.
type fakeWebhooks struct {
	CreateFn    func(ctx context.Context, url string, events []string) (webhook.Endpoint, error)
	ListFn      func(ctx context.Context) ([]webhook.Endpoint, error)
	GetFn       func(ctx context.Context, id string) (webhook.Endpoint, error)
	DeleteFn    func(ctx context.Context, id string) error
	AttemptsFn  func(ctx context.Context, id string, limit int) ([]webhook.Attempt, error)
	RedeliverFn func(ctx context.Context, eventID string) error
}

func (f *fakeWebhooks) CreateEndpoint(ctx context.Context, url string, events []string) (webhook.Endpoint, error) {
	return f.CreateFn(ctx, url, events)
}
func (f *fakeWebhooks) Endpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	return f.ListFn(ctx)
}
func (f *fakeWebhooks) Endpoint(ctx context.Context, id string) (webhook.Endpoint, error) {
	return f.GetFn(ctx, id)
}
func (f *fakeWebhooks) DeleteEndpoint(ctx context.Context, id string) error {
	return f.DeleteFn(ctx, id)
}
func (f *fakeWebhooks) Attempts(ctx context.Context, id string, limit int) ([]webhook.Attempt, error) {
	return f.AttemptsFn(ctx, id, limit)
}
func (f *fakeWebhooks) Redeliver(ctx context.Context, eventID string) error {
	return f.RedeliverFn(ctx, eventID)
}

var testNow = time.Date(2026, 11, 22, 16, 12, 48, 0, time.UTC)

// testInvoice is a USD invoice payable in BTC with one confirmed payment.
func testInvoice(id string) *invoice.Invoice {
	settled := testNow.Add(5 * time.Minute)
	return &invoice.Invoice{
		ID: id, Status: invoice.StatusSettled, Amount: big.NewInt(2500), Currency: invoice.FiatAsset("USD"),
		OrderID: "A-1001", Description: "2 × T-shirt", Metadata: json.RawMessage(`{"customer":"42"}`),
		CreatedAt: testNow, ExpiresAt: testNow.Add(15 * time.Minute), SettledAt: &settled,
		RedirectURL: "https://shop.example/thanks", Sequence: 3,
		Methods: []invoice.Method{{
			Method: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC,
			Address: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", AmountDue: big.NewInt(41234),
			Rate: "60630.12", RateSource: "static", RateTime: testNow, ConfirmationsRequired: 1,
		}},
		Payments: []invoice.Payment{{
			ID: invoice.NewID(invoice.PrefixPayment, testNow), Method: "bitcoin/btc", TxID: strings.Repeat("ab", 32),
			Amount: big.NewInt(41234), BlockHeight: 101, BlockHash: strings.Repeat("cd", 32), Confirmations: 1,
			Status: invoice.PaymentConfirmed, SeenAt: testNow.Add(time.Minute),
		}},
	}
}

// env is an API over fakes and a real SQLite store, served on 127.0.0.1.
type env struct {
	t        *testing.T
	db       *store.DB
	inv      *fakeInvoices
	wh       *fakeWebhooks
	api      *API
	srv      *httptest.Server
	client   *http.Client
	key      string // all scopes
	readKey  string // invoices:read only
	ready    Readiness
	observed atomic.Int64
}

type envOption func(*Config, *Deps)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, inv: &fakeInvoices{byID: map[string]*invoice.Invoice{}}, wh: &fakeWebhooks{}}
	e.key = e.makeKey(nil)
	e.readKey = e.makeKey([]string{apikey.ScopeInvoicesRead})
	cfg := Config{}
	d := Deps{
		Invoices: e.inv, Keys: db, Events: db, Webhooks: e.wh, Idempotency: db, Reports: db,
		Ready:    func(context.Context) Readiness { return e.ready },
		EventsWS: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "# HELP payd_up 1\n")
		}),
		Observe: func(string, int, time.Duration) { e.observed.Add(1) },
		Version: "test", BaseURL: "https://pay.example",
	}
	for _, o := range opts {
		o(&cfg, &d)
	}
	e.api = New(cfg, d)
	mux := http.NewServeMux()
	e.api.Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: &validating{t: t, rt: http.DefaultTransport, router: specRouter(t)}}
	return e
}

func (e *env) makeKey(scopes []string) string {
	e.t.Helper()
	secret, k, err := apikey.Generate("test", scopes, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CreateAPIKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// do sends a request with key (none if "") and returns status, headers and body.
func (e *env) do(method, path, key string, body any, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errCode returns the error body's code and field.
func errCode(t *testing.T, b []byte) (code, field string) {
	t.Helper()
	var eb struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return eb.Error.Code, eb.Error.Field
}

// validating checks every response against api/openapi.yaml.
type validating struct {
	t      *testing.T
	rt     http.RoundTripper
	router routers.Router
}

var validated atomic.Int64

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := validateResponse(v.router, req, resp.StatusCode, resp.Header, body); err != nil {
		v.t.Errorf("openapi: %s %s → %d %s: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	validated.Add(1)
	return resp, nil
}

// validateResponse checks one response against the spec. Unrouted 404/405
// answers (unknown paths) are fine; the fake websocket hub's 2xx is skipped.
func validateResponse(router routers.Router, req *http.Request, status int, hdr http.Header, body []byte) error {
	route, params, err := router.FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("no route in openapi.yaml: %w", err)
		}
		return nil
	}
	if req.URL.Path == "/v1/events/ws" && status < 400 {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 hdr,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(req.Context(), in)
}

var (
	specOnce sync.Once
	specR    routers.Router
	specErr  error
)

func specRouter(t *testing.T) routers.Router {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(OpenAPI)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			specErr = err
			return
		}
		doc.Servers = nil // match paths on any host
		specR, specErr = legacy.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("openapi.yaml: %v", specErr)
	}
	return specR
}
