package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

const invID = "inv_0123456789abcdefghij"

// TestNoPageWithoutSession: every page and action needs a session; GETs go
// to the sign-in page, POSTs are refused with a page, and nothing happens.
func TestNoPageWithoutSession(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	e.insert(testInvoice(invID, e.now, "A-1", "", nil))
	c := e.client()
	for _, p := range []string{"/dashboard/", "/dashboard/invoices", "/dashboard/invoices.csv", "/dashboard/invoices/" + invID,
		"/dashboard/new", "/dashboard/webhooks", "/dashboard/apikeys", "/dashboard/reports", "/dashboard/reports/payments.csv",
		"/dashboard/audit", "/dashboard/account", "/dashboard/refunds/rf_00000000000000000000/psbt"} {
		r := e.do(c, "GET", p, nil)
		if loc := r.hdr.Get("Location"); r.code != http.StatusSeeOther || !strings.HasPrefix(loc, "/dashboard/login") {
			t.Errorf("GET %s without a session: %d Location %q, want 303 to the sign-in page", p, r.code, loc)
		}
	}
	form := url.Values{"csrf": {"x"}, "confirm": {"yes"}, "status": {"settled"}, "reason": {"r"}, "name": {"k"}, "url": {"https://x.example"}}
	for _, p := range []string{"/dashboard/invoices/" + invID + "/cancel", "/dashboard/invoices/" + invID + "/mark",
		"/dashboard/invoices/" + invID + "/redeliver", "/dashboard/new", "/dashboard/webhooks", "/dashboard/webhooks/wh_00000000000000000000/delete",
		"/dashboard/apikeys", "/dashboard/apikeys/key_00000000000000000000/revoke", "/dashboard/logout", "/dashboard/logout-all",
		"/dashboard/account/totp", "/dashboard/invoices/" + invID + "/refunds", "/dashboard/refunds/rf_00000000000000000000/broadcast",
		"/dashboard/refunds/rf_00000000000000000000/cancel"} {
		r := e.do(c, "POST", p, form)
		if r.code != http.StatusUnauthorized || !strings.Contains(r.body, "You are not signed in") {
			t.Errorf("POST %s without a session: %d, want 401 with a clear page\n%s", p, r.code, r.body)
		}
		if strings.Contains(r.body, "goroutine") || strings.Contains(r.body, ".go:") {
			t.Errorf("POST %s leaks internals:\n%s", p, r.body)
		}
	}
	if got := e.inv.done(); len(got) != 0 {
		t.Errorf("actions ran without a session: %v", got)
	}
	keys, _ := e.db.APIKeys(context.Background())
	if len(keys) != 0 {
		t.Errorf("an API key was created without a session")
	}
}

// TestCSRF: a POST without the session's token, with a wrong one or from
// another origin is refused and changes nothing; with it, it works.
func TestCSRF(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	e.insert(testInvoice(invID, e.now, "A-1", "", nil))
	c, tok := e.signedIn()
	path := "/dashboard/invoices/" + invID + "/cancel"
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"missing", url.Values{"confirm": {"yes"}}, nil},
		{"empty", url.Values{"confirm": {"yes"}, "csrf": {""}}, nil},
		{"wrong", url.Values{"confirm": {"yes"}, "csrf": {tok[:len(tok)-2] + "xx"}}, nil},
		{"other session's", url.Values{"confirm": {"yes"}, "csrf": {randomToken()}}, nil},
		{"foreign origin", url.Values{"confirm": {"yes"}, "csrf": {tok}}, []string{"Origin", "https://evil.example"}},
		{"opaque origin", url.Values{"confirm": {"yes"}, "csrf": {tok}}, []string{"Origin", "null"}},
	} {
		r := e.do(c, "POST", path, tc.form, tc.hdr...)
		if r.code != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
			t.Errorf("%s token: %d, want 403 with the stale-form page\n%s", tc.name, r.code, r.body)
		}
	}
	if got := e.inv.done(); len(got) != 0 {
		t.Fatalf("a refused POST ran: %v", got)
	}
	// The public URL's origin is payd's own (behind a proxy that rewrites Host).
	r := e.do(c, "POST", path, url.Values{"confirm": {"yes"}, "csrf": {tok}}, "Origin", "http://127.0.0.1")
	if r.code != http.StatusSeeOther {
		t.Fatalf("with the right token: %d\n%s", r.code, r.body)
	}
	if got := e.inv.done(); len(got) != 1 || got[0] != "cancel "+invID {
		t.Errorf("actions %v, want the cancel", got)
	}
	// The sign-in form has its own token (double submit).
	r = e.do(e.client(), "POST", "/dashboard/login", url.Values{"name": {testAdmin}, "password": {testPassword}})
	if r.code != http.StatusForbidden || sessionCookieOf(e.client(), e.srv.URL) != "" {
		t.Errorf("sign-in without its token: %d, want 403", r.code)
	}
}

