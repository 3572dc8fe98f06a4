package evm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/internal/testnode"
)

type chainEvent = chain.Event

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runner runs a Backend and records its events.
type runner struct {
	t      *testing.T
	b      *Backend
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	events []chain.Event
}

func startRun(t *testing.T, b *Backend, recent []chain.BlockRef) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{t: t, b: b, cancel: cancel, done: make(chan error, 1)}
	out := make(chan chain.Event)
	go func() { r.done <- b.Run(ctx, recent, out) }()
	go func() {
		for {
			select {
			case ev := <-out:
				r.mu.Lock()
				r.events = append(r.events, ev)
				r.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func (r *runner) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(10 * time.Second):
		r.t.Errorf("Run did not return 10s after cancel")
		return nil
	}
}

func (r *runner) snapshot() []chain.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chain.Event(nil), r.events...)
}

// replay applies the events to recent and returns the resulting chain and
// the transfers in it. It fails the test on a connect that does not build on
// the tip or a disconnect of something other than the tip.
func replay(t testing.TB, recent []chain.BlockRef, evs []chain.Event) ([]chain.BlockRef, []chain.Transfer) {
	t.Helper()
	blocks := append([]chain.BlockRef(nil), recent...)
	byHash := map[string][]chain.Transfer{}
	for _, ev := range evs {
		switch ev.Type {
		case chain.BlockConnected:
			if n := len(blocks); n > 0 && (ev.Block.Parent != blocks[n-1].Hash || ev.Block.Height != blocks[n-1].Height+1) {
				t.Fatalf("connected %s does not build on %s", ev.Block, blocks[n-1])
			}
			for _, tr := range ev.Transfers {
				if tr.Block == nil || tr.Block.Hash != ev.Block.Hash {
					t.Fatalf("transfer %+v has block %v, want %s", tr, tr.Block, ev.Block)
				}
			}
			blocks = append(blocks, ev.Block)
			byHash[ev.Block.Hash] = ev.Transfers
		case chain.BlockDisconnected:
			n := len(blocks)
			if n == 0 || blocks[n-1].Hash != ev.Block.Hash {
				t.Fatalf("disconnected %s is not the tip", ev.Block)
			}
			blocks = blocks[:n-1]
		default:
			t.Fatalf("unexpected event %v", ev.Type)
		}
	}
	var ts []chain.Transfer
	for _, b := range blocks {
		ts = append(ts, byHash[b.Hash]...)
	}
	return blocks, ts
}

// waitTip waits until the replayed chain's tip is the node's block at height h.
func (r *runner) waitTip(node *testnode.EVMNode, h uint64) []chain.Event {
	r.t.Helper()
	want := node.BlockHash(h)
	var evs []chain.Event
	waitFor(r.t, func() bool {
		evs = r.snapshot()
		for i := len(evs) - 1; i >= 0; i-- {
			if evs[i].Type == chain.BlockConnected {
				return evs[i].Block.Hash == want
			}
			return false
		}
		return false
	}, fmt.Sprintf("block %d/%s", h, want))
	return evs
}

type wantTransfer struct {
	tx     string
	asset  string
	addr   string
	amount *big.Int
}

func checkTransfers(t *testing.T, got []chain.Transfer, want []wantTransfer) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d transfers %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.TxID != w.tx || g.Asset != w.asset || g.Address != w.addr || g.Amount.Cmp(w.amount) != 0 {
			t.Errorf("transfer %d = {tx %s %s %s %s}, want {tx %s %s %s %s}", i, g.TxID, g.Asset, g.Address, g.Amount, w.tx, w.asset, w.addr, w.amount)
		}
	}
}

func newNodeBackend(t *testing.T, node *testnode.EVMNode, name string, token string, mut func(*Config)) *Backend {
	t.Helper()
	cfg := Config{Name: name, ChainID: node.ChainID, RPCURL: node.HTTPURL, WSURL: node.WSURL,
		NativeAsset: "ETH", PollInterval: 100 * time.Millisecond, Depth: 20, MaxLogRange: 16}
	if token != "" {
		cfg.Tokens = []Token{{Symbol: "TUSD", Contract: token, Decimals: 6}}
	}
	if mut != nil {
		mut(&cfg)
	}
	b, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	watchedA = "0x1111111111111111111111111111111111111111"
	watchedB = "0x2222222222222222222222222222222222222222"
)

