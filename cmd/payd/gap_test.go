package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/store"
)

// recordLog keeps every record logged through it.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLog) WithGroup(string) slog.Handler      { return h }

// take returns the levels and messages logged since the last call.
func (h *recordLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	h.recs = nil
	return out
}

func TestGapWatch(t *testing.T) {
	const (
		warn = "WARN unpaid address run past the gap limit"
		back = "INFO unpaid address run back within the gap limit"
		fail = "ERROR address gap not measured"
	)
	start := time.Unix(1_800_000_000, 0)
	// Steps on one chain with gap_limit 20: the unpaid run the store reports
	// and the minutes since start, then what is logged.
	steps := []struct {
		unpaid int
		err    error
		at     time.Duration
		want   []string
	}{
		{unpaid: 5, at: 0},
		{unpaid: 20, at: time.Minute}, // at the limit: the wallet still sees every address
		{unpaid: 21, at: 2 * time.Minute, want: []string{warn}},
		{unpaid: 22, at: 3 * time.Minute},                        // still past: no repeat within the hour
		{unpaid: 30, at: 61 * time.Minute},                       // 59 minutes later: still quiet
		{unpaid: 31, at: 62 * time.Minute, want: []string{warn}}, // an hour after the first: again
		{err: errors.New("disk on fire"), at: 63 * time.Minute, want: []string{fail}},
		{unpaid: 0, at: 64 * time.Minute, want: []string{back}}, // a payment arrived
		{unpaid: 3, at: 65 * time.Minute},
		{unpaid: 25, at: 66 * time.Minute, want: []string{warn}}, // crossing again warns at once
	}
	h := &recordLog{}
	var now time.Time
	var cur int
	var curErr error
	gauges := map[string]int{}
	w := &gapWatch{
		chains: []gapChain{{name: "bitcoin", limit: 20, methods: []string{"bitcoin/btc"}},
			{name: "ethereum", limit: 5, methods: []string{"ethereum/eth", "ethereum/usdc"}}},
		gap: func(_ context.Context, chain string) (store.Gap, error) {
			if chain == "ethereum" {
				return store.Gap{Unpaid: 2, LastPaid: 7, Highest: 9}, nil
			}
			return store.Gap{Unpaid: cur, LastPaid: 3, Highest: int64(3 + cur)}, curErr
		},
		set:    func(method string, n int) { gauges[method] = n },
		log:    slog.New(h),
		now:    func() time.Time { return now },
		every:  time.Minute,
		remind: time.Hour,
	}
	for i, s := range steps {
		now, cur, curErr = start.Add(s.at), s.unpaid, s.err
		w.check(context.Background())
		got := h.take()
		if len(got) != len(s.want) || (len(got) > 0 && got[0] != s.want[0]) {
			t.Fatalf("step %d (unpaid %d at %s): logged %q, want %q", i, s.unpaid, s.at, got, s.want)
		}
		if s.err == nil && gauges["bitcoin/btc"] != s.unpaid {
			t.Fatalf("step %d: gauge bitcoin/btc = %d, want %d", i, gauges["bitcoin/btc"], s.unpaid)
		}
		if gauges["ethereum/eth"] != 2 || gauges["ethereum/usdc"] != 2 {
			t.Fatalf("step %d: every method of a chain gets its gap: %v", i, gauges)
		}
	}
}

func TestGapWatchRunMeasuresAtStart(t *testing.T) {
	calls := make(chan string, 10)
	w := &gapWatch{
		chains: []gapChain{{name: "bitcoin", limit: 20, methods: []string{"bitcoin/btc"}}},
		gap: func(_ context.Context, chain string) (store.Gap, error) {
			calls <- chain
			return store.Gap{}, nil
		},
		set: func(string, int) {}, log: slog.New(&recordLog{}), now: time.Now,
		every: time.Hour, remind: time.Hour,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case c := <-calls:
		if c != "bitcoin" {
			t.Fatalf("measured %q", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not measure at start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
