package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// Client calls one payd instance with one API key. It is safe for
// concurrent use.
type Client struct {
	base   string // no trailing slash
	key    string
	http   *http.Client
	agent  string
	maxErr int64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through h (timeouts,
// transports, test servers).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a client for the payd at baseURL (e.g. "http://127.0.0.1:8080")
// authenticating with apiKey. Requests time out after 30 s unless
// WithHTTPClient says otherwise.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		base:   strings.TrimRight(baseURL, "/"),
		key:    apiKey,
		http:   &http.Client{Timeout: 30 * time.Second},
		agent:  "payd-client",
		maxErr: 64 << 10,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an error answered by the API: the HTTP status and the contract's
// body {"error":{"code","message","field"}}. A response that is not in that
// shape (a proxy's error page) has an empty Code and the body as Message.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string
	// RetryAfter is the Retry-After header of a 429 or 503, if any.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := e.Code
	if s == "" {
		s = "HTTP " + strconv.Itoa(e.Status)
	}
	s += ": " + msg
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// IsCode reports whether err is an *Error with the given contract code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// CreateInvoiceRequest is the body of POST /v1/invoices. Money is a decimal
// string; zero values are left out so the server's defaults apply.
type CreateInvoiceRequest struct {
	Amount      string          `json:"amount"`
	Currency    string          `json:"currency"`
	Methods     []string        `json:"methods,omitempty"`
	OrderID     string          `json:"order_id,omitempty"`
	Description string          `json:"description,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	// ExpiresIn in seconds; 0 = the server's default.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// Confirmations per chain; nil = the server's defaults (0 is a valid value).
	Confirmations map[string]int `json:"confirmations,omitempty"`
	// PaymentTolerance in percent as a decimal string; "" = the default.
	PaymentTolerance string `json:"payment_tolerance,omitempty"`
	RedirectURL      string `json:"redirect_url,omitempty"`
}

// ListParams filter GET /v1/invoices; zero values are left out.
type ListParams struct {
	Status        invoice.Status
	OrderID       string
	Limit         int
	StartingAfter string
}

// InvoiceList is a page of invoices, newest first.
type InvoiceList struct {
	Data    []invoice.View `json:"data"`
	HasMore bool           `json:"has_more"`
}

// Webhook is a webhook endpoint. Secret is set only in CreateWebhook's answer.
type Webhook struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt string   `json:"created_at"`
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	EventID    string `json:"event_id"`
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
	DurationMS int64  `json:"duration_ms"`
	At         string `json:"at"`
}

// CreateInvoice creates an invoice. A non-empty idempotencyKey is sent as
// Idempotency-Key, so repeating the call after a network error is safe.
func (c *Client) CreateInvoice(ctx context.Context, req CreateInvoiceRequest, idempotencyKey string) (*invoice.View, error) {
	var v invoice.View
	h := http.Header{}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	if err := c.do(ctx, http.MethodPost, "/v1/invoices", nil, h, req, &v, true); err != nil {
		return nil, err
	}
	return &v, nil
}

// GetInvoice returns an invoice with its merchant-private fields.
func (c *Client) GetInvoice(ctx context.Context, id string) (*invoice.View, error) {
	var v invoice.View
	if err := c.do(ctx, http.MethodGet, "/v1/invoices/"+url.PathEscape(id), nil, nil, nil, &v, true); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListInvoices returns a page of invoices, newest first.
func (c *Client) ListInvoices(ctx context.Context, p ListParams) (*InvoiceList, error) {
	q := url.Values{}
	if p.Status != "" {
		q.Set("status", string(p.Status))
	}
	if p.OrderID != "" {
		q.Set("order_id", p.OrderID)
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.StartingAfter != "" {
		q.Set("starting_after", p.StartingAfter)
	}
	var l InvoiceList
	if err := c.do(ctx, http.MethodGet, "/v1/invoices", q, nil, nil, &l, true); err != nil {
		return nil, err
	}
	if l.Data == nil {
		l.Data = []invoice.View{}
	}
	return &l, nil
}

// CancelInvoice expires a new invoice that has received nothing.
func (c *Client) CancelInvoice(ctx context.Context, id string) (*invoice.View, error) {
	var v invoice.View
	if err := c.do(ctx, http.MethodPost, "/v1/invoices/"+url.PathEscape(id)+"/cancel", nil, nil, nil, &v, true); err != nil {
		return nil, err
	}
	return &v, nil
}

// MarkInvoice overrides an invoice's status (settled or invalid).
func (c *Client) MarkInvoice(ctx context.Context, id string, status invoice.Status) (*invoice.View, error) {
	var v invoice.View
	body := struct {
		Status invoice.Status `json:"status"`
	}{status}
	if err := c.do(ctx, http.MethodPost, "/v1/invoices/"+url.PathEscape(id)+"/mark", nil, nil, body, &v, true); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListEvents returns up to limit events after startingAfter (oldest first;
// "" = from the beginning, limit 0 = the server's default) and whether more
// follow.
func (c *Client) ListEvents(ctx context.Context, startingAfter string, limit int) ([]invoice.EventBody, bool, error) {
	q := url.Values{}
	if startingAfter != "" {
		q.Set("starting_after", startingAfter)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l struct {
		Data    []invoice.EventBody `json:"data"`
		HasMore bool                `json:"has_more"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/events", q, nil, nil, &l, true); err != nil {
		return nil, false, err
	}
	return l.Data, l.HasMore, nil
}

// Redeliver queues an event again for every webhook it matches.
func (c *Client) Redeliver(ctx context.Context, eventID string) error {
	return c.do(ctx, http.MethodPost, "/v1/events/"+url.PathEscape(eventID)+"/redeliver", nil, nil, nil, nil, true)
}

// CreateWebhook registers a webhook endpoint for the given event types
// (["*"] = all). The answer carries the signing secret, shown only once.
func (c *Client) CreateWebhook(ctx context.Context, endpoint string, events []string) (*Webhook, error) {
	body := struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}{endpoint, events}
	var w Webhook
	if err := c.do(ctx, http.MethodPost, "/v1/webhooks", nil, nil, body, &w, true); err != nil {
		return nil, err
	}
	return &w, nil
}

