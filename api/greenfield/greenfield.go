package greenfield

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/internal/ratelimit"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// Invoices is the part of the invoice service Greenfield uses
// (*service.Service).
type Invoices interface {
	Create(ctx context.Context, req service.CreateRequest) (*invoice.Invoice, error)
	Get(ctx context.Context, id string) (*invoice.Invoice, error)
	List(ctx context.Context, f service.ListFilter) (invs []*invoice.Invoice, hasMore bool, err error)
	Mark(ctx context.Context, id string, status invoice.Status) (*invoice.Invoice, error)
}

// Keys looks API keys up and records their use (*store.DB); APIKey returns
// store.ErrNotFound for an unknown id.
type Keys interface {
	APIKey(ctx context.Context, id string) (apikey.Key, error)
	TouchAPIKey(ctx context.Context, id string, now time.Time) error
}

// Webhooks manages the Greenfield webhook endpoints (*webhook.Manager).
type Webhooks interface {
	CreateFormattedEndpoint(ctx context.Context, s webhook.EndpointSpec) (webhook.FormattedEndpoint, error)
	UpdateFormattedEndpoint(ctx context.Context, id string, s webhook.EndpointSpec) (webhook.FormattedEndpoint, error)
	FormattedEndpoints(ctx context.Context, format string) ([]webhook.FormattedEndpoint, error)
	FormattedEndpoint(ctx context.Context, format, id string) (webhook.FormattedEndpoint, error)
	DeleteEndpoint(ctx context.Context, id string) error
	Attempts(ctx context.Context, endpointID string, limit int) ([]webhook.Attempt, error)
	RedeliverTo(ctx context.Context, endpointID, eventID string) error
}

// ChainStatus is one chain's sync state for /api/v1/server/info.
type ChainStatus struct {
	Chain     string
	TipHeight uint64 // the node's tip
	Processed uint64 // the height payd has processed
	Ready     bool
}

// Config is the one store Greenfield serves.
type Config struct {
	StoreID         string
	StoreName       string
	DefaultCurrency string
	// BaseURL is payd's public base URL (checkoutLink = BaseURL/i/{id}).
	BaseURL string
	// Methods are the enabled payment methods (ids are derived by New).
	Methods []Method
	// Store defaults shown by /stores (the invoice service applies them).
	ExpiresIn        time.Duration
	MonitoringWindow time.Duration
	ToleranceBP      int64
	// Version is payd's version, shown as paydVersion in server/info.
	Version string
	// APIRateLimit is requests per second per API key (burst twice that);
	// 0 = unlimited.
	APIRateLimit float64
}

// Deps are Greenfield's collaborators; cmd/payd fills them in.
type Deps struct {
	Invoices Invoices
	Keys     Keys
	Webhooks Webhooks
	// Ready returns why payd is not ready (empty = ready).
	Ready func(ctx context.Context) []string
	// Chains returns every chain's sync state (nil = none shown).
	Chains func() []ChainStatus
	Log    *slog.Logger
}

// BTCPayVersion is the BTCPay Server version server/info claims: the
// Greenfield shapes served are those of BTCPay 2.0 (paymentMethodId), and
// plugins gate features such as refunds on versions ≥ 1.7.6.
const BTCPayVersion = "2.0.0"

// API serves the Greenfield routes. Make one with New.
type API struct {
	cfg     Config
	d       Deps
	log     *slog.Logger
	methods []Method

	touchMu sync.Mutex
	touched map[string]time.Time // key id → last TouchAPIKey
	limits  *ratelimit.Set
}

// New returns the Greenfield API for cfg.
func New(cfg Config, d Deps) *API {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StoreName == "" {
		cfg.StoreName = "payd"
	}
	return &API{cfg: cfg, d: d, log: d.Log.With("subsystem", "greenfield"), methods: newMethods(cfg.Methods), touched: map[string]time.Time{},
		limits: ratelimit.PerSecond(cfg.APIRateLimit)}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, k apikey.Key) error