// paymentsScenario pays watched addresses on node (ETH, the token, a failed
// token transfer and a failed ETH payment) and checks what the backend reports.
func paymentsScenario(t *testing.T, node *testnode.EVMNode) (*Backend, *runner, string) {
	token := node.DeployToken(6)
	b := newNodeBackend(t, node, node.Kind, token, nil)
	watchedToken := strings.ToLower(token) // a contract that reverts on plain ETH
	b.Watch(watchedA, watchedB, watchedToken)
	r := startRun(t, b, nil)
	start := node.BlockNumber()
	r.waitTip(node, start)

	oneETH := big.NewInt(1e18)
	tx1 := node.SendETH(watchedA, oneETH)
	tx2 := node.TransferToken(token, watchedB, big.NewInt(2_500_000))
	accts := node.Accounts()
	from := accts[len(accts)-1]
	huge, _ := new(big.Int).SetString("1000000000000000000000000000000", 10)
	node.SendFailingTx(token, from, watchedA, huge)
	failETH := node.SendTx(map[string]any{"to": token, "value": "0x1", "gas": "0x30000"})
	if rc := node.WaitReceipt(failETH); rc.Status != "0x0" {
		t.Fatalf("ETH to the token contract did not fail: %+v", rc)
	}
	tx3 := node.SendETH(watchedA, big.NewInt(7))
	node.Mine(2)
	evs := r.waitTip(node, node.BlockNumber())
	_, got := replay(t, nil, evs)
	checkTransfers(t, got, []wantTransfer{
		{tx1, "ETH", watchedA, oneETH},
		{tx2, "TUSD", watchedB, big.NewInt(2_500_000)},
		{tx3, "ETH", watchedA, big.NewInt(7)},
	})
	for _, tr := range got {
		if tr.Asset == "TUSD" && (tr.Token != b.tokens[0] || tr.Chain != node.Kind) {
			t.Errorf("token transfer %+v: want token %s chain %s", tr, b.tokens[0], node.Kind)
		}
	}
	if s := b.Status(); !s.Ready || s.Processed != node.BlockNumber() {
		t.Errorf("status %+v", s)
	}
	return b, r, token
}

func TestAnvilPayments(t *testing.T) {
	paymentsScenario(t, testnode.StartAnvil(t))
}

func TestAnvilReorg(t *testing.T) {
	node := testnode.StartAnvil(t)
	b := newNodeBackend(t, node, "anvil", "", nil)
	b.Watch(watchedA)
	r := startRun(t, b, nil)
	r.waitTip(node, node.BlockNumber())
	tx := node.SendETH(watchedA, big.NewInt(1000))
	payHeight := node.WaitReceipt(tx).Height()
	node.Mine(2)
	tip := node.BlockNumber()
	evs := r.waitTip(node, tip)
	if _, ts := replay(t, nil, evs); len(ts) != 1 || ts[0].TxID != tx || ts[0].Block.Height != payHeight {
		t.Fatalf("before reorg: %+v", ts)
	}
	before := len(evs)
	node.Reorg(3) // replaces payHeight..tip; anvil drops the payment
	node.Mine(1)
	evs = r.waitTip(node, node.BlockNumber())
	var disc []chain.BlockRef
	for _, ev := range evs[before:] {
		if ev.Type == chain.BlockDisconnected {
			disc = append(disc, ev.Block)
		}
	}
	if len(disc) != 3 || disc[0].Height != tip || disc[2].Height != payHeight {
		t.Fatalf("disconnected %v, want %d..%d tip first", disc, tip, payHeight)
	}
	if fork := disc[2].Parent; fork != node.BlockHash(payHeight-1) {
		t.Fatalf("fork point %s, want %s", fork, node.BlockHash(payHeight-1))
	}
	blocks, ts := replay(t, nil, evs)
	if len(ts) != 0 {
		t.Fatalf("after reorg the dropped payment is still reported: %+v", ts)
	}
	if blocks[len(blocks)-1].Hash != node.BlockHash(node.BlockNumber()) {
		t.Fatal("replayed chain does not end at the node's tip")
	}
}

// proxy is a TCP proxy to a node's websocket that a test can cut.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *proxy) restore() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

