package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/webhook"
)

type webhooksData struct {
	Endpoints  []endpointData
	EventTypes []string
	URL        string
	Events     []string
	Error      string
	Created    *webhook.Endpoint // set once, with its secret
	Rotated    bool              // Created is an existing endpoint with a new secret
	Test       *testResult
}

type testResult struct {
	EndpointID, URL string
	deliveryData
}

type endpointData struct {
	webhook.Endpoint
	Created  string
	Attempts []deliveryData
}

func (h *Handler) webhooksData(r *http.Request) (*webhooksData, error) {
	eps, err := h.d.Webhooks.Endpoints(r.Context())
	if err != nil {
		return nil, err
	}
	d := &webhooksData{}
	for _, t := range invoice.EventTypes {
		d.EventTypes = append(d.EventTypes, string(t))
	}
	for _, e := range eps {
		ed := endpointData{Endpoint: e, Created: fmtTime(e.CreatedAt)}
		as, err := h.d.Webhooks.Attempts(r.Context(), e.ID, 20)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			ed.Attempts = append(ed.Attempts, deliveryData{EventID: a.EventID, At: fmtTime(a.At), Error: snippet(a.Error, 300),
				Attempt: a.Attempt, Status: a.StatusCode, DurationMS: a.DurationMS, OK: a.StatusCode >= 200 && a.StatusCode < 300})
		}
		d.Endpoints = append(d.Endpoints, ed)
	}
	return d, nil
}

// webhooksPage is GET /webhooks.
func (h *Handler) webhooksPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	d, err := h.webhooksData(r)
	if err != nil {
		return err
	}
	h.render(w, r, rq, "webhooks", http.StatusOK, d)
	return nil
}

// webhookCreate is POST /webhooks; the new secret is shown on this response
// only.
func (h *Handler) webhookCreate(w http.ResponseWriter, r *http.Request, rq *request) error {
	u := strings.TrimSpace(r.PostFormValue("url"))
	events := r.PostForm["event"]
	var ep webhook.Endpoint
	err := validateWebhook(u, events)
	if err == nil {
		ep, err = h.d.Webhooks.CreateEndpoint(r.Context(), u, events)
	}
	d, derr := h.webhooksData(r)
	if derr != nil {
		return derr
	}
	d.URL, d.Events = u, events
	if err != nil {
		var ve *webhook.ValidationError
		var fe *fieldError
		switch {
		case errors.As(err, &ve):
			d.Error = ve.Message
		case errors.As(err, &fe):
			d.Error = fe.msg
		default:
			return err
		}
		h.render(w, r, rq, "webhooks", http.StatusBadRequest, d)
		return nil
	}
	h.audit(r, rq, "webhook.create", ep.ID, ep.URL)
	d.Created, d.URL, d.Events = &ep, "", nil
	h.render(w, r, rq, "webhooks", http.StatusCreated, d)
	return nil
}

// webhookDelete is POST /webhooks/{id}/delete.
func (h *Handler) webhookDelete(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	if err := h.d.Webhooks.DeleteEndpoint(r.Context(), id); err != nil {
		var ve *webhook.ValidationError
		if errors.As(err, &ve) {
			d, derr := h.webhooksData(r)
			if derr != nil {
				return derr
			}
			d.Error = ve.Message
			h.render(w, r, rq, "webhooks", http.StatusBadRequest, d)
			return nil
		}
		return err
	}
	h.audit(r, rq, "webhook.delete", id, "")
	return h.redirect(w, r, "/webhooks", "deleted")
}

// webhookDisable is POST /webhooks/{id}/disable (disabled) or
// /webhooks/{id}/enable: a disabled endpoint gets nothing until enabled, and
// what was queued for it then goes out in order.
func (h *Handler) webhookDisable(disabled bool) func(http.ResponseWriter, *http.Request, *request) error {
	action, flash := "webhook.enable", "endpoint_enabled"
	if disabled {
		action, flash = "webhook.disable", "endpoint_disabled"
	}
	return func(w http.ResponseWriter, r *http.Request, rq *request) error {
		id := r.PathValue("id")
		if _, err := h.d.Webhooks.SetDisabled(r.Context(), id, disabled); err != nil {
			var ve *webhook.ValidationError
			if errors.As(err, &ve) {
				d, derr := h.webhooksData(r)
				if derr != nil {
					return derr
				}
				d.Error = ve.Message
				h.render(w, r, rq, "webhooks", http.StatusBadRequest, d)
				return nil
			}
			return err
		}
		h.audit(r, rq, action, id, "")
		return h.redirect(w, r, "/webhooks", flash)
	}
}

// webhookTest is POST /webhooks/{id}/test: a signed webhook.test event, sent
// at once; the page shows what the receiver answered.
func (h *Handler) webhookTest(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	a, err := h.d.Webhooks.SendTest(r.Context(), id)
	if err != nil {
		return err
	}
	h.audit(r, rq, "webhook.test", id, fmt.Sprintf("status %d", a.StatusCode))
	d, err := h.webhooksData(r)
	if err != nil {
		return err
	}
	d.Test = &testResult{EndpointID: id, deliveryData: deliveryData{EventID: a.EventID, At: fmtTime(a.At), Error: snippet(a.Error, 300),
		Status: a.StatusCode, DurationMS: a.DurationMS, OK: a.StatusCode >= 200 && a.StatusCode < 300}}
	for _, e := range d.Endpoints {
		if e.ID == id {
			d.Test.URL = e.URL
		}
	}
	h.render(w, r, rq, "webhooks", http.StatusOK, d)
	return nil
}

// webhookRotate is POST /webhooks/{id}/rotate: a new signing secret, shown on
// this response only.
func (h *Handler) webhookRotate(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	var ep webhook.Endpoint
	var err error
	if r.PostFormValue("confirm") != "yes" {
		err = &fieldError{field: "confirm", msg: rq.loc.T("need_confirm")}
	} else {
		ep, err = h.d.Webhooks.RotateSecret(r.Context(), id)
	}
	var ve *webhook.ValidationError
	var fe *fieldError
	if errors.As(err, &ve) || errors.As(err, &fe) {
		d, derr := h.webhooksData(r)
		if derr != nil {
			return derr
		}
		if ve != nil {
			d.Error = ve.Message
		} else {
			d.Error = fe.msg
		}
		h.render(w, r, rq, "webhooks", http.StatusBadRequest, d)
		return nil
	}
	if err != nil {
		return err
	}
	h.audit(r, rq, "webhook.rotate_secret", id, "")
	d, err := h.webhooksData(r)
	if err != nil {
		return err
	}
	d.Created, d.Rotated = &ep, true
	h.render(w, r, rq, "webhooks", http.StatusOK, d)
	return nil
}
