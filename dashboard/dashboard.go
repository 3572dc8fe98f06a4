package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// Config places and tunes the console. cmd/payd fills it from the config's
// dashboard section and server.public_url.
type Config struct {
	// Path is where the console is mounted ("/dashboard"), without a
	// trailing slash.
	Path string
	// BaseURL is the public base URL (server.public_url), for checkout and
	// payment links; an https URL also marks session cookies Secure.
	BaseURL string
	// Methods are the enabled payment methods ("bitcoin/btc"), for the
	// create form and the filters.
	Methods []string
	// Explorers maps a chain name to a transaction URL template containing
	// "{txid}" (dashboard.explorers).
	Explorers map[string]string
	// SessionIdle ends a session after this long without a request (default 30m);
	// SessionMax ends it this long after sign-in whatever happens (default 12h).
	SessionIdle, SessionMax time.Duration
	// Language is the fallback language (en, ru, id); "" = en.
	Language string
	// TrustProxy takes the client IP from X-Forwarded-For and the scheme
	// from X-Forwarded-Proto (server.trust_proxy).
	TrustProxy bool
	// StoreName is shown in the header.
	StoreName string
}

// Invoices is what the console asks of the invoice service (*service.Service).
type Invoices interface {
	Create(ctx context.Context, req service.CreateRequest) (*invoice.Invoice, error)
	Get(ctx context.Context, id string) (*invoice.Invoice, error)
	Cancel(ctx context.Context, id string) (*invoice.Invoice, error)
	Mark(ctx context.Context, id string, status invoice.Status) (*invoice.Invoice, error)
	CreateLink(ctx context.Context, req service.LinkRequest) (store.Link, error)
}

// Store is what the console reads and writes directly (*store.DB).
type Store interface {
	SearchInvoices(ctx context.Context, f store.InvoiceSearch) ([]*invoice.Invoice, bool, error)
	CountInvoices(ctx context.Context, from, to time.Time) (store.InvoiceCounts, error)
	ReceivedByMethod(ctx context.Context, from, to time.Time) ([]store.Received, error)
	InvoicesPerDay(ctx context.Context, from, to time.Time) ([]store.DayCount, error)
	FailingWebhookEndpoints(ctx context.Context) ([]store.FailingEndpoint, error)
	InvoiceWebhookAttempts(ctx context.Context, invoiceID string) ([]store.InvoiceAttempt, error)
	InvoiceEvents(ctx context.Context, invoiceID string) ([]invoice.Event, error)
	PaymentsReport(ctx context.Context, from, to time.Time, fn func(store.PaymentReportRow) error) error
	IdempotencyRecord(ctx context.Context, owner, key string, notBefore time.Time) (store.IdempotencyRecord, error)

	APIKeys(ctx context.Context) ([]apikey.Key, error)
	CreateAPIKey(ctx context.Context, k apikey.Key) error
	RevokeAPIKey(ctx context.Context, id string, now time.Time) error

	AdminByName(ctx context.Context, name string) (store.Admin, error)
	Admin(ctx context.Context, id string) (store.Admin, error)
	RecordLoginFailure(ctx context.Context, adminID string, limit int, lockUntil time.Time) (int, error)
	ResetLoginFailures(ctx context.Context, adminID string) error
	SetAdminTOTP(ctx context.Context, adminID, secret string) error
	CreateAdminSession(ctx context.Context, s store.AdminSession) error
	AdminSession(ctx context.Context, idHash string) (store.AdminSession, error)
	TouchAdminSession(ctx context.Context, idHash string, now time.Time) error
	DeleteAdminSession(ctx context.Context, idHash string) error
	DeleteAdminSessions(ctx context.Context, adminID string) error
	AddAudit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, before int64, limit int) ([]store.AuditEntry, error)
}

// Webhooks is the webhook manager (*webhook.Manager).
type Webhooks interface {
	CreateEndpoint(ctx context.Context, url string, events []string) (webhook.Endpoint, error)
	Endpoints(ctx context.Context) ([]webhook.Endpoint, error)
	DeleteEndpoint(ctx context.Context, id string) error
	Attempts(ctx context.Context, endpointID string, limit int) ([]webhook.Attempt, error)
	Redeliver(ctx context.Context, eventID string) error
	SendTest(ctx context.Context, endpointID string) (webhook.Attempt, error)
	RotateSecret(ctx context.Context, id string) (webhook.Endpoint, error)
	SetDisabled(ctx context.Context, id string, disabled bool) (webhook.Endpoint, error)
}