// TestSessionFixation: the session id is new at every sign-in; a cookie
// planted before sign-in is not adopted.
func TestSessionFixation(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	c := e.client()
	u, _ := url.Parse(e.srv.URL + "/dashboard/")
	planted := randomToken()
	c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: planted, Path: "/dashboard/"}})
	if r := e.login(c, testPassword); r.code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.code)
	}
	first := sessionCookieOf(c, e.srv.URL)
	if first == "" || first == planted {
		t.Fatalf("session cookie after sign-in %q, planted %q: want a fresh id", first, planted)
	}
	if r := e.login(c, testPassword); r.code != http.StatusSeeOther {
		t.Fatalf("second sign in: %d", r.code)
	}
	second := sessionCookieOf(c, e.srv.URL)
	if second == first {
		t.Fatal("the session id did not change at the second sign-in")
	}
	if _, err := e.db.AdminSession(context.Background(), hashToken(first)); err == nil {
		t.Error("the session replaced by a new sign-in is still valid")
	}
	// The database holds only the hash of the id.
	var n int
	_ = e.db.Reader().QueryRow(`SELECT count(*) FROM admin_sessions WHERE id_hash = ?`, second).Scan(&n)
	if n != 0 {
		t.Error("the raw session id is stored in the database")
	}
}

// TestLockout: ten wrong passwords lock the account, even for the right
// password, until the lockout ends; failures are counted for /metrics.
func TestLockout(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	for i := 1; i <= LockoutAfter; i++ {
		r := e.login(e.client(), "wrong password "+string(rune('a'+i)))
		want := http.StatusUnauthorized
		if i == LockoutAfter {
			want = http.StatusTooManyRequests
		}
		if r.code != want {
			t.Fatalf("wrong password %d: %d, want %d\n%s", i, r.code, want, r.body)
		}
	}
	c := e.client()
	r := e.login(c, testPassword)
	if r.code != http.StatusTooManyRequests || !strings.Contains(r.body, "locked") || sessionCookieOf(c, e.srv.URL) != "" {
		t.Fatalf("right password while locked: %d, want 429 locked and no session\n%s", r.code, r.body)
	}
	if n := len(e.failures); n != LockoutAfter+1 {
		t.Errorf("%d login failures counted, want %d: %v", n, LockoutAfter+1, e.failures)
	}
	e.advance(LockoutFor + time.Second)
	if r := e.login(c, testPassword); r.code != http.StatusSeeOther {
		t.Fatalf("after the lockout: %d\n%s", r.code, r.body)
	}
	a, _ := e.db.AdminByName(context.Background(), testAdmin)
	if a.FailedLogins != 0 {
		t.Errorf("failed logins %d after a good one, want 0", a.FailedLogins)
	}
}