// Register adds the /api/v1 routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	ir, iw := apikey.ScopeInvoicesRead, apikey.ScopeInvoicesWrite
	wr, ww := apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite
	route := func(pattern, scope string, h handlerFunc) { mux.Handle(pattern, a.serve(scope, h)) }
	const s = "/api/v1/stores/{storeId}"

	route("GET /api/v1/api-keys/current", "", a.currentKey)
	route("GET /api/v1/server/info", "", a.serverInfo)
	route("GET /api/v1/stores", "", a.stores)
	route("GET "+s, "", a.store(a.getStore))
	route("GET "+s+"/payment-methods", "", a.store(a.storeMethods))

	route("POST "+s+"/invoices", iw, a.store(a.createInvoice))
	route("GET "+s+"/invoices", ir, a.store(a.listInvoices))
	route("GET "+s+"/invoices/{invoiceId}", ir, a.store(a.getInvoice))
	route("DELETE "+s+"/invoices/{invoiceId}", iw, a.store(a.archiveInvoice))
	route("POST "+s+"/invoices/{invoiceId}/archive", iw, a.store(a.archiveInvoice))
	route("POST "+s+"/invoices/{invoiceId}/unarchive", iw, a.store(a.getInvoice))
	route("GET "+s+"/invoices/{invoiceId}/payment-methods", ir, a.store(a.invoiceMethods))
	route("POST "+s+"/invoices/{invoiceId}/status", iw, a.store(a.markInvoice))

	route("POST "+s+"/webhooks", ww, a.store(a.createWebhook))
	route("GET "+s+"/webhooks", wr, a.store(a.listWebhooks))
	route("GET "+s+"/webhooks/{webhookId}", wr, a.store(a.getWebhook))
	route("PUT "+s+"/webhooks/{webhookId}", ww, a.store(a.updateWebhook))
	route("DELETE "+s+"/webhooks/{webhookId}", ww, a.store(a.deleteWebhook))
	route("GET "+s+"/webhooks/{webhookId}/deliveries", wr, a.store(a.listDeliveries))
	route("GET "+s+"/webhooks/{webhookId}/deliveries/{deliveryId}", wr, a.store(a.getDelivery))
	route("POST "+s+"/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", ww, a.store(a.redeliver))

	mux.Handle("/api/v1/", a.serve("", func(http.ResponseWriter, *http.Request, apikey.Key) error {
		return &Error{Status: http.StatusNotFound, Code: "not-found", Message: "this endpoint is not supported by payd's Greenfield API (docs/greenfield.md)"}
	}))
}

// store checks the path's store id before h.
func (a *API) store(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, k apikey.Key) error {
		if r.PathValue("storeId") != a.cfg.StoreID {
			return &Error{Status: http.StatusNotFound, Code: "store-not-found", Message: "store not found"}
		}
		return h(w, r, k)
	}
}

// serve authenticates (scope "" = any valid key), runs h and maps its error.
func (a *API) serve(scope string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("X-Request-Id", reqID)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.writeError(w, r, reqID, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
			}
		}()
		k, err := a.authenticate(r)
		if err == nil {
			err = allow(a.limits, w, k.ID, time.Now())
		}
		if err == nil && scope != "" && !k.Has(scope) {
			err = &Error{Status: http.StatusForbidden, Code: "missing-permission",
				Message: "this API key lacks the " + scope + " scope", MissingPermission: permissionFor(scope) + ":" + a.cfg.StoreID}
		}
		if err == nil {
			err = h(w, r, k)
		}
		if err != nil {
			a.writeError(w, r, reqID, err)
		}
	})
}

var errUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
	Message: "authentication is required: send Authorization: token <payd API key>"}

// authenticate accepts "token <key>" (BTCPay's) and "Bearer <key>".
func (a *API) authenticate(r *http.Request) (apikey.Key, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || (!strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "Bearer")) {
		return apikey.Key{}, errUnauthenticated
	}
	id, secret, err := apikey.Parse(strings.TrimSpace(tok))
	if err != nil {
		return apikey.Key{}, errUnauthenticated
	}
	k, err := a.d.Keys.APIKey(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		apikey.Verify(secret, strings.Repeat("0", 64)) // the same time as a real comparison
		return apikey.Key{}, errUnauthenticated
	}
	if err != nil {
		return apikey.Key{}, err
	}
	if !apikey.Verify(secret, k.Hash) || k.RevokedAt != nil {
		return apikey.Key{}, errUnauthenticated
	}
	a.touch(r.Context(), k.ID)
	return k, nil
}

