package bitcoin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/internal/testnode"
)

// recorder consumes a backend's events (as the watcher would) and lets a
// test wait for them.
type recorder struct {
	mu   sync.Mutex
	evs  []chain.Event
	next int
	cond chan struct{}
}

func (r *recorder) add(ev chain.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	c := r.cond
	r.cond = make(chan struct{})
	r.mu.Unlock()
	close(c)
}

// waitFor returns the first event after the previous match for which pred
// is true, skipping the others.
func (r *recorder) waitFor(t *testing.T, timeout time.Duration, desc string, pred func(chain.Event) bool) chain.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for i := r.next; i < len(r.evs); i++ {
			if pred(r.evs[i]) {
				r.next = i + 1
				ev := r.evs[i]
				r.mu.Unlock()
				return ev
			}
		}
		c := r.cond
		r.mu.Unlock()
		select {
		case <-c:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timeout after %s waiting for %s; events after the last match: %s", timeout, desc, describe(r.evs[r.next:]))
		}
	}
}

// pos is the index waitFor continues from.
func (r *recorder) pos() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// waitSince waits for an event matching pred at index from or later,
// without moving waitFor's position.
func (r *recorder) waitSince(t *testing.T, from int, timeout time.Duration, desc string, pred func(chain.Event) bool) {
	t.Helper()
	r.mu.Lock()
	saved := r.next
	r.next = from
	r.mu.Unlock()
	r.waitFor(t, timeout, desc, pred)
	r.mu.Lock()
	r.next = saved
	r.mu.Unlock()
}

// nextBlock returns the next BlockConnected/BlockDisconnected event.
func (r *recorder) nextBlock(t *testing.T) chain.Event {
	t.Helper()
	return r.waitFor(t, 20*time.Second, "a block event", func(ev chain.Event) bool {
		return ev.Type == chain.BlockConnected || ev.Type == chain.BlockDisconnected
	})
}

func describe(evs []chain.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n  %s %s txs=%d %s→%s", ev.Type, ev.Block, len(ev.Transfers), ev.TxID, ev.ReplacedBy)
	}
	return b.String()
}

// connected returns the blocks of the BlockConnected events minus the
// disconnected ones: what a consumer would have stored as "recent".
func (r *recorder) recent() []chain.BlockRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []chain.BlockRef
	for _, ev := range r.evs {
		switch ev.Type {
		case chain.BlockConnected:
			out = append(out, ev.Block)
		case chain.BlockDisconnected:
			out = out[:len(out)-1]
		}
	}
	return out
}

