package evm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payd/payd/chain"
)

// scriptedChain is a fake EVM node serving blocks 0..tip of one chain; it
// also knows the blocks in known (a stale branch) by hash.
type scriptedChain struct {
	mu      sync.Mutex
	tip     uint64
	syncing any // the eth_syncing result; nil = false
	known   map[string]bool
}

func blockHash(h uint64) string { return fmt.Sprintf("0x%064x", h+0xb10c) }

func blockHdr(h uint64) map[string]any {
	parent := "0x" + strings.Repeat("0", 64)
	if h > 0 {
		parent = blockHash(h - 1)
	}
	return map[string]any{"number": fmt.Sprintf("0x%x", h), "hash": blockHash(h), "parentHash": parent,
		"timestamp": "0x1", "transactions": []any{}}
}

func (c *scriptedChain) handle(method string, params []json.RawMessage) (any, *RPCError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch method {
	case "eth_chainId":
		return "0x1", nil
	case "eth_blockNumber":
		return fmt.Sprintf("0x%x", c.tip), nil
	case "eth_syncing":
		if c.syncing == nil {
			return false, nil
		}
		return c.syncing, nil
	case "eth_getBlockByNumber":
		var tag string
		_ = json.Unmarshal(params[0], &tag)
		if tag == "finalized" {
			return nil, &RPCError{Code: -32000, Message: "no finalized block"}
		}
		var h uint64
		if _, err := fmt.Sscanf(tag, "0x%x", &h); err != nil || h > c.tip {
			return nil, nil
		}
		return blockHdr(h), nil
	case "eth_getBlockByHash":
		var hash string
		_ = json.Unmarshal(params[0], &hash)
		for h := uint64(0); h <= c.tip; h++ {
			if blockHash(h) == hash {
				return blockHdr(h), nil
			}
		}
		return nil, nil
	}
	return nil, &RPCError{Code: -32601, Message: "method not found"}
}

func (c *scriptedChain) set(f func(c *scriptedChain)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// A node restarted from an older state is "behind payd", not a reorg; a
// node whose eth_syncing is not false is not ready, even across connected
// blocks; both recover.
func TestRunNoticesSyncingAndBehindNode(t *testing.T) {
	c := &scriptedChain{tip: 5}
	node := newFakeNode(t, c.handle)
	b, err := New(Config{Name: "lag", ChainID: 1, RPCURL: node.srv.URL, NativeAsset: "ETH", PollInterval: 20 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b.syncEvery = 100 * time.Millisecond
	var recent []chain.BlockRef
	for h := uint64(5); h <= 8; h++ {
		ref, err := blockHdrRef(h)
		if err != nil {
			t.Fatal(err)
		}
		recent = append(recent, ref)
	}
	out := make(chan chain.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, recent, out) }()
	status := func(what string, ok func(chain.Status) bool) {
		t.Helper()
		waitFor(t, func() bool { return ok(b.Status()) }, what+fmt.Sprintf(" (last %+v)", b.Status()))
	}
	notReady := func(reason string) func(chain.Status) bool {
		return func(s chain.Status) bool { return !s.Ready && s.Reason == reason }
	}
	ready := func(s chain.Status) bool { return s.Ready }

	status("behind", notReady("node is behind payd: node at 5, payd at 8"))
	time.Sleep(100 * time.Millisecond)
	if len(out) != 0 {
		t.Fatalf("a node behind payd produced %v", (<-out).Type)
	}
	c.set(func(c *scriptedChain) { c.tip = 9 })
	if ev := <-out; ev.Type != chain.BlockConnected || ev.Block.Height != 9 {
		t.Fatalf("got %s %s, want BlockConnected 9", ev.Type, ev.Block)
	}
	status("caught up", ready)

	c.set(func(c *scriptedChain) {
		c.syncing = map[string]any{"startingBlock": "0x0", "currentBlock": "0x9", "highestBlock": "0x20"}
	})
	status("syncing", notReady("node is syncing: block 9 of 32"))
	var sawReady atomic.Bool
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b.Status().Ready {
				sawReady.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	c.set(func(c *scriptedChain) { c.tip = 11 })
	for h := uint64(10); h <= 11; h++ {
		if ev := <-out; ev.Type != chain.BlockConnected || ev.Block.Height != h {
			t.Fatalf("got %s %s, want BlockConnected %d", ev.Type, ev.Block, h)
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-watched
	if sawReady.Load() {
		t.Error("ready while eth_syncing said the node is syncing")
	}
	c.set(func(c *scriptedChain) { c.syncing = true })
	status("syncing, no detail", notReady("node is syncing: eth_syncing says true"))
	c.set(func(c *scriptedChain) { c.syncing = nil })
	status("in sync again", ready)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func blockHdrRef(h uint64) (chain.BlockRef, error) {
	b, _ := json.Marshal(blockHdr(h))
	var lh leanHeader
	if err := json.Unmarshal(b, &lh); err != nil {
		return chain.BlockRef{}, err
	}
	return lh.ref()
}

// eth_syncing is asked at most every syncEvery while the node is in sync;
// a node without the method counts as in sync.
func TestSyncCheckRate(t *testing.T) {
	var noMethod atomic.Bool
	c := &scriptedChain{tip: 1}
	node := newFakeNode(t, func(method string, params []json.RawMessage) (any, *RPCError) {
		if method == "eth_syncing" && noMethod.Load() {
			return nil, &RPCError{Code: -32601, Message: "the method eth_syncing does not exist"}
		}
		return c.handle(method, params)
	})
	b, err := New(Config{Name: "rate", ChainID: 1, RPCURL: node.srv.URL, NativeAsset: "ETH"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b.syncEvery = time.Hour
	var st syncState
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		b.checkSync(ctx, &st, false)
	}
	if n := node.count("eth_syncing"); n != 1 || st.reason != "" {
		t.Fatalf("%d eth_syncing calls, reason %q; want 1, in sync", n, st.reason)
	}
	c.set(func(c *scriptedChain) { c.syncing = map[string]any{"currentBlock": "0x1", "highestBlock": "0x2"} })
	b.checkSync(ctx, &st, true)
	if st.reason != "node is syncing: block 1 of 2" {
		t.Fatalf("reason %q", st.reason)
	}
	noMethod.Store(true)
	b.checkSync(ctx, &st, true)
	if st.reason != "" {
		t.Fatalf("without eth_syncing: reason %q", st.reason)
	}
}

// KnowsBlock: null from eth_getBlockByHash is unknown.
func TestKnowsBlock(t *testing.T) {
	c := &scriptedChain{tip: 3}
	node := newFakeNode(t, c.handle)
	b, err := New(Config{Name: "knows", ChainID: 1, RPCURL: node.srv.URL, NativeAsset: "ETH"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h := &headers{b: b}
	for _, tt := range []struct {
		hash string
		want bool
	}{{blockHash(2), true}, {blockHash(7), false}} {
		got, err := h.KnowsBlock(context.Background(), tt.hash)
		if err != nil || got != tt.want {
			t.Fatalf("KnowsBlock(%s) = %v, %v; want %v", tt.hash, got, err, tt.want)
		}
	}
}