// TestLockoutSameForUnknownNames: a name that is no user is answered like a
// real one, lockout included, so sign-in does not reveal which names exist.
func TestLockoutSameForUnknownNames(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	e.h.limiter = newIPLimiter(1000, time.Minute)
	try := func(name string) resp {
		c := e.client()
		page := e.do(c, "GET", "/dashboard/login", nil)
		return e.do(c, "POST", "/dashboard/login", url.Values{"csrf": {csrfOf(t, page.body)}, "name": {name}, "password": {"wrong password"}})
	}
	strip := func(s string) string { return regexp.MustCompile(`value="[^"]*"`).ReplaceAllString(s, "") }
	for i := 1; i <= LockoutAfter+1; i++ {
		real, ghost := try(testAdmin), try("mallory")
		if real.code != ghost.code || strip(real.body) != strip(strings.ReplaceAll(ghost.body, "mallory", testAdmin)) {
			t.Fatalf("attempt %d: a user gets %d, an unknown name %d, or the pages differ", i, real.code, ghost.code)
		}
	}
}

// TestLoginRateLimit: one client address gets a bounded number of tries.
func TestLoginRateLimit(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	e.h.limiter = newIPLimiter(3, time.Minute)
	codes := []int{}
	for range 4 {
		c := e.client()
		page := e.do(c, "GET", "/dashboard/login", nil)
		r := e.do(c, "POST", "/dashboard/login", url.Values{"csrf": {csrfOf(t, page.body)}, "name": {"nobody"}, "password": {"x"}})
		codes = append(codes, r.code)
	}
	if codes[2] != http.StatusUnauthorized || codes[3] != http.StatusTooManyRequests {
		t.Errorf("codes %v, want 401 ×3 then 429", codes)
	}
}

// TestSessionExpiry: idle and absolute expiry both end a session with a
// clear page.
func TestSessionExpiry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []time.Duration
	}{
		{"idle", []time.Duration{31 * time.Minute}},
		{"absolute", []time.Duration{25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, "http://127.0.0.1", "admin")
			c, tok := e.signedIn()
			var last resp
			for _, d := range tc.steps {
				e.advance(d)
				last = e.do(c, "GET", "/dashboard/invoices", nil)
				if last.code != 200 {
					break
				}
			}
			if last.code != http.StatusSeeOther || !strings.Contains(last.hdr.Get("Location"), "m=expired") {
				t.Fatalf("after %s: %d %q, want 303 to sign-in with m=expired", tc.name, last.code, last.hdr.Get("Location"))
			}
			r := e.do(c, "POST", "/dashboard/logout-all", url.Values{"csrf": {tok}})
			if r.code != http.StatusUnauthorized {
				t.Errorf("POST with an expired session: %d, want 401", r.code)
			}
		})
	}
}

// TestViewerMayNotWrite: a viewer sees pages, and a write is a clear 403.
func TestViewerMayNotWrite(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "viewer")
	e.insert(testInvoice(invID, e.now, "A-1", "", nil))
	c, tok := e.signedIn()
	if r := e.do(c, "GET", "/dashboard/invoices/"+invID, nil); r.code != 200 || strings.Contains(r.body, `id="mark-form"`) {
		t.Errorf("viewer detail page: %d, mark form shown: %v", r.code, strings.Contains(r.body, `id="mark-form"`))
	}
	r := e.do(c, "POST", "/dashboard/invoices/"+invID+"/mark", url.Values{"csrf": {tok}, "status": {"settled"}, "reason": {"x"}, "confirm": {"yes"}})
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "Not allowed") {
		t.Errorf("viewer mark: %d, want 403 Not allowed\n%s", r.code, r.body)
	}
	for _, p := range []string{"/dashboard/invoices/" + invID + "/refunds", "/dashboard/refunds/rf_00000000000000000000/broadcast",
		"/dashboard/refunds/rf_00000000000000000000/cancel"} {
		r := e.do(c, "POST", p, url.Values{"csrf": {tok}, "amount": {"0.001"}, "signed": {"00"}, "confirm": {"yes"}})
		if r.code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", p, r.code)
		}
	}
	if got := e.inv.done(); len(got) != 0 {
		t.Errorf("viewer action ran: %v", got)
	}
}

