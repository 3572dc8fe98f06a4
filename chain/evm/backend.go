package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/payd/payd/chain"
)

// syncCheckEvery is how often Run asks a node that looks in sync whether it
// is syncing (eth_syncing). While it is not in sync it asks on every poll.
const syncCheckEvery = 5 * time.Second

// Backend follows one EVM chain on one node and reports native and ERC-20
// transfers to watched addresses. Create one per configured chain with New.
type Backend struct {
	cfg    Config
	log    *slog.Logger
	rpc    *client
	watch  *Watchlist
	scan   *Scanner
	tokens []string // contracts, EIP-55, for eth_getLogs

	wake     chan struct{} // a new head arrived (capacity 1)
	wsUp     atomic.Bool
	logRange atomic.Uint64 // current eth_getLogs range, shrinks when refused

	cache logCache // catch-up logs, used only by Run's goroutine

	syncEvery time.Duration // syncCheckEvery; tests shorten it

	mu     sync.Mutex
	status chain.Status
}

var (
	_ chain.Backend     = (*Backend)(nil)
	_ chain.BlockKnower = (*headers)(nil)
)

// New returns a Backend for cfg. It does not contact the node; Check does.
func New(cfg Config, log *slog.Logger) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg.RPCURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, &CheckError{Key: cfg.key("rpc_url"), Problem: err.Error()})
	}
	if log == nil {
		log = slog.Default()
	}
	w := NewWatchlist()
	b := &Backend{
		cfg:   cfg,
		log:   log.With("subsystem", "evm", "chain", cfg.Name),
		rpc:   c,
		watch: w,
		scan:  NewScanner(cfg, w),
		wake:  make(chan struct{}, 1),

		syncEvery: syncCheckEvery,
	}
	for _, t := range cfg.Tokens {
		b.tokens = append(b.tokens, common.HexToAddress(t.Contract).Hex())
	}
	b.logRange.Store(cfg.MaxLogRange)
	b.status = chain.Status{Reason: "not started", UpdatedAt: time.Now()}
	return b, nil
}

// Name returns the configured chain name.
func (b *Backend) Name() string { return b.cfg.Name }

// Watch adds addrs (0x + 40 hex digits) to the watched set; transfers report
// each address exactly as given here. Malformed addresses are logged and ignored.
func (b *Backend) Watch(addrs ...string) {
	if bad := b.watch.Add(addrs...); len(bad) > 0 {
		b.log.Warn("ignoring malformed addresses", "count", len(bad), "first", bad[0])
	}
}

// Unwatch removes addrs from the watched set.
func (b *Backend) Unwatch(addrs ...string) { b.watch.Remove(addrs...) }

// Status reports health without blocking.
func (b *Backend) Status() chain.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

func (b *Backend) setStatus(f func(s *chain.Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.status)
	b.status.UpdatedAt = time.Now()
}

func (b *Backend) notReady(reason string) {
	b.setStatus(func(s *chain.Status) { s.Ready, s.Reason = false, reason })
}

// Check verifies the node against the configuration: eth_chainId must be
// ChainID and every token's decimals() must be its configured Decimals. A
// mismatch is a *CheckError naming the configuration key; all mismatches are
// joined. Errors talking to the node are returned as they are.
func (b *Backend) Check(ctx context.Context) error {
	var id u64
	if err := b.rpc.call(ctx, &id, "eth_chainId"); err != nil {
		return fmt.Errorf("%s: node at %s: %w", b.cfg.key("rpc_url"), b.rpc.host, err)
	}
	var errs []error
	if uint64(id) != b.cfg.ChainID {
		errs = append(errs, &CheckError{Key: b.cfg.key("chain_id"),
			Problem: fmt.Sprintf("node reports %d, config says %d", uint64(id), b.cfg.ChainID)})
		return errors.Join(errs...) // the token contracts are somebody else's on that chain
	}
	for _, t := range b.cfg.Tokens {
		contract := common.HexToAddress(t.Contract).Hex()
		var code string
		if err := b.rpc.call(ctx, &code, "eth_getCode", contract, "latest"); err != nil {
			return fmt.Errorf("%s: %w", b.cfg.key("tokens", t.Symbol, "contract"), err)
		}
		if code == "" || code == "0x" {
			errs = append(errs, &CheckError{Key: b.cfg.key("tokens", t.Symbol, "contract"),
				Problem: fmt.Sprintf("no contract at %s on chain %d", contract, b.cfg.ChainID)})
			continue
		}
		var ret string
		err := b.rpc.call(ctx, &ret, "eth_call", map[string]string{"to": contract, "data": "0x313ce567"}, "latest")
		var re *RPCError
		if errors.As(err, &re) {
			errs = append(errs, &CheckError{Key: b.cfg.key("tokens", t.Symbol, "contract"),
				Problem: fmt.Sprintf("%s is not an ERC-20: decimals() failed: %s", contract, re.Message)})
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", b.cfg.key("tokens", t.Symbol, "decimals"), err)
		}
		dec, ok := new(big.Int).SetString(strings.TrimPrefix(ret, "0x"), 16)
		if len(ret) != 66 || !ok {
			errs = append(errs, &CheckError{Key: b.cfg.key("tokens", t.Symbol, "contract"),
				Problem: fmt.Sprintf("%s is not an ERC-20: decimals() returned %q", contract, ret)})
			continue
		}
		if !dec.IsInt64() || dec.Int64() != int64(t.Decimals) {
			errs = append(errs, &CheckError{Key: b.cfg.key("tokens", t.Symbol, "decimals"),
				Problem: fmt.Sprintf("contract %s reports %s, config says %d", contract, dec, t.Decimals)})
		}
	}
	return errors.Join(errs...)
}

