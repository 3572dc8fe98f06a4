package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/store"
)

type ctxKey struct{}

// keyFrom returns the authenticated key of the request.
func keyFrom(ctx context.Context) (apikey.Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(apikey.Key)
	return k, ok
}

var (
	errNoKey = &httpx.Error{Status: http.StatusUnauthorized, Code: httpx.CodeUnauthorized,
		Message: "missing API key; send Authorization: Bearer <api key>"}
	errBadKey = &httpx.Error{Status: http.StatusUnauthorized, Code: httpx.CodeUnauthorized,
		Message: "invalid or revoked API key"}
)

// Authorize serves h only to requests carrying a valid, unrevoked API key
// (Authorization: Bearer payd_<id>_<secret>) with scope; 401 unauthorized
// otherwise, 403 forbidden when the key lacks the scope, 429 when the key is
// over its rate limit. The key itself is never logged.
func (a *API) Authorize(scope string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := a.authenticate(r)
		if err != nil {
			if errors.Is(err, errNoKey) || errors.Is(err, errBadKey) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="payd"`)
			}
			a.writeError(w, r, err)
			return
		}
		if !k.Has(scope) {
			a.writeError(w, r, httpx.Errorf(http.StatusForbidden, httpx.CodeForbidden, "", "this API key lacks the %s scope", scope))
			return
		}
		if err := allow(a.keyLimits, k.ID, a.d.Now()); err != nil {
			a.writeError(w, r, err)
			return
		}
		a.touch(r.Context(), k.ID)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, k)))
	})
}

func (a *API) authenticate(r *http.Request) (apikey.Key, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return apikey.Key{}, errNoKey
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return apikey.Key{}, errNoKey
	}
	id, secret, err := apikey.Parse(strings.TrimSpace(tok))
	if err != nil {
		return apikey.Key{}, errBadKey
	}
	k, err := a.d.Keys.APIKey(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as a real comparison.
		apikey.Verify(secret, strings.Repeat("0", 64))
		return apikey.Key{}, errBadKey
	}
	if err != nil {
		return apikey.Key{}, err
	}
	if !apikey.Verify(secret, k.Hash) || k.RevokedAt != nil {
		return apikey.Key{}, errBadKey
	}
	return k, nil
}

// touch records key use at most once a minute per key, off the request path.
func (a *API) touch(ctx context.Context, id string) {
	now := a.d.Now()
	a.touchMu.Lock()
	last, ok := a.touched[id]
	if ok && now.Sub(last) < time.Minute {
		a.touchMu.Unlock()
		return
	}
	a.touched[id] = now
	a.touchMu.Unlock()
	if err := a.d.Keys.TouchAPIKey(context.WithoutCancel(ctx), id, now); err != nil {
		a.log.Warn("record api key use", "key_id", id, "err", err)
	}
}
