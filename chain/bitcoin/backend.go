package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/chain"
)

// behindBlocks is how far processing may trail the node's tip before Status
// reports not ready.
const behindBlocks = 3

// syncCheckEvery is how often Run asks a healthy node whether it is syncing
// (getblockchaininfo). While it is not, or may not be, in sync it asks after
// every poll, so recovery shows at once.
const syncCheckEvery = 5 * time.Second

// syncSlack is how many blocks the node's validated chain may trail the
// headers it knows before it counts as syncing at once: Core announces a
// block's header before the block itself is downloaded and connected.
const syncSlack = 2

// maxMempoolFetch bounds the new mempool transactions fetched per poll; the
// rest are fetched on the next polls.
const maxMempoolFetch = 2000

// spendTTL is how long the inputs of a reported mempool transaction are
// remembered (Core expires mempool transactions after 14 days).
const spendTTL = 14 * 24 * time.Hour

// Backend follows one Bitcoin Core or btcd node. It implements chain.Backend
// and chain.HeaderSource.
type Backend struct {
	cfg    Config
	params *chaincfg.Params
	log    *slog.Logger
	rpc    *client
	watch  *WatchSet

	statusMu sync.Mutex
	status   chain.Status

	retryMin  time.Duration      // first backoff step; tests shorten it
	syncEvery time.Duration      // syncCheckEvery; tests shorten it
	onStatus  func(chain.Status) // test hook, called with statusMu held
}

var (
	_ chain.Backend      = (*Backend)(nil)
	_ chain.HeaderSource = (*Backend)(nil)
	_ chain.BlockKnower  = (*Backend)(nil)
)

// New returns a Backend for cfg; it does not contact the node (see Check).
func New(cfg Config, log *slog.Logger) (*Backend, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	params, _ := networkParams(cfg.Network)
	if log == nil {
		log = slog.Default()
	}
	b := &Backend{
		cfg:    cfg,
		params: params,
		log:    log.With("subsystem", "chain/bitcoin", "chain", cfg.Name),
		rpc:    newClient(cfg),
		watch:  NewWatchSet(params),

		retryMin:  250 * time.Millisecond,
		syncEvery: syncCheckEvery,
	}
	b.status.Reason = "not started"
	return b, nil
}

// Name is the configured chain name.
func (b *Backend) Name() string { return b.cfg.Name }

// Script returns the output script addr is paid with on the configured
// network, or an error naming what is wrong with addr.
func (b *Backend) Script(addr string) ([]byte, error) {
	a, err := btcutil.DecodeAddress(addr, b.params)
	if err != nil {
		return nil, fmt.Errorf("decode address %q: %w", addr, err)
	}
	if !a.IsForNet(b.params) {
		return nil, fmt.Errorf("address %q is not a %s address", addr, b.cfg.Network)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("script for %q: %w", addr, err)
	}
	return s, nil
}

// Watch adds addresses (P2PKH, P2SH, P2WPKH, P2WSH, P2TR) to the watched
// set. An address that does not decode for the configured network is logged
// and ignored; check it first with Script.
func (b *Backend) Watch(addrs ...string) {
	for _, a := range addrs {
		s, err := b.Script(a)
		if err != nil {
			b.log.Warn("watch: ignoring address", "address", a, "err", err)
			continue
		}
		b.watch.addDecoded(s, a)
	}
}

// Unwatch removes addresses from the watched set.
func (b *Backend) Unwatch(addrs ...string) {
	for _, a := range addrs {
		if s, err := b.Script(a); err == nil {
			b.watch.Remove(s)
		}
	}
}

// Status reports health without blocking on the node.
func (b *Backend) Status() chain.Status {
	b.statusMu.Lock()
	s := b.status
	b.statusMu.Unlock()
	if s.Ready && s.Lag() > behindBlocks {
		s.Ready = false
		s.Reason = fmt.Sprintf("behind: processed %d, node tip %d", s.Processed, s.TipHeight)
	}
	return s
}