func TestAnvilWebsocketDrop(t *testing.T) {
	node := testnode.StartAnvil(t)
	p := newProxy(t, strings.TrimPrefix(node.WSURL, "ws://"))
	b := newNodeBackend(t, node, "anvil", "", func(c *Config) {
		c.WSURL = "ws://" + p.addr
		c.PollInterval = 200 * time.Millisecond
	})
	b.Watch(watchedA)
	r := startRun(t, b, nil)
	waitFor(t, b.wsUp.Load, "websocket subscription")
	tx1 := node.SendETH(watchedA, big.NewInt(1))
	r.waitTip(node, node.BlockNumber())

	p.cut()
	waitFor(t, func() bool { return !b.wsUp.Load() }, "websocket loss noticed")
	tx2 := node.SendETH(watchedA, big.NewInt(2))
	node.Mine(3)
	tx3 := node.SendETH(watchedA, big.NewInt(3))
	r.waitTip(node, node.BlockNumber()) // by polling

	p.restore()
	waitFor(t, b.wsUp.Load, "websocket back")
	tx4 := node.SendETH(watchedA, big.NewInt(4))
	evs := r.waitTip(node, node.BlockNumber())
	_, got := replay(t, nil, evs)
	checkTransfers(t, got, []wantTransfer{
		{tx1, "ETH", watchedA, big.NewInt(1)}, {tx2, "ETH", watchedA, big.NewInt(2)},
		{tx3, "ETH", watchedA, big.NewInt(3)}, {tx4, "ETH", watchedA, big.NewInt(4)},
	})
}

// Blocks mined while the backend was stopped are processed after a restart
// from recent, including token logs fetched by range (MaxLogRange 16).
func TestAnvilRestartCatchUp(t *testing.T) {
	node := testnode.StartAnvil(t)
	token := node.DeployToken(6)
	b := newNodeBackend(t, node, "anvil", token, nil)
	b.Watch(watchedA, watchedB)
	r := startRun(t, b, nil)
	tx1 := node.SendETH(watchedA, big.NewInt(1))
	evs := r.waitTip(node, node.BlockNumber())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	recent, before := replay(t, nil, evs)

	var want []wantTransfer
	for _, w := range before {
		want = append(want, wantTransfer{w.TxID, w.Asset, w.Address, w.Amount})
	}
	if len(want) != 1 || want[0].tx != tx1 {
		t.Fatalf("before restart: %+v", before)
	}
	for i := 0; i < 5; i++ {
		node.Mine(7)
		tx := node.TransferToken(token, watchedB, big.NewInt(int64(100+i)))
		want = append(want, wantTransfer{tx, "TUSD", watchedB, big.NewInt(int64(100 + i))})
		tx = node.SendETH(watchedA, big.NewInt(int64(10+i)))
		want = append(want, wantTransfer{tx, "ETH", watchedA, big.NewInt(int64(10 + i))})
	}
	node.Mine(3)

	b2 := newNodeBackend(t, node, "anvil", token, nil)
	b2.Watch(watchedA, watchedB)
	r2 := startRun(t, b2, recent)
	evs2 := r2.waitTip(node, node.BlockNumber())
	if evs2[0].Type != chain.BlockConnected || evs2[0].Block.Height != recent[len(recent)-1].Height+1 {
		t.Fatalf("restart began with %v %s, want the block after %s", evs2[0].Type, evs2[0].Block, recent[len(recent)-1])
	}
	_, after := replay(t, recent, evs2)
	checkTransfers(t, append(before, after...), want)
}

// Another payd on the same database handed the address out: BeforeBlock
// watches it before the block holding its payment is matched (anvil mines
// the payment at once).
func TestAnvilBeforeBlock(t *testing.T) {
	node := testnode.StartAnvil(t)
	var b *Backend
	var pending atomic.Bool
	b = newNodeBackend(t, node, "anvil", "", func(c *Config) {
		c.BeforeBlock = func(context.Context) {
			if pending.Load() {
				b.Watch(watchedA)
			}
		}
	})
	r := startRun(t, b, nil)
	r.waitTip(node, node.BlockNumber())
	pending.Store(true)
	tx := node.SendETH(watchedA, big.NewInt(5))
	_, got := replay(t, nil, r.waitTip(node, node.BlockNumber()))
	checkTransfers(t, got, []wantTransfer{{tx, "ETH", watchedA, big.NewInt(5)}})
}

