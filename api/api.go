package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/internal/ratelimit"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// KeyStore looks up API keys. (*store.DB) satisfies it; APIKey returns
// store.ErrNotFound for an unknown id.
type KeyStore interface {
	APIKey(ctx context.Context, id string) (apikey.Key, error)
	TouchAPIKey(ctx context.Context, id string, now time.Time) error
}

// EventStore reads the event outbox. (*store.DB) satisfies it; Event returns
// store.ErrNotFound for an unknown id.
type EventStore interface {
	EventsAfter(ctx context.Context, afterSeq int64, limit int) ([]invoice.Event, error)
	Event(ctx context.Context, id string) (invoice.Event, error)
}

// Webhooks manages webhook endpoints and deliveries (*webhook.Manager).
type Webhooks interface {
	CreateEndpoint(ctx context.Context, url string, events []string) (webhook.Endpoint, error)
	Endpoints(ctx context.Context) ([]webhook.Endpoint, error)
	Endpoint(ctx context.Context, id string) (webhook.Endpoint, error)
	DeleteEndpoint(ctx context.Context, id string) error
	Attempts(ctx context.Context, endpointID string, limit int) ([]webhook.Attempt, error)
	Redeliver(ctx context.Context, eventID string) error
}

// IdempotencyStore persists Idempotency-Key outcomes. (*store.DB) satisfies
// it: IdempotencyRecord returns store.ErrNotFound when there is no live
// record; SaveIdempotency returns store.ErrConflict when one exists.
type IdempotencyStore interface {
	IdempotencyRecord(ctx context.Context, apiKeyID, key string, notBefore time.Time) (store.IdempotencyRecord, error)
	SaveIdempotency(ctx context.Context, rec store.IdempotencyRecord, expireBefore time.Time) error
}

// ReportStore streams payments for the CSV report. (*store.DB) satisfies it.
type ReportStore interface {
	PaymentsReport(ctx context.Context, from, to time.Time, fn func(store.PaymentReportRow) error) error
}

// Deps are the API's collaborators; cmd/payd fills them in.
type Deps struct {
	Invoices service.Invoices
	Links    service.Links // payment links; nil leaves /v1/links unrouted
	// Refunds are refunds and sweeps; nil leaves /v1/…/refunds and
	// /v1/sweeps unrouted.
	Refunds     service.Refunds
	Keys        KeyStore
	Events      EventStore
	Webhooks    Webhooks
	Idempotency IdempotencyStore
	Reports     ReportStore
	// Ready returns why payd is not ready (no reasons = ready) and what
	// /readyz shows of the database and of this instance.
	Ready func(ctx context.Context) Readiness
	// EventsWS is the live hub's GET /v1/events/ws handler (wrapped with auth).
	EventsWS http.Handler
	// Metrics is the /metrics handler; nil = 404.
	Metrics http.Handler
	// Observe, if set, is called after every request with its route pattern,
	// status code and duration.
	Observe func(route string, status int, d time.Duration)
	Log     *slog.Logger
	Version string
	// BaseURL is the public base URL (no trailing slash) for checkout_url.
	BaseURL string
	Now     func() time.Time
}

// Config tunes the API.
type Config struct {
	// APIRateLimit is requests per second allowed per API key (burst twice
	// that); 0 = unlimited.
	APIRateLimit float64
	// PublicRateLimit is requests per second allowed per client IP on public
	// routes; 0 = unlimited.
	PublicRateLimit float64
	// TrustProxy takes the client IP from the last X-Forwarded-For entry
	// (set by the reverse proxy in front of payd) instead of the peer address.
	TrustProxy bool
}

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// API serves the merchant API. Make one with New.
type API struct {
	cfg       Config
	d         Deps
	log       *slog.Logger
	keyLimits *ratelimit.Set
	ipLimits  *ratelimit.Set
	idem      keyedMutex

	touchMu sync.Mutex
	touched map[string]time.Time // key id → last TouchAPIKey
}