// GetWebhook returns one webhook endpoint (without its secret).
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if err := c.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(id), nil, nil, nil, &w, true); err != nil {
		return nil, err
	}
	return &w, nil
}

// ListWebhooks returns every webhook endpoint.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var l list[Webhook]
	if err := c.do(ctx, http.MethodGet, "/v1/webhooks", nil, nil, nil, &l, true); err != nil {
		return nil, err
	}
	return l.items, nil
}

// DeleteWebhook removes a webhook endpoint.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/webhooks/"+url.PathEscape(id), nil, nil, nil, nil, true)
}

// Deliveries returns the delivery attempts of a webhook endpoint.
func (c *Client) Deliveries(ctx context.Context, webhookID string) ([]Delivery, error) {
	var l list[Delivery]
	if err := c.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(webhookID)+"/deliveries", nil, nil, nil, &l, true); err != nil {
		return nil, err
	}
	return l.items, nil
}

// PublicStatus returns the public view of an invoice (GET /i/{id}/status,
// no API key sent, no metadata).
func (c *Client) PublicStatus(ctx context.Context, id string) (*invoice.View, error) {
	var v invoice.View
	if err := c.do(ctx, http.MethodGet, "/i/"+url.PathEscape(id)+"/status", nil, nil, nil, &v, false); err != nil {
		return nil, err
	}
	return &v, nil
}

// list decodes either {"data":[…]} or a bare JSON array.
type list[T any] struct{ items []T }

func (l *list[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &l.items)
	}
	var w struct {
		Data []T `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	l.items = w.Data
	return nil
}

// do sends one request: body (if not nil) as JSON, the API key when auth,
// then decodes a 2xx answer into out (if not nil) or an error answer into *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, h http.Header, body, out any, auth bool) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if auth && c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, c.maxErr))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, c.maxErr))
	e := &Error{Status: resp.StatusCode}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
		return e
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	e.Message = msg
	return e
}
