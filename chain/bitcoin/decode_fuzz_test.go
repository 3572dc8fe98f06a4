package bitcoin

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
)

// FuzzDecodeResponse feeds arbitrary bodies to the small-reply decoder and
// to the getrawmempool path after it: no panic, a result is valid JSON, an
// error is either the node's *RPCError or ErrMalformed.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"result":["5e1305eec0c93a7dfccd8e44031f2e85abd39febbb19c6641f0e3f18b0526169"],"error":null,"id":1}`))
	f.Add([]byte(`{"result":[],"error":null,"id":1}`))
	f.Add([]byte(`{"result":116,"error":null,"id":"x"}`))
	f.Add([]byte(`{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1}`))
	f.Add([]byte(`{"result":null,"error":null,"id":1}`))
	f.Add([]byte(`{"result":["zz"],"error":null}`))
	f.Add([]byte(`{"jsonrpc":"1.0","result":`))
	f.Add([]byte("\x00\xff<html>garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, err := decodeResponse(body)
		if err != nil {
			var re *RPCError
			if !errors.As(err, &re) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is neither *RPCError nor ErrMalformed: %v", err)
			}
			if raw != nil {
				t.Fatal("result with an error")
			}
			return
		}
		if len(raw) == 0 || !json.Valid(raw) {
			t.Fatalf("result %q is not JSON", raw)
		}
		// getrawmempool: a list of txids, each exactly 32 bytes of hex.
		var ids []string
		if json.Unmarshal(raw, &ids) != nil {
			return
		}
		for _, s := range ids {
			var id chainhash.Hash
			if len(s) != 2*chainhash.HashSize || chainhash.Decode(&id, s) != nil {
				continue
			}
			if _, err := hex.DecodeString(s); err != nil {
				t.Fatalf("chainhash accepted %q that is not hex", s)
			}
			if id.String() != lowerHex(s) {
				t.Fatalf("txid %q round-trips as %s", s, id)
			}
		}
	})
}

func lowerHex(s string) string { return string(bytes.ToLower([]byte(s))) }

// FuzzScanBlockResponse checks the sliced getblock <hash> 0 path against
// the plain one (encoding/json, hex, ScanRawBlock): on an unambiguous body
// (one "result"), whenever the fast path accepts a block, the plain path
// finds the same block and the same outputs.
func FuzzScanBlockResponse(f *testing.F) {
	body, err := os.ReadFile(filepath.Join("testdata", "getblock", "btcd_regtest.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(bytes.Replace(body, []byte(`{"result":"`), []byte(`{ "id":1, "result":"`), 1))
	f.Add([]byte(`{"result":"00","error":null,"id":1}`))
	f.Add([]byte(`{"result":"` + string(bytes.Repeat([]byte("00"), 81)) + `","error":null,"id":1}`))
	ws := NewWatchSet(&chaincfg.RegressionNetParams)
	addr, err := btcutil.DecodeAddress("bcrt1q97ad72s9tcsarcqkurl57963swjvgzazk56ddz", &chaincfg.RegressionNetParams)
	if err != nil {
		f.Fatal(err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		f.Fatal(err)
	}
	ws.Add(script, addr.EncodeAddress())
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, err := ScanBlockResponse(body, ws)
		if err != nil {
			return
		}
		if bytes.Count(bytes.ToLower(body), []byte("result")) != 1 {
			return // duplicate keys: encoding/json keeps the last one
		}
		var r struct {
			Result *string   `json:"result"`
			Error  *RPCError `json:"error"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			// The fast path slices the hex out without validating the whole
			// reply (a trailing comma, say); nodes send valid JSON, so only
			// replies encoding/json accepts are compared.
			return
		}
		if r.Result == nil || r.Error != nil {
			t.Fatalf("fast path accepted a reply without a result or with an error: %+v", r)
		}
		raw, err := hex.DecodeString(*r.Result)
		if err != nil {
			t.Fatalf("fast path accepted non-hex: %v", err)
		}
		slow, err := ScanRawBlock(raw, ws)
		if err != nil {
			t.Fatalf("plain path refuses what the fast path accepted: %v", err)
		}
		if fast.Hash != slow.Hash || fast.TxCount != slow.TxCount || len(fast.Outputs) != len(slow.Outputs) {
			t.Fatalf("fast %s/%d/%d, plain %s/%d/%d", fast.Hash, fast.TxCount, len(fast.Outputs), slow.Hash, slow.TxCount, len(slow.Outputs))
		}
		for i := range fast.Outputs {
			if fast.Outputs[i] != slow.Outputs[i] {
				t.Fatalf("output %d: fast %+v, plain %+v", i, fast.Outputs[i], slow.Outputs[i])
			}
		}
	})
}