// ChainHealth is one chain's node and sync state for the overview.
type ChainHealth struct {
	Chain     string
	Ready     bool
	Reason    string // why not ready
	TipHeight uint64
	Processed uint64
}

// Lag is how many blocks payd trails the node.
func (c ChainHealth) Lag() uint64 {
	if c.TipHeight > c.Processed {
		return c.TipHeight - c.Processed
	}
	return 0
}

// Deps are the console's collaborators.
type Deps struct {
	Invoices Invoices
	Store    Store
	Webhooks Webhooks
	// Refunds, when set, puts refunds on the invoice page.
	Refunds Refunds
	// Health reports every chain's node state (nil = none shown).
	Health func(ctx context.Context) []ChainHealth
	// OnLoginFailure is called for every refused sign-in with the reason
	// ("password", "totp", "locked", "rate_limited", "csrf"); OnAction for
	// every write action ("invoice.cancel", …). Metrics.
	OnLoginFailure func(reason string)
	OnAction       func(action string)
	Now            func() time.Time
	Log            *slog.Logger
}

// Lockout: an admin is locked for LockoutFor after LockoutAfter wrong
// passwords in a row.
const (
	LockoutAfter = 10
	LockoutFor   = 15 * time.Minute
)

// Handler serves the console. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	d       Deps
	log     *slog.Logger
	pages   map[string]*template.Template
	static  *assets
	mux     *http.ServeMux
	limiter *ipLimiter
	ghosts  ghostLocks
	explore map[string]string
	// createMu serialises the console's form submissions around their
	// idempotency check (a merchant creates a few invoices a minute).
	createMu sync.Mutex
}

// New parses the embedded templates (failing if a page is missing) and
// checks cfg.
func New(cfg Config, d Deps) (*Handler, error) {
	if d.Invoices == nil || d.Store == nil || d.Webhooks == nil {
		return nil, errors.New("dashboard: Invoices, Store and Webhooks are required")
	}
	cfg.Path = "/" + strings.Trim(cfg.Path, "/")
	if cfg.Path == "/" {
		return nil, errors.New("dashboard: path must not be /; use e.g. /dashboard")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	if _, ok := catalog[cfg.Language]; !ok {
		return nil, fmt.Errorf("dashboard: language %q is not one of %s", cfg.Language, strings.Join(languages, ", "))
	}
	for ch, tmpl := range cfg.Explorers {
		if err := checkExplorer(tmpl); err != nil {
			return nil, fmt.Errorf("dashboard: explorer of %s: %w", ch, err)
		}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.OnLoginFailure == nil {
		d.OnLoginFailure = func(string) {}
	}
	if d.OnAction == nil {
		d.OnAction = func(string) {}
	}
	h := &Handler{cfg: cfg, d: d, log: d.Log.With("subsystem", "dashboard"), limiter: newIPLimiter(20, 10*time.Minute)}
	var err error
	if h.static, err = loadAssets(); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if h.pages, err = parsePages(h.funcs()); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	h.routes()
	return h, nil
}

// checkExplorer accepts an absolute http(s) URL template containing {txid}.
func checkExplorer(tmpl string) error {
	if !strings.Contains(tmpl, "{txid}") {
		return fmt.Errorf("%q has no {txid}", tmpl)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{txid}", "x"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", tmpl)
	}
	return nil
}

// Register mounts the console on mux under its path.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(h.cfg.Path+"/", http.StripPrefix(h.cfg.Path, h))
	mux.Handle("GET "+h.cfg.Path, http.RedirectHandler(h.cfg.Path+"/", http.StatusMovedPermanently))
}

// ServeHTTP serves a request whose path has the mount path stripped.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.setHeaders(w)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("console handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
			h.renderError(w, r, http.StatusInternalServerError, "err_internal")
		}
	}()
	h.mux.ServeHTTP(w, r)
}

const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (h *Handler) setHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

// perm is what a route needs.
type perm int

const (
	public perm = iota // no session (sign-in page, static files)
	viewer             // any signed-in admin
	writer             // an admin with role "admin"; POST with a valid CSRF token
)

// maxForm bounds a posted form (the largest is the create form with 8 KiB
// of metadata and 1000 characters of description).
const maxForm = 64 << 10

// handlerFunc is a console handler: it returns an error that serve turns
// into a page.
type handlerFunc func(w http.ResponseWriter, r *http.Request, rq *request) error

