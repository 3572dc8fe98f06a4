package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Config tunes a Watcher.
type Config struct {
	// Keep is how many processed blocks are remembered to find the fork
	// point of a reorg (default 200).
	Keep int
	// CountConfirmations keeps counting a confirmed payment's
	// confirmations up to this number (default 6), so the invoice shows it.
	CountConfirmations int
	// MonitoringWindow extends watching after late activity.
	MonitoringWindow time.Duration
	// View renders event payloads.
	View invoice.ViewOptions
	// SweepInterval is how often addresses past their watch are unwatched
	// (default 1m).
	SweepInterval time.Duration
}

// Deps are what a Watcher drives.
type Deps struct {
	DB      *store.DB
	Backend chain.Backend
	// Notify is called after each commit that stored events.
	Notify func([]invoice.Event)
	Now    func() time.Time
	Log    *slog.Logger
	// Loaded, if set, is called each time Run has handed every watched
	// address to the backend, before it follows the chain (the daemon
	// returns the startup peak to the OS then).
	Loaded func(addresses int)
	// Fence, if set, runs first in every write transaction; an error aborts
	// the write. Several payd on one database pass the chain lease's fencing
	// check (store.Tx.Fence) so a watcher that lost its lease writes nothing.
	Fence func(ctx context.Context, tx *store.Tx) error
}

// loadChunk is how many addresses Run hands to Backend.Watch at once while
// it streams them from the database.
const loadChunk = 4096

// Watcher follows one chain for the invoices.
type Watcher struct {
	cfg  Config
	d    Deps
	name string
	tip  uint64
	// catchUpTo is the node's tip height when Run started (0 until known):
	// blocks up to it are caught up, later ones are seen live.
	catchUpTo uint64
}

// New returns a Watcher for d.Backend's chain.
func New(cfg Config, d Deps) *Watcher {
	if cfg.Keep <= 0 {
		cfg.Keep = 200
	}
	if cfg.CountConfirmations <= 0 {
		cfg.CountConfirmations = 6
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	defaults(&d.Now, &d.Log, &d.Notify)
	name := d.Backend.Name()
	return &Watcher{cfg: cfg, d: d, name: name}
}

// Run loads the watched addresses, resumes the chain from the stored cursor
// and handles its events until ctx is done or the backend fails.
func (w *Watcher) Run(ctx context.Context) error {
	now := w.d.Now()
	w.catchUpTo = 0
	if tip, err := w.tipNow(ctx); err == nil {
		w.catchUpTo = tip
	}
	n, err := w.load(ctx, now, loadChunk)
	if err != nil {
		return err
	}
	if w.d.Loaded != nil {
		w.d.Loaded(n)
	}
	recent, err := w.d.DB.RecentBlocks(ctx, w.name, w.cfg.Keep)
	if err != nil {
		return err
	}
	if len(recent) > 0 {
		w.tip = recent[len(recent)-1].Height
	}
	w.d.Log.Info("watching", "addresses", n, "resume_from", w.tip)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan chain.Event) // unbuffered: the backend waits while an event is handled
	runErr := make(chan error, 1)
	go func() { runErr <- w.d.Backend.Run(ctx, recent, events) }()
	sweep := time.NewTicker(w.cfg.SweepInterval)
	defer sweep.Stop()
	lastSweep := now
	for {
		select {
		case <-ctx.Done():
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("chain %s: %w", w.name, err)
		case ev := <-events:
			if err := w.handle(ctx, ev); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				cancel()
				<-runErr
				return fmt.Errorf("chain %s: handle %s: %w", w.name, ev.Type, err)
			}
		case <-sweep.C:
			now := w.d.Now()
			gone, err := w.d.DB.UnwatchedSince(ctx, w.name, lastSweep, now)
			if err != nil {
				w.d.Log.Error("unwatch sweep failed", "err", err)
				continue
			}
			lastSweep = now
			if len(gone) > 0 {
				w.d.Backend.Unwatch(gone...)
				w.d.Log.Info("stopped watching addresses", "count", len(gone))
			}
		}
	}
}

