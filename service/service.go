// Package service holds the invoice use-cases the API and the CLI call:
// create (allocate addresses, lock rates, store the invoice and its
// invoice.created event in one transaction, start watching its addresses),
// get, list, cancel and mark. It declares the store and rate interfaces it
// needs; cmd/payd wires the concrete ones.
//
// THIS FILE IS THE AGREED SURFACE: the API, checkout and CLI code against these
// types and method signatures.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/payd/payd/invoice"
)

// CreateRequest is POST /v1/invoices, already JSON-decoded (strings as sent).
type CreateRequest struct {
	Amount           string          `json:"amount"`
	Currency         string          `json:"currency"`
	Methods          []string        `json:"methods,omitempty"`
	OrderID          string          `json:"order_id,omitempty"`
	Description      string          `json:"description,omitempty"`
	Metadata         json.RawMessage `json:"metadata,omitempty"`
	ExpiresIn        *int64          `json:"expires_in,omitempty"`
	Confirmations    map[string]int  `json:"confirmations,omitempty"`
	PaymentTolerance *string         `json:"payment_tolerance,omitempty"`
	RedirectURL      string          `json:"redirect_url,omitempty"`
	// LinkID is set when a payment link created the invoice (not from JSON).
	LinkID string `json:"-"`
	// MonitoringWindow, when set, replaces the configured monitoring window
	// for this invoice (not from JSON: Greenfield's monitoringMinutes).
	MonitoringWindow *time.Duration `json:"-"`
	// Idempotency, when set, is stored in the same transaction as the
	// invoice (not from JSON): a crash can never leave an invoice whose
	// Idempotency-Key a retry would not find.
	Idempotency *Idempotency `json:"-"`
}

// Idempotency is the record of an Idempotency-Key to store with the invoice.
type Idempotency struct {
	APIKeyID, Key, RequestHash string
	// Response renders the body to replay (201) from the created invoice.
	Response func(*invoice.Invoice) ([]byte, error)
	// ExpireBefore: older records are deleted in the same write.
	ExpireBefore time.Time
}

// ListFilter is GET /v1/invoices.
type ListFilter struct {
	Status        invoice.Status // "" = any
	OrderID       string         // "" = any
	Limit         int            // 1…200, default 50
	StartingAfter string         // inv_… cursor; newest first
}

// Error is a validation or rule error with the contract's code, an HTTP status
// and the offending field. The API turns it into the error body verbatim.
type Error struct {
	Status  int
	Code    string // invalid_field, invalid_amount, unknown_currency, unknown_method, no_rate, conflict, not_found
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Sentinel errors (wrapped by *Error where a field is involved).
var (
	ErrNotFound = errors.New("invoice not found")
	ErrConflict = errors.New("conflict")
)

// Invoices is what the API, the checkout page and payment links use.
// *Service implements it.
type Invoices interface {
	Create(ctx context.Context, req CreateRequest) (*invoice.Invoice, error)
	Get(ctx context.Context, id string) (*invoice.Invoice, error)
	List(ctx context.Context, f ListFilter) (invs []*invoice.Invoice, hasMore bool, err error)
	Cancel(ctx context.Context, id string) (*invoice.Invoice, error)
	Mark(ctx context.Context, id string, status invoice.Status) (*invoice.Invoice, error)
}
