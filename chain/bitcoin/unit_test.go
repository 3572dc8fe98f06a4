package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain/bitcoin/bitcointest"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

type fixtureWant struct {
	Hash    string `json:"hash"`
	Parent  string `json:"parent"`
	TxCount int    `json:"tx_count"`
	Address string `json:"address"`
	TxID    string `json:"txid"`
	Vout    uint32 `json:"vout"`
	Amount  int64  `json:"amount"`
	RBF     bool   `json:"rbf"`
}

func readWant(t *testing.T, name string) fixtureWant {
	t.Helper()
	var w fixtureWant
	if err := json.Unmarshal(readFixture(t, name), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func regtestBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(Config{Network: "regtest", RPCURL: "http://127.0.0.1:1", RPCUser: "u", RPCPassword: "p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHexResult(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr error
		rpcCode int
	}{
		{"btcd shape", `{"result":"00ff","error":null,"id":1}`, "00ff", nil, 0},
		{"no error key", `{"result":"00ff"}`, "00ff", nil, 0},
		{"whitespace and newline", " \n{\"result\":\"abcd\",\"error\":null,\"id\":7}\n", "abcd", nil, 0},
		{"other key order", `{"id":1,"error":null,"result":"0a0b"}`, "0a0b", nil, 0},
		{"spaces after colon", `{"result": "0a0b", "error": null, "id": 1}`, "0a0b", nil, 0},
		{"rpc error", `{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}`, "", nil, -5},
		{"error after a result", `{"result":"00","error":{"code":-1,"message":"x"},"id":1}`, "", nil, -1},
		{"truncated", `{"result":"00ff`, "", ErrMalformed, 0},
		{"truncated tail", `{"result":"00ff","error":nu`, "", ErrMalformed, 0},
		{"empty", ``, "", ErrMalformed, 0},
		{"html", `<html>502 Bad Gateway</html>`, "", ErrMalformed, 0},
		{"number result", `{"result":12,"error":null,"id":1}`, "", ErrMalformed, 0},
		{"null result", `{"result":null,"error":null,"id":1}`, "", ErrMalformed, 0},
		{"escaped string", `{"result":"00\u0041","error":null,"id":1}`, "00A", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hexResult([]byte(tc.body))
			var re *RPCError
			switch {
			case tc.rpcCode != 0:
				if !errors.As(err, &re) || re.Code != tc.rpcCode {
					t.Fatalf("err = %v, want rpc error %d", err, tc.rpcCode)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			default:
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
}

func TestDecodeHexInto(t *testing.T) {
	var buf []byte
	for _, bad := range []string{"0", "zz", "0g", "00 1"} {
		if err := decodeHexInto(&buf, []byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("decodeHexInto(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if err := decodeHexInto(&buf, []byte("00ffA0")); err != nil || !bytes.Equal(buf, []byte{0, 0xff, 0xa0}) {
		t.Fatalf("got %x, %v", buf, err)
	}
}

func TestScanFixtureBlock(t *testing.T) {
	body := readFixture(t, "getblock/btcd_regtest.json")
	want := readWant(t, "getblock/btcd_regtest.want.json")
	b := regtestBackend(t)
	b.Watch(want.Address)
	res, err := ScanBlockResponse(body, b.watch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Hash.String() != want.Hash || res.Header.PrevBlock.String() != want.Parent || res.TxCount != want.TxCount {
		t.Fatalf("block %s parent %s txs %d, want %+v", res.Hash, res.Header.PrevBlock, res.TxCount, want)
	}
	if len(res.Outputs) != 1 {
		t.Fatalf("outputs = %+v", res.Outputs)
	}
	o := res.Outputs[0]
	if o.TxID.String() != want.TxID || o.Vout != want.Vout || o.Value != want.Amount || o.Address != want.Address || o.RBF != want.RBF {
		t.Fatalf("output = %+v, want %+v", o, want)
	}
	// Unwatched: nothing.
	b.Unwatch(want.Address)
	if res, _ := ScanBlockResponse(body, b.watch); len(res.Outputs) != 0 {
		t.Fatalf("unwatched address still matched")
	}
}

func TestScanFixtureTx(t *testing.T) {
	body := readFixture(t, "getrawtransaction/btcd_rbf.json")
	want := readWant(t, "getrawtransaction/btcd_rbf.want.json")
	h, err := hexResult(body)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(string(h))
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if tx.TxHash().String() != want.TxID || !SignalsRBF(&tx) {
		t.Fatalf("tx %s rbf %v, want %s rbf", tx.TxHash(), SignalsRBF(&tx), want.TxID)
	}
	b := regtestBackend(t)
	b.Watch(want.Address)
	outs := scanTx(&tx, tx.TxHash(), b.watch)
	if len(outs) != 1 || outs[0].Value != want.Amount || outs[0].Vout != want.Vout {
		t.Fatalf("outputs = %+v", outs)
	}
	ts := b.transfers(outs, nil)
	if ts[0].Amount.Int64() != want.Amount || ts[0].Block != nil || !ts[0].RBF || ts[0].Key() != want.TxID+":0" {
		t.Fatalf("transfer = %+v", ts[0])
	}
}

func TestScanMalformedBlocks(t *testing.T) {
	raw := bitcointest.Serialize(bitcointest.Block(20, 7))
	ws := NewWatchSet(nil)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"header only", raw[:80]},
		{"truncated", raw[:len(raw)/2]},
		{"one byte short", raw[:len(raw)-1]},
		{"trailing byte", append(append([]byte(nil), raw...), 0)},
		{"garbage", bytes.Repeat([]byte{0xff}, 200)},
		{"huge tx count", append(append([]byte(nil), raw[:80]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ScanRawBlock(tc.raw, ws); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	for _, body := range []string{
		`{"result":"zz","error":null,"id":1}`,
		`{"result":"0","error":null,"id":1}`,
		`{"result":"` + hex.EncodeToString(raw[:100]) + `","error":null,"id":1}`,
		`{"result":"` + hex.EncodeToString(raw)[:1000],
	} {
		if _, err := ScanBlockResponse([]byte(body), ws); !errors.Is(err, ErrMalformed) {
			t.Errorf("ScanBlockResponse(%.40q…) = %v, want ErrMalformed", body, err)
		}
	}
}

func TestScanSyntheticBlock(t *testing.T) {
	blk := bitcointest.Block(500, 3)
	raw := bitcointest.Serialize(blk)
	ws := NewWatchSet(nil)
	scripts := bitcointest.Scripts(1000, blk, 10, 4)
	for _, s := range scripts {
		ws.Add(s, "a")
	}
	for _, r := range [][]byte{raw, nil} {
		var res *ScanResult
		var err error
		if r != nil {
			res, err = ScanRawBlock(r, ws)
		} else {
			res, err = ScanBlockResponse(bitcointest.GetBlockResponse(raw), ws)
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Hash != blk.BlockHash() || res.TxCount != 500 || len(res.Outputs) != 10 {
			t.Fatalf("hash %s txs %d outputs %d", res.Hash, res.TxCount, len(res.Outputs))
		}
		for _, o := range res.Outputs {
			var tx *wire.MsgTx
			for _, t2 := range blk.Transactions {
				if t2.TxHash() == o.TxID {
					tx = t2
				}
			}
			if tx == nil || tx.TxOut[o.Vout].Value != o.Value || SignalsRBF(tx) != o.RBF {
				t.Fatalf("output %+v does not match its tx", o)
			}
		}
	}
	// Spends: inputs of the given outpoints are reported with the spender.
	spent := blk.Transactions[42].TxIn[1].PreviousOutPoint
	res, err := scanRawBlock(raw, nil, map[wire.OutPoint]chainhash.Hash{spent: {}})
	if err != nil || len(res.Spends) != 1 || res.Spends[0].TxID != blk.Transactions[42].TxHash() {
		t.Fatalf("spends = %+v, %v", res, err)
	}
}

func TestSignalsRBF(t *testing.T) {
	tests := []struct {
		seqs []uint32
		want bool
	}{
		{[]uint32{0xffffffff}, false},
		{[]uint32{0xfffffffe}, false},
		{[]uint32{0xfffffffd}, true},
		{[]uint32{0}, true},
		{[]uint32{0xffffffff, 0xfffffffe}, false},
		{[]uint32{0xffffffff, 0x10}, true},
	}
	for _, tc := range tests {
		tx := wire.NewMsgTx(2)
		for _, s := range tc.seqs {
			tx.AddTxIn(&wire.TxIn{Sequence: s})
		}
		if got := SignalsRBF(tx); got != tc.want {
			t.Errorf("SignalsRBF(%x) = %v, want %v", tc.seqs, got, tc.want)
		}
	}
}

// Addresses and scripts from BIP173, BIP86 and the Bitcoin wiki.
func TestScriptAddressKinds(t *testing.T) {
	b, err := New(Config{Network: "mainnet", RPCURL: "http://127.0.0.1:1", RPCUser: "u"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, script string
	}{
		{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "76a91477bff20c60e522dfaa3350c39b030a5d004e839a88ac"},
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"},
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
		{"bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"},
	}
	for _, tc := range tests {
		s, err := b.Script(tc.addr)
		if err != nil || hex.EncodeToString(s) != tc.script {
			t.Errorf("Script(%s) = %x, %v; want %s", tc.addr, s, err, tc.script)
		}
		b.Watch(tc.addr)
		raw, _ := hex.DecodeString(tc.script)
		if a, ok := b.watch.Lookup(raw); !ok || a != tc.addr {
			t.Errorf("Lookup(%s) = %q, %v", tc.script, a, ok)
		}
	}
	for _, bad := range []string{"", "garbage", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "bcrt1q97ad72s9tcsarcqkurl57963swjvgzazk56ddz", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"} {
		if _, err := b.Script(bad); err == nil {
			t.Errorf("Script(%q) accepted on mainnet", bad)
		}
		b.Watch(bad) // logged and ignored
	}
	if n := b.watch.Len(); n != len(tests) {
		t.Fatalf("watched %d scripts, want %d", n, len(tests))
	}
}

func TestWatchConcurrentWithScan(t *testing.T) {
	blk := bitcointest.Block(200, 9)
	raw := bitcointest.Serialize(blk)
	ws := NewWatchSet(nil)
	scripts := bitcointest.Scripts(200, blk, 50, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := ScanRawBlock(raw, ws); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for i := 0; i < 3; i++ {
		for _, s := range scripts {
			ws.Add(s, "x")
		}
		for _, s := range scripts {
			ws.Remove(s)
		}
	}
	close(stop)
	wg.Wait()
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Network: "regtest", RPCURL: "http://127.0.0.1:18443", RPCUser: "u", RPCPassword: "p"}
	tests := []struct {
		name string
		mod  func(*Config)
		msg  string
	}{
		{"ok", func(*Config) {}, ""},
		{"cookie only", func(c *Config) { c.RPCUser, c.CookieFile = "", "/x/.cookie" }, ""},
		{"bad network", func(c *Config) { c.Network = "main" }, `network "main" must be`},
		{"bad url", func(c *Config) { c.RPCURL = "127.0.0.1:8332" }, "rpc_url"},
		{"no credentials", func(c *Config) { c.RPCUser = "" }, "rpc_user"},
		{"bad websocket", func(c *Config) { c.WebsocketURL = "http://127.0.0.1:1/ws" }, "websocket_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			b, err := New(cfg, nil)
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b.cfg.PollInterval != time.Second || b.cfg.Depth != 100 || b.Name() != "bitcoin" || b.cfg.Asset != "BTC" {
					t.Fatalf("defaults not applied: %+v", b.cfg)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrConfig containing %q", err, tc.msg)
			}
		})
	}
}

func TestCheckNetworkNames(t *testing.T) {
	tests := []struct {
		fixture, network string
		ok               bool
	}{
		{"btcd_regtest.json", "regtest", true},
		{"btcd_regtest.json", "mainnet", false},
		{"core_main.json", "mainnet", true},
		{"core_main.json", "testnet", false},
	}
	for _, tc := range tests {
		body := readFixture(t, "getblockchaininfo/"+tc.fixture)
		raw, err := decodeResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Chain string `json:"chain"`
		}
		_ = json.Unmarshal(raw, &info)
		found := false
		for _, n := range nodeChainNames[tc.network] {
			found = found || n == info.Chain
		}
		if found != tc.ok {
			t.Errorf("%s on %s: match %v, want %v", tc.fixture, tc.network, found, tc.ok)
		}
	}
}

// fakeNode answers JSON-RPC with handler(method) → (status, body).
func fakeNode(t *testing.T, handler func(method string, r *http.Request) (int, string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		code, body := handler(req.Method, r)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientErrors(t *testing.T) {
	var calls atomic.Int32
	tests := []struct {
		name    string
		code    int
		body    string
		want    error
		msg     string
		retries bool
	}{
		{"401", 401, "", ErrAuth, "check rpc_user/rpc_password", false},
		{"core 500 rpc error", 500, `{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":1}`, nil, "rpc error -8: Block height out of range", false},
		{"core 404 method", 404, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`, nil, "Method not found", false},
		{"warming up", 500, `{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1}`, nil, "Loading block index", true},
		{"503 html", 503, `<html>down</html>`, ErrUnreachable, "http 503", true},
		{"malformed json", 200, `{"result":`, ErrMalformed, "malformed", false},
		{"not json", 200, `hello`, ErrMalformed, "hello", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			srv := fakeNode(t, func(string, *http.Request) (int, string) { calls.Add(1); return tc.code, tc.body })
			c := newClient(Config{RPCURL: srv.URL, RPCUser: "u", RPCPassword: "p", RequestTimeout: time.Second})
			_, err := c.call(context.Background(), "getblockcount")
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
			if n := calls.Load(); (n > 1) != tc.retries {
				t.Fatalf("%d calls; retries expected: %v", n, tc.retries)
			}
		})
	}
}

func TestClientCookieFile(t *testing.T) {
	dir := t.TempDir()
	cookie := filepath.Join(dir, ".cookie")
	pass := atomic.Value{}
	pass.Store("one")
	srv := fakeNode(t, func(_ string, r *http.Request) (int, string) {
		u, p, _ := r.BasicAuth()
		if u != "__cookie__" || p != pass.Load().(string) {
			return 401, ""
		}
		return 200, `{"result":5,"error":null,"id":1}`
	})
	if err := os.WriteFile(cookie, []byte("__cookie__:one"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(Config{RPCURL: srv.URL, CookieFile: cookie, RequestTimeout: time.Second})
	var n int
	if err := c.callInto(context.Background(), &n, "getblockcount"); err != nil || n != 5 {
		t.Fatalf("got %d, %v", n, err)
	}
	// The node restarted with a new cookie: re-read on 401.
	pass.Store("two")
	_ = os.WriteFile(cookie, []byte("__cookie__:two\n"), 0o600)
	if err := c.callInto(context.Background(), &n, "getblockcount"); err != nil {
		t.Fatalf("after cookie rotation: %v", err)
	}
	pass.Store("three")
	if err := c.callInto(context.Background(), &n, "getblockcount"); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "cookie_file") {
		t.Fatalf("stale cookie: %v, want ErrAuth naming cookie_file", err)
	}
}

func FuzzHexResult(f *testing.F) {
	f.Add([]byte(`{"result":"00ff","error":null,"id":1}`))
	f.Add([]byte(`{"result":null,"error":{"code":-5,"message":"x"},"id":1}`))
	f.Add([]byte(`{"id":1,"error":null,"result":"0a"}`))
	f.Add([]byte(`{"result":"00","error":null`))
	f.Add([]byte(`{"result":"0\"0","error":null,"id":1}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := hexResult(body)
		if err != nil {
			return
		}
		var buf []byte
		if decodeHexInto(&buf, h) != nil {
			return // not hex: the caller fails either way
		}
		// The fast path must agree with encoding/json on an unambiguous
		// body (valid JSON, one "result" anywhere, no error).
		var r struct {
			Result *string   `json:"result"`
			Error  *RPCError `json:"error"`
		}
		if json.Unmarshal(body, &r) == nil && r.Result != nil && r.Error == nil &&
			bytes.Count(bytes.ToLower(body), []byte("result")) == 1 && *r.Result != string(h) {
			t.Fatalf("hexResult = %q, encoding/json says %q", h, *r.Result)
		}
		if _, err := ScanRawBlock(buf, NewWatchSet(nil)); err == nil && len(buf) < 81 {
			t.Fatalf("accepted a %d-byte block", len(buf))
		}
	})
}