// load streams the addresses watched at now from the database into the
// backend, size at a time, and returns how many there were. No list of
// every address is built: with 1,000,000 open invoices that was a ~50 MB
// peak next to the watch set.
func (w *Watcher) load(ctx context.Context, now time.Time, size int) (int, error) {
	n := 0
	chunk := make([]string, 0, size)
	err := w.d.DB.EachWatchedAddress(ctx, w.name, now, func(a string) error {
		chunk = append(chunk, a)
		if len(chunk) == cap(chunk) {
			w.d.Backend.Watch(chunk...)
			n += len(chunk)
			clear(chunk)
			chunk = chunk[:0]
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	w.d.Backend.Watch(chunk...)
	n += len(chunk)
	// The destinations of open refunds and sweeps (watcher/refunds.go).
	dests, err := w.d.DB.OpenRefundAddresses(ctx, w.name)
	if err != nil {
		return n, err
	}
	if len(dests) > 0 {
		w.d.Backend.Watch(dests...)
	}
	return n + len(dests), nil
}

// tipNow asks the node for its tip height, briefly.
func (w *Watcher) tipNow(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tip, err := w.d.Backend.Tip(ctx)
	return tip.Height, err
}

// handle applies one chain event in one write transaction.
func (w *Watcher) handle(ctx context.Context, ev chain.Event) error {
	var held map[string]chain.TxState
	if ev.Type == chain.BlockDisconnected {
		var err error
		if held, err = w.heldTxs(ctx, ev.Block); err != nil {
			return err
		}
	}
	now := w.d.Now()
	tip := w.tip
	var out, refundEvs []invoice.Event
	err := w.d.DB.Write(ctx, func(tx *store.Tx) error {
		refundEvs = nil
		if w.d.Fence != nil {
			if err := w.d.Fence(ctx, tx); err != nil {
				return err
			}
		}
		b := newBatch(tx, now, w.cfg.MonitoringWindow, w.cfg.View, w.d.Log)
		if w.catchUpTo == 0 && ev.Type == chain.BlockConnected {
			// The node was down when Run started: ask again now.
			if tip, err := w.tipNow(ctx); err == nil {
				w.catchUpTo = tip
			}
		}
		b.catchUpTo = w.catchUpTo
		switch ev.Type {
		case chain.BlockConnected:
			if err := tx.ConnectBlock(ctx, w.name, ev.Block, w.cfg.Keep); err != nil {
				return err
			}
			tip = ev.Block.Height
			for _, tr := range ev.Transfers {
				if err := b.transfer(ctx, tr); err != nil {
					return err
				}
			}
			if err := b.count(ctx, w.name, w.cfg.CountConfirmations); err != nil {
				return err
			}
			var err error
			if refundEvs, err = b.countRefunds(ctx, w.name, tip); err != nil {
				return err
			}
		case chain.BlockDisconnected:
			if err := tx.DisconnectBlock(ctx, w.name, ev.Block); err != nil {
				return err
			}
			tip = ev.Block.Height - 1
			if err := b.unmine(ctx, w.name, ev.Block, held); err != nil {
				return err
			}
			if err := b.unmineRefunds(ctx, w.name, ev.Block.Hash); err != nil {
				return err
			}
			if err := b.count(ctx, w.name, w.cfg.CountConfirmations); err != nil {
				return err
			}
		case chain.MempoolTransfers:
			for _, tr := range ev.Transfers {
				if err := b.transfer(ctx, tr); err != nil {
					return err
				}
			}
		case chain.TxReplaced:
			if err := b.replace(ctx, w.name, ev.TxID, ev.ReplacedBy); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown chain event %d", ev.Type)
		}
		var err error
		out, err = b.flush(ctx, w.name, tip)
		out = append(out, refundEvs...)
		return err
	})
	if err != nil {
		return err
	}
	w.tip = tip
	if len(out) > 0 {
		w.d.Notify(out)
	}
	return nil
}

// heldRetries is how often heldTxs asks a node that fails to answer before
// the event fails (the watcher then restarts from its cursor and asks again).
const heldRetries = 3

// heldTxs asks the node, before the disconnect of blk is committed, where
// the transactions of the payments in blk stand (chain.TxStater). Nothing
// is asked when the backend cannot tell or blk holds no payment; then every
// payment of blk is orphaned.
func (w *Watcher) heldTxs(ctx context.Context, blk chain.BlockRef) (map[string]chain.TxState, error) {
	ts, ok := w.d.Backend.(chain.TxStater)
	if !ok {
		return nil, nil
	}
	txids, err := w.d.DB.TxIDsInBlock(ctx, w.name, blk.Hash)
	if err != nil || len(txids) == 0 {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		held, err := ts.TxStates(qctx, txids)
		cancel()
		if err == nil {
			return held, nil
		}
		if attempt == heldRetries || ctx.Err() != nil {
			return nil, fmt.Errorf("ask the node about the transactions of disconnected block %s: %w", blk, err)
		}
		w.d.Log.Warn("cannot ask the node about a disconnected block's transactions; retrying", "block", blk, "err", err)
		t := time.NewTimer(time.Duration(attempt) * 250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// ExpirerDeps are what the Expirer drives.
type ExpirerDeps struct {
	DB     *store.DB
	Notify func([]invoice.Event)
	Now    func() time.Time
	Log    *slog.Logger
	// Fence is Deps.Fence for the expirer's writes (the expirer lease).
	Fence func(ctx context.Context, tx *store.Tx) error
}

// Expirer applies the clock's part of the status rules: a new invoice
// expires at expires_at; a processing invoice whose payments vanished turns
// invalid at the end of its monitoring window. It sleeps until the next
// deadline (one indexed query), so it never scans every invoice.
type Expirer struct {
	d      ExpirerDeps
	window time.Duration
	view   invoice.ViewOptions
	wake   chan struct{}
}

// defaults fills the optional dependencies a Watcher and an Expirer share.
func defaults(now *func() time.Time, log **slog.Logger, notify *func([]invoice.Event)) {
	if *now == nil {
		*now = time.Now
	}
	if *log == nil {
		*log = slog.Default()
	}
	if *notify == nil {
		*notify = func([]invoice.Event) {}
	}
}

// NewExpirer returns an Expirer.
func NewExpirer(window time.Duration, view invoice.ViewOptions, d ExpirerDeps) *Expirer {
	defaults(&d.Now, &d.Log, &d.Notify)
	return &Expirer{d: d, window: window, view: view, wake: make(chan struct{}, 1)}
}

// Wake makes the Expirer look at the next deadline again (a new invoice may
// expire sooner than the one it sleeps for).
func (x *Expirer) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// maxSleep bounds a sleep, so a changed clock is noticed.
const maxSleep = time.Minute

// Run handles deadlines until ctx is done. A Wake (every commit that stored
// events calls it) only re-reads the next deadline from the read pool; the
// write transaction of Tick runs when a deadline has passed, so invoice
// creation under load does not share the single writer with the expirer.
func (x *Expirer) Run(ctx context.Context) error {
	tick := true // at start: whatever passed while payd was down
	for {
		if tick {
			if err := x.Tick(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				x.d.Log.Error("expiry failed", "err", err)
			}
		}
		now := x.d.Now()
		sleep, dueAt := maxSleep, now.Add(maxSleep)
		if next, ok, err := x.d.DB.NextDeadline(ctx); err == nil && ok {
			sleep = min(max(next.Sub(now), 0), maxSleep)
			dueAt = now.Add(sleep) // the deadline itself (or maxSleep away)
			// Deadlines are whole seconds: the timer fires just after the
			// second, but a wake at or past the deadline applies it.
			sleep += 5 * time.Millisecond
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-x.wake:
			t.Stop()
			// A new deadline: look again before writing — unless the one
			// slept for has come (wakes under load must not starve it).
			tick = !x.d.Now().Before(dueAt)
		case <-t.C:
			tick = true
		}
	}
}

// Tick applies every deadline that passed.
func (x *Expirer) Tick(ctx context.Context) error {
	for {
		now := x.d.Now()
		var out []invoice.Event
		var n int
		err := x.d.DB.Write(ctx, func(tx *store.Tx) error {
			if x.d.Fence != nil {
				if err := x.d.Fence(ctx, tx); err != nil {
					return err
				}
			}
			ids, err := tx.DueInvoices(ctx, now, 200)
			if err != nil {
				return err
			}
			n = len(ids)
			b := newBatch(tx, now, x.window, x.view, x.d.Log)
			for _, id := range ids {
				e, err := b.load(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if e.inv.Status == invoice.StatusProcessing && !now.Before(e.inv.MonitorUntil) {
					// Still processing at the end of the window (a payment
					// waits unconfirmed): keep watching another window.
					// Evaluate turns it invalid if nothing counts any more.
					probe := *e.inv
					if evs, _ := invoice.Evaluate(&probe, now); len(evs) == 0 {
						e.inv.MonitorUntil = now.Add(x.window)
						e.dirty = true
					}
				}
			}
			out, err = b.flush(ctx, "", 0)
			return err
		})
		if err != nil {
			return err
		}
		if len(out) > 0 {
			x.d.Notify(out)
		}
		if n < 200 {
			return nil
		}
	}
}
