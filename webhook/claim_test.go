package webhook

import (
	"testing"
	"time"

	"github.com/payd/payd/store"
)

// The claim time defaults to max(30s, 3×timeout) and must be at least twice
// the timeout; a delivery is sent only while its claim outlasts a whole
// attempt plus a tenth of the claim time.
func TestClaimTime(t *testing.T) {
	tests := []struct {
		name              string
		timeout, claimTTL time.Duration
		want              time.Duration // 0: New fails
		left              time.Duration // claim time left when sending
		sendable          bool
	}{
		{"default", 10 * time.Second, 0, 30 * time.Second, 14 * time.Second, true},
		{"default, too little left", 10 * time.Second, 0, 30 * time.Second, 13 * time.Second, false},
		{"default grows with the timeout", 20 * time.Second, 0, 60 * time.Second, 27 * time.Second, true},
		{"set", time.Second, 4 * time.Second, 4 * time.Second, 1500 * time.Millisecond, true},
		{"set, too little left", time.Second, 4 * time.Second, 4 * time.Second, 1400 * time.Millisecond, false},
		{"twice the timeout", time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, true},
		{"below twice the timeout", time.Second, 1999 * time.Millisecond, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Timeout, cfg.ClaimTTL = tc.timeout, tc.claimTTL
			m, err := New(cfg, openDB(t, ""), testLogger(t))
			if tc.want == 0 {
				if err == nil {
					t.Fatal("New accepted a claim time below twice the timeout")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.cfg.ClaimTTL != tc.want {
				t.Fatalf("claim time %s, want %s", m.cfg.ClaimTTL, tc.want)
			}
			now := time.Unix(1700000000, 0)
			if got := m.sendable(store.WebhookDelivery{ClaimUntil: now.Add(tc.left)}, now); got != tc.sendable {
				t.Fatalf("sendable with %s left: %v, want %v", tc.left, got, tc.sendable)
			}
		})
	}
}
