package api

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

// fakeLinks is an in-memory service.Links; CreateFn, if set, replaces the
// default creation (to return service errors).
type fakeLinks struct {
	CreateFn func(ctx context.Context, req service.LinkRequest) (store.Link, error)
	mu       sync.Mutex
	byID     map[string]store.Link
	last     service.LinkRequest
}

func (f *fakeLinks) CreateLink(ctx context.Context, req service.LinkRequest) (store.Link, error) {
	f.mu.Lock()
	f.last = req
	f.mu.Unlock()
	if f.CreateFn != nil {
		return f.CreateFn(ctx, req)
	}
	l := store.Link{ID: invoice.NewID(invoice.PrefixLink, testNow), Amount: req.Amount, Currency: req.Currency, Methods: req.Methods,
		Description: req.Description, Metadata: req.Metadata, CreatedAt: testNow}
	if req.MaxUses != nil {
		l.MaxUses = *req.MaxUses
	}
	if req.ExpiresAt != "" {
		l.ExpiresAt, _ = time.Parse(time.RFC3339, req.ExpiresAt)
	}
	f.mu.Lock()
	f.byID[l.ID] = l
	f.mu.Unlock()
	return l, nil
}

func (f *fakeLinks) Link(_ context.Context, id string) (store.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.byID[id]
	if !ok {
		return l, service.ErrLinkNotFound
	}
	return l, nil
}

func (f *fakeLinks) DeleteLink(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byID[id]; !ok {
		return service.ErrLinkNotFound
	}
	delete(f.byID, id)
	return nil
}

func newLinkEnv(t *testing.T) (*env, *fakeLinks) {
	fl := &fakeLinks{byID: map[string]store.Link{}}
	return newEnv(t, func(_ *Config, d *Deps) { d.Links = fl }), fl
}