type running struct {
	b    *bitcoin.Backend
	rec  *recorder
	stop func() error
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func config(node *testnode.Btcd) bitcoin.Config {
	return bitcoin.Config{
		Network:      "regtest",
		RPCURL:       node.RPCURL,
		RPCUser:      node.User,
		RPCPassword:  node.Pass,
		PollInterval: 100 * time.Millisecond,
		Depth:        20,
	}
}

func start(t *testing.T, cfg bitcoin.Config, recent []chain.BlockRef, watch ...string) *running {
	t.Helper()
	b, err := bitcoin.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b.Watch(watch...)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan chain.Event)
	rec := &recorder{cond: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, recent, out) }()
	go func() {
		for {
			select {
			case ev := <-out:
				rec.add(ev)
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("Run did not return 10s after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &running{b: b, rec: rec, stop: stop}
}

func hasTransfer(ev chain.Event, txid string) (chain.Transfer, bool) {
	for _, tr := range ev.Transfers {
		if tr.TxID == txid {
			return tr, true
		}
	}
	return chain.Transfer{}, false
}

func TestIntegrationBtcd(t *testing.T) {
	node := testnode.StartBtcd(t)

	t.Run("payment mempool then block", func(t *testing.T) {
		addr := testnode.MustRegtestAddress(t, "p2wpkh")
		r := start(t, config(node), nil, addr)
		tip := r.rec.nextBlock(t)
		if tip.Type != chain.BlockConnected || tip.Block.Hash != node.BestHash() {
			t.Fatalf("first event %s %s, want BlockConnected of the tip %s", tip.Type, tip.Block, node.BestHash())
		}
		txid := node.Pay(addr, 12_345, false)
		ev := r.rec.waitFor(t, 10*time.Second, "mempool transfer", func(ev chain.Event) bool {
			_, ok := hasTransfer(ev, txid)
			return ev.Type == chain.MempoolTransfers && ok
		})
		tr, _ := hasTransfer(ev, txid)
		if tr.Block != nil || tr.Amount.Int64() != 12_345 || tr.Index != 0 || tr.Address != addr || tr.RBF ||
			tr.Chain != "bitcoin" || tr.Asset != "BTC" || ev.Chain != "bitcoin" {
			t.Fatalf("mempool transfer = %+v", tr)
		}
		hash := node.Generate(1)[0]
		ev = r.rec.nextBlock(t)
		if ev.Type != chain.BlockConnected || ev.Block.Hash != hash || ev.Block.Parent != tip.Block.Hash || ev.Block.Height != tip.Block.Height+1 {
			t.Fatalf("got %s %s, want BlockConnected %s on %s", ev.Type, ev.Block, hash, tip.Block)
		}
		tr, ok := hasTransfer(ev, txid)
		if !ok || len(ev.Transfers) != 1 || tr.Block == nil || tr.Block.Hash != hash || tr.Amount.Int64() != 12_345 || tr.Index != 0 || tr.Address != addr {
			t.Fatalf("block transfers = %+v", ev.Transfers)
		}
		waitReady(t, r.b, ev.Block.Height)
	})

	// Another payd on the same database handed the address out: BeforeBlock
	// watches it before the block holding its payment is matched.
	t.Run("BeforeBlock runs before the block is matched", func(t *testing.T) {
		addr := testnode.MustRegtestAddress(t, "p2wpkh")
		var b atomic.Pointer[bitcoin.Backend]
		var pending atomic.Bool
		cfg := config(node)
		cfg.BeforeBlock = func(context.Context) {
			if pending.Load() {
				b.Load().Watch(addr)
			}
		}
		r := start(t, cfg, nil)
		b.Store(r.b)
		r.rec.nextBlock(t)
		pending.Store(true)
		txid := node.Pay(addr, 7_000, false)
		hash := node.Generate(1)[0]
		ev := r.rec.waitFor(t, 20*time.Second, "block "+hash, func(ev chain.Event) bool {
			return ev.Type == chain.BlockConnected && ev.Block.Hash == hash
		})
		if tr, ok := hasTransfer(ev, txid); !ok || tr.Address != addr {
			t.Fatalf("block %s transfers %+v, want %s paying %s", hash, ev.Transfers, txid, addr)
		}
	})

	t.Run("address kinds", func(t *testing.T) {
		kinds := []string{"p2pkh", "p2sh", "p2wpkh", "p2tr"}
		addrs := map[string]string{}
		for _, k := range kinds {
			addrs[k] = testnode.MustRegtestAddress(t, k)
		}
		r := start(t, config(node), nil, addrs["p2pkh"], addrs["p2sh"], addrs["p2wpkh"], addrs["p2tr"])
		r.rec.nextBlock(t)
		txids := map[string]string{}
		for _, k := range kinds {
			txids[node.Pay(addrs[k], 5_000, false)] = addrs[k]
		}
		hash := node.Generate(1)[0]
		ev := r.rec.waitFor(t, 20*time.Second, "block "+hash, func(ev chain.Event) bool {
			return ev.Type == chain.BlockConnected && ev.Block.Hash == hash
		})
		if len(ev.Transfers) != len(kinds) {
			t.Fatalf("got %d transfers, want %d: %+v", len(ev.Transfers), len(kinds), ev.Transfers)
		}
		for _, tr := range ev.Transfers {
			if txids[tr.TxID] != tr.Address {
				t.Errorf("transfer %s to %s, paid to %s", tr.Key(), tr.Address, txids[tr.TxID])
			}
		}
	})

	t.Run("reorg", func(t *testing.T) {
		addr := testnode.MustRegtestAddress(t, "p2tr")
		r := start(t, config(node), nil, addr)
		r.rec.nextBlock(t)
		txid := node.Pay(addr, 40_000, false)
		x := node.Generate(1)[0]
		conn := r.rec.waitFor(t, 20*time.Second, "block "+x, func(ev chain.Event) bool {
			return ev.Type == chain.BlockConnected && ev.Block.Hash == x
		})
		if _, ok := hasTransfer(conn, txid); !ok {
			t.Fatalf("block %s lacks %s", x, txid)
		}
		mark := r.rec.pos()
		node.InvalidateBlock(x)
		dis := r.rec.nextBlock(t)
		if dis.Type != chain.BlockDisconnected || dis.Block != conn.Block {
			t.Fatalf("got %s %s, want BlockDisconnected %s", dis.Type, dis.Block, conn.Block)
		}
		// The poller may see the tx back in the mempool just before it sees
		// the shorter chain, so look from the invalidation on.
		r.rec.waitSince(t, mark, 10*time.Second, "tx back in mempool", func(ev chain.Event) bool {
			_, ok := hasTransfer(ev, txid)
			return ev.Type == chain.MempoolTransfers && ok
		})
		hashes := node.Generate(2)
		for i, h := range hashes {
			ev := r.rec.nextBlock(t)
			if ev.Type != chain.BlockConnected || ev.Block.Hash != h || ev.Block.Height != conn.Block.Height+uint64(i) {
				t.Fatalf("got %s %s, want BlockConnected %s at %d", ev.Type, ev.Block, h, conn.Block.Height+uint64(i))
			}
			if i == 0 {
				if ev.Block.Parent != conn.Block.Parent {
					t.Fatalf("new branch forks at %s, want %s", ev.Block.Parent, conn.Block.Parent)
				}
				if _, ok := hasTransfer(ev, txid); !ok {
					t.Fatalf("re-mined block %s lacks %s", h, txid)
				}
			}
		}
	})

	t.Run("replacement in mempool", func(t *testing.T) {
		a, b := testnode.MustRegtestAddress(t, "p2wpkh"), testnode.MustRegtestAddress(t, "p2wpkh")
		r := start(t, config(node), nil, a, b)
		r.rec.nextBlock(t)
		orig := node.Pay(a, 70_000, true)
		ev := r.rec.waitFor(t, 10*time.Second, "rbf mempool transfer", func(ev chain.Event) bool {
			_, ok := hasTransfer(ev, orig)
			return ev.Type == chain.MempoolTransfers && ok
		})
		if tr, _ := hasTransfer(ev, orig); !tr.RBF {
			t.Fatalf("transfer of an RBF tx has RBF=false")
		}
		repl := node.Replace(orig, b)
		ev = r.rec.waitFor(t, 10*time.Second, "TxReplaced", func(ev chain.Event) bool { return ev.Type == chain.TxReplaced })
		if ev.TxID != orig || ev.ReplacedBy != repl {
			t.Fatalf("TxReplaced %s→%s, want %s→%s", ev.TxID, ev.ReplacedBy, orig, repl)
		}
		hash := node.Generate(1)[0]
		ev = r.rec.waitFor(t, 20*time.Second, "block "+hash, func(ev chain.Event) bool {
			return ev.Type == chain.BlockConnected && ev.Block.Hash == hash
		})
		if tr, ok := hasTransfer(ev, repl); !ok || tr.Address != b {
			t.Fatalf("block lacks the replacement: %+v", ev.Transfers)
		}
	})

	t.Run("replacement confirmed in a block", func(t *testing.T) {
		// A slow poll: the replacement is mined before the poller sees it in
		// the mempool, so the block reveals the double spend.
		a, b := testnode.MustRegtestAddress(t, "p2wpkh"), testnode.MustRegtestAddress(t, "p2pkh")
		cfg := config(node)
		cfg.PollInterval = 3 * time.Second
		r := start(t, cfg, nil, a)
		r.rec.nextBlock(t)
		orig := node.Pay(a, 80_000, true)
		r.rec.waitFor(t, 10*time.Second, "rbf mempool transfer", func(ev chain.Event) bool {
			_, ok := hasTransfer(ev, orig)
			return ev.Type == chain.MempoolTransfers && ok
		})
		repl := node.Replace(orig, b)
		hash := node.Generate(1)[0]
		ev := r.rec.waitFor(t, 10*time.Second, "TxReplaced", func(ev chain.Event) bool { return ev.Type == chain.TxReplaced })
		if ev.TxID != orig || ev.ReplacedBy != repl {
			t.Fatalf("TxReplaced %s→%s, want %s→%s", ev.TxID, ev.ReplacedBy, orig, repl)
		}
		ev = r.rec.nextBlock(t)
		if ev.Type != chain.BlockConnected || ev.Block.Hash != hash || len(ev.Transfers) != 0 {
			t.Fatalf("got %s %s with %d transfers, want BlockConnected %s with none", ev.Type, ev.Block, len(ev.Transfers), hash)
		}
	})

	t.Run("restart catches up in order", func(t *testing.T) {
		addr := testnode.MustRegtestAddress(t, "p2pkh")
		r := start(t, config(node), nil, addr)
		r.rec.nextBlock(t)
		node.Generate(2)
		r.rec.nextBlock(t)
		r.rec.nextBlock(t)
		if err := r.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		recent := r.rec.recent()
		last := recent[len(recent)-1]

		// While payd is down: the last processed block is reorged away and
		// four blocks are mined, one paying the watched address.
		node.InvalidateBlock(last.Hash)
		txid := node.Pay(addr, 33_000, false)
		mined := node.Generate(4)

		r2 := start(t, config(node), recent, addr)
		ev := r2.rec.nextBlock(t)
		if ev.Type != chain.BlockDisconnected || ev.Block != last {
			t.Fatalf("got %s %s, want BlockDisconnected %s", ev.Type, ev.Block, last)
		}
		for i, h := range mined {
			ev := r2.rec.nextBlock(t)
			if ev.Type != chain.BlockConnected || ev.Block.Hash != h || ev.Block.Height != last.Height+uint64(i) {
				t.Fatalf("got %s %s, want BlockConnected %s at %d", ev.Type, ev.Block, h, last.Height+uint64(i))
			}
			if _, ok := hasTransfer(ev, txid); ok != (i == 0) {
				t.Fatalf("block %d: has payment = %v", i, ok)
			}
		}
	})

	t.Run("websocket wakes before the poll", func(t *testing.T) {
		cfg := config(node)
		cfg.PollInterval = 10 * time.Second
		cfg.WebsocketURL = node.WSURL
		r := start(t, cfg, nil)
		r.rec.nextBlock(t)
		time.Sleep(1500 * time.Millisecond) // let the subscription settle
		t0 := time.Now()
		hash := node.Generate(1)[0]
		ev := r.rec.waitFor(t, 10*time.Second, "block "+hash, func(ev chain.Event) bool {
			return ev.Type == chain.BlockConnected && ev.Block.Hash == hash
		})
		if d := time.Since(t0); d > 4*time.Second {
			t.Fatalf("block event after %s, want well before the next poll (10s)", d)
		} else {
			t.Logf("block event %s after mining", d)
		}
		_ = ev
	})

	t.Run("websocket down: polling goes on", func(t *testing.T) {
		cfg := config(node)
		cfg.WebsocketURL = "ws://127.0.0.1:1/ws"
		r := start(t, cfg, nil)
		r.rec.nextBlock(t)
		hash := node.Generate(1)[0]
		r.rec.waitFor(t, 10*time.Second, "block "+hash, func(ev chain.Event) bool {
			return ev.Type == chain.BlockConnected && ev.Block.Hash == hash
		})
		waitReady(t, r.b, node.Height())
	})

	t.Run("check errors", func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name string
			mod  func(*bitcoin.Config)
			want error
			msg  string
		}{
			{"wrong network", func(c *bitcoin.Config) { c.Network = "mainnet" }, bitcoin.ErrWrongNetwork, `node is on "regtest", config says network "mainnet"`},
			{"wrong password", func(c *bitcoin.Config) { c.RPCPassword = "nope" }, bitcoin.ErrAuth, "check rpc_user/rpc_password"},
			{"unreachable", func(c *bitcoin.Config) { c.RPCURL = "http://127.0.0.1:1" }, bitcoin.ErrUnreachable, "127.0.0.1:1"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				cfg := config(node)
				tc.mod(&cfg)
				b, err := bitcoin.New(cfg, testLogger(t))
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_, err = b.Check(ctx)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("Check: %v, want %v containing %q", err, tc.want, tc.msg)
				}
			})
		}
		// Run gives up at once on the wrong network and says why in Status.
		cfg := config(node)
		cfg.Network = "mainnet"
		b, _ := bitcoin.New(cfg, testLogger(t))
		err := b.Run(ctx, nil, make(chan chain.Event))
		if !errors.Is(err, bitcoin.ErrWrongNetwork) {
			t.Fatalf("Run: %v, want ErrWrongNetwork", err)
		}
		if s := b.Status(); s.Ready || !strings.Contains(s.Reason, "wrong network") {
			t.Fatalf("Status = %+v", s)
		}
		// A bad password keeps Run retrying, not ready, with the reason.
		cfg = config(node)
		cfg.RPCPassword = "nope"
		r := start(t, cfg, nil)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(r.b.Status().Reason, "rpc auth failed") {
			if time.Now().After(deadline) {
				t.Fatalf("Status = %+v, want not ready with auth failure", r.b.Status())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func waitReady(t *testing.T, b *bitcoin.Backend, processed uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := b.Status()
		if s.Ready && s.Processed >= processed && s.Reason == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status = %+v, want ready at %d", s, processed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
