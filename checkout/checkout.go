package checkout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Config brands and places the checkout page. cmd/payd fills it from the
// config's checkout section and server.public_url.
type Config struct {
	// BaseURL is the public base URL without a trailing slash (server.public_url).
	BaseURL string
	// StoreName is shown in the header and the page title.
	StoreName string
	// LogoURL is an absolute http(s) URL of the store's logo, or "".
	LogoURL string
	// AccentColor is a hex colour ("#2f6fed") for buttons and tabs.
	AccentColor string
	// FrameAncestors is the CSP frame-ancestors source list; "" = 'none'.
	FrameAncestors string
	// Language is the fallback language (en, ru, id) when the browser asks for
	// none payd has; "" = en.
	Language string
	// RefreshSeconds is how often the page reloads itself when JavaScript is
	// off (a meta refresh inside <noscript>); 0 = 15.
	RefreshSeconds int
}

// Invoices is what the checkout page reads. service.Invoices satisfies it.
type Invoices interface {
	Get(ctx context.Context, id string) (*invoice.Invoice, error)
}

// Handler serves the checkout page, its QR codes and static assets. It is
// safe for concurrent use.
type Handler struct {
	cfg        Config
	inv        Invoices
	isNotFound func(error) bool
	log        *slog.Logger
	pages      map[string]*template.Template
	static     *assets
	csp        string
	logoOrigin string
	qr         *qrCache
	now        func() time.Time
}

var (
	hexColorRe = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	// a CSP source list: no directive separators, quotes only around keywords
	frameAncestorsRe = regexp.MustCompile(`^[A-Za-z0-9'*:/._\- ]+$`)
)

// New parses the embedded templates (failing if a page template is missing),
// fingerprints the static assets and checks cfg. isNotFound tells an unknown
// invoice from a failure of inv; log may be nil.
func New(cfg Config, inv Invoices, isNotFound func(error) bool, log *slog.Logger) (*Handler, error) {
	if inv == nil {
		return nil, errors.New("checkout: nil Invoices")
	}
	if isNotFound == nil {
		isNotFound = func(error) bool { return false }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.RefreshSeconds <= 0 {
		cfg.RefreshSeconds = 15
	}
	if cfg.AccentColor == "" {
		cfg.AccentColor = "#2f6fed"
	}
	if !hexColorRe.MatchString(cfg.AccentColor) {
		return nil, fmt.Errorf("checkout: accent colour %q is not a hex colour like \"#2f6fed\"", cfg.AccentColor)
	}
	cfg.FrameAncestors = strings.TrimSpace(cfg.FrameAncestors)
	if cfg.FrameAncestors == "" {
		cfg.FrameAncestors = "'none'"
	}
	if !frameAncestorsRe.MatchString(cfg.FrameAncestors) {
		return nil, fmt.Errorf("checkout: frame ancestors %q is not a CSP source list such as \"'none'\" or \"'self' https://shop.example\"", cfg.FrameAncestors)
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	if _, ok := catalog[cfg.Language]; !ok {
		return nil, fmt.Errorf("checkout: language %q is not one of %s", cfg.Language, strings.Join(languages, ", "))
	}
	h := &Handler{
		cfg:        cfg,
		inv:        inv,
		isNotFound: isNotFound,
		log:        log.With("subsystem", "checkout"),
		qr:         newQRCache(512),
		now:        time.Now,
	}
	if cfg.LogoURL != "" {
		u, err := url.Parse(cfg.LogoURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("checkout: logo URL %q is not an absolute http(s) URL", cfg.LogoURL)
		}
		h.logoOrigin = u.Scheme + "://" + u.Host
	}
	var err error
	if h.static, err = loadAssets(cfg.AccentColor); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	if h.pages, err = parsePages(); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	h.csp = h.contentSecurityPolicy()
	return h, nil
}

// Register mounts the checkout routes on mux: GET /i/{id},
// GET /i/{id}/qr/{chain}/{file} and GET /static/{path...}. When links is
// given (the payment-link handler, written elsewhere), its first element is
// mounted at GET /l/{id} with the same security headers.
func (h *Handler) Register(mux *http.ServeMux, links ...http.Handler) {
	mux.HandleFunc("GET /i/{id}", h.servePage)
	mux.HandleFunc("GET /i/{id}/qr/{chain}/{file}", h.serveQR)
	mux.HandleFunc("GET /static/{path...}", h.serveStatic)
	if len(links) > 0 && links[0] != nil {
		l := links[0]
		mux.Handle("GET /l/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.setHeaders(w)
			l.ServeHTTP(w, r)
		}))
	}
}

