package greenfield

import (
	"net/http"
	"strconv"
	"time"

	"github.com/payd/payd/internal/ratelimit"
)

// allow takes a token for key (server.api_rate_limit, as on /v1), or returns
// 429 with Retry-After.
func allow(ls *ratelimit.Set, w http.ResponseWriter, key string, now time.Time) error {
	d := ls.Take(key, now)
	if d == 0 {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(d)))
	return &Error{Status: http.StatusTooManyRequests, Code: "rate-limited", Message: "too many requests for this API key; retry later"}
}
