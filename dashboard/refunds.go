package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

// Refunds is what the console does with refunds (*service.Service): the
// invoice page lists an invoice's refunds and lets an admin create one,
// download its PSBT, hand back the signed transaction or cancel it
// (docs/refunds.md). nil leaves refunds out of the console.
type Refunds interface {
	InvoiceRefunds(ctx context.Context, invoiceID string) ([]*refund.Refund, error)
	CreateRefund(ctx context.Context, invoiceID string, req service.RefundRequest) (*refund.Refund, error)
	Refund(ctx context.Context, id string) (*refund.Refund, error)
	Broadcast(ctx context.Context, id string, signed []byte) (*refund.Refund, error)
	CancelRefund(ctx context.Context, id string) (*refund.Refund, error)
	RefundViewOptions() refund.ViewOptions
}

// refundsData is the invoice page's refunds card.
type refundsData struct {
	List       []refundRow
	Refundable []refundableMethod // methods with something left to refund (empty: no form)
	FormID     string
	Form       refundForm // values kept after a refusal
}

type refundRow struct {
	refund.View
	Address  string // "" = none yet
	Bitcoin  bool
	Open     bool // ready: can be signed, broadcast or canceled
	Cancel   bool // awaiting_address or ready
	Explorer string
}

type refundableMethod struct {
	Method, Asset, Rest string
	Bitcoin             bool
}

type refundForm struct {
	Method, Amount, Address, Reason, FeeRate string
}

// maxSigned bounds a pasted signed transaction (hex or base64 PSBT).
const maxSigned = 200 << 10

func (h *Handler) refundsCard(ctx context.Context, inv *invoice.Invoice, rq *request, form *refundForm) (*refundsData, error) {
	if h.d.Refunds == nil {
		return nil, nil
	}
	rs, err := h.d.Refunds.InvoiceRefunds(ctx, inv.ID)
	if err != nil {
		return nil, err
	}
	o := h.d.Refunds.RefundViewOptions()
	if o.BaseURL == "" {
		o.BaseURL = h.cfg.BaseURL
	}
	d := &refundsData{FormID: newFormID()}
	if form != nil {
		d.Form = *form
	}
	for _, r := range rs {
		v := r.View(o)
		row := refundRow{View: v, Bitcoin: r.ChainKind == invoice.KindBitcoin,
			Open: r.Status == refund.StatusReady, Cancel: r.Status == refund.StatusReady || r.Status == refund.StatusAwaitingAddress}
		if v.Address != nil {
			row.Address = *v.Address
		}
		if t := h.cfg.Explorers[r.Chain]; t != "" && v.TxID != nil {
			row.Explorer = strings.ReplaceAll(t, "{txid}", *v.TxID)
		}
		d.List = append(d.List, row)
	}
	if refund.CanRefund(inv) == nil && rq.admin.Role == "admin" {
		for _, m := range inv.Methods {
			if m.Kind != invoice.KindBitcoin && m.Kind != invoice.KindEVM {
				continue // Lightning: refunded from the merchant's own lnd
			}
			rest, err := refund.Refundable(inv, m.Method, rs)
			if err != nil || rest.Sign() <= 0 {
				continue
			}
			d.Refundable = append(d.Refundable, refundableMethod{Method: m.Method, Asset: m.Asset.Code,
				Rest: invoice.FormatFor(m.Asset, rest), Bitcoin: m.Kind == invoice.KindBitcoin})
		}
	}
	return d, nil
}

// refundCreate is POST /invoices/{id}/refunds: amount, method, an optional
// address (none: a claim link), reason, fee rate. The form id makes a double
// submit create one refund (as the create form does for invoices).
func (h *Handler) refundCreate(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	if h.d.Refunds == nil {
		return pageErr(http.StatusNotFound, "err_not_found")
	}
	f := refundForm{Method: r.PostFormValue("method"), Amount: strings.TrimSpace(r.PostFormValue("amount")),
		Address: strings.TrimSpace(r.PostFormValue("address")), Reason: strings.TrimSpace(r.PostFormValue("reason")),
		FeeRate: strings.TrimSpace(r.PostFormValue("fee_rate"))}
	refuse := func(status int, msg string) error { return h.renderDetailForm(w, r, rq, id, status, msg, &f) }
	formID := r.PostFormValue("form_id")
	switch {
	case !validFormID(formID):
		return refuse(http.StatusBadRequest, rq.loc.T("form_reused"))
	case f.Amount == "":
		return refuse(http.StatusBadRequest, rq.loc.T("refund_need_amount"))
	case len(f.Reason) > maxReason:
		return refuse(http.StatusBadRequest, rq.loc.T("reason_too_long", maxReason))
	}
	req := service.RefundRequest{Amount: f.Amount, Method: f.Method, Address: f.Address, Reason: f.Reason}
	if f.FeeRate != "" {
		n, err := strconv.ParseInt(f.FeeRate, 10, 64)
		if err != nil || n < 1 {
			return refuse(http.StatusBadRequest, rq.loc.T("refund_bad_fee"))
		}
		req.FeeRate = &n
	}
	rf, err := h.refundOnce(r, rq, formID, req)
	if err != nil {
		var se *service.Error
		if errors.As(err, &se) {
			return refuse(se.Status, se.Message)
		}
		return err
	}
	h.audit(r, rq, "refund.create", rf.ID, id+" "+invoice.FormatFor(rf.Asset, rf.Amount)+" "+rf.Asset.Code)
	return h.redirect(w, r, "/invoices/"+id, "refund_created")
}

