package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
)

type detailData struct {
	Inv        invoice.View
	Exception  string
	Metadata   string
	Methods    []methodData
	Payments   []paymentData
	Events     []eventData
	Deliveries []deliveryData
	Final      bool
	CanCancel  bool
	Error      string       // an action's refusal, shown above the buttons
	Refunds    *refundsData // nil: refunds are not in this console
}

type methodData struct {
	invoice.MethodView
	QR string // URL of the checkout's QR PNG
}

type paymentData struct {
	invoice.PaymentView
	Required int
	Explorer string // "" = no explorer configured
}

type eventData struct {
	ID, Type, At string
}

type deliveryData struct {
	EventID, EventType, URL, At, Error string
	Attempt, Status                    int
	DurationMS                         int64
	OK                                 bool
}

// maxReason bounds the reason given for a manual mark.
const maxReason = 500

// invoiceDetail is GET /invoices/{id}.
func (h *Handler) invoiceDetail(w http.ResponseWriter, r *http.Request, rq *request) error {
	return h.renderDetail(w, r, rq, r.PathValue("id"), http.StatusOK, "")
}

func (h *Handler) renderDetail(w http.ResponseWriter, r *http.Request, rq *request, id string, status int, msg string) error {
	return h.renderDetailForm(w, r, rq, id, status, msg, nil)
}

// renderDetailForm is renderDetail keeping a refused refund form's values.
func (h *Handler) renderDetailForm(w http.ResponseWriter, r *http.Request, rq *request, id string, status int, msg string, form *refundForm) error {
	inv, err := h.d.Invoices.Get(r.Context(), id)
	if err != nil {
		return err
	}
	d := &detailData{Inv: inv.View(invoice.ViewOptions{BaseURL: h.cfg.BaseURL}), Exception: string(inv.Exception),
		Final: inv.Status.Final(), Error: msg}
	d.CanCancel = inv.Status == invoice.StatusNew
	for _, p := range inv.Payments {
		if p.Status == invoice.PaymentPending || p.Status == invoice.PaymentConfirmed {
			d.CanCancel = false
		}
	}
	if len(inv.Metadata) > 0 {
		// Indented, token for token as stored (metadata is never
		// interpreted); the template escapes it for HTML.
		var buf bytes.Buffer
		if json.Indent(&buf, inv.Metadata, "", "  ") != nil {
			buf.Reset()
			buf.Write(inv.Metadata)
		}
		d.Metadata = strings.TrimSpace(buf.String())
	}
	chainOf := map[string]string{}
	required := map[string]int{}
	for _, m := range d.Inv.Methods {
		chainOf[m.Method] = m.Chain
		required[m.Method] = m.ConfirmationsRequired
		d.Methods = append(d.Methods, methodData{MethodView: m, QR: "/i/" + inv.ID + "/qr/" + m.Method + ".png"})
	}
	for _, p := range d.Inv.Payments {
		pd := paymentData{PaymentView: p, Required: required[p.Method]}
		if t := h.cfg.Explorers[chainOf[p.Method]]; t != "" {
			pd.Explorer = strings.ReplaceAll(t, "{txid}", p.TxID)
		}
		d.Payments = append(d.Payments, pd)
	}
	evs, err := h.d.Store.InvoiceEvents(r.Context(), inv.ID)
	if err != nil {
		return err
	}
	for _, e := range evs {
		d.Events = append(d.Events, eventData{ID: e.ID, Type: string(e.Type), At: fmtTime(e.CreatedAt)})
	}
	as, err := h.d.Store.InvoiceWebhookAttempts(r.Context(), inv.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		d.Deliveries = append(d.Deliveries, deliveryData{EventID: a.EventID, EventType: a.EventType, URL: a.URL, At: fmtTime(a.At),
			Error: snippet(a.Error, 300), Attempt: a.Attempt, Status: a.StatusCode, DurationMS: a.DurationMS,
			OK: a.StatusCode >= 200 && a.StatusCode < 300})
	}
	if d.Refunds, err = h.refundsCard(r.Context(), inv, rq, form); err != nil {
		return err
	}
	h.render(w, r, rq, "invoice", status, d)
	return nil
}

// snippet cuts s to at most n bytes on a rune boundary.
func snippet(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// actionError turns a service refusal (409, validation) into the detail page
// with its message; anything else is returned.
func (h *Handler) actionError(w http.ResponseWriter, r *http.Request, rq *request, id string, err error) error {
	var se *service.Error
	if errors.As(err, &se) {
		return h.renderDetail(w, r, rq, id, se.Status, se.Message)
	}
	return err
}

// invoiceCancel is POST /invoices/{id}/cancel.
func (h *Handler) invoiceCancel(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		return h.renderDetail(w, r, rq, id, http.StatusBadRequest, rq.loc.T("need_confirm"))
	}
	if _, err := h.d.Invoices.Cancel(r.Context(), id); err != nil {
		return h.actionError(w, r, rq, id, err)
	}
	h.audit(r, rq, "invoice.cancel", id, "")
	return h.redirect(w, r, "/invoices/"+id, "cancelled")
}

// invoiceMark is POST /invoices/{id}/mark: status settled|invalid, a
// required reason and the confirm box.
func (h *Handler) invoiceMark(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	status := invoice.Status(r.PostFormValue("status"))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case status != invoice.StatusSettled && status != invoice.StatusInvalid:
		return h.renderDetail(w, r, rq, id, http.StatusBadRequest, `status must be "settled" or "invalid"`)
	case reason == "":
		return h.renderDetail(w, r, rq, id, http.StatusBadRequest, rq.loc.T("need_reason"))
	case len(reason) > maxReason:
		return h.renderDetail(w, r, rq, id, http.StatusBadRequest, rq.loc.T("reason_too_long", maxReason))
	case r.PostFormValue("confirm") != "yes":
		return h.renderDetail(w, r, rq, id, http.StatusBadRequest, rq.loc.T("need_confirm"))
	}
	if _, err := h.d.Invoices.Mark(r.Context(), id, status); err != nil {
		return h.actionError(w, r, rq, id, err)
	}
	h.audit(r, rq, "invoice.mark_"+string(status), id, reason)
	return h.redirect(w, r, "/invoices/"+id, "marked")
}

// invoiceRedeliver is POST /invoices/{id}/redeliver?event=evt_…: re-queues
// one of the invoice's events for its webhooks.
func (h *Handler) invoiceRedeliver(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	evID := r.PostFormValue("event")
	evs, err := h.d.Store.InvoiceEvents(r.Context(), id)
	if err != nil {
		return err
	}
	found := false
	for _, e := range evs {
		found = found || e.ID == evID
	}
	if !found {
		return h.renderDetail(w, r, rq, id, http.StatusBadRequest, rq.loc.T("no_such_event"))
	}
	if err := h.d.Webhooks.Redeliver(r.Context(), evID); err != nil {
		return err
	}
	h.audit(r, rq, "event.redeliver", evID, id)
	return h.redirect(w, r, "/invoices/"+id, "redelivered")
}