func TestAnvilCheck(t *testing.T) {
	node := testnode.StartAnvil(t)
	b, err := New(Config{Name: "ethereum", ChainID: 1, RPCURL: node.HTTPURL, NativeAsset: "ETH", PollInterval: 50 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Check(context.Background())
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Key != "chains.ethereum.chain_id" ||
		err.Error() != "chains.ethereum.chain_id: node reports 31337, config says 1" {
		t.Fatalf("Check = %v", err)
	}
	r := startRun(t, b, nil)
	waitFor(t, func() bool { return strings.Contains(b.Status().Reason, "chains.ethereum.chain_id") }, "not ready because of the chain id")

	// Tokens: wrong decimals, a contract that is not an ERC-20, no contract.
	token := node.DeployToken(6)
	fwd := node.DeployForwarder(watchedA)
	b2, err := New(Config{Name: "local", ChainID: node.ChainID, RPCURL: node.HTTPURL, NativeAsset: "ETH", Tokens: []Token{
		{Symbol: "USDC", Contract: token, Decimals: 18},
		{Symbol: "FWD", Contract: fwd, Decimals: 6},
		{Symbol: "NONE", Contract: watchedB, Decimals: 6},
	}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = b2.Check(context.Background())
	for _, want := range []string{
		"chains.local.tokens.USDC.decimals: contract " + b2.tokens[0] + " reports 6, config says 18",
		"chains.local.tokens.FWD.contract: " + b2.tokens[1] + " is not an ERC-20",
		"chains.local.tokens.NONE.contract: no contract at " + b2.tokens[2],
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v\nwant it to contain %q", err, want)
		}
	}
	if n := len(r.snapshot()); n != 0 {
		t.Fatalf("%d events from the wrong chain", n)
	}
}

// geth --dev: the reference client. One test to keep it quick: payments,
// failures, then a reorg by debug_setHead.
func TestGeth(t *testing.T) {
	node := testnode.StartGeth(t)
	_, r, _ := paymentsScenario(t, node)
	evs := r.snapshot()
	tip := node.BlockNumber()
	before := len(evs)
	node.Reorg(2)
	evs = r.waitTip(node, node.BlockNumber())
	var disc []chain.BlockRef
	for _, ev := range evs[before:] {
		if ev.Type == chain.BlockDisconnected {
			disc = append(disc, ev.Block)
		}
	}
	if len(disc) != 2 || disc[0].Height != tip || disc[1].Height != tip-1 || disc[1].Parent != node.BlockHash(tip-2) {
		t.Fatalf("disconnected %v, want %d and %d on top of %s", disc, tip, tip-1, node.BlockHash(tip-2))
	}
	replay(t, nil, evs)
}

// With TraceInternal, ETH a contract forwards to a watched address is seen
// (through debug_traceBlockByHash); without it, it is not (doc.go says so).
func TestAnvilTraceInternal(t *testing.T) {
	node := testnode.StartAnvil(t)
	fwd := node.DeployForwarder(watchedA)
	plain := newNodeBackend(t, node, "anvil", "", nil)
	traced := newNodeBackend(t, node, "anvil", "", func(c *Config) { c.TraceInternal = true })
	plain.Watch(watchedA)
	traced.Watch(watchedA)
	rp := startRun(t, plain, nil)
	rt := startRun(t, traced, nil)
	start := node.BlockNumber()
	rp.waitTip(node, start)
	rt.waitTip(node, start)
	tx := node.SendETH(fwd, big.NewInt(5000))
	tx2 := node.SendETH(watchedA, big.NewInt(6))
	var bal string
	node.MustCall(&bal, "eth_getBalance", watchedA, "latest")
	if bal != "0x138e" { // 5006
		t.Fatalf("forwarder did not forward: balance %s", bal)
	}
	_, got := replay(t, nil, rt.waitTip(node, node.BlockNumber()))
	checkTransfers(t, got, []wantTransfer{{tx, "ETH", watchedA, big.NewInt(5000)}, {tx2, "ETH", watchedA, big.NewInt(6)}})
	if got[0].Index != InternalIndexBase || got[1].Index != 0 {
		t.Fatalf("indexes %d, %d", got[0].Index, got[1].Index)
	}
	_, got = replay(t, nil, rp.waitTip(node, node.BlockNumber()))
	checkTransfers(t, got, []wantTransfer{{tx2, "ETH", watchedA, big.NewInt(6)}})
}