// Tip asks the node for its best block.
func (b *Backend) Tip(ctx context.Context) (chain.BlockRef, error) {
	return b.header(ctx, "latest")
}

func (b *Backend) header(ctx context.Context, tag string) (chain.BlockRef, error) {
	var h *leanHeader
	if err := b.rpc.call(ctx, &h, "eth_getBlockByNumber", tag, false); err != nil {
		return chain.BlockRef{}, err
	}
	if h == nil {
		return chain.BlockRef{}, fmt.Errorf("eth_getBlockByNumber %s: %w", tag, errNotFound)
	}
	ref, err := h.ref()
	if err != nil {
		return chain.BlockRef{}, fmt.Errorf("eth_getBlockByNumber %s: %w", tag, err)
	}
	return ref, nil
}

// finalized returns the node's finalized block; ok is false when the node
// has no such tag (or cannot say right now).
func (b *Backend) finalized(ctx context.Context) (chain.BlockRef, bool) {
	ref, err := b.header(ctx, "finalized")
	return ref, err == nil
}

// headers is the Tracker's view of the node; it remembers the last tip height.
type headers struct {
	b   *Backend
	tip uint64
}

func (h *headers) TipHeight(ctx context.Context) (uint64, error) {
	var n u64
	if err := h.b.rpc.call(ctx, &n, "eth_blockNumber"); err != nil {
		return 0, err
	}
	h.tip = uint64(n)
	h.b.setStatus(func(s *chain.Status) { s.TipHeight = uint64(n) })
	return uint64(n), nil
}

func (h *headers) HeaderByHeight(ctx context.Context, height uint64) (chain.BlockRef, error) {
	ref, err := h.b.header(ctx, fmt.Sprintf("0x%x", height))
	if err != nil {
		return chain.BlockRef{}, err
	}
	if ref.Height != height {
		return chain.BlockRef{}, fmt.Errorf("asked for block %d, node answered %d", height, ref.Height)
	}
	return ref, nil
}

// KnowsBlock reports whether the node has the block hash, on its best chain
// or not (chain.BlockKnower): eth_getBlockByHash answers null for a block it
// never saw (or has dropped), so a node that is merely behind is no reorg.
func (h *headers) KnowsBlock(ctx context.Context, hash string) (bool, error) {
	var blk *struct {
		Hash string `json:"hash"`
	}
	if err := h.b.rpc.call(ctx, &blk, "eth_getBlockByHash", hash, false); err != nil {
		return false, err
	}
	return blk != nil, nil
}

// syncState is what the last eth_syncing said; Run's goroutine owns it.
type syncState struct {
	checked time.Time // last check (successful or not)
	reason  string    // why the node is not in sync; "" when it is
}

// checkSync asks eth_syncing at most every syncEvery (every call with force)
// and records the verdict: anything but false means the node is syncing. A
// node that does not know the method counts as in sync; other failures keep
// the previous verdict (the chain calls report the node's errors).
func (b *Backend) checkSync(ctx context.Context, st *syncState, force bool) {
	now := time.Now()
	if !force && now.Sub(st.checked) < b.syncEvery {
		return
	}
	st.checked = now
	var raw json.RawMessage
	err := b.rpc.call(ctx, &raw, "eth_syncing")
	var re *RPCError
	if errors.As(err, &re) {
		b.log.Debug("node cannot say whether it is syncing", "err", err)
		raw = json.RawMessage("false")
	} else if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("cannot ask the node whether it is syncing", "err", err)
		}
		return
	}
	reason := ""
	if s := strings.TrimSpace(string(raw)); s != "false" && s != "" {
		var p struct {
			Current u64 `json:"currentBlock"`
			Highest u64 `json:"highestBlock"`
		}
		if json.Unmarshal(raw, &p) == nil {
			reason = fmt.Sprintf("node is syncing: block %d of %d", uint64(p.Current), uint64(p.Highest))
		} else {
			reason = fmt.Sprintf("node is syncing: eth_syncing says %.80s", s)
		}
	}
	switch {
	case reason != "" && st.reason == "":
		b.log.Warn("node is syncing", "reason", reason)
	case reason == "" && st.reason != "":
		b.log.Info("node is in sync again")
	}
	st.reason = reason
}

