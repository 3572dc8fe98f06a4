package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

type apiKeysData struct {
	Keys      []keyData
	AllScopes []string
	Name      string
	Error     string
	Secret    string // the new key, shown once
	NewID     string
}

type keyData struct {
	ID, Name, Scopes, Created, LastUsed, Revoked string
}

func (h *Handler) apiKeysData(r *http.Request) (*apiKeysData, error) {
	ks, err := h.d.Store.APIKeys(r.Context())
	if err != nil {
		return nil, err
	}
	d := &apiKeysData{AllScopes: apikey.AllScopes}
	for _, k := range ks {
		kd := keyData{ID: k.ID, Name: k.Name, Scopes: strings.Join(k.Scopes, " "), Created: fmtTime(k.CreatedAt)}
		if k.LastUsedAt != nil {
			kd.LastUsed = fmtTime(*k.LastUsedAt)
		}
		if k.RevokedAt != nil {
			kd.Revoked = fmtTime(*k.RevokedAt)
		}
		d.Keys = append(d.Keys, kd)
	}
	return d, nil
}

// apiKeysPage is GET /apikeys.
func (h *Handler) apiKeysPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	d, err := h.apiKeysData(r)
	if err != nil {
		return err
	}
	h.render(w, r, rq, "apikeys", http.StatusOK, d)
	return nil
}

// maxKeyName bounds an API key's name.
const maxKeyName = 100

// apiKeyCreate is POST /apikeys: the secret is on this response only.
func (h *Handler) apiKeyCreate(w http.ResponseWriter, r *http.Request, rq *request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	scopes := r.PostForm["scope"]
	var msg string
	var secret string
	var k apikey.Key
	var err error
	switch {
	case name == "":
		msg = rq.loc.T("key_need_name")
	case len(name) > maxKeyName:
		msg = rq.loc.T("key_name_too_long", maxKeyName)
	default:
		secret, k, err = apikey.Generate(name, scopes, rq.now)
		if err != nil {
			msg, err = err.Error(), nil
		}
	}
	if msg == "" {
		if err = h.d.Store.CreateAPIKey(r.Context(), k); err != nil {
			return err
		}
	}
	d, derr := h.apiKeysData(r)
	if derr != nil {
		return derr
	}
	if msg != "" {
		d.Name, d.Error = name, msg
		h.render(w, r, rq, "apikeys", http.StatusBadRequest, d)
		return nil
	}
	h.audit(r, rq, "apikey.create", k.ID, name+" ["+strings.Join(k.Scopes, " ")+"]")
	d.Secret, d.NewID = secret, k.ID
	h.render(w, r, rq, "apikeys", http.StatusCreated, d)
	return nil
}

// apiKeyRevoke is POST /apikeys/{id}/revoke.
func (h *Handler) apiKeyRevoke(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	if !invoice.ValidID(id, invoice.PrefixAPIKey) {
		return pageErr(http.StatusNotFound, "err_not_found")
	}
	if err := h.d.Store.RevokeAPIKey(r.Context(), id, rq.now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return pageErr(http.StatusNotFound, "err_not_found")
		}
		return err
	}
	h.audit(r, rq, "apikey.revoke", id, "")
	return h.redirect(w, r, "/apikeys", "revoked")
}
