package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

// Field limits (API.md "Create").
const (
	maxOrderID     = 128
	maxDescription = 1000
	maxMetadata    = 8 << 10
	maxURL         = 2048
	maxMethods     = 64
	maxShort       = 64 // currency, method names, chain names
	maxIdemKey     = 255
	minExpiresIn   = 60
	maxExpiresIn   = 604800
	maxConfs       = 100
)

func (a *API) view(inv *invoice.Invoice, public bool) invoice.View {
	return inv.View(invoice.ViewOptions{BaseURL: a.d.BaseURL, Public: public})
}

// readBody reads a JSON request body with httpx's rules (Content-Type, 1 MiB).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return nil, httpx.Errorf(http.StatusUnsupportedMediaType, httpx.CodeInvalidJSON, "", "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, httpx.CodeBodyTooLarge, "", "request body is larger than %d bytes", httpx.MaxBody)
		}
		return nil, httpx.Errorf(http.StatusBadRequest, httpx.CodeInvalidJSON, "", "could not read the request body")
	}
	return body, nil
}

// decodeCreate decodes and checks a create request at the edge: types, unknown
// fields, lengths and ranges. Amount precision, currencies and methods are the
// service's to judge.
func decodeCreate(body []byte) (service.CreateRequest, error) {
	var req service.CreateRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return req, err
	}
	if bytes.Equal(bytes.TrimSpace(req.Metadata), []byte("null")) {
		req.Metadata = nil
	}
	return req, checkCreate(&req)
}

