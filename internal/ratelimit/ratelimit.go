// Package ratelimit keeps one token bucket per key (an API key id, a client
// IP) and forgets the buckets of keys that have been idle a while, so a scan
// over many addresses cannot grow it without bound.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Set is a token bucket per key. A nil *Set allows everything.
type Set struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu    sync.Mutex
	m     map[string]*bucket
	sweep time.Time
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

// New returns buckets of limit tokens a second holding burst tokens, each
// forgotten after idle without use.
func New(limit rate.Limit, burst int, idle time.Duration) *Set {
	return &Set{limit: limit, burst: max(burst, 1), idle: idle, m: map[string]*bucket{}}
}

// PerSecond is the API's limit: rps requests a second with a burst of two
// seconds' worth, buckets forgotten after ten idle minutes; nil (no limit)
// when rps ≤ 0.
func PerSecond(rps float64) *Set {
	if rps <= 0 {
		return nil
	}
	return New(rate.Limit(rps), int(math.Ceil(2*rps)), 10*time.Minute)
}

// Take takes a token for key at now. It returns 0 when allowed, or how long
// until a token is there (nothing is taken then).
func (s *Set) Take(key string, now time.Time) time.Duration {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	if now.Sub(s.sweep) > s.idle {
		for k, b := range s.m {
			if now.Sub(b.last) > s.idle {
				delete(s.m, k)
			}
		}
		s.sweep = now
	}
	b, ok := s.m[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(s.limit, s.burst)}
		s.m[key] = b
	}
	b.last = now
	s.mu.Unlock()
	res := b.l.ReserveN(now, 1)
	if !res.OK() {
		return time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// RetryAfter is d as a Retry-After header's whole seconds, at least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
