package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/payd/payd/chain"
)

// fakeNode is a JSON-RPC server whose answers a test scripts per method.
type fakeNode struct {
	mu      sync.Mutex
	calls   []string
	handler func(method string, params []json.RawMessage) (any, *RPCError)
	srv     *httptest.Server
}

func newFakeNode(t *testing.T, h func(method string, params []json.RawMessage) (any, *RPCError)) *fakeNode {
	f := &fakeNode{handler: h}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, req.Method)
		f.mu.Unlock()
		res, rerr := f.handler(req.Method, req.Params)
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if rerr != nil {
			resp["error"] = rerr
		} else {
			resp["result"] = res
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == method {
			n++
		}
	}
	return n
}

// testLogger discards logs unless PAYD_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PAYD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func hexArg(t *testing.T, raw json.RawMessage) uint64 {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("hex arg %s: %v", raw, err)
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("hex arg %s: %v", raw, err)
	}
	return v
}

// A node that refuses ranges of more than 10 blocks gets its range split, and
// every log of 1..100 comes back exactly once, in order.
func TestLogsRangeSplit(t *testing.T) {
	const limit = 10
	var f *fakeNode
	f = newFakeNode(t, func(method string, params []json.RawMessage) (any, *RPCError) {
		if method != "eth_getLogs" {
			return nil, &RPCError{Code: -32601, Message: "method not found"}
		}
		var flt struct {
			FromBlock string `json:"fromBlock"`
			ToBlock   string `json:"toBlock"`
		}
		_ = json.Unmarshal(params[0], &flt)
		from, to := hexArg(t, json.RawMessage(strconv.Quote(flt.FromBlock))), hexArg(t, json.RawMessage(strconv.Quote(flt.ToBlock)))
		if to-from+1 > limit {
			return nil, &RPCError{Code: -32005, Message: fmt.Sprintf("block range too large: max %d", limit)}
		}
		var logs []map[string]any
		for h := from; h <= to; h++ {
			logs = append(logs, map[string]any{
				"address": fixtureToken, "topics": []string{transferTopic.Hex()}, "data": "0x",
				"blockNumber": fmt.Sprintf("0x%x", h), "blockHash": fmt.Sprintf("0x%064x", h),
				"transactionHash": fmt.Sprintf("0x%064x", h), "transactionIndex": "0x0", "logIndex": "0x0",
			})
		}
		return logs, nil
	})
	b, err := New(Config{Name: "test", ChainID: 1, RPCURL: f.srv.URL, NativeAsset: "ETH",
		Tokens: []Token{{Symbol: "TUSD", Contract: fixtureToken, Decimals: 6}}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := b.logsRange(context.Background(), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 100 {
		t.Fatalf("got %d logs, want 100", len(logs))
	}
	for i, l := range logs {
		if uint64(l.BlockNumber) != uint64(i+1) {
			t.Fatalf("log %d is of block %d", i, l.BlockNumber)
		}
	}
	if got := b.logRange.Load(); got > limit {
		t.Fatalf("range not remembered: %d", got)
	}
	n := f.count("eth_getLogs")
	logs, err = b.logsRange(context.Background(), 101, 101+b.logRange.Load()-1)
	if err != nil || f.count("eth_getLogs") != n+1 {
		t.Fatalf("a range within the learned limit took %d calls (err %v)", f.count("eth_getLogs")-n, err)
	}

	// A node that refuses everything: an error after a few calls, not 2×range.
	f.handler = func(string, []json.RawMessage) (any, *RPCError) {
		return nil, &RPCError{Code: -32000, Message: "nope"}
	}
	n = f.count("eth_getLogs")
	b.logRange.Store(1000)
	if _, err := b.logsRange(context.Background(), 1, 1000); err == nil {
		t.Fatal("no error")
	}
	if calls := f.count("eth_getLogs") - n; calls > 12 {
		t.Fatalf("%d calls to give up", calls)
	}
}

func TestCheckMessages(t *testing.T) {
	const notToken = "0x00000000000000000000000000000000000000c0"
	const empty = "0x00000000000000000000000000000000000000c1"
	node := newFakeNode(t, func(method string, params []json.RawMessage) (any, *RPCError) {
		switch method {
		case "eth_chainId":
			return "0x89", nil
		case "eth_getCode":
			if strings.Contains(strings.ToLower(string(params[0])), strings.TrimPrefix(empty, "0x")) {
				return "0x", nil
			}
			return "0x6000", nil
		case "eth_call":
			if strings.Contains(strings.ToLower(string(params[0])), strings.TrimPrefix(notToken, "0x")) {
				return nil, &RPCError{Code: 3, Message: "execution reverted"}
			}
			return "0x" + strings.Repeat("0", 63) + "6", nil
		}
		return nil, &RPCError{Code: -32601, Message: "method not found"}
	})
	tests := []struct {
		name    string
		chainID uint64
		tokens  []Token
		want    []string // substrings of the error; none = no error
	}{
		{"ok", 137, []Token{{Symbol: "USDC", Contract: fixtureToken, Decimals: 6}}, nil},
		{"wrong chain", 1, nil, []string{"chains.polygon.chain_id: node reports 137, config says 1"}},
		{"wrong decimals", 137, []Token{{Symbol: "USDC", Contract: fixtureToken, Decimals: 18}},
			[]string{"chains.polygon.tokens.USDC.decimals: contract 0x5FbDB2315678afecb367f032d93F642f64180aa3 reports 6, config says 18"}},
		{"not erc20", 137, []Token{{Symbol: "X", Contract: notToken, Decimals: 6}},
			[]string{"chains.polygon.tokens.X.contract:", "is not an ERC-20"}},
		{"no code", 137, []Token{{Symbol: "Y", Contract: empty, Decimals: 6}},
			[]string{"chains.polygon.tokens.Y.contract: no contract at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(Config{Name: "polygon", ChainID: tt.chainID, RPCURL: node.srv.URL, NativeAsset: "POL", Tokens: tt.tokens}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			err = b.Check(context.Background())
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a *CheckError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "eth", RPCURL: "http://x", NativeAsset: "ETH"}, "chains.eth.chain_id"},
		{Config{Name: "eth", ChainID: 1, NativeAsset: "ETH"}, "chains.eth.rpc_url"},
		{Config{Name: "eth", ChainID: 1, RPCURL: "ftp://x", NativeAsset: "ETH"}, "chains.eth.rpc_url"},
		{Config{Name: "eth", ChainID: 1, RPCURL: "http://x", WSURL: "http://x", NativeAsset: "ETH"}, "chains.eth.ws_url"},
		{Config{Name: "eth", ChainID: 1, RPCURL: "http://x"}, "chains.eth.native_asset"},
		{Config{Name: "eth", ChainID: 1, RPCURL: "http://x", NativeAsset: "ETH", Tokens: []Token{{Symbol: "U", Contract: "0x12"}}}, "chains.eth.tokens.U.contract"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, nil)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %s", tt.cfg, err, tt.want)
		}
	}
}

// HTTP errors and garbage make the backend not ready with a reason; it
// recovers once the node answers again.
func TestRunBadNode(t *testing.T) {
	var mu sync.Mutex
	mode := "500"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m := mode
		mu.Unlock()
		switch m {
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "429":
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "garbage":
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":`)
		}
	}))
	defer srv.Close()
	b, err := New(Config{Name: "bad", ChainID: 1, RPCURL: srv.URL, NativeAsset: "ETH", PollInterval: 20_000_000}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, nil, make(chan chainEvent)) }()
	for _, m := range []string{"500", "429", "garbage"} {
		mu.Lock()
		mode = m
		mu.Unlock()
		waitFor(t, func() bool {
			s := b.Status()
			return !s.Ready && strings.Contains(s.Reason, map[string]string{"500": "http 500", "429": "http 429", "garbage": "malformed"}[m])
		}, "not ready because of "+m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// A reorg at or below the node's finalized block is not followed: the backend
// is not ready with a reason and emits nothing.
func TestRunRefusesReorgBelowFinalized(t *testing.T) {
	hdr := func(h uint64, hash, parent string) map[string]any {
		return map[string]any{"number": fmt.Sprintf("0x%x", h), "hash": hash, "parentHash": parent, "timestamp": "0x1"}
	}
	h := func(c byte) string { return "0x" + strings.Repeat(string(c), 64) }
	node := newFakeNode(t, func(method string, params []json.RawMessage) (any, *RPCError) {
		switch method {
		case "eth_chainId":
			return "0x1", nil
		case "eth_blockNumber":
			return "0xb", nil
		case "eth_getBlockByNumber":
			switch strings.Trim(string(params[0]), `"`) {
			case "0xb":
				return hdr(11, h('c'), h('a')), nil // not our 11/b
			case "0xa":
				return hdr(10, h('a'), h('9')), nil
			case "finalized":
				return hdr(11, h('c'), h('a')), nil
			}
		}
		return nil, &RPCError{Code: -32601, Message: "method not found"}
	})
	b, err := New(Config{Name: "fin", ChainID: 1, RPCURL: node.srv.URL, NativeAsset: "ETH", PollInterval: 20_000_000}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	recent := []chain.BlockRef{{Height: 10, Hash: h('a'), Parent: h('9')}, {Height: 11, Hash: h('b'), Parent: h('a')}}
	out := make(chan chain.Event, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, recent, out) }()
	waitFor(t, func() bool { return strings.Contains(b.Status().Reason, "finalized") }, "not ready because of finality")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(out) != 0 {
		t.Fatalf("%d events", len(out))
	}
}