func checkCreate(req *service.CreateRequest) error {
	str := func(field, v string, maxLen int, required bool) error {
		switch {
		case required && v == "":
			return httpx.InvalidField(field, "%s is required", field)
		case len(v) > maxLen:
			return httpx.InvalidField(field, "%s is longer than %d bytes", field, maxLen)
		case !utf8.ValidString(v):
			return httpx.InvalidField(field, "%s is not valid UTF-8", field)
		case strings.ContainsFunc(v, isControl) && field != "description":
			return httpx.InvalidField(field, "%s contains control characters", field)
		}
		return nil
	}
	if req.Amount == "" {
		return httpx.InvalidField("amount", "amount is required (a decimal string such as \"25.00\")")
	}
	if len(req.Amount) > 100 {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeInvalidAmount, "amount", "amount is too long")
	}
	for _, c := range []struct {
		field, v string
		n        int
		req      bool
	}{
		{"currency", req.Currency, maxShort, true},
		{"order_id", req.OrderID, maxOrderID, false},
		{"description", req.Description, maxDescription, false},
		{"redirect_url", req.RedirectURL, maxURL, false},
	} {
		if err := str(c.field, c.v, c.n, c.req); err != nil {
			return err
		}
	}
	if len(req.Methods) > maxMethods {
		return httpx.InvalidField("methods", "at most %d methods", maxMethods)
	}
	for _, m := range req.Methods {
		if m == "" || len(m) > maxShort || !utf8.ValidString(m) {
			return httpx.InvalidField("methods", "method names are <chain>/<asset>, e.g. bitcoin/btc")
		}
	}
	if len(req.Metadata) > 0 {
		if len(req.Metadata) > maxMetadata {
			return httpx.InvalidField("metadata", "metadata is larger than %d bytes", maxMetadata)
		}
		if t := bytes.TrimSpace(req.Metadata); len(t) == 0 || t[0] != '{' {
			return httpx.InvalidField("metadata", "metadata must be a JSON object")
		}
	}
	if req.ExpiresIn != nil && (*req.ExpiresIn < minExpiresIn || *req.ExpiresIn > maxExpiresIn) {
		return httpx.InvalidField("expires_in", "expires_in must be %d…%d seconds", minExpiresIn, maxExpiresIn)
	}
	for chain, n := range req.Confirmations {
		if chain == "" || len(chain) > maxShort {
			return httpx.InvalidField("confirmations", "confirmations are keyed by chain name")
		}
		if n < 0 || n > maxConfs {
			return httpx.InvalidField("confirmations", "confirmations for %s must be 0…%d", chain, maxConfs)
		}
	}
	if req.PaymentTolerance != nil && (*req.PaymentTolerance == "" || len(*req.PaymentTolerance) > 20) {
		return httpx.InvalidField("payment_tolerance", "payment_tolerance is a decimal string, percent 0…50")
	}
	if req.RedirectURL != "" {
		u, err := url.Parse(req.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return httpx.InvalidField("redirect_url", "redirect_url must be an absolute http(s) URL")
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// createInvoice is POST /v1/invoices.
func (a *API) createInvoice(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if _, has := r.Header["Idempotency-Key"]; !has {
		return a.doCreate(w, r, body)
	}
	k, _ := keyFrom(r.Context())
	now := a.d.Now()
	ik, hash, unlock, replayed, err := a.replay(w, r, body, now)
	if err != nil || replayed {
		return err
	}
	defer unlock()

	req, err := decodeCreate(body)
	if err != nil {
		return err
	}
	render := func(inv *invoice.Invoice) ([]byte, error) {
		b, err := json.Marshal(a.view(inv, false))
		return append(b, '\n'), err
	}
	// The service stores the record in the invoice's own transaction, so a
	// crash right after the commit cannot lose it.
	req.Idempotency = &service.Idempotency{APIKeyID: k.ID, Key: ik, RequestHash: hash, Response: render,
		ExpireBefore: now.Add(-IdempotencyTTL)}
	inv, err := a.d.Invoices.Create(r.Context(), req)
	if err != nil {
		return err
	}
	resp, err := render(inv)
	if err != nil {
		return err
	}
	// For an Invoices that did not store it (tests' fakes), save it now;
	// ErrConflict means it is already stored with the invoice.
	rec := store.IdempotencyRecord{APIKeyID: k.ID, Key: ik, RequestHash: hash, StatusCode: http.StatusCreated, Response: resp, CreatedAt: now}
	if err := a.d.Idempotency.SaveIdempotency(r.Context(), rec, now.Add(-IdempotencyTTL)); err != nil && !errors.Is(err, store.ErrConflict) {
		// The invoice exists; answering 500 would make the client retry and
		// get a 409. Answer with the invoice and log.
		a.log.Error("save idempotency key", "err", err, "invoice_id", inv.ID, "key_id", k.ID, "request_id", w.Header().Get("X-Request-Id"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/v1/invoices/"+inv.ID)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(resp)
	return nil
}

func (a *API) doCreate(w http.ResponseWriter, r *http.Request, body []byte) error {
	req, err := decodeCreate(body)
	if err != nil {
		return err
	}
	inv, err := a.d.Invoices.Create(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/invoices/"+inv.ID)
	httpx.WriteJSON(w, http.StatusCreated, a.view(inv, false))
	return nil
}

// requestHash identifies a request for idempotency: method, path and the body
// with insignificant whitespace removed.
func requestHash(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err == nil {
		h.Write(buf.Bytes())
	} else {
		h.Write(body)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// pathID returns the {id} path value if it is a syntactically valid id with
// prefix; otherwise 404 (an evt_ where an inv_ belongs is simply not found).
func pathID(r *http.Request, prefix, what string) (string, error) {
	id := r.PathValue("id")
	if !invoice.ValidID(id, prefix) {
		return "", httpx.NotFound(what)
	}
	return id, nil
}

// getInvoice is GET /v1/invoices/{id}.
func (a *API) getInvoice(w http.ResponseWriter, r *http.Request) error {
	return a.invoiceByID(w, r, a.d.Invoices.Get, false)
}

// invoiceByID applies fn to the invoice named by the path's {id} and writes
// the result (the public view when public).
func (a *API) invoiceByID(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, id string) (*invoice.Invoice, error), public bool) error {
	id, err := pathID(r, invoice.PrefixInvoice, "invoice")
	if err != nil {
		return err
	}
	inv, err := fn(r.Context(), id)
	if err != nil {
		return err
	}
	if public {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	httpx.WriteJSON(w, http.StatusOK, a.view(inv, public))
	return nil
}

// publicStatus is GET /i/{id}/status: the public view, no metadata.
func (a *API) publicStatus(w http.ResponseWriter, r *http.Request) error {
	return a.invoiceByID(w, r, a.d.Invoices.Get, true)
}

// listPage is the contract's list shape.
type listPage[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// queryParams checks that q has only the allowed parameters, each once.
func queryParams(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, httpx.InvalidField("", "malformed query string")
	}
	for k, v := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, httpx.InvalidField(k, "unknown query parameter %q", k)
		}
		if len(v) > 1 {
			return nil, httpx.InvalidField(k, "%s given more than once", k)
		}
	}
	return q, nil
}

// parseLimit reads limit (1…200, default 50).
func parseLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		return 0, httpx.InvalidField("limit", "limit must be an integer 1…200")
	}
	return n, nil
}

// listInvoices is GET /v1/invoices.
func (a *API) listInvoices(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "status", "order_id", "limit", "starting_after")
	if err != nil {
		return err
	}
	f := service.ListFilter{Status: invoice.Status(q.Get("status")), OrderID: q.Get("order_id"), StartingAfter: q.Get("starting_after")}
	if f.Status != "" && !f.Status.Valid() {
		return httpx.InvalidField("status", "status must be one of new, processing, settled, expired, invalid")
	}
	if len(f.OrderID) > maxOrderID {
		return httpx.InvalidField("order_id", "order_id is longer than %d bytes", maxOrderID)
	}
	if f.StartingAfter != "" && !invoice.ValidID(f.StartingAfter, invoice.PrefixInvoice) {
		return httpx.InvalidField("starting_after", "starting_after must be an invoice id (inv_…)")
	}
	if f.Limit, err = parseLimit(q); err != nil {
		return err
	}
	invs, more, err := a.d.Invoices.List(r.Context(), f)
	if err != nil {
		return err
	}
	page := listPage[invoice.View]{Data: make([]invoice.View, 0, len(invs)), HasMore: more}
	for _, inv := range invs {
		page.Data = append(page.Data, a.view(inv, false))
	}
	httpx.WriteJSON(w, http.StatusOK, page)
	return nil
}

// cancelInvoice is POST /v1/invoices/{id}/cancel.
func (a *API) cancelInvoice(w http.ResponseWriter, r *http.Request) error {
	return a.invoiceByID(w, r, a.d.Invoices.Cancel, false)
}

// markRequest is POST /v1/invoices/{id}/mark.
type markRequest struct {
	Status invoice.Status `json:"status"`
}

// markInvoice is POST /v1/invoices/{id}/mark.
func (a *API) markInvoice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixInvoice, "invoice")
	if err != nil {
		return err
	}
	var req markRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	if req.Status != invoice.StatusSettled && req.Status != invoice.StatusInvalid {
		return httpx.InvalidField("status", "status must be \"settled\" or \"invalid\"")
	}
	inv, err := a.d.Invoices.Mark(r.Context(), id, req.Status)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a.view(inv, false))
	return nil
}

