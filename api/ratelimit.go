package api

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/internal/ratelimit"
)

// allow takes a token for key from ls, or returns 429 rate_limited with
// Retry-After.
func allow(ls *ratelimit.Set, key string, now time.Time) error {
	if d := ls.Take(key, now); d > 0 {
		return tooMany(ratelimit.RetryAfter(d))
	}
	return nil
}

func tooMany(retry int) error {
	e := httpx.Errorf(http.StatusTooManyRequests, httpx.CodeRateLimited, "", "too many requests; retry in %d s", max(retry, 1))
	e.RetryAfter = max(retry, 1)
	return e
}

// PublicLimit applies the per-client-IP rate limit of public routes to h
// (cmd/payd may wrap the checkout page's routes with it too).
func (a *API) PublicLimit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := allow(a.ipLimits, a.clientIP(r), a.d.Now()); err != nil {
			a.writeError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// clientIP is the peer address, or with TrustProxy the last X-Forwarded-For
// entry (the one payd's own proxy appended; earlier entries are the client's
// word and can be forged).
func (a *API) clientIP(r *http.Request) string {
	if a.cfg.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
