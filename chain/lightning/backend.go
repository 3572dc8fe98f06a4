package lightning

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/chain"
)

// Config configures one Lightning "chain": the merchant's LND node.
type Config struct {
	// Name is the configured chain name ("lightning").
	Name string
	// Asset is the asset code payments are reported in ("BTC").
	Asset string
	// Network (mainnet, testnet, signet, regtest) is checked against getinfo.
	Network string
	// RESTURL is LND's REST listener, https://host:8080.
	RESTURL string
	// TLSCertPath is LND's tls.cert, the only certificate trusted.
	TLSCertPath string
	// MacaroonPath is the invoice macaroon (invoice.macaroon, or one baked
	// with invoices:read invoices:write info:read offchain:read).
	MacaroonPath string
	// ReadonlyMacaroonPath, optional, is used for getinfo and channels
	// (lnd's readonly.macaroon) when the invoice macaroon cannot read them.
	ReadonlyMacaroonPath string
	// PollInterval is how often the node's health (sync, channels) is read.
	PollInterval time.Duration
}

// Invoice is a BOLT11 invoice LND created.
type Invoice struct {
	PaymentRequest string // lnbc…
	PaymentHash    string // hex
	AddIndex       uint64
}

// Backend is the chain.Backend of a Lightning node. See the package doc.
type Backend struct {
	cfg Config
	c   *client
	log *slog.Logger

	mu      sync.Mutex
	watched map[string]struct{}
	// settled is the highest settle index reported (the "tip"); known says
	// whether it is the node's (the subscription is up).
	settled    uint64
	known      bool
	subscribed bool
	reason     string // health problem, "" when healthy
	subErr     string // why the subscription is down ("" = not known)
	info       Info
	liq        Liquidity
	updated    time.Time
}

// New reads the certificate and macaroons and refuses a macaroon that can
// do more than invoices (see CheckMacaroon). It does not contact the node.
func New(cfg Config, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Asset == "" {
		cfg.Asset = "BTC"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if !strings.HasPrefix(cfg.RESTURL, "https://") {
		return nil, fmt.Errorf("%w: rpc_url %q: LND's REST API is served over https", ErrConfig, cfg.RESTURL)
	}
	cert, err := os.ReadFile(cfg.TLSCertPath)
	if err != nil {
		return nil, fmt.Errorf("%w: tls_cert: %v", ErrConfig, err)
	}
	mac, err := readMacaroon(cfg.MacaroonPath, "macaroon", false)
	if err != nil {
		return nil, err
	}
	var ro string
	if cfg.ReadonlyMacaroonPath != "" {
		if ro, err = readMacaroon(cfg.ReadonlyMacaroonPath, "readonly_macaroon", true); err != nil {
			return nil, err
		}
	}
	c, err := newClient(cfg.RESTURL, cert, mac, ro)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, c: c, log: log, watched: map[string]struct{}{}, reason: "not started"}, nil
}

func readMacaroon(path, key string, readOnly bool) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrConfig, key, err)
	}
	if _, err := CheckMacaroon(raw, readOnly); err != nil {
		if errors.Is(err, ErrMacaroonTooPowerful) {
			fix := "use lnd's invoice.macaroon, or bake one: lncli bakemacaroon invoices:read invoices:write info:read offchain:read --save_to payd.macaroon"
			if readOnly {
				fix = "use lnd's readonly.macaroon"
			}
			return "", fmt.Errorf("%s %s: %w; %s", key, path, err, fix)
		}
		return "", fmt.Errorf("%s %s: %w", key, path, err)
	}
	return hex.EncodeToString(raw), nil
}

// Name implements chain.Backend.
func (b *Backend) Name() string { return b.cfg.Name }

// Watch adds BOLT11 payment requests to the watched set.
func (b *Backend) Watch(reqs ...string) {
	b.mu.Lock()
	for _, r := range reqs {
		b.watched[r] = struct{}{}
	}
	b.mu.Unlock()
}

// Unwatch removes payment requests from the watched set.
func (b *Backend) Unwatch(reqs ...string) {
	b.mu.Lock()
	for _, r := range reqs {
		delete(b.watched, r)
	}
	b.mu.Unlock()
}

func (b *Backend) isWatched(req string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.watched[req]
	return ok
}

// Status implements chain.Backend: ready when LND answers, is synced to the
// chain, has an active channel with inbound capacity, and the invoice
// subscription is up.
func (b *Backend) Status() chain.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := chain.Status{TipHeight: b.settled, Processed: b.settled, UpdatedAt: b.updated, Reason: b.reason}
	// The node's own health (unreachable, not synced, no inbound capacity)
	// names the cause; a broken subscription is the reason only while the
	// node otherwise answers.
	if !b.subscribed && s.Reason == "" {
		s.Reason = "lnd invoice subscription not connected"
		if b.subErr != "" {
			s.Reason = b.subErr
		}
	}
	s.Ready = s.Reason == ""
	return s
}

// Liquidity returns the inbound capacity last read from the node.
func (b *Backend) Liquidity() Liquidity {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.liq
}

