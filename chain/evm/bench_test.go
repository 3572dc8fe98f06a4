package evm

import (
	"sync"
	"testing"

	"github.com/payd/payd/chain/evm/evmtest"
)

var (
	benchOnce    sync.Once
	benchData    evmtest.Data
	benchScanner *Scanner
)

// benchSetup builds the PERF.md workload once: a 300-transaction block and
// 2,000 Transfer logs, matched against 1,000,000 watched addresses.
func benchSetup(b *testing.B) (evmtest.Data, *Scanner) {
	benchOnce.Do(func() {
		benchData = evmtest.Generate(evmtest.Spec{Height: 20_000_000, Txs: 300, Logs: 2000, Watched: 1_000_000, Hits: 10, Seed: 1})
		cfg, err := Config{Name: "ethereum", ChainID: 1, RPCURL: "http://127.0.0.1:1", NativeAsset: "ETH",
			Tokens: []Token{{Symbol: "USDC", Contract: benchData.Token, Decimals: 6}}}.withDefaults()
		if err != nil {
			panic(err)
		}
		w := NewWatchlist()
		w.Add(benchData.Watched...)
		benchScanner = NewScanner(cfg, w)
	})
	return benchData, benchScanner
}

func TestScanSynthetic(t *testing.T) {
	d := evmtest.Generate(evmtest.Spec{Height: 5, Txs: 300, Logs: 2000, Watched: 1000, Hits: 10, Seed: 2})
	cfg, _ := Config{Name: "ethereum", ChainID: 1, RPCURL: "http://x", NativeAsset: "ETH",
		Tokens: []Token{{Symbol: "USDC", Contract: d.Token, Decimals: 6}}}.withDefaults()
	w := NewWatchlist()
	w.Add(d.Watched...)
	ref, ts, err := NewScanner(cfg, w).Scan(d.BlockResponse, d.LogsResponse)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Height != 5 || ref.Hash != d.BlockHash {
		t.Fatalf("ref %+v", ref)
	}
	var native, token int
	for _, tr := range ts {
		if tr.Token == "" {
			native++
		} else {
			token++
		}
	}
	if native != 10 || token != 10 {
		t.Fatalf("%d native and %d token matches, want 10 and 10", native, token)
	}
}

// BenchmarkScanEVM is payd's per-block hot path: decode a block response and
// a logs response into lean structs and match them against 1M addresses.
func BenchmarkScanEVM(b *testing.B) {
	d, s := benchSetup(b)
	b.SetBytes(int64(len(d.BlockResponse) + len(d.LogsResponse)))
	b.ResetTimer()
	for b.Loop() {
		if _, ts, err := s.Scan(d.BlockResponse, d.LogsResponse); err != nil || len(ts) != 20 {
			b.Fatalf("%d transfers, err %v", len(ts), err)
		}
	}
}

// BenchmarkBaselineDecode is the floor ScanEVM is compared with: a plain
// encoding/json decode of the same responses into only the needed fields,
// as strings, with no matching.
func BenchmarkBaselineDecode(b *testing.B) {
	d, _ := benchSetup(b)
	b.SetBytes(int64(len(d.BlockResponse) + len(d.LogsResponse)))
	b.ResetTimer()
	for b.Loop() {
		if err := evmtest.BaselineDecode(d.BlockResponse, d.LogsResponse); err != nil {
			b.Fatal(err)
		}
	}
}
