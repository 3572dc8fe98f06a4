package api

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/webhook"
)

// webhookView is a webhook endpoint as the API shows it. Secret is only set
// in the response to its creation.
type webhookView struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	Source    string   `json:"source,omitempty"`
	CreatedAt string   `json:"created_at"`
}

func viewWebhook(e webhook.Endpoint, withSecret bool) webhookView {
	v := webhookView{ID: e.ID, URL: e.URL, Events: e.Events, Source: e.Source, CreatedAt: invoice.FormatTime(e.CreatedAt)}
	if v.Events == nil {
		v.Events = []string{}
	}
	if withSecret {
		v.Secret = e.Secret
	}
	return v
}

// createWebhookRequest is POST /v1/webhooks.
type createWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// createWebhook is POST /v1/webhooks.
func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req createWebhookRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	if req.URL == "" {
		return httpx.InvalidField("url", "url is required")
	}
	if len(req.URL) > maxURL {
		return httpx.InvalidField("url", "url is longer than %d bytes", maxURL)
	}
	if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return httpx.InvalidField("url", "url must be an absolute http(s) URL")
	}
	if len(req.Events) == 0 {
		req.Events = []string{"*"}
	}
	if len(req.Events) > len(invoice.EventTypes)+1 {
		return httpx.InvalidField("events", "too many event types")
	}
	for _, e := range req.Events {
		if e != "*" && !invoice.ValidEventType(e) {
			return httpx.InvalidField("events", "unknown event type %q", e)
		}
	}
	if slices.Contains(req.Events, "*") && len(req.Events) > 1 {
		return httpx.InvalidField("events", "\"*\" already means every event type; send it alone")
	}
	ep, err := a.d.Webhooks.CreateEndpoint(r.Context(), req.URL, req.Events)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/webhooks/"+ep.ID)
	httpx.WriteJSON(w, http.StatusCreated, viewWebhook(ep, true))
	return nil
}

// listWebhooks is GET /v1/webhooks (every endpoint; there are few).
func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	eps, err := a.d.Webhooks.Endpoints(r.Context())
	if err != nil {
		return err
	}
	page := listPage[webhookView]{Data: make([]webhookView, 0, len(eps))}
	for _, e := range eps {
		page.Data = append(page.Data, viewWebhook(e, false))
	}
	httpx.WriteJSON(w, http.StatusOK, page)
	return nil
}

// getWebhook is GET /v1/webhooks/{id}.
func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixWebhook, "webhook endpoint")
	if err != nil {
		return err
	}
	ep, err := a.d.Webhooks.Endpoint(r.Context(), id)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, viewWebhook(ep, false))
	return nil
}

// deleteWebhook is DELETE /v1/webhooks/{id} → 204.
func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixWebhook, "webhook endpoint")
	if err != nil {
		return err
	}
	if err := a.d.Webhooks.DeleteEndpoint(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// attemptView is one delivery attempt.
type attemptView struct {
	EventID    string `json:"event_id"`
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
	DurationMS int64  `json:"duration_ms"`
	At         string `json:"at"`
}

// listDeliveries is GET /v1/webhooks/{id}/deliveries?limit=: newest first.
func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixWebhook, "webhook endpoint")
	if err != nil {
		return err
	}
	q, err := queryParams(r, "limit")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	if _, err := a.d.Webhooks.Endpoint(r.Context(), id); err != nil {
		return err
	}
	at, err := a.d.Webhooks.Attempts(r.Context(), id, limit+1)
	if err != nil {
		return err
	}
	page := listPage[attemptView]{Data: make([]attemptView, 0, len(at))}
	if len(at) > limit {
		at, page.HasMore = at[:limit], true
	}
	for _, x := range at {
		page.Data = append(page.Data, attemptView{EventID: x.EventID, Attempt: x.Attempt, StatusCode: x.StatusCode,
			Error: x.Error, DurationMS: x.DurationMS, At: invoice.FormatTime(x.At)})
	}
	httpx.WriteJSON(w, http.StatusOK, page)
	return nil
}