// touch records key use (payd apikey list) at most once a minute per key.
func (a *API) touch(ctx context.Context, id string) {
	now := time.Now()
	a.touchMu.Lock()
	last, ok := a.touched[id]
	if ok && now.Sub(last) < time.Minute {
		a.touchMu.Unlock()
		return
	}
	a.touched[id] = now
	a.touchMu.Unlock()
	if err := a.d.Keys.TouchAPIKey(context.WithoutCancel(ctx), id, now); err != nil {
		a.log.Warn("record api key use", "key_id", id, "err", err)
	}
}

// FieldError is one entry of Greenfield's 422 body.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error is a Greenfield error: 422 with Fields is written as
// [{path, message}], anything else as {code, message}.
type Error struct {
	Status            int
	Code              string
	Message           string
	MissingPermission string
	Fields            []FieldError
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(path, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "validation-error",
		Fields: []FieldError{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}

// servicePaths maps service fields to the Greenfield request paths they came from.
var servicePaths = map[string]string{
	"amount": "amount", "currency": "currency", "order_id": "metadata.orderId", "description": "metadata.itemDesc",
	"metadata": "metadata", "expires_in": "checkout.expirationMinutes", "payment_tolerance": "checkout.paymentTolerance",
	"redirect_url": "checkout.redirectURL", "methods": "checkout.paymentMethods",
}

func servicePath(field string) string {
	if p, ok := servicePaths[field]; ok {
		return p
	}
	switch {
	case strings.HasPrefix(field, "methods"):
		return "checkout.paymentMethods"
	case strings.HasPrefix(field, "confirmations"):
		return "checkout.speedPolicy"
	}
	return field
}

// toError maps any error to a Greenfield error, logging internals.
func (a *API) toError(r *http.Request, reqID string, err error) *Error {
	var ge *Error
	var se *service.Error
	var ve *webhook.ValidationError
	switch {
	case errors.As(err, &ge):
		return ge
	case store.Unavailable(err):
		// An outage of the database, not a fault of payd's: it ends by itself.
		a.log.Warn("database unavailable", "err", err, "request_id", reqID, "route", r.Pattern)
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the database is unavailable; retry later"}
	case errors.As(err, &se) && se.Status < 500:
		if se.Status == http.StatusConflict {
			return &Error{Status: http.StatusBadRequest, Code: "invoice-state-conflict", Message: se.Message}
		}
		return invalid(servicePath(se.Field), "%s", se.Message)
	case errors.As(err, &ve):
		return invalid(ve.Field, "%s", ve.Message)
	case errors.Is(err, service.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "invoice-not-found", Message: "invoice not found"}
	case errors.Is(err, webhook.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "webhook-not-found", Message: "webhook not found"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil,
		errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "timed out; retry later"}
	}
	a.log.Error("internal error", "err", err, "request_id", reqID, "route", r.Pattern)
	return &Error{Status: http.StatusInternalServerError, Code: "server-error", Message: "internal error (request " + reqID + ")"}
}

// writeError is the one place errors become responses.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	e := a.toError(r, reqID, err)
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="payd"`)
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if e.Status == http.StatusUnprocessableEntity && len(e.Fields) > 0 {
		writeJSON(w, e.Status, e.Fields)
		return
	}
	body := struct {
		Code              string `json:"code"`
		Message           string `json:"message"`
		MissingPermission string `json:"missingPermission,omitempty"`
	}{e.Code, e.Message, e.MissingPermission}
	if body.Message == "" && len(e.Fields) > 0 {
		body.Message = e.Fields[0].Message
	}
	writeJSON(w, e.Status, body)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// maxBody bounds request bodies (1 MiB, as /v1).
const maxBody = 1 << 20

// readBody reads a request body; an empty body reads as JSON null.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body-too-large", Message: "the request body is larger than 1 MiB"}
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid-request", Message: "could not read the request body"}
	}
	return b, nil
}
