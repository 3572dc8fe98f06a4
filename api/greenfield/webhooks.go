package greenfield

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/webhook"
)

// Greenfield invoice webhook event types and the payd events they carry.
// payment_reorged is sent as InvoiceProcessing (the invoice's new status):
// Greenfield has no reorg event.
var eventTypes = []struct {
	gf   string
	payd []invoice.EventType
}{
	{"InvoiceCreated", []invoice.EventType{invoice.EventCreated}},
	{"InvoiceReceivedPayment", []invoice.EventType{invoice.EventPaymentReceived}},
	{"InvoicePaymentSettled", []invoice.EventType{invoice.EventPaymentConfirmed}},
	{"InvoiceProcessing", []invoice.EventType{invoice.EventProcessing, invoice.EventPaymentReorged}},
	{"InvoiceSettled", []invoice.EventType{invoice.EventSettled}},
	{"InvoiceExpired", []invoice.EventType{invoice.EventExpired}},
	{"InvoiceInvalid", []invoice.EventType{invoice.EventInvalid}},
}

// EventType returns the Greenfield type of a payd event ("" for none).
func EventType(t invoice.EventType) string {
	for _, e := range eventTypes {
		if slices.Contains(e.payd, t) {
			return e.gf
		}
	}
	return ""
}

// webhookOptions are what a Greenfield endpoint keeps in its options.
type webhookOptions struct {
	Enabled             bool     `json:"enabled"`
	AutomaticRedelivery bool     `json:"automaticRedelivery"`
	Everything          bool     `json:"everything"`
	SpecificEvents      []string `json:"specificEvents"`
}

// webhookRequest is Greenfield's Create/UpdateStoreWebhookRequest; null
// means the default (enabled, automaticRedelivery and everything true).
type webhookRequest struct {
	Enabled             *bool   `json:"enabled"`
	AutomaticRedelivery *bool   `json:"automaticRedelivery"`
	URL                 *string `json:"url"`
	Secret              *string `json:"secret"`
	AuthorizedEvents    *struct {
		Everything     *bool    `json:"everything"`
		SpecificEvents []string `json:"specificEvents"`
	} `json:"authorizedEvents"`
}

type webhookView struct {
	ID                  string `json:"id"`
	Enabled             bool   `json:"enabled"`
	AutomaticRedelivery bool   `json:"automaticRedelivery"`
	URL                 string `json:"url"`
	AuthorizedEvents    struct {
		Everything     bool     `json:"everything"`
		SpecificEvents []string `json:"specificEvents"`
	} `json:"authorizedEvents"`
	Secret string `json:"secret,omitempty"`
}

func viewWebhook(e webhook.FormattedEndpoint, withSecret bool) webhookView {
	var o webhookOptions
	_ = json.Unmarshal([]byte(e.Options), &o)
	v := webhookView{ID: e.ID, Enabled: o.Enabled, AutomaticRedelivery: o.AutomaticRedelivery, URL: e.URL}
	v.AuthorizedEvents.Everything = o.Everything
	v.AuthorizedEvents.SpecificEvents = o.SpecificEvents
	if v.AuthorizedEvents.SpecificEvents == nil {
		v.AuthorizedEvents.SpecificEvents = []string{}
	}
	if withSecret {
		v.Secret = e.Secret
	}
	return v
}

// spec turns a request into the endpoint to store. Event types that payd
// never sends (payouts, pull payments, …) are kept and shown, never matched;
// an endpoint that matches nothing is stored disabled.
func spec(body []byte) (webhook.EndpointSpec, error) {
	var req webhookRequest
	if err := decode(body, &req); err != nil {
		return webhook.EndpointSpec{}, err
	}
	if req.URL == nil || *req.URL == "" {
		return webhook.EndpointSpec{}, invalid("url", "url is required")
	}
	o := webhookOptions{Enabled: true, AutomaticRedelivery: true, Everything: true, SpecificEvents: []string{}}
	if req.Enabled != nil {
		o.Enabled = *req.Enabled
	}
	if req.AutomaticRedelivery != nil {
		o.AutomaticRedelivery = *req.AutomaticRedelivery
	}
	if ae := req.AuthorizedEvents; ae != nil {
		if ae.Everything != nil {
			o.Everything = *ae.Everything
		}
		if len(ae.SpecificEvents) > 64 {
			return webhook.EndpointSpec{}, invalid("authorizedEvents.specificEvents", "at most 64 event types")
		}
		for _, t := range ae.SpecificEvents {
			if t == "" || len(t) > 64 {
				return webhook.EndpointSpec{}, invalid("authorizedEvents.specificEvents", "event types are names such as InvoiceSettled")
			}
			if !slices.Contains(o.SpecificEvents, t) {
				o.SpecificEvents = append(o.SpecificEvents, t)
			}
		}
	}
	s := webhook.EndpointSpec{URL: *req.URL, Format: webhook.FormatGreenfield, Disabled: !o.Enabled}
	if req.Secret != nil {
		s.Secret = *req.Secret
		if len(s.Secret) > 256 {
			return webhook.EndpointSpec{}, invalid("secret", "secret is longer than 256 characters")
		}
	}
	if !o.Everything {
		for _, e := range eventTypes {
			if slices.Contains(o.SpecificEvents, e.gf) {
				for _, t := range e.payd {
					s.Events = append(s.Events, string(t))
				}
			}
		}
		if len(s.Events) == 0 {
			s.Disabled = true // nothing payd sends is asked for
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return webhook.EndpointSpec{}, err
	}
	s.Options = string(b)
	return s, nil
}

// createWebhook is POST …/webhooks → 200 with the secret (shown once).
func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	s, err := spec(body)
	if err != nil {
		return err
	}
	ep, err := a.d.Webhooks.CreateFormattedEndpoint(r.Context(), s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewWebhook(ep, true))
	return nil
}

