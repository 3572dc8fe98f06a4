package bitcoin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain"
)

// TestRunNoticesSyncingAndBehindNode: a node whose tip is below what payd
// processed is "behind payd" (no reorg); a node that says it is syncing, or
// whose blocks stay behind its headers, is not ready — even across a
// connected block — and both recover.
func TestRunNoticesSyncingAndBehindNode(t *testing.T) {
	node := &scriptedNode{}
	node.extend(0, 8, 100)
	full := append([]*wire.MsgBlock(nil), node.blocks...)
	recent := []chain.BlockRef{node.ref(5), node.ref(6), node.ref(7)}
	node.blocks = node.blocks[:6] // restarted from an older state: tip 5
	srv := httptest.NewServer(node)
	defer srv.Close()

	var info atomic.Value // string: the getblockchaininfo result, "" = the fake's own
	info.Store("")
	node.fault = func(method string, _ []json.RawMessage) (int, string, bool) {
		if s := info.Load().(string); method == "getblockchaininfo" && s != "" {
			return 200, `{"result":` + s + `,"error":null,"id":1}`, true
		}
		return 0, "", false
	}
	b, err := New(Config{Network: "regtest", RPCURL: srv.URL, RPCUser: "u", RPCPassword: "p", PollInterval: 20 * time.Millisecond, Depth: 10}, discard())
	if err != nil {
		t.Fatal(err)
	}
	b.retryMin = 10 * time.Millisecond
	b.syncEvery = 200 * time.Millisecond
	var mu sync.Mutex
	var readyWhileSyncing bool
	var syncing atomic.Bool
	b.onStatus = func(s chain.Status) {
		if syncing.Load() && s.Ready {
			mu.Lock()
			readyWhileSyncing = true
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan chain.Event, 100)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, recent, out) }()

	waitStatus := func(what string, ok func(chain.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s := b.Status(); !ok(s); s = b.Status() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Status = %+v", what, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	notReady := func(reason string) func(chain.Status) bool {
		return func(s chain.Status) bool { return !s.Ready && s.Reason == reason }
	}
	ready := func(s chain.Status) bool { return s.Ready }

	waitStatus("behind", notReady("node is behind payd: node at 5, payd at 7"))
	time.Sleep(100 * time.Millisecond) // several polls
	if len(out) != 0 {
		t.Fatalf("a node behind payd produced %s %s", (<-out).Type, (<-out).Block)
	}

	// The node catches up past payd: the next block connects, no reorg.
	node.mu.Lock()
	node.blocks = full
	node.mu.Unlock()
	node.extend(8, 1, 500)
	if ev := <-out; ev.Type != chain.BlockConnected || ev.Block != node.ref(8) {
		t.Fatalf("got %s %s, want BlockConnected %s", ev.Type, ev.Block, node.ref(8))
	}
	waitStatus("caught up", ready)

	tests := []struct {
		name, info, reason string
	}{
		{"far behind its headers", `{"chain":"regtest","blocks":8,"headers":20}`, "node is syncing: blocks 8 of headers 20"},
		{"initial block download", `{"chain":"main","blocks":8,"headers":8,"initialblockdownload":true}`, "node is syncing: blocks 8 of headers 8"},
		{"stuck one block behind", `{"chain":"regtest","blocks":8,"headers":9}`, "node is syncing: blocks 8 of headers 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info.Store(tt.info)
			waitStatus("syncing", notReady(tt.reason))
			info.Store("")
			waitStatus("in sync again", ready)
		})
	}

	// A block connected while the node syncs does not make it ready.
	info.Store(`{"chain":"regtest","blocks":9,"headers":30}`)
	waitStatus("syncing", notReady("node is syncing: blocks 9 of headers 30"))
	syncing.Store(true)
	node.extend(9, 1, 600)
	if ev := <-out; ev.Type != chain.BlockConnected || ev.Block != node.ref(9) {
		t.Fatalf("got %s %s, want BlockConnected %s", ev.Type, ev.Block, node.ref(9))
	}
	time.Sleep(100 * time.Millisecond)
	syncing.Store(false)
	mu.Lock()
	if readyWhileSyncing {
		t.Error("Status was ready while the node said it was syncing")
	}
	mu.Unlock()
	info.Store("")
	waitStatus("in sync again", ready)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestSyncCheckSlack: headers one block ahead of blocks is normal for a
