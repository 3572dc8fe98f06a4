package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payd/payd/invoice"
)

// TestPagesInEveryLanguage renders every page signed in, in each language.
func TestPagesInEveryLanguage(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	e.insert(testInvoice(invID, e.now, "A-1", "shirt", []byte(`{"n":12345678901234567890}`)))
	c, _ := e.signedIn()
	for _, lang := range languages {
		for _, p := range []string{"/", "/invoices", "/invoices/" + invID, "/new", "/new?kind=link", "/webhooks", "/apikeys", "/reports", "/audit", "/account", "/nope"} {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			r := e.do(c, "GET", "/dashboard"+p+sep+"lang="+lang, nil)
			want := http.StatusOK
			if p == "/nope" {
				want = http.StatusNotFound
			}
			if r.code != want || !strings.Contains(r.body, `<html lang="`+lang+`">`) || strings.Contains(r.body, "internal error") {
				t.Errorf("%s %s: %d\n%.400s", lang, p, r.code, r.body)
			}
		}
	}
	r := e.do(c, "GET", "/dashboard/invoices/"+invID, nil)
	if !strings.Contains(r.body, "12345678901234567890") {
		t.Error("metadata is not shown verbatim (a big number was reformatted)")
	}
	if !strings.Contains(r.body, `src="/i/`+invID+`/qr/bitcoin/btc.png"`) {
		t.Error("no QR code of the method")
	}
}

