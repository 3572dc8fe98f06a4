package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// TestEventType is the type of the event SendTest posts. It names no invoice
// change: a receiver should answer 2xx and do nothing else.
const TestEventType = "webhook.test"

// SendTest posts a signed test event ({"id":"evt_…","type":"webhook.test",
// "created_at":…,"invoice":null}) to one endpoint at once, outside the outbox
// (it is not stored, retried or counted), and returns the attempt's outcome.
// ErrNotFound for an unknown endpoint.
func (m *Manager) SendTest(ctx context.Context, endpointID string) (Attempt, error) {
	ep, err := m.db.WebhookEndpoint(ctx, endpointID)
	if errors.Is(err, store.ErrNotFound) {
		return Attempt{}, ErrNotFound
	}
	if err != nil {
		return Attempt{}, fmt.Errorf("webhook: test event: %w", err)
	}
	now := time.Now()
	id := invoice.NewID(invoice.PrefixEvent, now)
	body, err := json.Marshal(map[string]any{"id": id, "type": TestEventType, "created_at": invoice.FormatTime(now), "invoice": nil})
	if err != nil {
		return Attempt{}, err
	}
	code, msg, outcome := m.post(ctx, ep, store.WebhookDelivery{EventID: id, EventType: TestEventType, Payload: body}, now)
	if outcome == "" {
		return Attempt{}, ctx.Err()
	}
	return Attempt{EventID: id, Attempt: 1, StatusCode: code, Error: msg, DurationMS: time.Since(now).Milliseconds(), At: now.UTC()}, nil
}