// moment (Core relays the header first); only a gap that does not move is
// syncing. Checks happen at most every syncEvery while the node is in sync.
func TestSyncCheckSlack(t *testing.T) {
	var calls atomic.Int32
	var info atomic.Value
	node := &scriptedNode{}
	node.extend(0, 1, 1)
	node.fault = func(method string, _ []json.RawMessage) (int, string, bool) {
		if method != "getblockchaininfo" {
			return 0, "", false
		}
		calls.Add(1)
		return 200, `{"result":` + info.Load().(string) + `,"error":null,"id":1}`, true
	}
	srv := httptest.NewServer(node)
	defer srv.Close()
	b, err := New(Config{Network: "regtest", RPCURL: srv.URL, RPCUser: "u"}, discard())
	if err != nil {
		t.Fatal(err)
	}
	b.syncEvery = 300 * time.Millisecond
	r := &runner{b: b}
	ctx := context.Background()
	at := func(blocks, headers int) string {
		return fmt.Sprintf(`{"chain":"regtest","blocks":%d,"headers":%d}`, blocks, headers)
	}
	steps := []struct {
		info   string
		wait   time.Duration // before the check
		calls  int32         // getblockchaininfo calls so far
		reason string
	}{
		{at(10, 10), 0, 1, ""},
		{at(10, 11), 0, 1, ""},                      // in sync a moment ago: not asked
		{at(10, 11), 350 * time.Millisecond, 2, ""}, // gap seen now
		{at(11, 12), 0, 3, ""},                      // gap, but blocks moved: asked every poll meanwhile
		{at(11, 12), 350 * time.Millisecond, 4, "node is syncing: blocks 11 of headers 12"},
		{at(11, 12), 0, 5, "node is syncing: blocks 11 of headers 12"}, // asked every poll while syncing
		{at(12, 12), 0, 6, ""},
		{at(12, 15), 0, 6, ""}, // not asked yet
		{at(12, 15), 350 * time.Millisecond, 7, "node is syncing: blocks 12 of headers 15"},
	}
	for i, st := range steps {
		info.Store(st.info)
		time.Sleep(st.wait)
		r.checkSync(ctx)
		if got := calls.Load(); got != st.calls {
			t.Fatalf("step %d: %d getblockchaininfo calls, want %d", i, got, st.calls)
		}
		if r.node.reason != st.reason {
			t.Fatalf("step %d (%s): reason %q, want %q", i, st.info, r.node.reason, st.reason)
		}
		s := chain.Status{TipHeight: 12, Processed: 12}
		r.applyHealth(&s)
		if s.Ready != (st.reason == "") || s.Reason != st.reason {
			t.Fatalf("step %d: applyHealth = %+v", i, s)
		}
	}
	// A failed check keeps the verdict.
	info.Store(`garbage`)
	r.checkSync(ctx)
	if !strings.Contains(r.node.reason, "headers 15") {
		t.Fatalf("after a failed check: %q", r.node.reason)
	}
}

// TestKnowsBlock: getblockheader -5 is unknown, a header without its block
// (Core, nTx 0) is unknown, anything else found is known, other errors are
// errors.
func TestKnowsBlock(t *testing.T) {
	node := &scriptedNode{}
	node.extend(0, 3, 7)
	headerOnly := strings.Repeat("ab", 32)
	withData := strings.Repeat("cd", 32)
	broken := strings.Repeat("ef", 32)
	node.fault = func(method string, params []json.RawMessage) (int, string, bool) {
		var h string
		_ = json.Unmarshal(params[0], &h)
		verbose := len(params) > 1 && string(params[1]) == "true"
		switch {
		case method != "getblockheader":
		case (h == headerOnly || h == withData) && !verbose:
			return 200, `{"result":"00","error":null,"id":1}`, true
		case h == headerOnly:
			return 200, `{"result":{"hash":"` + h + `","confirmations":-1,"nTx":0},"error":null,"id":1}`, true
		case h == withData:
			return 200, `{"result":{"hash":"` + h + `","confirmations":-1,"nTx":3},"error":null,"id":1}`, true
		case verbose:
			// btcd refuses the verbose form off its best chain.
			return 500, `{"result":null,"error":{"code":-32603,"message":"Failed to obtain block height"},"id":1}`, true
		case h == broken:
			return 500, `{"result":null,"error":{"code":-1,"message":"boom"},"id":1}`, true
		}
		return 0, "", false
	}
	srv := httptest.NewServer(node)
	defer srv.Close()
	b, err := New(Config{Network: "regtest", RPCURL: srv.URL, RPCUser: "u"}, discard())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash string
		want       bool
		wantErr    bool
	}{
		{"on the best chain", node.ref(2).Hash, true, false},
		{"never seen", strings.Repeat("00", 31) + "01", false, false},
		{"header only", headerOnly, false, false},
		{"stale with data", withData, true, false},
		{"btcd, verbose refused", node.ref(1).Hash, true, false},
		{"node error", broken, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.KnowsBlock(context.Background(), tt.hash)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("KnowsBlock = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