func TestLinks(t *testing.T) {
	e, fl := newLinkEnv(t)
	st, h, b := e.do("POST", "/v1/links", e.key, `{"amount":"25.00","currency":"USD","methods":["bitcoin/btc"],"description":"T-shirt",
		"metadata":{"sku":"T1"},"max_uses":3,"expires_at":"2026-12-01T00:00:00Z"}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	var v linkView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, "lnk_") || v.URL != "https://pay.example/l/"+v.ID || h.Get("Location") != "/v1/links/"+v.ID ||
		v.Amount != "25.00" || v.Currency != "USD" || len(v.Methods) != 1 || v.Description != "T-shirt" || string(v.Metadata) != `{"sku":"T1"}` ||
		v.Uses != 0 || v.MaxUses == nil || *v.MaxUses != 3 || v.ExpiresAt == nil || *v.ExpiresAt != "2026-12-01T00:00:00Z" ||
		v.CreatedAt != "2026-11-22T16:12:48Z" {
		t.Fatalf("create: %s", b)
	}
	if fl.last.MaxUses == nil || *fl.last.MaxUses != 3 || fl.last.ExpiresAt != "2026-12-01T00:00:00Z" {
		t.Fatalf("service got %+v", fl.last)
	}

	// Unlimited, never expiring: max_uses and expires_at are null, methods [].
	st, _, b = e.do("POST", "/v1/links", e.key, `{"amount":"0.001","currency":"BTC","metadata":null}`)
	if st != 201 || !strings.Contains(string(b), `"max_uses":null`) || !strings.Contains(string(b), `"expires_at":null`) ||
		!strings.Contains(string(b), `"methods":[]`) || strings.Contains(string(b), `"metadata"`) {
		t.Fatalf("unlimited: %d %s", st, b)
	}

	if st, _, b := e.do("GET", "/v1/links/"+v.ID, e.readKey, nil); st != 200 || !strings.Contains(string(b), v.ID) {
		t.Fatalf("get: %d %s", st, b)
	}
	if st, _, _ := e.do("DELETE", "/v1/links/"+v.ID, e.readKey, nil); st != 403 {
		t.Fatalf("delete with a read key: %d", st)
	}
	if st, _, b := e.do("DELETE", "/v1/links/"+v.ID, e.key, nil); st != 204 || len(b) != 0 {
		t.Fatalf("delete: %d %s", st, b)
	}
	for _, path := range []string{"/v1/links/" + v.ID, "/v1/links/" + invoice.NewID(invoice.PrefixInvoice, testNow), "/v1/links/lnk_x"} {
		for _, m := range []string{"GET", "DELETE"} {
			st, _, b := e.do(m, path, e.key, nil)
			if code, _ := errCode(t, b); st != 404 || code != httpx.CodeNotFound || !strings.Contains(string(b), "payment link") {
				t.Fatalf("%s %s: %d %s", m, path, st, b)
			}
		}
	}
	// Scopes and auth.
	if st, _, _ := e.do("POST", "/v1/links", e.readKey, `{"amount":"1","currency":"USD"}`); st != 403 {
		t.Fatalf("create with a read key: %d", st)
	}
	if st, _, _ := e.do("GET", "/v1/links/"+v.ID, "", nil); st != 401 {
		t.Fatalf("no key: %d", st)
	}
	if st, h, _ := e.do("PUT", "/v1/links/"+v.ID, e.key, nil); st != 405 || len(h.Values("Allow")) != 2 {
		t.Fatalf("PUT: %d %v", st, h.Values("Allow"))
	}
}

func TestCreateLinkErrors(t *testing.T) {
	e, fl := newLinkEnv(t)
	fl.CreateFn = func(_ context.Context, req service.LinkRequest) (store.Link, error) {
		switch {
		case req.Currency == "XYZ":
			return store.Link{}, &service.Error{Status: 422, Code: "unknown_currency", Field: "currency", Message: "unknown currency"}
		case req.MaxUses != nil && *req.MaxUses < 1:
			return store.Link{}, &service.Error{Status: 400, Code: "invalid_field", Field: "max_uses", Message: "max_uses must be ≥ 1"}
		case req.ExpiresAt == "soon":
			return store.Link{}, &service.Error{Status: 400, Code: "invalid_field", Field: "expires_at", Message: "bad time"}
		}
		return store.Link{}, errors.New("db on fire")
	}
	tests := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"not json", `{`, 400, httpx.CodeInvalidJSON, ""},
		{"unknown field", `{"amount":"1","currency":"USD","order_id":"A"}`, 400, httpx.CodeInvalidField, "order_id"},
		{"amount number", `{"amount":1,"currency":"USD"}`, 400, httpx.CodeInvalidField, "amount"},
		{"no amount", `{"currency":"USD"}`, 400, httpx.CodeInvalidField, "amount"},
		{"no currency", `{"amount":"1"}`, 400, httpx.CodeInvalidField, "currency"},
		{"metadata array", `{"amount":"1","currency":"USD","metadata":[1]}`, 400, httpx.CodeInvalidField, "metadata"},
		{"max_uses string", `{"amount":"1","currency":"USD","max_uses":"2"}`, 400, httpx.CodeInvalidField, "max_uses"},
		{"max_uses zero", `{"amount":"1","currency":"USD","max_uses":0}`, 400, httpx.CodeInvalidField, "max_uses"},
		{"expires_at bad", `{"amount":"1","currency":"USD","expires_at":"soon"}`, 400, httpx.CodeInvalidField, "expires_at"},
		{"expires_at huge", `{"amount":"1","currency":"USD","expires_at":"` + strings.Repeat("9", 100) + `"}`, 400, httpx.CodeInvalidField, "expires_at"},
		{"unknown currency", `{"amount":"1","currency":"XYZ"}`, 422, "unknown_currency", "currency"},
		{"internal", `{"amount":"1","currency":"USD"}`, 500, httpx.CodeInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, b := e.do("POST", "/v1/links", e.key, tt.body)
			code, field := errCode(t, b)
			if st != tt.status || code != tt.code || field != tt.field {
				t.Fatalf("%d %s", st, b)
			}
			if strings.Contains(string(b), "on fire") {
				t.Fatalf("internal error leaked: %s", b)
			}
		})
	}
}

func TestLinksUnroutedWithoutService(t *testing.T) {
	e := newEnv(t)
	if st, _, b := e.do("POST", "/v1/links", e.key, `{"amount":"1","currency":"USD"}`); st != 404 {
		t.Fatalf("%d %s", st, b)
	}
}
