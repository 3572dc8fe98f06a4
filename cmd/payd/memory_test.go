package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestDerivedMemoryLimit(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name                string
		live, other, cgroup uint64
		want                int64
	}{
		{"small heap: 64 MiB headroom", 20 * mb, 10 * mb, 0, (20 + 64 + 10) * mb},
		{"large heap: half of it", 400 * mb, 20 * mb, 0, (400 + 200 + 20) * mb},
		{"at the floor's edge", 128 * mb, 0, 0, (128 + 64) * mb},
		{"cgroup caps it at 90 %", 400 * mb, 20 * mb, 500 * mb, 450 * mb},
		{"cgroup above: no effect", 20 * mb, 10 * mb, 1000 * mb, (20 + 64 + 10) * mb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := derivedMemoryLimit(tc.live, tc.other, tc.cgroup); got != tc.want {
				t.Fatalf("got %d MiB, want %d MiB", got/mb, tc.want/mb)
			}
		})
	}
}

// TestMemoryTunerWaitsForEveryChain: the limit is set once, after the first
// load of the last chain; a watcher's reload changes nothing.
func TestMemoryTunerWaitsForEveryChain(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // derived
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	m := newMemoryTuner(slog.New(slog.NewTextHandler(io.Discard, nil)), []string{"bitcoin", "ethereum"})
	m.fixed = false
	m.chainLoaded("bitcoin", 10)
	m.chainLoaded("bitcoin", 10) // a restart's reload
	select {
	case <-m.done:
		t.Fatal("done before every chain loaded")
	default:
	}
	m.chainLoaded("ethereum", 5)
	<-m.done
	if m.total != 15 || m.limit <= 0 || debug.SetMemoryLimit(-1) != m.limit {
		t.Fatalf("total %d, limit %d, runtime limit %d", m.total, m.limit, debug.SetMemoryLimit(-1))
	}
	m.chainLoaded("ethereum", 5) // no second close
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryTunerNoChains(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	m := newMemoryTuner(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	<-m.done // Run did the (empty) load
}

func TestReadCgroupLimit(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body string
		n          uint64
		ok         bool
	}{
		{"v2 limit", "536870912\n", 512 << 20, true},
		{"v2 none", "max\n", 0, true},
		{"v1 none", "9223372036854771712\n", 0, true},
		{"missing", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if tc.ok {
				if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if n, ok := readCgroupLimit(p); n != tc.n || ok != tc.ok {
				t.Fatalf("got %d, %v; want %d, %v", n, ok, tc.n, tc.ok)
			}
		})
	}
}