// TestFormsValidateLikeTheAPI: bad input gets the API's message and changes
// nothing.
func TestFormsValidateLikeTheAPI(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	e.insert(testInvoice(invID, e.now, "A-1", "", nil))
	c, tok := e.signedIn()
	for _, tc := range []struct {
		name, path string
		form       url.Values
		code       int
		want       string
	}{
		{"no amount", "/dashboard/new", url.Values{"kind": {"invoice"}, "currency": {"USD"}}, 400, "amount is required"},
		{"metadata not JSON", "/dashboard/new", url.Values{"amount": {"1"}, "currency": {"USD"}, "metadata": {"{"}}, 400, "metadata must be a JSON object"},
		{"expires not a number", "/dashboard/new", url.Values{"amount": {"1"}, "currency": {"USD"}, "expires_in": {"soon"}}, 400, "expires_in must be a whole number"},
		{"webhook no url", "/dashboard/webhooks", url.Values{}, 400, "url is required"},
		{"webhook bad url", "/dashboard/webhooks", url.Values{"url": {"ftp://x"}}, 400, "url must be an absolute http(s) URL"},
		{"webhook bad event", "/dashboard/webhooks", url.Values{"url": {"https://x.example"}, "event": {"invoice.nope"}}, 400, `unknown event type &#34;invoice.nope&#34;`},
		{"webhook star and more", "/dashboard/webhooks", url.Values{"url": {"https://x.example"}, "event": {"*", "invoice.settled"}}, 400, "send it alone"},
		{"key no name", "/dashboard/apikeys", url.Values{}, 400, "A name is required"},
		{"key bad scope", "/dashboard/apikeys", url.Values{"name": {"x"}, "scope": {"admin"}}, 400, "unknown scope"},
		{"mark no reason", "/dashboard/invoices/" + invID + "/mark", url.Values{"status": {"settled"}, "confirm": {"yes"}}, 400, "A reason is required"},
		{"mark not confirmed", "/dashboard/invoices/" + invID + "/mark", url.Values{"status": {"settled"}, "reason": {"paid in cash"}}, 400, "Tick the confirmation box"},
		{"mark bad status", "/dashboard/invoices/" + invID + "/mark", url.Values{"status": {"new"}, "reason": {"x"}, "confirm": {"yes"}}, 400, `status must be`},
		{"cancel not confirmed", "/dashboard/invoices/" + invID + "/cancel", url.Values{}, 400, "Tick the confirmation box"},
		{"redeliver foreign event", "/dashboard/invoices/" + invID + "/redeliver", url.Values{"event": {"evt_0000000000000000000000"}}, 400, "does not belong"},
		{"revoke unknown key", "/dashboard/apikeys/key_0000000000000000000000/revoke", url.Values{}, 404, "There is nothing at this address"},
	} {
		tc.form.Set("csrf", tok)
		r := e.do(c, "POST", tc.path, tc.form)
		if r.code != tc.code || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d, want %d with %q\n%.600s", tc.name, r.code, tc.code, tc.want, r.body)
		}
	}
	if got := e.inv.done(); len(got) != 0 {
		t.Errorf("actions ran on bad input: %v", got)
	}
	keys, _ := e.db.APIKeys(context.Background())
	if len(keys) != 0 {
		t.Errorf("a key was created from bad input: %v", keys)
	}
	if len(e.hooks.redelivered) != 0 {
		t.Errorf("redelivered %v", e.hooks.redelivered)
	}
	// A good mark is audited with its reason.
	r := e.do(c, "POST", "/dashboard/invoices/"+invID+"/mark", url.Values{"csrf": {tok}, "status": {"invalid"}, "reason": {"customer <b>refunded</b> in cash"}, "confirm": {"yes"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("mark: %d\n%s", r.code, r.body)
	}
	audit := e.do(c, "GET", "/dashboard/audit", nil)
	if !strings.Contains(audit.body, "invoice.mark_invalid") || !strings.Contains(audit.body, "customer &lt;b&gt;refunded&lt;/b&gt; in cash") {
		t.Errorf("audit log lacks the mark with its escaped reason:\n%s", audit.body)
	}
}

func TestWebhookRotateNeedsConfirm(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	c, tok := e.signedIn()
	if r := e.do(c, "POST", "/dashboard/webhooks/wh_00000000000000000000/rotate", url.Values{"csrf": {tok}}); r.code != 400 || strings.Contains(r.body, "whsec_rotated") {
		t.Errorf("rotate without confirm: %d", r.code)
	}
	r := e.do(c, "POST", "/dashboard/webhooks/wh_00000000000000000000/rotate", url.Values{"csrf": {tok}, "confirm": {"yes"}})
	if r.code != 200 || !strings.Contains(r.body, "whsec_rotated") || !strings.Contains(r.body, "New secret for") {
		t.Errorf("rotate: %d\n%s", r.code, r.body)
	}
}

func TestWebhookDisableEnableAudited(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	c, tok := e.signedIn()
	for _, tc := range []struct{ path, action, flash string }{
		{"disable", "webhook.disable", "endpoint_disabled"},
		{"enable", "webhook.enable", "endpoint_enabled"},
	} {
		r := e.do(c, "POST", "/dashboard/webhooks/wh_00000000000000000000/"+tc.path, url.Values{"csrf": {tok}})
		if r.code != http.StatusSeeOther || !strings.Contains(r.hdr.Get("Location"), "done="+tc.flash) {
			t.Errorf("%s: %d to %q", tc.path, r.code, r.hdr.Get("Location"))
		}
		if audit := e.do(c, "GET", "/dashboard/audit", nil); !strings.Contains(audit.body, tc.action) {
			t.Errorf("audit log lacks %s", tc.action)
		}
	}
	// Without the CSRF token nothing changes.
	if r := e.do(c, "POST", "/dashboard/webhooks/wh_00000000000000000000/disable", nil); r.code != http.StatusForbidden {
		t.Errorf("disable without csrf: %d", r.code)
	}
}

func TestCreateFormIdempotent(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	c, tok := e.signedIn()
	page := e.do(c, "GET", "/dashboard/new", nil)
	m := regexp.MustCompile(`name="form_id" value="([0-9a-f]{32})"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("the create form has no form_id:\n%s", page.body)
	}
	form := url.Values{"csrf": {tok}, "kind": {"invoice"}, "amount": {"12.50"}, "currency": {"USD"}, "method": {"bitcoin/btc"}, "form_id": {m[1]}}
	idRe := regexp.MustCompile(`/dashboard/invoices/(inv_[0-9a-z]+)`)
	var ids []string
	for i := range 2 { // a double click
		r := e.do(c, "POST", "/dashboard/new", form)
		id := idRe.FindStringSubmatch(r.body)
		if r.code != http.StatusCreated || id == nil {
			t.Fatalf("submit %d: %d\n%s", i, r.code, r.body)
		}
		ids = append(ids, id[1])
	}
	if ids[0] != ids[1] {
		t.Errorf("the same form created two invoices: %v", ids)
	}
	creates := 0
	for _, a := range e.inv.done() {
		if strings.HasPrefix(a, "create ") {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("%d creations for one form, want 1", creates)
	}
	// The same form id with other values is refused and creates nothing.
	form.Set("amount", "99")
	if r := e.do(c, "POST", "/dashboard/new", form); r.code != http.StatusBadRequest || !strings.Contains(r.body, "already sent with other values") {
		t.Errorf("reused form with other values: %d\n%s", r.code, r.body)
	}
	// A fresh form id creates a new invoice.
	form.Set("form_id", strings.Repeat("ab", 16))
	if r := e.do(c, "POST", "/dashboard/new", form); r.code != http.StatusCreated {
		t.Errorf("fresh form: %d\n%s", r.code, r.body)
	}
}

// The database away (PostgreSQL restarting, the network cut): the console
// answers 503 with Retry-After and a page saying so, not 500 "see the log";
// a fault of payd's stays a 500. Neither page shows the error.
func TestDatabaseOutageIs503(t *testing.T) {
	e := newTestEnv(t, "", "admin")
	c, _ := e.signedIn()
	id := invoice.NewID(invoice.PrefixInvoice, e.now)
	for _, tt := range []struct {
		name  string
		err   error
		want  int
		text  string
		retry string
	}{
		{"refused", fmt.Errorf("store: begin: dial 10.9.9.9: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 503, "cannot reach its database", "5"},
		{"conn closed", fmt.Errorf("store: commit 10.9.9.9: %w", pgconn.ErrConnClosed), 503, "cannot reach its database", "5"},
		{"a fault of payd's", errors.New("store: scan 10.9.9.9: invalid amount"), 500, "could not complete this request", ""},
	} {
		e.inv.mu.Lock()
		e.inv.getErr = tt.err
		e.inv.mu.Unlock()
		r := e.do(c, "GET", "/dashboard/invoices/"+id, nil)
		if r.code != tt.want || r.hdr.Get("Retry-After") != tt.retry || !strings.Contains(r.body, tt.text) {
			t.Errorf("%s: %d, Retry-After %q, want %d %q with %q:\n%s", tt.name, r.code, r.hdr.Get("Retry-After"), tt.want, tt.retry, tt.text, r.body)
		}
		if strings.Contains(r.body, "10.9.9.9") || strings.Contains(r.body, "store:") {
			t.Errorf("%s: the page shows the error", tt.name)
		}
	}
}
