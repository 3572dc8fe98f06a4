package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// CreateLinkRequest is the body of POST /v1/links. Money is a decimal
// string; zero values are left out so the server's defaults apply.
type CreateLinkRequest struct {
	Amount      string          `json:"amount"`
	Currency    string          `json:"currency"`
	Methods     []string        `json:"methods,omitempty"`
	Description string          `json:"description,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	// MaxUses caps the invoices the link creates; 0 = unlimited.
	MaxUses int64 `json:"max_uses,omitempty"`
	// ExpiresAt is an RFC 3339 time; "" = never.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Link is a payment link: every visit of URL creates a fresh invoice.
type Link struct {
	ID          string          `json:"id"`
	URL         string          `json:"url"`
	Amount      string          `json:"amount"`
	Currency    string          `json:"currency"`
	Methods     []string        `json:"methods"`
	Description string          `json:"description"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	Uses        int64           `json:"uses"`
	MaxUses     *int64          `json:"max_uses"`   // nil = unlimited
	ExpiresAt   *string         `json:"expires_at"` // nil = never
	CreatedAt   string          `json:"created_at"`
}

// CreateLink creates a payment link.
func (c *Client) CreateLink(ctx context.Context, req CreateLinkRequest) (*Link, error) {
	var l Link
	if err := c.do(ctx, http.MethodPost, "/v1/links", nil, nil, req, &l, true); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetLink returns a payment link with its use count.
func (c *Client) GetLink(ctx context.Context, id string) (*Link, error) {
	var l Link
	if err := c.do(ctx, http.MethodGet, "/v1/links/"+url.PathEscape(id), nil, nil, nil, &l, true); err != nil {
		return nil, err
	}
	return &l, nil
}

// DeleteLink deletes a payment link; its visits answer 410 afterwards.
func (c *Client) DeleteLink(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/links/"+url.PathEscape(id), nil, nil, nil, nil, true)
}