// updateWebhook is PUT …/webhooks/{webhookId}.
func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	s, err := spec(body)
	if err != nil {
		return err
	}
	ep, err := a.d.Webhooks.UpdateFormattedEndpoint(r.Context(), r.PathValue("webhookId"), s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewWebhook(ep, false))
	return nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	eps, err := a.d.Webhooks.FormattedEndpoints(r.Context(), webhook.FormatGreenfield)
	if err != nil {
		return err
	}
	out := []webhookView{}
	for _, e := range eps {
		out = append(out, viewWebhook(e, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) endpoint(r *http.Request) (webhook.FormattedEndpoint, error) {
	return a.d.Webhooks.FormattedEndpoint(r.Context(), webhook.FormatGreenfield, r.PathValue("webhookId"))
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewWebhook(ep, false))
	return nil
}

// deleteWebhook is DELETE …/webhooks/{webhookId} → 200.
func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	if err := a.d.Webhooks.DeleteEndpoint(r.Context(), ep.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// deliveryView is Greenfield's WebhookDeliveryData: one per event, showing
// its latest attempt.
type deliveryView struct {
	ID           string `json:"id"`
	Timestamp    int64  `json:"timestamp"`
	HTTPCode     *int   `json:"httpCode"`
	ErrorMessage string `json:"errorMessage"`
	Status       string `json:"status"` // Failed | HttpError | HttpSuccess
	Pruned       bool   `json:"pruned"`
}

func (a *API) deliveries(r *http.Request) ([]deliveryView, error) {
	ep, err := a.endpoint(r)
	if err != nil {
		return nil, err
	}
	at, err := a.d.Webhooks.Attempts(r.Context(), ep.ID, 1000)
	if err != nil {
		return nil, err
	}
	out := []deliveryView{}
	seen := map[string]bool{}
	for _, x := range at { // newest first: the first per event is its latest
		if seen[x.EventID] {
			continue
		}
		seen[x.EventID] = true
		d := deliveryView{ID: x.EventID, Timestamp: x.At.Unix(), ErrorMessage: x.Error, Status: "Failed"}
		if x.StatusCode != 0 {
			c := x.StatusCode
			d.HTTPCode, d.Status = &c, "HttpError"
			if c >= 200 && c < 300 {
				d.Status = "HttpSuccess"
			}
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp > out[j].Timestamp })
	return out, nil
}

// listDeliveries is GET …/webhooks/{id}/deliveries?count=N, newest first.
func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	out, err := a.deliveries(r)
	if err != nil {
		return err
	}
	if c := r.URL.Query().Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return invalid("count", "count must be a non-negative integer")
		}
		out = out[:min(n, len(out))]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deliveryEvent maps a delivery id ("evt_…" or a redelivery's "evt_…-N")
// to its event id.
func deliveryEvent(id string) (string, bool) {
	ev, _, _ := strings.Cut(id, "-")
	return ev, invoice.ValidID(ev, invoice.PrefixEvent)
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	ev, ok := deliveryEvent(r.PathValue("deliveryId"))
	out, err := a.deliveries(r)
	if err != nil {
		return err
	}
	for _, d := range out {
		if ok && d.ID == ev {
			writeJSON(w, http.StatusOK, d)
			return nil
		}
	}
	return &Error{Status: http.StatusNotFound, Code: "webhookdelivery-not-found", Message: "webhook delivery not found"}
}

// redeliver is POST …/deliveries/{deliveryId}/redeliver → the delivery id
// (a JSON string). The event is re-queued for this endpoint only.
func (a *API) redeliver(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	ev, ok := deliveryEvent(r.PathValue("deliveryId"))
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: "webhookdelivery-not-found", Message: "webhook delivery not found"}
	}
	if err := a.d.Webhooks.RedeliverTo(r.Context(), ep.ID, ev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}
