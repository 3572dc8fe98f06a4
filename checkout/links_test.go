package checkout

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
)

// fakeLinks is a LinkVisitor over a map of link id → remaining uses
// (-1 = unlimited); errs forces an error for an id.
type fakeLinks struct {
	mu     sync.Mutex
	uses   map[string]int
	errs   map[string]error
	visits int
}

func (f *fakeLinks) LinkStatus(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[id]; err != nil {
		return err
	}
	n, ok := f.uses[id]
	switch {
	case !ok:
		return service.ErrLinkNotFound
	case n == 0:
		return service.ErrLinkGone
	}
	return nil
}

func (f *fakeLinks) VisitLink(ctx context.Context, id string) (*invoice.Invoice, error) {
	if err := f.LinkStatus(ctx, id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uses[id] > 0 {
		f.uses[id]--
	}
	f.visits++
	return &invoice.Invoice{ID: invoice.NewID(invoice.PrefixInvoice, time.Now()), LinkID: id}, nil
}

func TestLinkVisits(t *testing.T) {
	now := time.Now()
	link := func() string { return invoice.NewID(invoice.PrefixLink, now) }
	once, unlimited, broken, unpriced, unknown := link(), link(), link(), link(), link()
	f := &fakeLinks{uses: map[string]int{once: 1, unlimited: -1, broken: -1, unpriced: -1}, errs: map[string]error{
		broken:   errors.New("disk on fire"),
		unpriced: &service.Error{Status: 422, Code: "no_rate", Field: "currency", Message: "no rate"},
	}}
	h := newTestHandler(t, Config{}, newFake())
	mux := http.NewServeMux()
	h.Register(mux, h.Links(f, LinkOptions{Visits: 1000}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name, method, id string
		status           int
		text             string
	}{
		{"HEAD does not use the link", "HEAD", once, 200, ""},
		{"first visit", "GET", once, 303, ""},
		{"used up", "GET", once, 410, "Link no longer available"},
		{"HEAD of used up", "HEAD", once, 410, ""},
		{"unlimited", "GET", unlimited, 303, ""},
		{"unlimited again", "GET", unlimited, 303, ""},
		{"unknown", "GET", unknown, 404, "not found"},
		{"malformed id", "GET", "inv_" + once[4:], 404, "not found"},
		{"cannot be priced now", "GET", unpriced, 503, ""},
		{"internal", "GET", broken, 500, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+"/l/"+tt.id, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.text) {
			t.Fatalf("%s: %d %s", tt.name, resp.StatusCode, b)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("%s: security headers missing: %v", tt.name, resp.Header)
		}
		if tt.status == 303 {
			loc := resp.Header.Get("Location")
			if !strings.HasPrefix(loc, "/i/inv_") || seen[loc] || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: Location %q (seen %v)", tt.name, loc, seen)
			}
			seen[loc] = true
		}
		if tt.status >= 400 && tt.method == "GET" && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: error page is %s", tt.name, resp.Header.Get("Content-Type"))
		}
		if strings.Contains(string(b), "disk on fire") {
			t.Fatalf("%s: internal error leaked", tt.name)
		}
	}
	if f.visits != 3 {
		t.Fatalf("%d invoices created, want 3", f.visits)
	}
}

func TestLinkRateLimit(t *testing.T) {
	id := invoice.NewID(invoice.PrefixLink, time.Now())
	f := &fakeLinks{uses: map[string]int{id: -1}}
	h := newTestHandler(t, Config{}, newFake())
	now := time.Unix(1_800_000_000, 0)
	h.now = func() time.Time { return now }
	client := "203.0.113.7"
	lh := h.Links(f, LinkOptions{Visits: 3, Per: time.Minute, ClientIP: func(*http.Request) string { return client }})
	visit := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/l/"+id, nil)
		req.SetPathValue("id", id)
		rec := httptest.NewRecorder()
		lh.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		if rec := visit(); rec.Code != 303 {
			t.Fatalf("visit %d: %d", i, rec.Code)
		}
	}
	rec := visit()
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "20" || !strings.Contains(rec.Body.String(), "Too many requests") {
		t.Fatalf("over the limit: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	client = "203.0.113.8" // another client has its own bucket
	if rec := visit(); rec.Code != 303 {
		t.Fatalf("other client: %d", rec.Code)
	}
	client = "203.0.113.7"
	now = now.Add(20 * time.Second) // one token back
	if rec := visit(); rec.Code != 303 {
		t.Fatalf("after refill: %d", rec.Code)
	}
	if rec := visit(); rec.Code != 429 {
		t.Fatalf("refill gave more than one token: %d", rec.Code)
	}
	if f.visits != 5 {
		t.Fatalf("%d invoices, want 5", f.visits)
	}
}
