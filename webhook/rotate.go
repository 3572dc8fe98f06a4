package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/payd/payd/store"
)

// RotateSecret gives an API endpoint a new signing secret and returns the
// endpoint with it (shown once). Deliveries from then on are signed with the
// new secret; one already in flight may still carry the old one. ErrNotFound
// for an unknown id; an endpoint from the config file is a *ValidationError
// (change its secret there and restart).
func (m *Manager) RotateSecret(ctx context.Context, id string) (Endpoint, error) {
	e, err := m.db.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: rotate secret: %w", err)
	}
	if e.Source == "config" {
		return Endpoint{}, &ValidationError{Field: "id", Message: "endpoint comes from the config file; change its secret there and restart payd"}
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Endpoint{}, fmt.Errorf("webhook: secret: %w", err)
	}
	e.Secret = "whsec_" + hex.EncodeToString(b[:])
	if err := m.db.SetWebhookSecret(ctx, id, e.Secret); errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, ErrNotFound
	} else if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: rotate secret: %w", err)
	}
	// A worker signs with the endpoint it was started with: stop it, and
	// the next reconcile starts one with the new secret. Its delivery in
	// flight, if any, is cut short and stays due.
	m.mu.Lock()
	if w := m.workers[id]; w != nil {
		w.cancel()
		delete(m.workers, id)
	}
	m.mu.Unlock()
	m.endpointsChanged()
	out := toEndpoint(e)
	out.Secret = e.Secret
	return out, nil
}

// SetDisabled disables or re-enables an API endpoint. A disabled endpoint's
// worker stops and the events committed while it is disabled are never
// queued for it (as with Stripe); deliveries queued before it was disabled
// stay in the outbox and go out in order once it is enabled again. A config
// endpoint is changed in the config file.
func (m *Manager) SetDisabled(ctx context.Context, id string, disabled bool) (Endpoint, error) {
	e, err := m.db.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: disable endpoint: %w", err)
	}
	if e.Source == "config" {
		return Endpoint{}, &ValidationError{Field: "id", Message: "endpoint comes from the config file; remove it there and restart payd"}
	}
	if e.Disabled == disabled {
		return toEndpoint(e), nil
	}
	e.Disabled = disabled
	if err := m.db.SetWebhookDisabled(ctx, id, disabled); errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, ErrNotFound
	} else if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: disable endpoint: %w", err)
	}
	m.restartWorker(id)
	return toEndpoint(e), nil
}