// applyHealth sets Ready after a step succeeded: not ready while the node is
// syncing (the last checkSync verdict) or behind what payd processed.
func applyHealth(s *chain.Status, syncing string) {
	switch {
	case syncing != "":
		s.Ready, s.Reason = false, syncing
	case s.TipHeight < s.Processed:
		s.Ready, s.Reason = false, fmt.Sprintf("node is behind payd: node at %d, payd at %d", s.TipHeight, s.Processed)
	default:
		s.Ready, s.Reason = true, ""
	}
}

// Run follows the chain and sends events to out until ctx is done (then it
// returns nil). recent is the processed tail, oldest first; Run resumes after
// its last block. Node errors are logged, reported through Status and retried
// with backoff; Run returns an error only for a reorg deeper than recent
// (chain.ErrDeepReorg). Status is also not ready while eth_syncing is not
// false or the node's tip is below what payd processed; a node that never
// saw payd's tip is waited for, not reorged (KnowsBlock).
func (b *Backend) Run(ctx context.Context, recent []chain.BlockRef, out chan<- chain.Event) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait
	if b.cfg.WSURL != "" {
		wg.Add(1)
		go func() { defer wg.Done(); b.followHeads(ctx) }()
	}

	tr := chain.NewTracker(recent, b.cfg.Depth)
	if tip, ok := tr.Tip(); ok {
		b.setStatus(func(s *chain.Status) { s.Processed = tip.Height })
	}
	src := &headers{b: b}
	bo := backoff{min: b.cfg.PollInterval / 2, max: 30 * time.Second}
	checked := false
	var node syncState
	for ctx.Err() == nil {
		if !checked {
			if err := b.Check(ctx); err != nil {
				if ctx.Err() != nil {
					break
				}
				d := bo.next()
				b.log.Warn("node check failed", "err", err, "retry_in", d)
				b.notReady("node check failed: " + err.Error())
				sleep(ctx, d)
				continue
			}
			checked = true
		}
		step, err := tr.Next(ctx, src)
		if err != nil {
			if errors.Is(err, chain.ErrDeepReorg) {
				b.notReady(err.Error())
				b.log.Error("reorg deeper than the tracked window", "err", err, "depth", b.cfg.Depth)
				return fmt.Errorf("evm %s: %w", b.cfg.Name, err)
			}
			if ctx.Err() != nil {
				break
			}
			d := bo.next()
			b.log.Warn("node error", "err", err, "retry_in", d)
			b.notReady("node error: " + err.Error())
			sleep(ctx, d)
			continue
		}
		switch step.Kind {
		case chain.StepNone:
			bo.reset()
			b.checkSync(ctx, &node, node.reason != "")
			b.setStatus(func(s *chain.Status) { applyHealth(s, node.reason) })
			b.idle(ctx)
		case chain.StepConnect:
			ev, err := b.connect(ctx, step.Block, src.tip)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				d := bo.next()
				b.log.Warn("cannot process block", "block", step.Block.String(), "err", err, "retry_in", d)
				b.notReady(fmt.Sprintf("cannot process block %d: %v", step.Block.Height, err))
				sleep(ctx, d)
				continue
			}
			if !send(ctx, out, ev) {
				break
			}
			if err := tr.Connect(step.Block); err != nil {
				return fmt.Errorf("evm %s: %w", b.cfg.Name, err) // a bug: Next promised it builds on the tip
			}
			bo.reset()
			b.checkSync(ctx, &node, false)
			b.setStatus(func(s *chain.Status) {
				s.Processed = step.Block.Height
				applyHealth(s, node.reason)
			})
		case chain.StepDisconnect:
			if fin, ok := b.finalized(ctx); ok && step.Block.Height <= fin.Height {
				// The node contradicts itself; undoing "final" payments on its word
				// would be worse than stopping until an operator looks.
				d := bo.next()
				b.log.Warn("node reorged below its finalized block, not following", "block", step.Block.String(), "finalized", fin.String(), "retry_in", d)
				b.notReady(fmt.Sprintf("node reorged block %s at or below its finalized block %s", step.Block, fin))
				sleep(ctx, d)
				continue
			}
			ev := chain.Event{Type: chain.BlockDisconnected, Chain: b.cfg.Name, Block: step.Block}
			b.log.Info("block disconnected", "block", step.Block.String())
			if !send(ctx, out, ev) {
				break
			}
			if _, err := tr.Disconnect(); err != nil {
				return fmt.Errorf("evm %s: %w", b.cfg.Name, err)
			}
			b.cache.reset()
			b.setStatus(func(s *chain.Status) { s.Processed = step.Block.Height - 1 })
		}
	}
	return nil
}