// keyedMutex serializes work per string key; entries are dropped when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	e, ok := k.m[key]
	if !ok {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// replay handles a request's Idempotency-Key (present in the header): a key
// seen with the same request in the last 24 h writes the stored response
// (replayed); with another request it is 409. Otherwise it returns the key,
// the request's hash and unlock, which the caller holds until its record is
// stored (with what it creates).
func (a *API) replay(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) (ik, hash string, unlock func(), replayed bool, err error) {
	ik = strings.TrimSpace(strings.Join(r.Header["Idempotency-Key"], ","))
	if ik == "" || len(ik) > maxIdemKey || strings.ContainsFunc(ik, isControl) {
		return "", "", nil, false, httpx.InvalidField("Idempotency-Key", "Idempotency-Key must be 1…%d printable characters", maxIdemKey)
	}
	k, _ := keyFrom(r.Context())
	hash = requestHash(r, body)
	unlock = a.idem.lock(k.ID + "\x00" + ik)
	rec, err := a.d.Idempotency.IdempotencyRecord(r.Context(), k.ID, ik, now.Add(-IdempotencyTTL))
	switch {
	case err == nil:
		unlock()
		if rec.RequestHash != hash {
			return "", "", nil, false, httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "Idempotency-Key",
				"this Idempotency-Key was used with a different request in the last 24 h")
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.StatusCode)
		_, _ = w.Write(rec.Response)
		return "", "", nil, true, nil
	case !errors.Is(err, store.ErrNotFound):
		unlock()
		return "", "", nil, false, err
	}
	return ik, hash, unlock, false, nil
}