// New returns an API over d.
func New(cfg Config, d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &API{
		cfg:       cfg,
		d:         d,
		log:       d.Log.With("subsystem", "api"),
		keyLimits: ratelimit.PerSecond(cfg.APIRateLimit),
		ipLimits:  ratelimit.PerSecond(cfg.PublicRateLimit),
		idem:      keyedMutex{m: map[string]*keyedEntry{}},
		touched:   map[string]time.Time{},
	}
}

// handlerFunc is an HTTP handler that returns its error; serve maps it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Register adds every route of the API to mux.
func (a *API) Register(mux *http.ServeMux) {
	ir, iw := apikey.ScopeInvoicesRead, apikey.ScopeInvoicesWrite
	wr, ww := apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite
	auth := func(scope string, h handlerFunc) http.Handler { return a.wrap(a.Authorize(scope, a.handle(h))) }

	mux.Handle("POST /v1/invoices", auth(iw, a.createInvoice))
	mux.Handle("GET /v1/invoices", auth(ir, a.listInvoices))
	mux.Handle("GET /v1/invoices/{id}", auth(ir, a.getInvoice))
	mux.Handle("POST /v1/invoices/{id}/cancel", auth(iw, a.cancelInvoice))
	mux.Handle("POST /v1/invoices/{id}/mark", auth(iw, a.markInvoice))
	if a.d.Links != nil {
		mux.Handle("POST /v1/links", auth(iw, a.createLink))
		mux.Handle("GET /v1/links/{id}", auth(ir, a.getLink))
		mux.Handle("DELETE /v1/links/{id}", auth(iw, a.deleteLink))
	}
	if a.d.Refunds != nil {
		rf, sw := refund.PrefixRefund, refund.PrefixSweep
		mux.Handle("POST /v1/invoices/{id}/refunds", auth(iw, a.createRefund))
		mux.Handle("GET /v1/invoices/{id}/refunds", auth(ir, a.listInvoiceRefunds))
		mux.Handle("GET /v1/refunds/{id}", auth(ir, a.getRefundOf(rf)))
		mux.Handle("GET /v1/refunds/{id}/psbt", auth(ir, a.psbtOf(rf)))
		mux.Handle("POST /v1/refunds/{id}/broadcast", auth(iw, a.broadcastOf(rf)))
		mux.Handle("POST /v1/refunds/{id}/cancel", auth(iw, a.cancelOf(rf)))
		mux.Handle("POST /v1/sweeps", auth(iw, a.createSweep))
		mux.Handle("GET /v1/sweeps/{id}", auth(ir, a.getRefundOf(sw)))
		mux.Handle("GET /v1/sweeps/{id}/psbt", auth(ir, a.psbtOf(sw)))
		mux.Handle("POST /v1/sweeps/{id}/broadcast", auth(iw, a.broadcastOf(sw)))
		mux.Handle("POST /v1/sweeps/{id}/cancel", auth(iw, a.cancelOf(sw)))
	}
	mux.Handle("GET /v1/events", auth(ir, a.listEvents))
	mux.Handle("POST /v1/events/{id}/redeliver", auth(ww, a.redeliver))
	mux.Handle("POST /v1/webhooks", auth(ww, a.createWebhook))
	mux.Handle("GET /v1/webhooks", auth(wr, a.listWebhooks))
	mux.Handle("GET /v1/webhooks/{id}", auth(wr, a.getWebhook))
	mux.Handle("DELETE /v1/webhooks/{id}", auth(ww, a.deleteWebhook))
	mux.Handle("GET /v1/webhooks/{id}/deliveries", auth(wr, a.listDeliveries))
	mux.Handle("GET /v1/reports/payments.csv", auth(ir, a.paymentsReport))
	if a.d.EventsWS != nil {
		mux.Handle("GET /v1/events/ws", a.wrap(a.Authorize(ir, a.d.EventsWS)))
	}
	mux.Handle("GET /v1/openapi.yaml", a.serve(a.openAPI))
	mux.Handle("GET /i/{id}/status", a.wrap(a.PublicLimit(a.handle(a.publicStatus))))
	mux.Handle("GET /healthz", a.serve(a.healthz))
	mux.Handle("GET /readyz", a.serve(a.readyz))
	if a.d.Metrics != nil {
		mux.Handle("GET /metrics", a.d.Metrics)
	} else {
		mux.Handle("GET /metrics", a.serve(func(http.ResponseWriter, *http.Request) error { return httpx.NotFound("metrics") }))
	}
	// Anything else under /v1 gets the contract's 404 or 405 instead of the
	// mux's plain text.
	mux.Handle("/v1/", a.serve(func(w http.ResponseWriter, r *http.Request) error { return a.unrouted(mux, w, r) }))
}

