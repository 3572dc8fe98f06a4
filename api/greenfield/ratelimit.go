package greenfield

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per API key (server.api_rate_limit, as on /v1),
// buckets forgotten after idle minutes.
type limiter struct {
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

// allow takes a token for key, or returns 429 with Retry-After.
func (ls *limiter) allow(w http.ResponseWriter, key string, now time.Time) error {
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
		b = &bucket{l: rate.NewLimiter(rate.Limit(ls.rps), max(int(math.Ceil(2*ls.rps)), 1))}
		ls.m[key] = b
	}
	b.last = now
	ls.mu.Unlock()
	if b.l.AllowN(now, 1) {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(1/ls.rps)))))
	return &Error{Status: http.StatusTooManyRequests, Code: "rate-limited", Message: "too many requests for this API key; retry later"}
}