func (h *Handler) routes() {
	m := http.NewServeMux()
	h.mux = m
	handle := func(pattern string, p perm, fn handlerFunc) { m.Handle(pattern, h.serve(p, fn)) }
	m.HandleFunc("GET /static/{hash}/{file}", h.serveStatic)
	handle("GET /login", public, h.loginPage)
	handle("POST /login", public, h.loginSubmit)
	handle("POST /logout", viewer, h.logout)
	handle("POST /logout-all", viewer, h.logoutAll)
	handle("GET /account", viewer, h.accountPage)
	handle("POST /account/totp", viewer, h.accountTOTP)
	handle("GET /{$}", viewer, h.overview)
	handle("GET /invoices", viewer, h.invoiceList)
	handle("GET /invoices.csv", viewer, h.invoiceCSV)
	handle("GET /invoices/{id}", viewer, h.invoiceDetail)
	handle("POST /invoices/{id}/cancel", writer, h.invoiceCancel)
	handle("POST /invoices/{id}/mark", writer, h.invoiceMark)
	handle("POST /invoices/{id}/redeliver", writer, h.invoiceRedeliver)
	handle("POST /invoices/{id}/refunds", writer, h.refundCreate)
	handle("GET /refunds/{id}/psbt", viewer, h.refundPSBT)
	handle("POST /refunds/{id}/broadcast", writer, h.refundBroadcast)
	handle("POST /refunds/{id}/cancel", writer, h.refundCancel)
	handle("GET /new", viewer, h.createPage)
	handle("POST /new", writer, h.createSubmit)
	handle("GET /webhooks", viewer, h.webhooksPage)
	handle("POST /webhooks", writer, h.webhookCreate)
	handle("POST /webhooks/{id}/delete", writer, h.webhookDelete)
	handle("POST /webhooks/{id}/test", writer, h.webhookTest)
	handle("POST /webhooks/{id}/rotate", writer, h.webhookRotate)
	handle("POST /webhooks/{id}/disable", writer, h.webhookDisable(true))
	handle("POST /webhooks/{id}/enable", writer, h.webhookDisable(false))
	handle("GET /apikeys", viewer, h.apiKeysPage)
	handle("POST /apikeys", writer, h.apiKeyCreate)
	handle("POST /apikeys/{id}/revoke", writer, h.apiKeyRevoke)
	handle("GET /reports", viewer, h.reportsPage)
	handle("GET /reports/payments.csv", viewer, h.reportsCSV)
	handle("GET /audit", viewer, h.auditPage)
	m.Handle("/", h.serve(public, func(w http.ResponseWriter, r *http.Request, rq *request) error {
		if h.authenticate(w, r, rq) != nil { // signed in: the page keeps its navigation
			rq.sess = nil
		}
		return pageErr(http.StatusNotFound, "err_not_found")
	}))
}

// pageError is an error shown as a page with a translated message.
type pageError struct {
	Status int
	Key    string // catalog key of the message
}

func (e *pageError) Error() string { return e.Key }

func pageErr(status int, key string) error { return &pageError{Status: status, Key: key} }

// serve wraps a handler with the session check, the permission check and
// CSRF verification, and maps its error to a page.
func (h *Handler) serve(p perm, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := &request{loc: h.locale(r), now: h.d.Now().UTC()}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, rq, pageErr(http.StatusRequestEntityTooLarge, "err_too_large"))
				return
			}
		}
		if p != public {
			if err := h.authenticate(w, r, rq); err != nil {
				h.fail(w, r, rq, err)
				return
			}
			if r.Method == http.MethodPost {
				if err := h.checkCSRF(r, rq.sess.CSRF); err != nil {
					h.fail(w, r, rq, err)
					return
				}
			}
			if p == writer && rq.admin.Role != "admin" {
				h.fail(w, r, rq, pageErr(http.StatusForbidden, "err_forbidden"))
				return
			}
		}
		if err := fn(w, r, rq); err != nil {
			h.fail(w, r, rq, err)
		}
	})
}

// redirectLogin sends a GET to the sign-in page (reason "expired" says why)
// and answers a POST with a page: no session, or an expired one.
type redirectLogin struct{ reason string }

