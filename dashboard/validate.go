package dashboard

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/payd/payd/invoice"
)

// fieldError is a form field refused with the API's message.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func invalid(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// maxURL is the API's limit on URLs (api.maxURL).
const maxURL = 2048

// validateWebhook checks a new endpoint exactly as POST /v1/webhooks does,
// with the same messages.
func validateWebhook(u string, events []string) error {
	if u == "" {
		return invalid("url", "url is required")
	}
	if len(u) > maxURL {
		return invalid("url", "url is longer than %d bytes", maxURL)
	}
	if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return invalid("url", "url must be an absolute http(s) URL")
	}
	if len(events) > len(invoice.EventTypes)+1 {
		return invalid("events", "too many event types")
	}
	for _, e := range events {
		if e != "*" && !invoice.ValidEventType(e) {
			return invalid("events", "unknown event type %q", e)
		}
	}
	if slices.Contains(events, "*") && len(events) > 1 {
		return invalid("events", "\"*\" already means every event type; send it alone")
	}
	return nil
}
