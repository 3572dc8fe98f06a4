package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

// maxExpiresAt bounds the expires_at string (an RFC 3339 time is ~25 bytes).
const maxExpiresAt = 64

// linkView is a payment link as the API shows it.
type linkView struct {
	ID          string          `json:"id"`
	URL         string          `json:"url"`
	Amount      string          `json:"amount"`
	Currency    string          `json:"currency"`
	Methods     []string        `json:"methods"`
	Description string          `json:"description"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	Uses        int64           `json:"uses"`
	MaxUses     *int64          `json:"max_uses"`
	ExpiresAt   *string         `json:"expires_at"`
	CreatedAt   string          `json:"created_at"`
}

func (a *API) viewLink(l store.Link) linkView {
	v := linkView{ID: l.ID, URL: a.d.BaseURL + "/l/" + l.ID, Amount: l.Amount, Currency: l.Currency, Methods: l.Methods,
		Description: l.Description, Metadata: l.Metadata, Uses: l.Uses, CreatedAt: invoice.FormatTime(l.CreatedAt)}
	if v.Methods == nil {
		v.Methods = []string{}
	}
	if l.MaxUses > 0 {
		n := l.MaxUses
		v.MaxUses = &n
	}
	if !l.ExpiresAt.IsZero() {
		s := invoice.FormatTime(l.ExpiresAt)
		v.ExpiresAt = &s
	}
	return v
}

// linkErr maps the service's link errors to the contract's.
func linkErr(err error) error {
	if errors.Is(err, service.ErrLinkNotFound) {
		return httpx.NotFound("payment link")
	}
	return err
}

// createLink is POST /v1/links.
func (a *API) createLink(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var req service.LinkRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return err
	}
	if bytes.Equal(bytes.TrimSpace(req.Metadata), []byte("null")) {
		req.Metadata = nil
	}
	// The same edge checks as an invoice creation; the service judges the rest.
	if err := checkCreate(&service.CreateRequest{Amount: req.Amount, Currency: req.Currency, Methods: req.Methods,
		Description: req.Description, Metadata: req.Metadata}); err != nil {
		return err
	}
	if len(req.ExpiresAt) > maxExpiresAt || strings.ContainsFunc(req.ExpiresAt, isControl) {
		return httpx.InvalidField("expires_at", "expires_at must be an RFC 3339 time such as \"2026-11-22T16:12:48Z\"")
	}
	l, err := a.d.Links.CreateLink(r.Context(), req)
	if err != nil {
		return linkErr(err)
	}
	w.Header().Set("Location", "/v1/links/"+l.ID)
	httpx.WriteJSON(w, http.StatusCreated, a.viewLink(l))
	return nil
}

// getLink is GET /v1/links/{id}.
func (a *API) getLink(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixLink, "payment link")
	if err != nil {
		return err
	}
	l, err := a.d.Links.Link(r.Context(), id)
	if err != nil {
		return linkErr(err)
	}
	httpx.WriteJSON(w, http.StatusOK, a.viewLink(l))
	return nil
}

// deleteLink is DELETE /v1/links/{id} → 204. Visits answer 410 afterwards.
func (a *API) deleteLink(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, invoice.PrefixLink, "payment link")
	if err != nil {
		return err
	}
	if err := a.d.Links.DeleteLink(r.Context(), id); err != nil {
		return linkErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ClientIP is the client address the public rate limits key on: the peer
// address, or with Config.TrustProxy the last X-Forwarded-For entry. The
// payment-link handler (package checkout) uses it for its own limit.
func (a *API) ClientIP(r *http.Request) string { return a.clientIP(r) }