// unrouted answers a /v1 request no route matched: 405 when the path exists
// for another method, 404 otherwise.
func (a *API) unrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := mux.Handler(r2); p != "" && p != "/v1/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		return httpx.Errorf(http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, "", "%s is not allowed here", r.Method)
	}
	return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "", "no such endpoint")
}

// serve is wrap(handle(h)).
func (a *API) serve(h handlerFunc) http.Handler { return a.wrap(a.handle(h)) }

// handle runs h and maps its error (the one error mapping, STYLE.md habit 5).
func (a *API) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// wrap is the outer layer of every route: request id, security headers, panic
// recovery and observation.
func (a *API) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if w.Header().Get("X-Request-Id") == "" {
			w.Header().Set("X-Request-Id", newRequestID())
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		start := a.d.Now()
		sr := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				if !sr.wroteHeader {
					a.writeError(sr, r, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
				} else {
					a.log.Error("panic after response started", "panic", fmt.Sprint(p), "request_id", w.Header().Get("X-Request-Id"), "stack", string(debug.Stack()))
				}
			}
			if a.d.Observe != nil {
				route := r.Pattern
				if route == "" {
					route = "unmatched"
				}
				a.d.Observe(route, sr.status, a.d.Now().Sub(start))
			}
		}()
		h.ServeHTTP(sr, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Hijack
// for websockets, Flush).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// writeError is the one place errors become responses.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	he := a.toHTTP(r, w.Header().Get("X-Request-Id"), err)
	httpx.WriteError(w, a.log, he)
}

// toHTTP maps any error to the contract's error, logging internals.
func (a *API) toHTTP(r *http.Request, reqID string, err error) *httpx.Error {
	var he *httpx.Error
	var se *service.Error
	var ve *webhook.ValidationError
	switch {
	case errors.As(err, &he):
		return he
	case store.Unavailable(err):
		// An outage of the database, not a fault of payd's: it ends by itself.
		a.log.Warn("database unavailable", "err", err, "request_id", reqID, "route", r.Pattern)
		e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "", "the database is unavailable; retry later")
		e.RetryAfter = 1
		return e
	case errors.As(err, &se):
		st := se.Status
		if st == 0 {
			st = http.StatusBadRequest
		}
		code := se.Code
		if code == "" {
			code = httpx.CodeInvalidField
		}
		if st >= 500 {
			a.log.Error("internal error", "err", err, "request_id", reqID, "route", r.Pattern)
			return &httpx.Error{Status: http.StatusInternalServerError, Code: httpx.CodeInternal, Message: "internal error (request " + reqID + ")"}
		}
		return &httpx.Error{Status: st, Code: code, Field: se.Field, Message: se.Message}
	case errors.As(err, &ve):
		return httpx.InvalidField(ve.Field, "%s", ve.Message)
	case errors.Is(err, service.ErrNotFound):
		return httpx.NotFound("invoice")
	case errors.Is(err, webhook.ErrNotFound):
		return httpx.NotFound("webhook endpoint")
	case errors.Is(err, service.ErrConflict):
		return httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "", "the invoice's current status does not allow this")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		a.log.Debug("request cancelled by client", "request_id", reqID, "route", r.Pattern)
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "", "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("request timed out", "err", err, "request_id", reqID, "route", r.Pattern)
		return httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "", "timed out; retry later")
	}
	a.log.Error("internal error", "err", err, "request_id", reqID, "route", r.Pattern)
	return &httpx.Error{Status: http.StatusInternalServerError, Code: httpx.CodeInternal, Message: "internal error (request " + reqID + ")"}
}