func (e *redirectLogin) Error() string { return "sign in: " + e.reason }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	var rl *redirectLogin
	if errors.As(err, &rl) {
		if r.Method == http.MethodGet {
			q := url.Values{}
			if rl.reason != "" {
				q.Set("m", rl.reason)
			}
			if r.URL.Path != "/" {
				q.Set("next", r.URL.RequestURI())
			}
			to := h.cfg.Path + "/login"
			if len(q) > 0 {
				to += "?" + q.Encode()
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		key := "err_signed_out"
		if rl.reason == "expired" {
			key = "err_session_expired"
		}
		h.renderErrorLoc(w, r, rq, http.StatusUnauthorized, key)
		return
	}
	var pe *pageError
	if errors.As(err, &pe) {
		h.renderErrorLoc(w, r, rq, pe.Status, pe.Key)
		return
	}
	if isNotFound(err) {
		h.renderErrorLoc(w, r, rq, http.StatusNotFound, "err_not_found")
		return
	}
	if store.Unavailable(err) {
		// An outage of the database, not a fault of payd's: it ends by itself.
		h.log.Warn("console request failed: database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		h.renderErrorLoc(w, r, rq, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	h.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.renderErrorLoc(w, r, rq, http.StatusInternalServerError, "err_internal")
}

func isNotFound(err error) bool {
	return errors.Is(err, service.ErrNotFound) || errors.Is(err, store.ErrNotFound) || errors.Is(err, webhook.ErrNotFound)
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, key string) {
	h.renderErrorLoc(w, r, &request{loc: h.locale(r), now: h.d.Now().UTC()}, status, key)
}

func (h *Handler) renderErrorLoc(w http.ResponseWriter, r *http.Request, rq *request, status int, key string) {
	title := "err_title"
	switch status {
	case http.StatusNotFound:
		title = "err_not_found_title"
	case http.StatusForbidden:
		title = "err_forbidden_title"
	case http.StatusUnauthorized:
		title = "err_signed_out_title"
	case http.StatusTooManyRequests:
		title = "err_rate_limited_title"
	case http.StatusServiceUnavailable:
		title = "err_unavailable_title"
	}
	h.render(w, r, rq, "error", status, map[string]any{"Status": status, "TitleKey": title, "Key": key})
}

// page is what every template gets.
type page struct {
	Base      string // mount path
	Static    func(string) string
	Lang      string
	Languages []string
	Title     string
	Nav       string
	Admin     *store.Admin
	CSRF      string
	StoreName string
	Flash     string
	Data      any
	loc       *locale
}

// T translates.
func (p *page) T(key string, args ...any) string { return p.loc.T(key, args...) }

func (h *Handler) render(w http.ResponseWriter, r *http.Request, rq *request, name string, status int, data any) {
	p := &page{Base: h.cfg.Path, Static: h.static.url(h.cfg.Path), Lang: rq.loc.Lang, Languages: languages,
		StoreName: h.cfg.StoreName, Data: data, loc: rq.loc, Nav: name}
	if p.StoreName == "" {
		p.StoreName = "payd"
	}
	if rq.sess != nil {
		p.CSRF = rq.sess.CSRF
		p.Admin = &rq.admin
	}
	if rq.loginCSRF != "" {
		p.CSRF = rq.loginCSRF
	}
	if f := r.URL.Query().Get("done"); f != "" && flashKeys[f] {
		p.Flash = "flash_" + f
	}
	p.Title = rq.loc.T("title_" + name)
	if l := r.URL.Query().Get("lang"); l != "" && l == rq.loc.Lang {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: h.cfg.Path + "/", MaxAge: 365 * 86400,
			HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
	}
	var buf bytes.Buffer
	t, ok := h.pages[name]
	if !ok {
		h.log.Error("no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Language", rq.loc.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flashKeys are the confirmations a redirect may ask to show (?done=…).
var flashKeys = map[string]bool{"cancelled": true, "marked": true, "redelivered": true, "revoked": true,
	"deleted": true, "endpoint_disabled": true, "endpoint_enabled": true, "totp_on": true, "totp_off": true,
	"refund_created": true, "refund_broadcast": true, "refund_canceled": true}

// redirect answers a POST with 303 to a console path.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, path, done string) error {
	to := h.cfg.Path + path
	if done != "" {
		if strings.Contains(to, "?") {
			to += "&done=" + done
		} else {
			to += "?done=" + done
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// audit records a write action and counts it.
func (h *Handler) audit(r *http.Request, rq *request, action, target, detail string) {
	h.d.OnAction(action)
	e := store.AuditEntry{At: rq.now, Admin: rq.admin.Name, Action: action, Target: target, Detail: detail, IP: h.clientIP(r)}
	if err := h.d.Store.AddAudit(context.WithoutCancel(r.Context()), e); err != nil {
		h.log.Error("write audit log", "action", action, "target", target, "err", err)
	}
	h.log.Info("console action", "admin", rq.admin.Name, "action", action, "target", target)
}

// clientIP is the request's client address (X-Forwarded-For's first hop
// behind a trusted proxy).
func (h *Handler) clientIP(r *http.Request) string {
	if h.cfg.TrustProxy {
		if xf := r.Header.Get("X-Forwarded-For"); xf != "" {
			ip, _, _ := strings.Cut(xf, ",")
			return strings.TrimSpace(ip)
		}
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
