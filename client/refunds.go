package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/payd/payd/refund"
)

// RefundRequest is POST /v1/invoices/{id}/refunds.
type RefundRequest struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency,omitempty"`
	Method   string `json:"method,omitempty"`
	Address  string `json:"address,omitempty"`
	Rate     string `json:"rate,omitempty"`
	Reason   string `json:"reason,omitempty"`
	FeeRate  *int64 `json:"fee_rate,omitempty"`
}

// SweepRequest is POST /v1/sweeps.
type SweepRequest struct {
	Chain            string `json:"chain"`
	ToAddress        string `json:"to_address,omitempty"`
	ToDescriptor     string `json:"to_descriptor,omitempty"`
	MinConfirmations *int   `json:"min_confirmations,omitempty"`
	MaxInputs        *int   `json:"max_inputs,omitempty"`
	FeeRate          *int64 `json:"fee_rate,omitempty"`
}

func idemHeader(key string) http.Header {
	if key == "" {
		return nil
	}
	return http.Header{"Idempotency-Key": {key}}
}

// CreateRefund creates a refund of an invoice.
func (c *Client) CreateRefund(ctx context.Context, invoiceID string, req RefundRequest, idempotencyKey string) (*refund.View, error) {
	var v refund.View
	err := c.do(ctx, http.MethodPost, "/v1/invoices/"+url.PathEscape(invoiceID)+"/refunds", nil, idemHeader(idempotencyKey), req, &v, true)
	return &v, err
}

// InvoiceRefunds lists an invoice's refunds, oldest first.
func (c *Client) InvoiceRefunds(ctx context.Context, invoiceID string) ([]refund.View, error) {
	var l list[refund.View]
	err := c.do(ctx, http.MethodGet, "/v1/invoices/"+url.PathEscape(invoiceID)+"/refunds", nil, nil, nil, &l, true)
	return l.items, err
}

// collection is "refunds" or "sweeps" by the id's prefix.
func collection(id string) string {
	if strings.HasPrefix(id, refund.PrefixSweep) {
		return "/v1/sweeps/"
	}
	return "/v1/refunds/"
}

// GetRefund returns a refund (rf_…) or a sweep (sw_…).
func (c *Client) GetRefund(ctx context.Context, id string) (*refund.View, error) {
	var v refund.View
	err := c.do(ctx, http.MethodGet, collection(id)+url.PathEscape(id), nil, nil, nil, &v, true)
	return &v, err
}

// RefundPSBT returns a Bitcoin refund's or sweep's PSBT in base64.
func (c *Client) RefundPSBT(ctx context.Context, id string) (string, error) {
	var v struct {
		PSBT string `json:"psbt"`
	}
	err := c.do(ctx, http.MethodGet, collection(id)+url.PathEscape(id)+"/psbt", nil, nil, nil, &v, true)
	return v.PSBT, err
}

// RefundPSBTBinary returns the PSBT in BIP174 binary form.
func (c *Client) RefundPSBTBinary(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+collection(id)+url.PathEscape(id)+"/psbt", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.apiError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read psbt: %w", err)
	}
	return b, nil
}

// BroadcastRefund hands a signed transaction (hex) or signed PSBT (base64)
// to payd, which checks it and sends it to the node.
func (c *Client) BroadcastRefund(ctx context.Context, id, signed string) (*refund.View, error) {
	var v refund.View
	err := c.do(ctx, http.MethodPost, collection(id)+url.PathEscape(id)+"/broadcast", nil, nil, map[string]string{"tx": signed}, &v, true)
	return &v, err
}

// CancelRefund cancels a refund or sweep nothing was sent for.
func (c *Client) CancelRefund(ctx context.Context, id string) (*refund.View, error) {
	var v refund.View
	err := c.do(ctx, http.MethodPost, collection(id)+url.PathEscape(id)+"/cancel", nil, nil, nil, &v, true)
	return &v, err
}

// CreateSweep builds a sweep of settled invoices' outputs.
func (c *Client) CreateSweep(ctx context.Context, req SweepRequest, idempotencyKey string) (*refund.View, error) {
	var v refund.View
	err := c.do(ctx, http.MethodPost, "/v1/sweeps", nil, idemHeader(idempotencyKey), req, &v, true)
	return &v, err
}