func (b *Backend) setStatus(f func(s *chain.Status)) {
	b.statusMu.Lock()
	f(&b.status)
	b.status.UpdatedAt = time.Now()
	if b.onStatus != nil {
		b.onStatus(b.status)
	}
	b.statusMu.Unlock()
}

func (b *Backend) setFailed(err error) {
	reason := err.Error()
	b.setStatus(func(s *chain.Status) { s.Ready, s.Reason = false, reason })
}

// TipHeight returns the node's best height (chain.HeaderSource).
func (b *Backend) TipHeight(ctx context.Context) (uint64, error) {
	var h uint64
	if err := b.rpc.callInto(ctx, &h, "getblockcount"); err != nil {
		return 0, err
	}
	b.setStatus(func(s *chain.Status) { s.TipHeight = h })
	return h, nil
}

// HeaderByHeight returns the best chain's block at height h
// (chain.HeaderSource). The header is fetched raw and its hash checked.
func (b *Backend) HeaderByHeight(ctx context.Context, h uint64) (chain.BlockRef, error) {
	var hash string
	if err := b.rpc.callInto(ctx, &hash, "getblockhash", h); err != nil {
		return chain.BlockRef{}, err
	}
	hdr, err := b.header(ctx, hash)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return chain.BlockRef{Height: h, Hash: hash, Parent: hdr.PrevBlock.String(), Time: hdr.Timestamp}, nil
}

func (b *Backend) header(ctx context.Context, hash string) (wire.BlockHeader, error) {
	var hdr wire.BlockHeader
	var body bytes.Buffer
	if err := b.rpc.callBody(ctx, &body, "getblockheader", hash, false); err != nil {
		return hdr, err
	}
	h, err := hexResult(body.Bytes())
	if err != nil {
		return hdr, fmt.Errorf("getblockheader %s: %w", hash, err)
	}
	var raw []byte
	if err := decodeHexInto(&raw, h); err != nil {
		return hdr, fmt.Errorf("getblockheader %s: %w", hash, err)
	}
	if err := hdr.Deserialize(bytes.NewReader(raw)); err != nil {
		return hdr, fmt.Errorf("getblockheader %s: %w: %v", hash, ErrMalformed, err)
	}
	if got := hdr.BlockHash().String(); got != hash {
		return hdr, fmt.Errorf("getblockheader %s: %w: header hashes to %s", hash, ErrMalformed, got)
	}
	return hdr, nil
}

// KnowsBlock reports whether the node has the block hash, on its best chain
// or not (chain.BlockKnower): getblockheader answers -5 for a block it never
// saw; btcd and Core keep an invalidated or stale block known. A header whose
// block Core has not downloaded yet (verbose nTx 0) does not count: such a
// node is behind, not reorged. btcd has no nTx and refuses the verbose form
// for blocks off its best chain; the raw header decides then.
func (b *Backend) KnowsBlock(ctx context.Context, hash string) (bool, error) {
	var raw string
	err := b.rpc.callInto(ctx, &raw, "getblockheader", hash, false)
	var re *RPCError
	if errors.As(err, &re) && re.Code == codeNoTx {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("getblockheader %s: %w", hash, err)
	}
	var hdr struct {
		NTx *int64 `json:"nTx"` // Core only
	}
	if b.rpc.callInto(ctx, &hdr, "getblockheader", hash, true) == nil && hdr.NTx != nil && *hdr.NTx == 0 {
		return false, nil
	}
	return true, nil
}

// Tip asks the node for its best block.
func (b *Backend) Tip(ctx context.Context) (chain.BlockRef, error) {
	h, err := b.TipHeight(ctx)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return b.HeaderByHeight(ctx, h)
}