func send(ctx context.Context, out chan<- chain.Event, ev chain.Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// idle waits for a new head or the poll interval.
func (b *Backend) idle(ctx context.Context) {
	d := b.cfg.PollInterval
	if b.wsUp.Load() {
		d *= 10
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-b.wake:
	case <-t.C:
	}
}

// backoff doubles from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = max(b.min, 100*time.Millisecond)
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// connect fetches block ref and returns its BlockConnected event. tip is the
// node's height as last seen (to decide on range log queries).
func (b *Backend) connect(ctx context.Context, ref chain.BlockRef, tip uint64) (chain.Event, error) {
	if b.cfg.BeforeBlock != nil {
		b.cfg.BeforeBlock(ctx)
	}
	body, err := b.rpc.callRaw(ctx, "eth_getBlockByHash", ref.Hash, true)
	if err != nil {
		return chain.Event{}, err
	}
	blk, err := decodeBlock(body)
	if err != nil {
		return chain.Event{}, fmt.Errorf("eth_getBlockByHash %s: %w", ref.Hash, err)
	}
	got, err := blk.ref()
	if err != nil {
		return chain.Event{}, fmt.Errorf("eth_getBlockByHash %s: %w", ref.Hash, err)
	}
	if got.Hash != ref.Hash || got.Height != ref.Height || got.Parent != ref.Parent {
		return chain.Event{}, fmt.Errorf("eth_getBlockByHash %s answered block %s", ref.Hash, got)
	}
	ms := b.scan.nativeMatches(blk)
	if len(ms) > 0 {
		if ms, err = b.dropFailed(ctx, ref, ms); err != nil {
			return chain.Event{}, err
		}
	}
	logs, err := b.blockLogs(ctx, blk, ref, tip)
	if err != nil {
		return chain.Event{}, err
	}
	ms = append(ms, b.scan.tokenMatches(logs)...)
	if b.cfg.TraceInternal {
		internal, err := b.traceInternal(ctx, ref)
		if err != nil {
			return chain.Event{}, err
		}
		ms = append(ms, internal...)
	}
	ts := inBlockOrder(ms)
	for i := range ts {
		r := ref
		ts[i].Block = &r
	}
	if len(ts) > 0 {
		b.log.Info("transfers found", "block", ref.String(), "count", len(ts))
	}
	return chain.Event{Type: chain.BlockConnected, Chain: b.cfg.Name, Block: ref, Transfers: ts}, nil
}

// dropFailed removes native transfers whose transaction failed (receipt
// status 0), with one batch of eth_getTransactionReceipt.
func (b *Backend) dropFailed(ctx context.Context, ref chain.BlockRef, ms []match) ([]match, error) {
	rs := make([]*leanReceipt, len(ms))
	calls := make([]batchCall, len(ms))
	for i := range ms {
		calls[i] = batchCall{Method: "eth_getTransactionReceipt", Params: []any{ms[i].T.TxID}, Out: &rs[i]}
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return nil, err
	}
	kept := ms[:0]
	for i, r := range rs {
		switch {
		case r == nil:
			return nil, fmt.Errorf("no receipt for tx %s of block %s", ms[i].T.TxID, ref)
		case strings.ToLower(r.BlockHash.String()) != ref.Hash:
			return nil, fmt.Errorf("receipt of tx %s is in block %s, not %s", ms[i].T.TxID, r.BlockHash, ref.Hash)
		case r.Status == nil:
			return nil, fmt.Errorf("receipt of tx %s has no status (pre-Byzantium?)", ms[i].T.TxID)
		case *r.Status == 1:
			kept = append(kept, ms[i])
		default:
			b.log.Info("ignoring failed transaction to a watched address", "tx", ms[i].T.TxID, "block", ref.String())
		}
	}
	return kept, nil
}

// mayHaveTokenLogs tells from the block's bloom filter whether it may hold a
// Transfer log of a configured token.
func (b *Backend) mayHaveTokenLogs(bloom *types.Bloom) bool {
	if len(b.tokens) == 0 {
		return false
	}
	if bloom == nil {
		return true
	}
	if !bloom.Test(transferTopic.Bytes()) {
		return false
	}
	for a := range b.scan.tokens {
		if bloom.Test(a.Bytes()) {
			return true
		}
	}
	return false
}
