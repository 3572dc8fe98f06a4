package bitcoin_test

import (
	"runtime"
	"testing"

	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/chain/bitcoin/bitcointest"
)

// BenchmarkWatchSetLookup looks up every output script of the 4,000-tx
// block (~8,000 outputs, 100 watched) in the 1M-script set: the matching
// part of a block scan, without the decoding.
func BenchmarkWatchSetLookup(b *testing.B) {
	_, _, ws := benchFixture(b)
	blk := bitcointest.Block(benchTxs, 1)
	var scripts [][]byte
	for _, tx := range blk.Transactions {
		for _, o := range tx.TxOut {
			scripts = append(scripts, o.PkScript)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, s := range scripts {
			if _, ok := ws.Lookup(s); ok {
				n++
			}
		}
		if n != benchHits {
			b.Fatalf("%d hits, want %d", n, benchHits)
		}
	}
}

// BenchmarkWatchSetMemory reports the heap a set of 1,000,000 P2WPKH
// scripts keeps (B/entry), the figure-6 daemon's shape.
func BenchmarkWatchSetMemory(b *testing.B) {
	const n = 1_000_000
	scripts := make([][]byte, n)
	addrs := make([]string, n)
	for i := range scripts {
		s := make([]byte, 22)
		s[0], s[1] = 0x00, 0x14
		s[2], s[3], s[4], s[5] = byte(i), byte(i>>8), byte(i>>16), 0x5a
		scripts[i], addrs[i] = s, bitcointest.Address(s)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ws := bitcoin.NewWatchSet(nil)
		for i, s := range scripts {
			ws.Add(s, string([]byte(addrs[i]))) // a fresh string, as read from SQLite
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
		runtime.KeepAlive(ws)
	}
}
