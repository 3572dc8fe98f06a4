package bitcoin_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/chain/bitcoin/bitcointest"
)

const (
	benchTxs     = 4000
	benchWatched = 1_000_000
	benchHits    = 100
)

var (
	benchOnce sync.Once
	benchRaw  []byte
	benchBody []byte
	benchSet  *bitcoin.WatchSet
)

// benchFixture builds the synthetic block and a 1M-script watched set once.
func benchFixture(b *testing.B) ([]byte, []byte, *bitcoin.WatchSet) {
	b.Helper()
	benchOnce.Do(func() {
		blk := bitcointest.Block(benchTxs, 1)
		benchRaw = bitcointest.Serialize(blk)
		benchBody = bitcointest.GetBlockResponse(benchRaw)
		benchSet = bitcoin.NewWatchSet(nil)
		for _, s := range bitcointest.Scripts(benchWatched, blk, benchHits, 2) {
			benchSet.Add(s, bitcointest.Address(s))
		}
	})
	return benchRaw, benchBody, benchSet
}

// BenchmarkScanBlock scans a 4,000-transaction, ~1.6 MB block against
// 1,000,000 watched scripts, from raw bytes and from a getblock <hash> 0
// JSON reply body.
func BenchmarkScanBlock(b *testing.B) {
	raw, body, ws := benchFixture(b)
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			res, err := bitcoin.ScanRawBlock(raw, ws)
			if err != nil || len(res.Outputs) != benchHits {
				b.Fatalf("scan: %v, %d outputs", err, len(res.Outputs))
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			res, err := bitcoin.ScanBlockResponse(body, ws)
			if err != nil || len(res.Outputs) != benchHits {
				b.Fatalf("scan: %v, %d outputs", err, len(res.Outputs))
			}
		}
	})
}

// BenchmarkBaselineDeserialize is the floor ScanBlock is compared with:
// wire.MsgBlock.Deserialize of the same bytes, nothing else.
func BenchmarkBaselineDeserialize(b *testing.B) {
	raw, _, _ := benchFixture(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWatchDuringScan measures Watch latency while blocks are being
// scanned (the RWMutex choice: a writer waits for at most one block scan).
func BenchmarkWatchDuringScan(b *testing.B) {
	raw, _, ws := benchFixture(b)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = bitcoin.ScanRawBlock(raw, ws)
			}
		}
	}()
	script := []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	for b.Loop() {
		ws.Add(script, "x")
		ws.Remove(script)
	}
	close(stop)
	<-done
}

// BenchmarkBackendWatch is startup's share of the watch set: Backend.Watch
// of 1,000,000 regtest P2WPKH addresses in chunks of 1,000.
func BenchmarkBackendWatch(b *testing.B) {
	const n = 1_000_000
	addrs := make([]string, n)
	var h [20]byte
	for i := range addrs {
		h[0], h[1], h[2] = byte(i), byte(i>>8), byte(i>>16)
		a, err := btcutil.NewAddressWitnessPubKeyHash(h[:], &chaincfg.RegressionNetParams)
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = a.EncodeAddress()
	}
	for b.Loop() {
		be, err := bitcoin.New(bitcoin.Config{Network: "regtest", RPCURL: "http://127.0.0.1:1", RPCUser: "u", RPCPassword: "p"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 1000 {
			be.Watch(addrs[i : i+1000]...)
		}
	}
}