// TestCookieFlags: HttpOnly and SameSite=Strict always, Secure behind TLS
// (an https public URL), scoped to the console's path.
func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		base   string
		secure bool
	}{{"http://127.0.0.1", false}, {"https://pay.example", true}} {
		e := newTestEnv(t, tc.base, "admin")
		c := e.client()
		page := e.do(c, "GET", "/dashboard/login", nil)
		tok := csrfOf(t, page.body)
		// The jar drops Secure cookies over http: send the login cookie by hand.
		req, _ := http.NewRequest("POST", e.srv.URL+"/dashboard/login", strings.NewReader(url.Values{"csrf": {tok}, "name": {testAdmin}, "password": {testPassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: loginCookie, Value: tok})
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var sess *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == sessionCookie {
				sess = ck
			}
		}
		if sess == nil {
			t.Fatalf("%s: no session cookie (status %d)", tc.base, res.StatusCode)
		}
		if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure != tc.secure || sess.Path != "/dashboard/" {
			t.Errorf("%s: session cookie %+v, want HttpOnly, SameSite=Strict, Secure=%v, Path=/dashboard/", tc.base, sess, tc.secure)
		}
		if sess.MaxAge <= 0 || time.Duration(sess.MaxAge)*time.Second > 12*time.Hour {
			t.Errorf("%s: Max-Age %d, want the absolute expiry", tc.base, sess.MaxAge)
		}
	}
}

