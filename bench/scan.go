package main

import (
	"bytes"
	"fmt"
	"runtime"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/chain/bitcoin/bitcointest"
	"github.com/payd/payd/chain/evm"
	"github.com/payd/payd/chain/evm/evmtest"
)

// figBitcoinScan is figure 2: a 4,000-transaction block against 1,000,000
// watched scripts, from raw bytes and from a getblock <hash> 0 reply,
// against wire.MsgBlock deserialisation of the same bytes.
func figBitcoinScan(e *env, f *Figure) {
	const nTx, watched, hits = 4000, 1_000_000, 100
	blk := bitcointest.Block(nTx, 1)
	raw := bitcointest.Serialize(blk)
	body := bitcointest.GetBlockResponse(raw)
	ws := bitcoin.NewWatchSet(nil)
	for _, s := range bitcointest.Scripts(watched, blk, hits, 2) {
		ws.Add(s, bitcointest.Address(s))
	}
	runtime.GC()
	check := func(res *bitcoin.ScanResult, err error) {
		if err != nil || len(res.Outputs) != hits {
			panic(fatal{fmt.Sprintf("scan: %v, %d outputs, want %d", err, len(res.Outputs), hits)})
		}
	}
	scanRaw := func() { check(bitcoin.ScanRawBlock(raw, ws)) }
	scanJSON := func() { check(bitcoin.ScanBlockResponse(body, ws)) }
	base := func() {
		var b wire.MsgBlock
		if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
			panic(fatal{"deserialize: " + err.Error()})
		}
	}
	d := e.scale(400 * time.Millisecond)
	var a, b, c []float64
	for i := 0; i < e.pairs; i++ {
		a = append(a, nsPerOp(d, scanRaw))
		b = append(b, nsPerOp(d, base))
		c = append(c, nsPerOp(d, scanJSON))
	}
	ra, rc := median(ratios(a, b)), median(ratios(c, b))
	okA, okC := ra <= 1.3, rc <= 2.0
	f.Rows = append(f.Rows,
		Row{Figure: "2a", Name: "Bitcoin block scan, raw bytes → matched transfers", Payd: median(a) / 1e6, Baseline: median(b) / 1e6, Unit: "ms/block", Ratio: ra, Goal: "≤ 1.3× baseline", Met: met(okA)},
		Row{Figure: "2b", Name: "Bitcoin block scan, getblock JSON reply → matched transfers", Payd: median(c) / 1e6, Baseline: median(b) / 1e6, Unit: "ms/block", Ratio: rc, Goal: "≤ 2.0× baseline", Met: met(okC)},
	)
	f.note("Synthetic mainnet-like block (bitcointest.Block): %d transactions, %.2f MB raw, %.2f MB as a getblock <hash> 0 reply; %d watched scripts (P2WPKH/P2TR/P2PKH mix), %d of the block's outputs watched.",
		nTx, float64(len(raw))/1e6, float64(len(body))/1e6, ws.Len(), hits)
	f.note("payd: chain/bitcoin.ScanRawBlock (2a) and ScanBlockResponse (2b) — the functions the backend runs per block. Baseline: wire.MsgBlock.Deserialize of the same raw bytes (no matching, no hex). %d interleaved rounds (2a, baseline, 2b) of ≥%s each, each round's value the median time of one call; per-round ratios, median reported.", e.pairs, d)
	if !okA {
		f.Profile = append(f.Profile, profileInProcess(e.work, "fig2a", 3*time.Second, scanRaw)...)
	}
	if !okC {
		f.Profile = append(f.Profile, profileInProcess(e.work, "fig2b", 3*time.Second, scanJSON)...)
	}
}

// figEVMScan is figure 3: a 300-transaction block and 2,000 ERC-20
// Transfer logs against 1,000,000 watched addresses, from the JSON-RPC
// response bytes, against a minimal encoding/json decode of the same bytes.
func figEVMScan(e *env, f *Figure) {
	const txs, logs, watched, hits = 300, 2000, 1_000_000, 10
	d := evmtest.Generate(evmtest.Spec{Height: 20_000_000, Txs: txs, Logs: logs, Watched: watched, Hits: hits, Seed: 1})
	w := evm.NewWatchlist()
	if bad := w.Add(d.Watched...); len(bad) > 0 {
		panic(fatal{fmt.Sprintf("%d invalid addresses", len(bad))})
	}
	d.Watched = nil
	s := evm.NewScanner(evm.Config{Name: "ethereum", ChainID: 1, RPCURL: "http://127.0.0.1:1", NativeAsset: "ETH",
		Tokens: []evm.Token{{Symbol: "USDC", Contract: d.Token, Decimals: 6}}}, w)
	runtime.GC()
	scan := func() {
		if _, ts, err := s.Scan(d.BlockResponse, d.LogsResponse); err != nil || len(ts) != 2*hits {
			panic(fatal{fmt.Sprintf("scan: %d transfers, want %d: %v", len(ts), 2*hits, err)})
		}
	}
	base := func() {
		if err := evmtest.BaselineDecode(d.BlockResponse, d.LogsResponse); err != nil {
			panic(fatal{"baseline: " + err.Error()})
		}
	}
	dur := e.scale(400 * time.Millisecond)
	var a, b []float64
	for i := 0; i < e.pairs; i++ {
		a = append(a, nsPerOp(dur, scan))
		b = append(b, nsPerOp(dur, base))
	}
	r := median(ratios(a, b))
	ok := r <= 1.5
	f.Rows = append(f.Rows, Row{Figure: "3", Name: "EVM block scan (300 txs + 2,000 Transfer logs) → matched transfers", Payd: median(a) / 1e6, Baseline: median(b) / 1e6, Unit: "ms/block", Ratio: r, Goal: "≤ 1.5× baseline", Met: met(ok)})
	f.note("Synthetic responses (evmtest.Generate): eth_getBlockByHash(…, true) body %.0f KB with %d transactions, eth_getLogs body %.0f KB with %d Transfer logs; %d watched addresses, %d transactions and %d logs pay one of them.",
		float64(len(d.BlockResponse))/1e3, txs, float64(len(d.LogsResponse))/1e3, logs, w.Len(), hits, hits)
	f.note("payd: chain/evm.Scanner.Scan (jsontext stream decode of only the needed fields + matching), as the backend runs it per block. Baseline: evmtest.BaselineDecode — encoding/json into structs of only the fields payd needs, as strings, no matching. %d interleaved pairs of ≥%s each, each the median time of one call; median ratio.", e.pairs, dur)
	if !ok {
		f.Profile = profileInProcess(e.work, "fig3", 3*time.Second, scan)
	}
}