// refundOnce creates the refund of a form once, keyed by the form id as an
// Idempotency-Key owned by the signed-in admin and stored in the refund's
// own transaction.
func (h *Handler) refundOnce(r *http.Request, rq *request, formID string, req service.RefundRequest) (*refund.Refund, error) {
	owner := "console:" + rq.admin.ID
	sum := sha256.New()
	fee := ""
	if req.FeeRate != nil {
		fee = strconv.FormatInt(*req.FeeRate, 10)
	}
	for _, v := range []string{r.PathValue("id"), req.Amount, req.Method, req.Address, req.Reason, fee} {
		sum.Write([]byte(v))
		sum.Write([]byte{0})
	}
	hash := hex.EncodeToString(sum.Sum(nil))
	h.createMu.Lock()
	defer h.createMu.Unlock()
	rec, err := h.d.Store.IdempotencyRecord(r.Context(), owner, formID, rq.now.Add(-formIdemTTL))
	switch {
	case err == nil && rec.RequestHash == hash:
		return h.d.Refunds.Refund(r.Context(), string(rec.Response))
	case err == nil:
		return nil, &service.Error{Status: http.StatusConflict, Code: "conflict", Message: rq.loc.T("form_reused")}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	req.Idempotency = &service.RefundIdempotency{APIKeyID: owner, Key: formID, RequestHash: hash,
		Response:     func(rf *refund.Refund) ([]byte, error) { return []byte(rf.ID), nil },
		ExpireBefore: rq.now.Add(-formIdemTTL)}
	return h.d.Refunds.CreateRefund(r.Context(), r.PathValue("id"), req)
}

// loadRefund is the refund of a /refunds/{id}/… action, or a not-found page.
func (h *Handler) loadRefund(r *http.Request) (*refund.Refund, error) {
	if h.d.Refunds == nil {
		return nil, pageErr(http.StatusNotFound, "err_not_found")
	}
	rf, err := h.d.Refunds.Refund(r.Context(), r.PathValue("id"))
	if errors.Is(err, service.ErrRefundNotFound) || (err == nil && rf.Kind != refund.KindRefund) {
		return nil, pageErr(http.StatusNotFound, "err_not_found")
	}
	return rf, err
}

// refundPSBT is GET /refunds/{id}/psbt: the BIP174 file for the merchant's
// wallet (Sparrow, Electrum, a hardware wallet).
func (h *Handler) refundPSBT(w http.ResponseWriter, r *http.Request, rq *request) error {
	rf, err := h.loadRefund(r)
	if err != nil {
		return err
	}
	if len(rf.PSBT) == 0 {
		return pageErr(http.StatusNotFound, "err_not_found")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+rf.ID+`.psbt"`)
	_, _ = w.Write(rf.PSBT)
	return nil
}

// refundBroadcast is POST /refunds/{id}/broadcast: the signed transaction
// (hex) or signed PSBT (base64) pasted from the wallet; payd checks it pays
// the refund address the agreed amount before sending it.
func (h *Handler) refundBroadcast(w http.ResponseWriter, r *http.Request, rq *request) error {
	rf, err := h.loadRefund(r)
	if err != nil {
		return err
	}
	signed := strings.TrimSpace(r.PostFormValue("signed"))
	switch {
	case signed == "":
		return h.renderDetail(w, r, rq, rf.InvoiceID, http.StatusBadRequest, rq.loc.T("refund_need_signed"))
	case len(signed) > maxSigned:
		return h.renderDetail(w, r, rq, rf.InvoiceID, http.StatusBadRequest, rq.loc.T("refund_signed_too_long"))
	}
	if _, err := h.d.Refunds.Broadcast(r.Context(), rf.ID, []byte(signed)); err != nil {
		return h.actionError(w, r, rq, rf.InvoiceID, err)
	}
	h.audit(r, rq, "refund.broadcast", rf.ID, rf.InvoiceID)
	return h.redirect(w, r, "/invoices/"+rf.InvoiceID, "refund_broadcast")
}

// refundCancel is POST /refunds/{id}/cancel (with the confirm box).
func (h *Handler) refundCancel(w http.ResponseWriter, r *http.Request, rq *request) error {
	rf, err := h.loadRefund(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return h.renderDetail(w, r, rq, rf.InvoiceID, http.StatusBadRequest, rq.loc.T("need_confirm"))
	}
	if _, err := h.d.Refunds.CancelRefund(r.Context(), rf.ID); err != nil {
		return h.actionError(w, r, rq, rf.InvoiceID, err)
	}
	h.audit(r, rq, "refund.cancel", rf.ID, rf.InvoiceID)
	return h.redirect(w, r, "/invoices/"+rf.InvoiceID, "refund_canceled")
}
