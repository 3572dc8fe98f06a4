package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/rates"
	"github.com/payd/payd/store"
)

// Payment-link errors.
var (
	// ErrLinkNotFound: no such payment link (or, for the API, a deleted one).
	ErrLinkNotFound = errors.New("payment link not found")
	// ErrLinkGone: the link was deleted, has expired or has reached max_uses;
	// a visit answers 410.
	ErrLinkGone = errors.New("payment link is no longer usable")
)

// LinkRequest is POST /v1/links, already JSON-decoded (strings as sent).
type LinkRequest struct {
	Amount      string   `json:"amount"`
	Currency    string   `json:"currency"`
	Methods     []string `json:"methods,omitempty"`
	Description string   `json:"description,omitempty"`
	// Metadata is copied verbatim into every invoice the link creates.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// MaxUses caps the invoices the link creates; nil = unlimited.
	MaxUses *int64 `json:"max_uses,omitempty"`
	// ExpiresAt is an RFC 3339 time after which visits answer 410; "" = never.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Links is what the API uses to manage payment links. *Service implements it.
type Links interface {
	CreateLink(ctx context.Context, req LinkRequest) (store.Link, error)
	Link(ctx context.Context, id string) (store.Link, error)
	DeleteLink(ctx context.Context, id string) error
}

var _ Links = (*Service)(nil)

// maxLinkUses bounds max_uses (anything larger is as good as unlimited).
const maxLinkUses = math.MaxInt32

// Validate checks req exactly as Create would (amount, currency, methods and
// their prices, lengths, metadata) without storing anything.
func (s *Service) Validate(ctx context.Context, req CreateRequest) error {
	_, err := s.checked(ctx, req)
	return err
}

// checked is validate with Create's error mapping.
func (s *Service) checked(ctx context.Context, req CreateRequest) (*plan, error) {
	p, err := s.validate(ctx, req)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, se
		}
		if errors.Is(err, rates.ErrNoRate) {
			return nil, unprocessable("no_rate", "methods", "%v", err)
		}
		return nil, err
	}
	return p, nil
}

// CreateLink validates req like an invoice creation and stores the link. The
// amount is stored in its canonical form ("25" USD → "25.00").
func (s *Service) CreateLink(ctx context.Context, req LinkRequest) (store.Link, error) {
	p, err := s.checked(ctx, CreateRequest{Amount: req.Amount, Currency: req.Currency, Methods: req.Methods,
		Description: req.Description, Metadata: req.Metadata})
	if err != nil {
		return store.Link{}, err
	}
	now := s.d.Now().UTC().Truncate(time.Second)
	l := store.Link{
		ID:          invoice.NewID(invoice.PrefixLink, s.d.Now()),
		Amount:      invoice.FormatFor(p.cur, p.amount),
		Currency:    p.cur.Code,
		Description: req.Description,
		Metadata:    p.metadata,
		CreatedAt:   now,
	}
	for _, m := range req.Methods {
		l.Methods = append(l.Methods, strings.ToLower(m))
	}
	if req.MaxUses != nil {
		if *req.MaxUses < 1 || *req.MaxUses > maxLinkUses {
			return store.Link{}, invalid("max_uses", "max_uses must be between 1 and %d (leave it out for unlimited)", maxLinkUses)
		}
		l.MaxUses = *req.MaxUses
	}
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return store.Link{}, invalid("expires_at", "expires_at must be an RFC 3339 time such as \"2026-11-22T16:12:48Z\"")
		}
		if !t.After(now) {
			return store.Link{}, invalid("expires_at", "expires_at must be in the future")
		}
		l.ExpiresAt = t.UTC().Truncate(time.Second)
	}
	if err := s.d.DB.CreateLink(ctx, l); err != nil {
		return store.Link{}, fmt.Errorf("create link: %w", err)
	}
	s.d.Log.Info("payment link created", "link", l.ID, "amount", l.Amount, "currency", l.Currency, "max_uses", l.MaxUses)
	return l, nil
}

// Link returns a payment link; ErrLinkNotFound for an unknown or deleted one.
func (s *Service) Link(ctx context.Context, id string) (store.Link, error) {
	l, err := s.d.DB.Link(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return l, ErrLinkNotFound
	case err != nil:
		return l, err
	case !l.DeletedAt.IsZero():
		return store.Link{}, ErrLinkNotFound
	}
	return l, nil
}

// DeleteLink deletes a payment link: visits answer 410 from now on, invoices
// it created are untouched. ErrLinkNotFound for an unknown or deleted one.
func (s *Service) DeleteLink(ctx context.Context, id string) error {
	err := s.d.DB.DeleteLink(ctx, id, s.d.Now())
	if errors.Is(err, store.ErrNotFound) {
		return ErrLinkNotFound
	}
	if err == nil {
		s.d.Log.Info("payment link deleted", "link", id)
	}
	return err
}

// LinkStatus reports whether a visit now would create an invoice, without
// using the link (for HEAD requests and link previews): nil, ErrLinkNotFound
// or ErrLinkGone.
func (s *Service) LinkStatus(ctx context.Context, id string) error {
	l, err := s.d.DB.Link(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrLinkNotFound
	case err != nil:
		return err
	case !l.Usable(s.d.Now()):
		return ErrLinkGone
	}
	return nil
}

// VisitLink creates a fresh invoice from a payment link. The use is counted
// atomically before the invoice is created (so max_uses holds under
// concurrent visits) and given back if the creation fails. ErrLinkNotFound
// for an unknown link, ErrLinkGone for a deleted, expired or used-up one;
// a link whose amount can no longer be priced fails like Create (*Error).
func (s *Service) VisitLink(ctx context.Context, id string) (*invoice.Invoice, error) {
	l, err := s.d.DB.UseLink(ctx, id, s.d.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrLinkNotFound
	case errors.Is(err, store.ErrGone):
		return nil, ErrLinkGone
	case err != nil:
		return nil, err
	}
	inv, err := s.Create(ctx, CreateRequest{Amount: l.Amount, Currency: l.Currency, Methods: l.Methods,
		Description: l.Description, Metadata: l.Metadata, LinkID: l.ID})
	if err != nil {
		if rerr := s.d.DB.ReleaseLinkUse(context.WithoutCancel(ctx), l.ID); rerr != nil {
			s.d.Log.Error("release payment link use", "link", l.ID, "err", rerr)
		}
		return nil, fmt.Errorf("link %s: %w", l.ID, err)
	}
	s.d.Log.Info("payment link used", "link", l.ID, "invoice", inv.ID, "uses", l.Uses)
	return inv, nil
}