// Check verifies that the node answers, accepts the credentials, follows the
// configured network and is not in initial block download; it returns the
// node's tip. Errors wrap ErrAuth, ErrUnreachable, ErrWrongNetwork,
// ErrSyncing or ErrMalformed.
func (b *Backend) Check(ctx context.Context) (chain.BlockRef, error) {
	var info struct {
		Chain  string `json:"chain"`
		Blocks uint64 `json:"blocks"`
		// IBD is Core-only; btcd omits it.
		IBD bool `json:"initialblockdownload"`
	}
	if err := b.rpc.callInto(ctx, &info, "getblockchaininfo"); err != nil {
		return chain.BlockRef{}, fmt.Errorf("check %s: %w", b.cfg.RPCURL, err)
	}
	if !slices.Contains(nodeChainNames[b.cfg.Network], info.Chain) {
		return chain.BlockRef{}, fmt.Errorf("check %s: %w: node is on %q, config says network %q",
			b.cfg.RPCURL, ErrWrongNetwork, info.Chain, b.cfg.Network)
	}
	if info.IBD {
		return chain.BlockRef{}, fmt.Errorf("check %s: %w: initial block download at height %d", b.cfg.RPCURL, ErrSyncing, info.Blocks)
	}
	tip, err := b.HeaderByHeight(ctx, info.Blocks)
	if err != nil {
		return chain.BlockRef{}, fmt.Errorf("check %s: %w", b.cfg.RPCURL, err)
	}
	return tip, nil
}

