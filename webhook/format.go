package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Format renders the deliveries of the endpoints whose Format names it, in
// place of payd's own body and Payd-Signature (e.g. BTCPay Greenfield's
// bodies signed with BTCPay-Sig). It is called at send time, for every
// attempt, so it must be pure: same Delivery, same bytes. The outbox, the
// retries and the attempt log are the Manager's whatever the format.
type Format interface {
	Render(d Delivery) (body []byte, header http.Header, err error)
}

// Delivery is what a Format renders: one attempt of one event to one endpoint.
type Delivery struct {
	EndpointID string
	Secret     string // the endpoint's signing secret; never log it
	Options    string // the endpoint's format options (opaque JSON)
	EventID    string
	EventType  string
	Payload    []byte // payd's event body as stored ({"id","type","created_at","invoice"})
	// Redelivery counts how often the event was re-queued for this endpoint
	// (0 for the original delivery).
	Redelivery int64
	Attempt    int // 1 for the first attempt
	Now        time.Time
}

// render returns the body and headers of an attempt: payd's own for an
// endpoint without format, else the named Format's (an unknown format is an
// error, so the attempt fails and is retried once the format is configured).
func (m *Manager) render(ep store.WebhookEndpoint, d store.WebhookDelivery, now time.Time) ([]byte, http.Header, error) {
	if ep.Format == "" {
		h := http.Header{}
		h.Set("Payd-Event-Id", d.EventID)
		h.Set("Payd-Event-Type", d.EventType)
		h.Set("Payd-Signature", Sign(ep.Secret, now, d.Payload))
		return d.Payload, h, nil
	}
	f := m.cfg.Formats[ep.Format]
	if f == nil {
		return nil, nil, fmt.Errorf("webhook format %q is not enabled", ep.Format)
	}
	return f.Render(Delivery{EndpointID: ep.ID, Secret: ep.Secret, Options: ep.Options, EventID: d.EventID, EventType: d.EventType,
		Payload: d.Payload, Redelivery: d.Gen, Attempt: d.Attempts + 1, Now: now})
}

// EndpointSpec describes an API endpoint with a format.
type EndpointSpec struct {
	URL      string
	Events   []string // payd event types; empty = every type
	Secret   string   // "" = generate one (on create) or keep the current one (on update)
	Format   string   // e.g. FormatGreenfield
	Disabled bool
	Options  string // opaque JSON kept for the format
}

// FormattedEndpoint is an endpoint with its format fields. Secret is set
// only in CreateFormattedEndpoint's result.
type FormattedEndpoint struct {
	Endpoint
	Format   string
	Disabled bool
	Options  string
}

func toFormatted(e store.WebhookEndpoint) FormattedEndpoint {
	return FormattedEndpoint{Endpoint: toEndpoint(e), Format: e.Format, Disabled: e.Disabled, Options: e.Options}
}

func newSecret() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook: secret: %w", err)
	}
	return "whsec_" + hex.EncodeToString(b[:]), nil
}

// CreateFormattedEndpoint registers an API endpoint delivering in s.Format,
// with CreateEndpoint's checks. The result carries the secret.
func (m *Manager) CreateFormattedEndpoint(ctx context.Context, s EndpointSpec) (FormattedEndpoint, error) {
	if err := checkURL(ctx, s.URL, m.cfg.AllowPrivate, true); err != nil {
		return FormattedEndpoint{}, err
	}
	evs, err := normalizeEvents(s.Events)
	if err != nil {
		return FormattedEndpoint{}, err
	}
	if s.Secret == "" {
		if s.Secret, err = newSecret(); err != nil {
			return FormattedEndpoint{}, err
		}
	}
	now := time.Now()
	e := store.WebhookEndpoint{ID: invoice.NewID(invoice.PrefixWebhook, now), URL: s.URL, Secret: s.Secret, Events: evs,
		Source: "api", CreatedAt: now.UTC().Truncate(time.Second), Format: s.Format, Disabled: s.Disabled, Options: s.Options}
	if _, err := m.db.CreateWebhookEndpoint(ctx, e); err != nil {
		return FormattedEndpoint{}, fmt.Errorf("webhook: create endpoint: %w", err)
	}
	m.endpointsChanged()
	out := toFormatted(e)
	out.Secret = e.Secret
	return out, nil
}

// UpdateFormattedEndpoint replaces an API endpoint of format s.Format
// (ErrNotFound for any other) and restarts its worker so the next attempt
// uses the new URL and secret.
func (m *Manager) UpdateFormattedEndpoint(ctx context.Context, id string, s EndpointSpec) (FormattedEndpoint, error) {
	cur, err := m.db.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (cur.Format != s.Format || cur.Source != "api")) {
		return FormattedEndpoint{}, ErrNotFound
	}
	if err != nil {
		return FormattedEndpoint{}, fmt.Errorf("webhook: update endpoint: %w", err)
	}
	if err := checkURL(ctx, s.URL, m.cfg.AllowPrivate, true); err != nil {
		return FormattedEndpoint{}, err
	}
	evs, err := normalizeEvents(s.Events)
	if err != nil {
		return FormattedEndpoint{}, err
	}
	cur.URL, cur.Events, cur.Disabled, cur.Options = s.URL, evs, s.Disabled, s.Options
	if s.Secret != "" {
		cur.Secret = s.Secret
	}
	if err := m.db.UpdateWebhookEndpoint(ctx, cur); errors.Is(err, store.ErrNotFound) {
		return FormattedEndpoint{}, ErrNotFound
	} else if err != nil {
		return FormattedEndpoint{}, fmt.Errorf("webhook: update endpoint: %w", err)
	}
	m.restartWorker(id)
	return toFormatted(cur), nil
}

// restartWorker stops an endpoint's worker; the next reconcile starts a
// fresh one with the endpoint as stored now.
func (m *Manager) restartWorker(id string) {
	m.mu.Lock()
	if w := m.workers[id]; w != nil {
		w.cancel()
		delete(m.workers, id)
	}
	m.mu.Unlock()
	m.endpointsChanged()
}

// FormattedEndpoints lists the endpoints of one format, oldest first,
// without secrets.
func (m *Manager) FormattedEndpoints(ctx context.Context, format string) ([]FormattedEndpoint, error) {
	eps, err := m.db.WebhookEndpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	out := []FormattedEndpoint{}
	for _, e := range eps {
		if e.Format == format {
			out = append(out, toFormatted(e))
		}
	}
	return out, nil
}

// FormattedEndpoint returns one endpoint of the format without its secret;
// ErrNotFound when there is none (or it has another format).
func (m *Manager) FormattedEndpoint(ctx context.Context, format, id string) (FormattedEndpoint, error) {
	e, err := m.db.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.Format != format) {
		return FormattedEndpoint{}, ErrNotFound
	}
	if err != nil {
		return FormattedEndpoint{}, fmt.Errorf("webhook: endpoint: %w", err)
	}
	return toFormatted(e), nil
}

// RedeliverTo re-queues one event for one endpoint, due now with a fresh
// retry schedule. ErrNotFound for an unknown event or endpoint.
func (m *Manager) RedeliverTo(ctx context.Context, endpointID, eventID string) error {
	if _, err := m.Endpoint(ctx, endpointID); err != nil {
		return err
	}
	ev, err := m.db.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	if err := m.db.RequeueWebhookEvent(ctx, ev, []string{endpointID}, time.Now()); err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	m.wakeWorkers([]string{endpointID})
	return nil
}