func (h *Handler) contentSecurityPolicy() string {
	img := "'self'"
	if h.logoOrigin != "" {
		img += " " + h.logoOrigin
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src " + img,
		"connect-src 'self'",
		"manifest-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors " + h.cfg.FrameAncestors,
	}, "; ")
}

// setHeaders writes the security headers every checkout response carries.
func (h *Handler) setHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if h.cfg.FrameAncestors == "'none'" {
		hd.Set("X-Frame-Options", "DENY")
	}
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	h.setHeaders(w)
	loc := h.locale(r)
	inv, err := h.inv.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		if h.isNotFound(err) {
			h.renderError(w, r, loc, http.StatusNotFound)
			return
		}
		h.failure(w, r, loc, err, "get invoice", "invoice", r.PathValue("id"))
		return
	}
	data := h.basePage(r, loc)
	data.Inv = h.invoiceData(inv, loc)
	data.Title = loc.T("title_pay", data.Inv.Amount) // "Pay 25.00 USD · <store>"
	if !data.Inv.Final {
		data.Refresh = h.cfg.RefreshSeconds
	}
	h.render(w, "invoice", http.StatusOK, data)
}

// RenderError writes a translated HTML error page for status (404, 410, 429,
// 500, …) with the checkout's security headers, for handlers mounted next to
// the checkout such as payment links.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, status int) {
	h.setHeaders(w)
	h.renderError(w, r, h.locale(r), status)
}

// failure answers an error payd could not turn into a page: 503 with
// Retry-After while the database is unreachable (an outage that ends by
// itself, logged as a warning), 500 for anything else. The shopper sees the
// same "try again in a moment" page either way; nothing internal leaks.
func (h *Handler) failure(w http.ResponseWriter, r *http.Request, loc *locale, err error, msg string, attrs ...any) {
	status := failureStatus(w, err)
	if status == http.StatusServiceUnavailable {
		h.log.Warn(msg+": database unavailable", append(attrs, "err", err)...)
	} else {
		h.log.Error(msg, append(attrs, "err", err)...)
	}
	h.renderError(w, r, loc, status)
}

// failureStatus is 503 (with Retry-After set on w) when err is a database
// outage, 500 otherwise.
func failureStatus(w http.ResponseWriter, err error) int {
	if store.Unavailable(err) {
		w.Header().Set("Retry-After", "5")
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, loc *locale, status int) {
	data := h.basePage(r, loc)
	key := "error"
	switch status {
	case http.StatusNotFound:
		key = "not_found"
	case http.StatusGone:
		key = "gone"
	case http.StatusTooManyRequests:
		key = "rate_limited"
	}
	data.Err = &errorData{Status: status, Title: loc.T(key + "_title"), Text: loc.T(key + "_text")}
	data.Title = data.Err.Title
	h.render(w, "error", status, data)
}

func (h *Handler) render(w http.ResponseWriter, page string, status int, data *pageData) {
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.Error("render page", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Vary", "Accept-Language")
	hd.Set("Content-Language", data.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) storeName(loc *locale) string {
	if h.cfg.StoreName != "" {
		return h.cfg.StoreName
	}
	return loc.T("default_store")
}