// ref is the "block" of settle index n.
func ref(n uint64, settled time.Time) chain.BlockRef {
	r := chain.BlockRef{Height: n, Hash: fmt.Sprintf("settle-%d", n), Time: settled}
	if n > 0 {
		r.Parent = fmt.Sprintf("settle-%d", n-1)
	}
	return r
}

// Tip implements chain.Backend: the highest settle index of the node.
func (b *Backend) Tip(ctx context.Context) (chain.BlockRef, error) {
	b.mu.Lock()
	if b.known {
		n := b.settled
		b.mu.Unlock()
		return ref(n, time.Time{}), nil
	}
	b.mu.Unlock()
	n, err := b.maxSettleIndex(ctx)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return ref(n, time.Time{}), nil
}

// listPage is how many invoices one ListInvoices call asks for.
const listPage = 500

// eachInvoice pages through every invoice of the node, oldest first.
func (b *Backend) eachInvoice(ctx context.Context, fn func(lnInvoice)) error {
	var offset uint64
	for {
		invs, last, err := b.c.listInvoices(ctx, offset, listPage)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			fn(inv)
		}
		if len(invs) < listPage || last <= offset {
			return nil
		}
		offset = last
	}
}

// maxSettleIndex pages through the node's invoices for the highest settle
// index (LND has no call that returns it; only at the first start and while
// the subscription is down).
func (b *Backend) maxSettleIndex(ctx context.Context) (uint64, error) {
	var n uint64
	err := b.eachInvoice(ctx, func(inv lnInvoice) { n = max(n, uint64(inv.SettleIndex)) })
	return n, err
}

// Run implements chain.Backend. recent's last height is the settle index
// processed last; Run subscribes from it, so LND replays what settled
// meanwhile. With recent empty it connects the node's current settle index.
func (b *Backend) Run(ctx context.Context, recent []chain.BlockRef, out chan<- chain.Event) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); b.healthLoop(ctx) }()

	var cursor uint64
	if len(recent) > 0 {
		cursor = recent[len(recent)-1].Height
		b.setSettled(cursor, false)
	} else {
		for attempt := 0; ; attempt++ {
			tip, err := b.Tip(ctx)
			if err == nil {
				cursor = tip.Height
				break
			}
			b.log.Warn("lnd not reachable; retrying", "err", err)
			if !sleep(ctx, backoff(attempt)) {
				return nil
			}
		}
		select {
		case out <- chain.Event{Type: chain.BlockConnected, Chain: b.cfg.Name, Block: ref(cursor, time.Time{})}:
		case <-ctx.Done():
			return nil
		}
		b.setSettled(cursor, false)
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := b.follow(ctx, &cursor, out)
		b.mu.Lock()
		wasUp := b.subscribed
		b.subscribed, b.known = false, false
		if err != nil {
			b.subErr = err.Error()
		}
		b.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if wasUp {
			attempt = 0
		}
		b.log.Warn("lnd invoice subscription down; resubscribing", "settle_index", cursor, "err", err)
		if !sleep(ctx, backoff(attempt)) {
			return nil
		}
	}
	return nil
}

