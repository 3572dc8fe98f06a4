package evm

import (
	"runtime"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// TestWatchlistSpelling: every spelling an address may be watched in comes
// back exactly as given; only the EIP-55 one is kept without a string.
func TestWatchlistSpelling(t *testing.T) {
	const eip55 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" // EIP-55's own vector
	tests := []struct {
		name, addr string
		odd        bool
	}{
		{"EIP-55", eip55, false},
		{"lower case", strings.ToLower(eip55), true},
		{"upper-case digits", "0x" + strings.ToUpper(eip55[2:]), true},
		{"0X prefix", "0X" + eip55[2:], true},
		{"no letters", "0x0000000000000000000000000000000000001234", false},
		{"mixed case, not EIP-55", "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWatchlist()
			if bad := w.Add(tc.addr); len(bad) != 0 {
				t.Fatalf("Add rejected %v", bad)
			}
			a := common.HexToAddress(tc.addr)
			if _, odd := w.odd[a]; odd != tc.odd {
				t.Errorf("kept as a string: %v, want %v", odd, tc.odd)
			}
			if got, ok := w.Lookup(a); !ok || got != tc.addr {
				t.Fatalf("Lookup = %q, %v; want %q", got, ok, tc.addr)
			}
			// Watching it again in the EIP-55 spelling replaces the other.
			w.Add(a.Hex())
			if got, _ := w.Lookup(a); got != a.Hex() || len(w.odd) != 0 || w.Len() != 1 {
				t.Fatalf("after re-adding as EIP-55: %q, odd %d, len %d", got, len(w.odd), w.Len())
			}
			w.Add(tc.addr)
			w.Remove(strings.ToLower(tc.addr)) // Remove takes any spelling
			if _, ok := w.Lookup(a); ok || w.Len() != 0 || len(w.odd) != 0 {
				t.Fatalf("after Remove: len %d, odd %d", w.Len(), len(w.odd))
			}
		})
	}
}

// TestScanReportsSpelling: a transfer carries the address as watched,
// EIP-55 or not (the fixture watches a non-EIP-55 spelling).
func TestScanReportsSpelling(t *testing.T) {
	a := common.HexToAddress(fixtureWatched)
	for _, spelling := range []string{fixtureWatched, a.Hex(), strings.ToLower(fixtureWatched)} {
		s := fixtureScanner(t)
		s.watch.Remove(fixtureWatched)
		s.watch.Add(spelling)
		_, ts, err := s.Scan(readFixture(t, "block_anvil.json"), readFixture(t, "logs_anvil.json"))
		if err != nil || len(ts) != 2 {
			t.Fatalf("%s: %d transfers, %v", spelling, len(ts), err)
		}
		for _, tr := range ts {
			if tr.Address != spelling {
				t.Errorf("transfer to %q, watched as %q", tr.Address, spelling)
			}
		}
	}
}

func TestWatchlistLookupMissAllocs(t *testing.T) {
	w := NewWatchlist()
	w.Add("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x00000000000000000000000000000000000000aa")
	w.mu.RLock()
	defer w.mu.RUnlock()
	miss := common.HexToAddress("0x00000000000000000000000000000000000000ab")
	if n := testing.AllocsPerRun(100, func() { w.lookup(miss) }); n != 0 {
		t.Fatalf("a miss allocates %v times", n)
	}
}

// BenchmarkWatchlistMemory reports the heap 1,000,000 EIP-55 addresses
// keep (B/entry).
func BenchmarkWatchlistMemory(b *testing.B) {
	const n = 1_000_000
	addrs := make([]string, n)
	for i := range addrs {
		var a common.Address
		a[0], a[1], a[2], a[19] = byte(i), byte(i>>8), byte(i>>16), 0x5a
		addrs[i] = a.Hex()
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := NewWatchlist()
		for _, s := range addrs {
			w.Add(string([]byte(s))) // a fresh string, as read from SQLite
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
		runtime.KeepAlive(w)
	}
}
