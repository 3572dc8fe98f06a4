package bitcoin_test

import (
	"bytes"
	"strconv"
	"sync"
	"testing"

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
		benchSet = bitcoin.NewWatchSet()
		for i, s := range bitcointest.Scripts(benchWatched, blk, benchHits, 2) {
			benchSet.Add(s, "addr"+strconv.Itoa(i%1000))
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