// TestXSSEscaped: merchant- and shopper-supplied text and webhook
// responses are shown escaped everywhere.
func TestXSSEscaped(t *testing.T) {
	const (
		orderXSS = `<script>alert("order")</script>`
		descXSS  = `"><img src=x onerror=alert(1)>`
		metaXSS  = `{"x":"</pre><script>alert('meta')</script>"}`
		respXSS  = `status 500: <script>alert('hook')</script>`
	)
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	inv := testInvoice(invID, e.now, orderXSS, descXSS, []byte(metaXSS))
	e.insert(inv)
	ctx := context.Background()
	ev, err := invoice.NewEvent(invoice.EventCreated, inv, e.now, invoice.ViewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.InsertEvents(ctx, []invoice.Event{ev}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Writer().Exec(`INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, status_code, error, duration_ms, at) VALUES ('wh_x', ?, 1, 500, ?, 12, ?)`,
		ev.ID, respXSS, e.now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	c, _ := e.signedIn()
	for _, p := range []string{"/dashboard/invoices/" + invID, "/dashboard/invoices", "/dashboard/invoices?q=" + url.QueryEscape(orderXSS)} {
		r := e.do(c, "GET", p, nil)
		if r.code != 200 {
			t.Fatalf("GET %s: %d\n%s", p, r.code, r.body)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "</pre><script>"} {
			if strings.Contains(r.body, raw) {
				t.Errorf("GET %s shows %q unescaped", p, raw)
			}
		}
		if !strings.Contains(r.body, "&lt;script&gt;alert(&#34;order&#34;)&lt;/script&gt;") {
			t.Errorf("GET %s does not show the order id escaped", p)
		}
	}
	r := e.do(c, "GET", "/dashboard/invoices/"+invID, nil)
	for _, want := range []string{"&lt;script&gt;alert(&#39;hook&#39;)", "&lt;/pre&gt;&lt;script&gt;alert(&#39;meta&#39;)", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("detail page lacks escaped %q", want)
		}
	}
	if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	// A test event's answer is shown escaped too.
	c2, tok2 := e.signedIn()
	tr := e.do(c2, "POST", "/dashboard/webhooks/wh_00000000000000000000/test", url.Values{"csrf": {tok2}})
	if tr.code != 200 || strings.Contains(tr.body, "<script>alert") || !strings.Contains(tr.body, "&lt;script&gt;alert(&#39;test&#39;)") {
		t.Errorf("test event result: %d\n%s", tr.code, tr.body)
	}
	// The CSV export defuses formulas and keeps the text.
	csv := e.do(c, "GET", "/dashboard/invoices.csv", nil)
	if csv.code != 200 || !strings.Contains(csv.body, invID) {
		t.Errorf("CSV: %d\n%s", csv.code, csv.body)
	}
}

// TestTOTPSignIn: once two-factor is on, the password alone no longer signs in.
func TestTOTPSignIn(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	c, tok := e.signedIn()
	acct := e.do(c, "GET", "/dashboard/account", nil)
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(acct.body)
	if m == nil {
		t.Fatalf("no secret on the account page:\n%s", acct.body)
	}
	secret := m[1]
	if r := e.do(c, "POST", "/dashboard/account/totp", url.Values{"csrf": {tok}, "action": {"enable"}, "secret": {secret}, "code": {"000000"}}); r.code != http.StatusBadRequest {
		t.Fatalf("enable with a wrong code: %d", r.code)
	}
	if r := e.do(c, "POST", "/dashboard/account/totp", url.Values{"csrf": {tok}, "action": {"enable"}, "secret": {secret}, "code": {TOTPCode(secret, e.now)}}); r.code != http.StatusSeeOther {
		t.Fatalf("enable: %d\n%s", r.code, r.body)
	}
	signIn := func(code string) resp {
		c := e.client()
		page := e.do(c, "GET", "/dashboard/login", nil)
		return e.do(c, "POST", "/dashboard/login", url.Values{"csrf": {csrfOf(t, page.body)}, "name": {testAdmin}, "password": {testPassword}, "code": {code}})
	}
	if r := signIn(""); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "authenticator code") {
		t.Errorf("password without code: %d\n%s", r.code, r.body)
	}
	if r := signIn(TOTPCode(secret, e.now.Add(-5*time.Minute))); r.code != http.StatusUnauthorized {
		t.Errorf("an old code: %d", r.code)
	}
	if r := signIn(TOTPCode(secret, e.now)); r.code != http.StatusSeeOther {
		t.Errorf("password and code: %d\n%s", r.code, r.body)
	}
	if got := e.failures; len(got) != 2 || got[0] != "totp" {
		t.Errorf("failures %v, want two totp", got)
	}
}

// TestSignOut: sign-out ends the session on the server (the old cookie is
// worthless), and sign-out everywhere ends the other browsers' sessions too.
func TestSignOut(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1", "admin")
	a, tokA := e.signedIn()
	b, _ := e.signedIn()
	old := sessionCookieOf(a, e.srv.URL)
	if r := e.do(a, "POST", "/dashboard/logout", url.Values{"csrf": {tokA}}); r.code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.code)
	}
	replay := e.client()
	u, _ := url.Parse(e.srv.URL + "/dashboard/")
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: old, Path: "/dashboard/"}})
	if r := e.do(replay, "GET", "/dashboard/invoices", nil); r.code != http.StatusSeeOther {
		t.Errorf("the signed-out cookie still works: %d", r.code)
	}
	if r := e.do(b, "GET", "/dashboard/invoices", nil); r.code != 200 {
		t.Fatalf("the other browser was signed out by a plain sign-out: %d", r.code)
	}
	c, tokC := e.signedIn()
	if r := e.do(c, "POST", "/dashboard/logout-all", url.Values{"csrf": {tokC}}); r.code != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", r.code)
	}
	for name, cl := range map[string]*http.Client{"b": b, "c": c} {
		if r := e.do(cl, "GET", "/dashboard/invoices", nil); r.code != http.StatusSeeOther {
			t.Errorf("browser %s still signed in after sign out everywhere: %d", name, r.code)
		}
	}
}
