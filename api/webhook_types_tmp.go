package api

// TEMPORARY: local stand-ins for the webhook package's types while it is being
// written. When webhook/ lands, replace WebhookEndpoint, WebhookAttempt,
// ErrWebhookNotFound and WebhookValidationError with webhook.Endpoint,
// webhook.Attempt, webhook.ErrNotFound and *webhook.ValidationError, and delete
// this file.

import (
	"errors"
	"time"
)

// WebhookEndpoint stands in for webhook.Endpoint.
type WebhookEndpoint struct {
	ID        string
	URL       string
	Events    []string
	Secret    string
	Source    string // "config" or "api"
	CreatedAt time.Time
}

// WebhookAttempt stands in for webhook.Attempt.
type WebhookAttempt struct {
	EventID    string
	Attempt    int
	StatusCode int
	Error      string
	DurationMS int64
	At         time.Time
}

// ErrWebhookNotFound stands in for webhook.ErrNotFound.
var ErrWebhookNotFound = errors.New("webhook: not found")

// WebhookValidationError stands in for *webhook.ValidationError.
type WebhookValidationError struct {
	Field   string
	Message string
}

func (e *WebhookValidationError) Error() string { return e.Field + ": " + e.Message }
