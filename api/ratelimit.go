package api

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/payd/payd/internal/httpx"
)

// limiters is a set of token buckets, one per key (API key id or client IP),
// forgotten after idle minutes.
type limiters struct {
	rps   float64
	mu    sync.Mutex
	m     map[string]*bucket
	sweep time.Time
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

const limiterIdle = 10 * time.Minute

func newLimiters(rps float64) *limiters {
	return &limiters{rps: rps, m: map[string]*bucket{}}
}

// allow takes a token for key, or returns 429 rate_limited with Retry-After.
func (ls *limiters) allow(key string, now time.Time) error {
	if ls == nil || ls.rps <= 0 {
		return nil
	}
	ls.mu.Lock()
	if now.Sub(ls.sweep) > limiterIdle {
		for k, b := range ls.m {
			if now.Sub(b.last) > limiterIdle {
				delete(ls.m, k)
			}
		}
		ls.sweep = now
	}
	b, ok := ls.m[key]
	if !ok {
		burst := int(math.Ceil(2 * ls.rps))
		b = &bucket{l: rate.NewLimiter(rate.Limit(ls.rps), max(burst, 1))}
		ls.m[key] = b
	}
	b.last = now
	ls.mu.Unlock()
	res := b.l.ReserveN(now, 1)
	if !res.OK() {
		return tooMany(1)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return tooMany(int(math.Ceil(d.Seconds())))
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
		if err := a.ipLimits.allow(a.clientIP(r), a.d.Now()); err != nil {
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
