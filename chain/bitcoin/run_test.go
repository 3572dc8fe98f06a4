package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/chain/bitcoin/bitcointest"
)

// scriptedNode is a fake btcd serving a chain of synthetic blocks, with
// faults a test injects per call.
type scriptedNode struct {
	mu     sync.Mutex
	blocks []*wire.MsgBlock // index = height
	// fault, when set, may replace the reply to a call.
	fault func(method string, params []json.RawMessage) (code int, body string, ok bool)
}

func (n *scriptedNode) extend(from int, count int, seed int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocks = n.blocks[:from]
	for i := 0; i < count; i++ {
		blk := bitcointest.Block(3, seed+int64(i))
		if h := len(n.blocks); h > 0 {
			blk.Header.PrevBlock = n.blocks[h-1].BlockHash()
		}
		n.blocks = append(n.blocks, blk)
	}
}

func (n *scriptedNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fault != nil {
		if code, body, ok := n.fault(req.Method, req.Params); ok {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
			return
		}
	}
	reply := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, `{"result":%s,"error":null,"id":1}`, b)
	}
	notFound := func() { fmt.Fprint(w, `{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}`) }
	byHash := func(raw json.RawMessage) *wire.MsgBlock {
		var h string
		_ = json.Unmarshal(raw, &h)
		for _, b := range n.blocks {
			if b.BlockHash().String() == h {
				return b
			}
		}
		return nil
	}
	tip := len(n.blocks) - 1
	switch req.Method {
	case "getblockchaininfo":
		reply(map[string]any{"chain": "regtest", "blocks": tip})
	case "getblockcount":
		reply(tip)
	case "getblockhash":
		var h int
		_ = json.Unmarshal(req.Params[0], &h)
		if h < 0 || h > tip {
			fmt.Fprint(w, `{"result":null,"error":{"code":-1,"message":"Block number out of range"},"id":1}`)
			return
		}
		reply(n.blocks[h].BlockHash().String())
	case "getblockheader":
		b := byHash(req.Params[0])
		if b == nil {
			notFound()
			return
		}
		var buf bytes.Buffer
		_ = b.Header.Serialize(&buf)
		reply(hex.EncodeToString(buf.Bytes()))
	case "getblock":
		b := byHash(req.Params[0])
		if b == nil {
			notFound()
			return
		}
		reply(hex.EncodeToString(bitcointest.Serialize(b)))
	case "getrawmempool":
		reply([]string{})
	default:
		fmt.Fprintf(w, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`)
	}
}

func (n *scriptedNode) ref(h int) chain.BlockRef {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.blocks[h]
	return chain.BlockRef{Height: uint64(h), Hash: b.BlockHash().String(), Parent: b.Header.PrevBlock.String(), Time: b.Header.Timestamp}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRunSurvivesBadNode: garbage, truncated replies, auth failures and
// unknown-block errors are retried, reported in Status, and no block is
// skipped or repeated; then a reorg is walked through the fork point.
func TestRunSurvivesBadNode(t *testing.T) {
	node := &scriptedNode{}
	node.extend(0, 8, 100)
	srv := httptest.NewServer(node)
	defer srv.Close()

	var faultMu sync.Mutex
	remaining := map[string]int{}
	inject := func(key string, times int) { faultMu.Lock(); remaining[key] = times; faultMu.Unlock() }
	take := func(key string) bool {
		faultMu.Lock()
		defer faultMu.Unlock()
		if remaining[key] > 0 {
			remaining[key]--
			return true
		}
		return false
	}
	h3, h4, h5 := node.ref(3).Hash, node.ref(4).Hash, node.ref(5).Hash
	inject("garbage3", 2)
	inject("trunc4", 1)
	inject("auth", 1)
	inject("html5", 1)
	inject("notfound5", 1)
	node.fault = func(method string, params []json.RawMessage) (int, string, bool) {
		p := ""
		if len(params) > 0 {
			_ = json.Unmarshal(params[0], &p)
		}
		switch {
		case method == "getblock" && p == h3 && take("garbage3"):
			return 200, `{"result":"zz01","error":null,"id":1}`, true
		case method == "getblock" && p == h4 && take("trunc4"):
			return 200, `{"result":"0100`, true
		case method == "getblockcount" && take("auth"):
			return 401, "", true
		case method == "getblock" && p == h5 && take("html5"):
			return 502, "<html>bad gateway</html>", true
		case method == "getblock" && p == h5 && take("notfound5"):
			return 200, `{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}`, true
		}
		return 0, "", false
	}

	b, err := New(Config{Network: "regtest", RPCURL: srv.URL, RPCUser: "u", RPCPassword: "p", PollInterval: 20 * time.Millisecond, Depth: 10}, discard())
	if err != nil {
		t.Fatal(err)
	}
	b.retryMin = 10 * time.Millisecond
	var reasonsMu sync.Mutex
	var reasons []string
	b.onStatus = func(s chain.Status) {
		if !s.Ready && s.Reason != "" {
			reasonsMu.Lock()
			reasons = append(reasons, s.Reason)
			reasonsMu.Unlock()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan chain.Event)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, []chain.BlockRef{node.ref(1), node.ref(2)}, out) }()

	next := func() chain.Event {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case ev := <-out:
				return ev
			case <-timeout:
				t.Fatalf("no event; status %+v", b.Status())
			}
		}
	}
	for h := 3; h <= 7; h++ {
		ev := next()
		if ev.Type != chain.BlockConnected || ev.Block != node.ref(h) {
			t.Fatalf("got %s %s, want BlockConnected %s", ev.Type, ev.Block, node.ref(h))
		}
	}
	reasonsMu.Lock()
	joined := strings.Join(reasons, "\n")
	reasonsMu.Unlock()
	for _, want := range []string{"malformed", "rpc auth failed", "Block not found"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Status reasons never mentioned %q:\n%s", want, joined)
		}
	}
	// Ready again once the faults are gone.
	deadline := time.Now().Add(5 * time.Second)
	for s := b.Status(); !s.Ready || s.Processed != 7; s = b.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("Status = %+v, want ready at 7", s)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Reorg: heights 5..7 replaced by 5'..8'.
	old5, old6, old7 := node.ref(5), node.ref(6), node.ref(7)
	node.extend(5, 4, 900)
	for _, want := range []chain.BlockRef{old7, old6, old5} {
		if ev := next(); ev.Type != chain.BlockDisconnected || ev.Block != want {
			t.Fatalf("got %s %s, want BlockDisconnected %s", ev.Type, ev.Block, want)
		}
	}
	for h := 5; h <= 8; h++ {
		if ev := next(); ev.Type != chain.BlockConnected || ev.Block != node.ref(h) {
			t.Fatalf("got %s %s, want BlockConnected %s", ev.Type, ev.Block, node.ref(h))
		}
	}
	if node.ref(5).Parent != node.ref(4).Hash {
		t.Fatal("fake chain broken")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRunDeepReorg: a fork below the tracked window ends Run with
// chain.ErrDeepReorg instead of guessing.
func TestRunDeepReorg(t *testing.T) {
	node := &scriptedNode{}
	node.extend(0, 5, 1)
	srv := httptest.NewServer(node)
	defer srv.Close()
	b, err := New(Config{Network: "regtest", RPCURL: srv.URL, RPCUser: "u", PollInterval: 10 * time.Millisecond, Depth: 2}, discard())
	if err != nil {
		t.Fatal(err)
	}
	recent := []chain.BlockRef{node.ref(3), node.ref(4)}
	node.extend(1, 5, 50) // everything above height 0 replaced
	out := make(chan chain.Event, 10)
	err = b.Run(context.Background(), recent, out)
	if err == nil || !strings.Contains(err.Error(), "reorg deeper") {
		t.Fatalf("Run = %v, want ErrDeepReorg", err)
	}
}
