package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/service"
)

// refundErrs maps the refund service's not-found errors.
func refundErrs(err error) error {
	if errors.Is(err, service.ErrRefundNotFound) {
		return httpx.NotFound("refund")
	}
	return err
}

func (a *API) viewRefund(r *refund.Refund) refund.View {
	o := a.d.Refunds.RefundViewOptions()
	if o.BaseURL == "" {
		o.BaseURL = a.d.BaseURL
	}
	return r.View(o)
}

func renderRefund(a *API) func(*refund.Refund) ([]byte, error) {
	return func(r *refund.Refund) ([]byte, error) {
		b, err := json.Marshal(a.viewRefund(r))
		return append(b, '\n'), err
	}
}

// idempotent runs create under the request's Idempotency-Key (API.md
// "Create"): a repeat with the same body replays the stored response, the
// same key with another body is 409. create stores the record in its own
// transaction through the RefundIdempotency it is given (nil without a key).
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, body []byte, location string,
	create func(k *service.RefundIdempotency) (*refund.Refund, error)) error {
	var k *service.RefundIdempotency
	if _, has := r.Header["Idempotency-Key"]; has {
		key, _ := keyFrom(r.Context())
		now := a.d.Now()
		ik, hash, unlock, replayed, err := a.replay(w, r, body, now)
		if err != nil || replayed {
			return err
		}
		defer unlock()
		k = &service.RefundIdempotency{APIKeyID: key.ID, Key: ik, RequestHash: hash, Response: renderRefund(a), ExpireBefore: now.Add(-IdempotencyTTL)}
	}
	rf, err := create(k)
	if err != nil {
		return refundErrs(err)
	}
	w.Header().Set("Location", location+rf.ID)
	httpx.WriteJSON(w, http.StatusCreated, a.viewRefund(rf))
	return nil
}

// createRefund is POST /v1/invoices/{id}/refunds.
func (a *API) createRefund(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixInvoice, "invoice")
	if err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var req service.RefundRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return err
	}
	if req.Amount == "" {
		return httpx.InvalidField("amount", "amount is required (a decimal string such as \"0.0005\")")
	}
	if len(req.Amount) > 100 {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeInvalidAmount, "amount", "amount is too long")
	}
	for f, v := range map[string]string{"currency": req.Currency, "method": req.Method, "rate": req.Rate} {
		if len(v) > maxShort || strings.ContainsFunc(v, isControl) {
			return httpx.InvalidField(f, "%s is at most %d printable characters", f, maxShort)
		}
	}
	return a.idempotent(w, r, body, "/v1/refunds/", func(k *service.RefundIdempotency) (*refund.Refund, error) {
		req.Idempotency = k
		return a.d.Refunds.CreateRefund(r.Context(), id, req)
	})
}

// listInvoiceRefunds is GET /v1/invoices/{id}/refunds.
func (a *API) listInvoiceRefunds(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixInvoice, "invoice")
	if err != nil {
		return err
	}
	rs, err := a.d.Refunds.InvoiceRefunds(r.Context(), id)
	if err != nil {
		return err
	}
	page := listPage[refund.View]{Data: make([]refund.View, 0, len(rs))}
	for _, rf := range rs {
		page.Data = append(page.Data, a.viewRefund(rf))
	}
	httpx.WriteJSON(w, http.StatusOK, page)
	return nil
}

// refundID reads {id}: rf_… (or sw_… where sweeps are meant).
func refundID(r *http.Request, prefix string) (string, error) {
	what := "refund"
	if prefix == refund.PrefixSweep {
		what = "sweep"
	}
	return pathID(r, prefix, what)
}

func (a *API) loadRefund(r *http.Request, prefix string) (*refund.Refund, error) {
	id, err := refundID(r, prefix)
	if err != nil {
		return nil, err
	}
	rf, err := a.d.Refunds.Refund(r.Context(), id)
	if err != nil {
		if prefix == refund.PrefixSweep && errors.Is(err, service.ErrRefundNotFound) {
			return nil, httpx.NotFound("sweep")
		}
		return nil, refundErrs(err)
	}
	return rf, nil
}

func (a *API) getRefundOf(prefix string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		rf, err := a.loadRefund(r, prefix)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, a.viewRefund(rf))
		return nil
	}
}

// psbtOf is GET /v1/refunds/{id}/psbt (and /v1/sweeps/{id}/psbt): JSON
// {"psbt": base64} by default, the BIP174 binary with
// Accept: application/octet-stream or ?format=binary, bare base64 text
// with ?format=base64.
func (a *API) psbtOf(prefix string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := queryParams(r, "format")
		if err != nil {
			return err
		}
		rf, err := a.loadRefund(r, prefix)
		if err != nil {
			return err
		}
		if len(rf.PSBT) == 0 {
			if rf.ChainKind != invoice.KindBitcoin {
				return httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "", "%s is an EVM refund: its unsigned transaction is the refund's \"transaction\" field", rf.ID)
			}
			return httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "", "refund %s is %s: it has no PSBT yet (the shopper has not given an address)", rf.ID, rf.Status)
		}
		format := q.Get("format")
		if format == "" && strings.Contains(r.Header.Get("Accept"), "application/octet-stream") {
			format = "binary"
		}
		view := a.viewRefund(rf)
		switch format {
		case "", "json":
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": rf.ID, "psbt": view.PSBT})
		case "binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="`+rf.ID+`.psbt"`)
			_, _ = w.Write(rf.PSBT)
		case "base64":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(view.PSBT + "\n"))
		default:
			return httpx.InvalidField("format", "format is json, base64 or binary")
		}
		return nil
	}
}

// broadcastRequest is POST /v1/refunds/{id}/broadcast.
type broadcastRequest struct {
	// Tx is the signed transaction in hex, or the signed PSBT in base64.
	Tx string `json:"tx"`
}

func (a *API) broadcastOf(prefix string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := refundID(r, prefix)
		if err != nil {
			return err
		}
		var req broadcastRequest
		if err := httpx.Decode(w, r, &req); err != nil {
			return err
		}
		rf, err := a.d.Refunds.Broadcast(r.Context(), id, []byte(req.Tx))
		if err != nil {
			return refundErrs(err)
		}
		httpx.WriteJSON(w, http.StatusOK, a.viewRefund(rf))
		return nil
	}
}

func (a *API) cancelOf(prefix string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := refundID(r, prefix)
		if err != nil {
			return err
		}
		rf, err := a.d.Refunds.CancelRefund(r.Context(), id)
		if err != nil {
			return refundErrs(err)
		}
		httpx.WriteJSON(w, http.StatusOK, a.viewRefund(rf))
		return nil
	}
}

// createSweep is POST /v1/sweeps.
func (a *API) createSweep(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var req service.SweepRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return err
	}
	if req.Chain == "" || len(req.Chain) > maxShort {
		return httpx.InvalidField("chain", "chain is required (a configured chain name such as \"bitcoin\")")
	}
	if len(req.ToDescriptor) > 1024 || len(req.ToAddress) > 128 {
		return httpx.InvalidField("to_address", "to_address is at most 128 and to_descriptor 1024 characters")
	}
	return a.idempotent(w, r, body, "/v1/sweeps/", func(k *service.RefundIdempotency) (*refund.Refund, error) {
		req.Idempotency = k
		return a.d.Refunds.CreateSweep(r.Context(), req)
	})
}
