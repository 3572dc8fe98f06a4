package ratelimit

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestTake(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		set   *Set
		takes []time.Duration // offsets from t0, key "a"
		want  []bool          // allowed
	}{
		{"nil allows all", nil, []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"burst then refused", New(1, 2, time.Minute), []time.Duration{0, 0, 0}, []bool{true, true, false}},
		{"refill after a second", New(1, 1, time.Minute), []time.Duration{0, 0, time.Second}, []bool{true, false, true}},
		{"PerSecond(1) bursts two", PerSecond(1), []time.Duration{0, 0, 0}, []bool{true, true, false}},
		{"PerSecond(0) is no limit", PerSecond(0), []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"every 30s", New(rate.Every(30*time.Second), 1, time.Hour), []time.Duration{0, 10 * time.Second, 31 * time.Second}, []bool{true, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, off := range tc.takes {
				wait := tc.set.Take("a", t0.Add(off))
				if got := wait == 0; got != tc.want[i] {
					t.Fatalf("take %d at +%s: allowed %v (wait %s), want %v", i, off, got, wait, tc.want[i])
				}
			}
		})
	}
}

func TestKeysApartAndForgotten(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(rate.Every(time.Hour), 1, time.Minute)
	if s.Take("a", t0) != 0 || s.Take("b", t0) != 0 {
		t.Fatal("first take of two keys refused")
	}
	if s.Take("a", t0) == 0 {
		t.Fatal("second take of a allowed within the hour")
	}
	// Idle past a minute: the sweep forgets both buckets.
	s.Take("c", t0.Add(2*time.Minute))
	if n := len(s.m); n != 1 {
		t.Fatalf("%d buckets after the sweep, want 1 (c)", n)
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 30 * time.Second: 30} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%s) = %d, want %d", d, got, want)
		}
	}
}