// block fetches ref's block raw and scans it.
func (b *Backend) block(ctx context.Context, ref chain.BlockRef, spends map[wire.OutPoint]chainhash.Hash) (*ScanResult, error) {
	if b.cfg.BeforeBlock != nil {
		b.cfg.BeforeBlock(ctx)
	}
	body := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(body)
	if err := b.rpc.callBody(ctx, body, "getblock", ref.Hash, 0); err != nil {
		return nil, fmt.Errorf("getblock %s: %w", ref, err)
	}
	res, err := scanBlockResponse(body.Bytes(), b.watch, spends)
	if body.Cap() > 16<<20 {
		body.Reset() // don't pool huge buffers forever
		*body = bytes.Buffer{}
	}
	if err != nil {
		return nil, fmt.Errorf("getblock %s: %w", ref, err)
	}
	if got := res.Hash.String(); got != ref.Hash {
		return nil, fmt.Errorf("getblock %s: %w: block hashes to %s", ref, ErrMalformed, got)
	}
	if got := res.Header.PrevBlock.String(); got != ref.Parent {
		return nil, fmt.Errorf("getblock %s: %w: parent %s, header said %s", ref, ErrMalformed, got, ref.Parent)
	}
	return res, nil
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (b *Backend) transfers(outs []Output, ref *chain.BlockRef) []chain.Transfer {
	ts := make([]chain.Transfer, 0, len(outs))
	for _, o := range outs {
		ts = append(ts, chain.Transfer{
			Chain:   b.cfg.Name,
			Asset:   b.cfg.Asset,
			TxID:    o.TxID.String(),
			Index:   o.Vout,
			Address: o.Address,
			Amount:  big.NewInt(o.Value),
			Block:   ref,
			RBF:     o.RBF,
		})
	}
	return ts
}

// Run follows the best chain and sends events to out until ctx is done (it
// then returns nil). It first runs Check until it passes (a wrong network
// is returned at once), then, every PollInterval or when the websocket
// wakes it: walks the Tracker to the node's tip, sending BlockDisconnected /
// BlockConnected one block at a time, then diffs the mempool. Every send
// blocks until the consumer reads it. Node errors are logged, reported
// through Status and retried with backoff; a block is never skipped.
// Status is also not ready while the node syncs (checkSync) or its tip is
// below what payd processed; a node that never saw payd's tip is waited
// for, not reorged (KnowsBlock).
// Returns chain.ErrDeepReorg when the node forked below recent.
func (b *Backend) Run(ctx context.Context, recent []chain.BlockRef, out chan<- chain.Event) error {
	defer func() {
		if ctx.Err() != nil {
			b.setStatus(func(s *chain.Status) { s.Ready, s.Reason = false, "stopped" })
		}
	}()
	bo := backoff{min: b.retryMin, max: 30 * time.Second}
	for {
		tip, err := b.Check(ctx)
		if err == nil {
			b.log.Info("node ok", "url", b.cfg.RPCURL, "network", b.cfg.Network, "tip", tip)
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		b.setFailed(err)
		if errors.Is(err, ErrWrongNetwork) {
			b.log.Warn("node is on the wrong network", "err", err)
			return err
		}
		b.log.Warn("node check failed", "err", err, "retry_in", bo.peek())
		if !sleep(ctx, bo.next()) {
			return nil
		}
	}
	bo.reset()

	r := &runner{b: b, out: out, tracker: chain.NewTracker(recent, b.cfg.Depth), mem: newMempoolState()}
	if tip, ok := r.tracker.Tip(); ok {
		b.setStatus(func(s *chain.Status) { s.Processed = tip.Height })
	}
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wsCtx, stopWS := context.WithCancel(ctx)
	defer func() { stopWS(); wg.Wait() }()
	if b.cfg.WebsocketURL != "" {
		wg.Add(1)
		go func() { defer wg.Done(); b.runWebsocket(wsCtx, wake) }()
	}
	ticker := time.NewTicker(b.cfg.PollInterval)
	defer ticker.Stop()
	for {
		err := r.sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, chain.ErrDeepReorg) {
			b.setFailed(err)
			b.log.Error("reorg deeper than the tracked window", "err", err)
			return err
		}
		if err != nil {
			b.setFailed(err)
			d := bo.next()
			b.log.Warn("sync failed", "err", err, "retry_in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		bo.reset()
		r.checkSync(ctx)
		b.setStatus(r.applyHealth)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-wake:
		}
	}
}

// runner is the state one Run owns.
type runner struct {
	b       *Backend
	out     chan<- chain.Event
	tracker *chain.Tracker
	mem     *mempoolState
	node    syncState
}

// syncState is what the last getblockchaininfo said about the node.
type syncState struct {
	checked   time.Time // last check (successful or not)
	reason    string    // why the node is not in sync; "" when it is
	gapSince  time.Time // since when headers > blocks at gapBlocks; zero: no gap
	gapBlocks uint64
}

// checkSync asks the node for its sync state, at most every syncCheckEvery
// while it is in sync, and records the verdict for applyHealth. The node is
// syncing when it says so (initialblockdownload), when its blocks trail its
// headers by more than syncSlack, or when they trail at all for
// syncCheckEvery without moving (a node stuck one block behind). A failed
// check keeps the previous verdict: the chain calls report the node's errors.
func (r *runner) checkSync(ctx context.Context) {
	now := time.Now()
	st := &r.node
	if st.reason == "" && st.gapSince.IsZero() && now.Sub(st.checked) < r.b.syncEvery {
		return
	}
	st.checked = now
	var info struct {
		Blocks  uint64 `json:"blocks"`
		Headers uint64 `json:"headers"`
		IBD     bool   `json:"initialblockdownload"` // Core only
	}
	if err := r.b.rpc.callInto(ctx, &info, "getblockchaininfo"); err != nil {
		if ctx.Err() == nil {
			r.b.log.Warn("cannot ask the node whether it is syncing", "err", err)
		}
		return
	}
	switch {
	case info.Headers <= info.Blocks:
		st.gapSince = time.Time{}
	case st.gapSince.IsZero() || st.gapBlocks != info.Blocks:
		st.gapSince, st.gapBlocks = now, info.Blocks
	}
	reason := ""
	if info.IBD || info.Headers > info.Blocks+syncSlack ||
		(!st.gapSince.IsZero() && now.Sub(st.gapSince) >= r.b.syncEvery) {
		reason = fmt.Sprintf("node is syncing: blocks %d of headers %d", info.Blocks, info.Headers)
	}
	switch {
	case reason != "" && st.reason == "":
		r.b.log.Warn("node is syncing", "blocks", info.Blocks, "headers", info.Headers, "initial_block_download", info.IBD)
	case reason == "" && st.reason != "":
		r.b.log.Info("node is in sync again", "blocks", info.Blocks)
	}
	st.reason = reason
}

// applyHealth sets Ready after a successful sync: not ready while the node
// is syncing (the last checkSync verdict) or behind what payd processed.
func (r *runner) applyHealth(s *chain.Status) {
	switch {
	case r.node.reason != "":
		s.Ready, s.Reason = false, r.node.reason
	case s.TipHeight < s.Processed:
		s.Ready, s.Reason = false, fmt.Sprintf("node is behind payd: node at %d, payd at %d", s.TipHeight, s.Processed)
	default:
		s.Ready, s.Reason = true, ""
	}
}

func (r *runner) send(ctx context.Context, ev chain.Event) error {
	ev.Chain = r.b.cfg.Name
	select {
	case r.out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sync walks to the node's tip, then diffs the mempool.
func (r *runner) sync(ctx context.Context) error {
	for {
		step, err := r.tracker.Next(ctx, r.b)
		if err != nil {
			return err
		}
		switch step.Kind {
		case chain.StepNone:
			return r.pollMempool(ctx)
		case chain.StepDisconnect:
			if err := r.send(ctx, chain.Event{Type: chain.BlockDisconnected, Block: step.Block}); err != nil {
				return err
			}
			if _, err := r.tracker.Disconnect(); err != nil {
				return err
			}
			// The disconnected block's transactions return to the node's
			// mempool, possibly before the next poll sees them gone: forget
			// what was seen so the next poll reports them again.
			clear(r.mem.seen)
			r.b.log.Info("block disconnected", "block", step.Block)
			r.b.setStatus(func(s *chain.Status) { s.Processed = step.Block.Height - 1 })
		case chain.StepConnect:
			if err := r.connect(ctx, step.Block); err != nil {
				return err
			}
		}
	}
}

func (r *runner) connect(ctx context.Context, ref chain.BlockRef) error {
	res, err := r.b.block(ctx, ref, r.mem.spentBy)
	if err != nil {
		return err
	}
	// Replacements first: if payd stops before the BlockConnected below is
	// stored, the block (and these) are processed again.
	for _, sp := range res.Spends {
		orig, ok := r.mem.spentBy[sp.OutPoint]
		if !ok {
			continue
		}
		if orig != sp.TxID {
			if err := r.send(ctx, chain.Event{Type: chain.TxReplaced, TxID: orig.String(), ReplacedBy: sp.TxID.String()}); err != nil {
				return err
			}
			r.b.log.Info("transaction replaced", "txid", orig, "replaced_by", sp.TxID, "block", ref)
		}
		r.mem.forget(orig)
	}
	ev := chain.Event{Type: chain.BlockConnected, Block: ref, Transfers: r.b.transfers(res.Outputs, &ref)}
	if err := r.send(ctx, ev); err != nil {
		return err
	}
	if err := r.tracker.Connect(ref); err != nil {
		return err
	}
	r.b.log.Debug("block connected", "block", ref, "txs", res.TxCount, "transfers", len(ev.Transfers))
	r.b.setStatus(func(s *chain.Status) {
		s.Processed = ref.Height
		if s.TipHeight < ref.Height {
			s.TipHeight = ref.Height
		}
	})
	return nil
}

// backoff is exponential backoff between min and max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) peek() time.Duration {
	if b.cur == 0 {
		return b.min
	}
	return b.cur
}

func (b *backoff) next() time.Duration {
	d := b.peek()
	b.cur = min(d*2, b.max)
	return d
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