// follow subscribes from *cursor and reports every settlement after it.
func (b *Backend) follow(ctx context.Context, cursor *uint64, out chan<- chain.Event) error {
	emit := func(inv lnInvoice) error {
		if inv.State != "SETTLED" || uint64(inv.SettleIndex) <= *cursor {
			return nil
		}
		n := uint64(inv.SettleIndex)
		var at time.Time
		if inv.SettleDate > 0 {
			at = time.Unix(int64(inv.SettleDate), 0).UTC()
		}
		blk := ref(n, at)
		ev := chain.Event{Type: chain.BlockConnected, Chain: b.cfg.Name, Block: blk}
		if b.isWatched(inv.PaymentRequest) {
			sats := new(big.Int).SetUint64(uint64(inv.AmtPaidMsat) / 1000)
			ev.Transfers = []chain.Transfer{{
				Chain: b.cfg.Name, Asset: b.cfg.Asset, TxID: hex.EncodeToString(inv.RHash), Index: 0,
				Address: inv.PaymentRequest, Amount: sats, Block: &blk,
			}}
			b.log.Info("lightning invoice settled", "payment_hash", ev.Transfers[0].TxID, "settle_index", n, "amount_msat", uint64(inv.AmtPaidMsat))
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
		*cursor = n
		b.setSettled(n, true)
		return nil
	}
	return b.c.subscribe(ctx, *cursor, func() error {
		b.mu.Lock()
		b.subscribed, b.subErr = true, ""
		b.mu.Unlock()
		if *cursor > 0 {
			b.setSettled(*cursor, true)
			return nil // LND replays the settlements after settle_index itself
		}
		// settle_index 0 asks LND for no replay: read what settled so far
		// (the subscription is open, so what settles next is pushed).
		var settled []lnInvoice
		if err := b.eachInvoice(ctx, func(inv lnInvoice) {
			if inv.State == "SETTLED" && inv.SettleIndex > 0 {
				settled = append(settled, inv)
			}
		}); err != nil {
			return err
		}
		slices.SortFunc(settled, func(a, c lnInvoice) int { return cmp.Compare(a.SettleIndex, c.SettleIndex) })
		for _, inv := range settled {
			if err := emit(inv); err != nil {
				return err
			}
		}
		b.setSettled(*cursor, true)
		return nil
	}, emit)
}

func (b *Backend) setSettled(n uint64, known bool) {
	b.mu.Lock()
	b.settled, b.known = n, known
	b.updated = time.Now()
	b.mu.Unlock()
}

func backoff(attempt int) time.Duration {
	d := time.Duration(250<<min(attempt, 5)) * time.Millisecond
	return min(d, 5*time.Second)
}

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

// healthLoop reads the node's health every PollInterval.
func (b *Backend) healthLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	last := ""
	for {
		reason := b.health(ctx)
		if ctx.Err() != nil {
			return
		}
		if reason != last {
			if reason != "" {
				b.log.Warn("lightning node not ready", "reason", reason, "inbound_sats", b.Liquidity().Inbound)
			} else {
				b.log.Info("lightning node ready", "inbound_sats", b.Liquidity().Inbound)
			}
			last = reason
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// health reads getinfo and the channels and returns why the node cannot
// take payments ("" when it can).
func (b *Backend) health(ctx context.Context) string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, liq, err := b.Check(cctx)
	reason := ""
	switch {
	case err != nil:
		reason = err.Error()
	case !info.SyncedToChain:
		reason = fmt.Sprintf("lnd %s not synced to chain (block height %d)", info.Alias, info.BlockHeight)
	case liq.ActiveChannels == 0:
		reason = "lnd has no active channels"
	case liq.Inbound <= 0:
		reason = "lnd has no inbound capacity on its active channels (0 sats)"
	}
	b.mu.Lock()
	if err == nil {
		b.info, b.liq = info, liq
	}
	b.reason, b.updated = reason, time.Now()
	b.mu.Unlock()
	return reason
}

// Check asks the node who it is and what it can receive, and checks its
// network against the config.
func (b *Backend) Check(ctx context.Context) (Info, Liquidity, error) {
	info, err := b.c.getInfo(ctx)
	if err != nil {
		if errors.Is(err, ErrAuth) {
			return info, Liquidity{}, fmt.Errorf("lnd getinfo: %w (the macaroon needs info:read and offchain:read for health checks: bake them in, or set readonly_macaroon): %v", ErrAuth, err)
		}
		return info, Liquidity{}, fmt.Errorf("lnd unreachable at %s: %w", b.cfg.RESTURL, err)
	}
	if net := info.Network(); b.cfg.Network != "" && net != b.cfg.Network {
		return info, Liquidity{}, fmt.Errorf("%w: lnd is on %q, config says network %q", ErrWrongNetwork, net, b.cfg.Network)
	}
	liq, err := b.c.liquidity(ctx)
	if err != nil {
		return info, liq, fmt.Errorf("lnd channels: %w", err)
	}
	return info, liq, nil
}

// CreateInvoice asks LND for a BOLT11 invoice of sats with the given memo
// and expiry. It warns (with the figure) when the node's inbound capacity
// is below the amount: the payment would fail to route.
func (b *Backend) CreateInvoice(ctx context.Context, sats *big.Int, memo string, expiry time.Duration) (Invoice, error) {
	if sats == nil || sats.Sign() <= 0 || !sats.IsUint64() || sats.Uint64() > 1<<53/1000 {
		return Invoice{}, fmt.Errorf("lightning: amount %v sats out of range", sats)
	}
	inv, err := b.c.addInvoice(ctx, sats.Uint64()*1000, memo, expiry)
	if err != nil {
		return Invoice{}, fmt.Errorf("lnd add invoice: %w", err)
	}
	if liq := b.Liquidity(); liq.Inbound < sats.Int64() {
		b.log.Warn("lightning inbound capacity below the invoice amount; the payment may not route",
			"amount_sats", sats.Int64(), "inbound_sats", liq.Inbound, "active_channels", liq.ActiveChannels)
	}
	return Invoice{PaymentRequest: inv.PaymentRequest, PaymentHash: hex.EncodeToString(inv.RHash), AddIndex: uint64(inv.AddIndex)}, nil
}

// Cancel cancels the open invoice with this payment hash (hex) so that no
// payment can land on it any more. An invoice already settled or canceled
// is not an error.
func (b *Backend) Cancel(ctx context.Context, paymentHash string) error {
	h, err := hex.DecodeString(paymentHash)
	if err != nil || len(h) != 32 {
		return fmt.Errorf("lightning: bad payment hash %q", paymentHash)
	}
	if err := b.c.cancelInvoice(ctx, h); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (strings.Contains(ae.Message, "already") || strings.Contains(ae.Message, "unable to locate")) {
			return nil
		}
		return fmt.Errorf("lnd cancel invoice %s: %w", paymentHash, err)
	}
	return nil
}

var _ chain.Backend = (*Backend)(nil)
