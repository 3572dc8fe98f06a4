package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/payd/payd/config"
	"github.com/payd/payd/internal/metrics"
	"github.com/payd/payd/store"
)

// Gap watch timing: how often the run of unpaid addresses is measured, and
// how often the warning repeats while a chain stays past its gap_limit.
const (
	gapEvery  = time.Minute
	gapRemind = time.Hour
)

// gapChain is one chain the gap watch measures.
type gapChain struct {
	name    string
	limit   int      // chains.<name>.gap_limit
	methods []string // the chain's methods share its addresses
}

// gapWatch measures every chain's run of consecutive unpaid deposit
// addresses, publishes it as payd_address_gap{method} (the chain's value on
// each of its methods: the methods of a chain share one address per
// invoice), and warns once when a run passes the chain's gap_limit, then
// hourly while it stays past it. Wallets stop scanning after their gap limit,
// so a payment beyond it is seen by payd but not shown by the wallet.
type gapWatch struct {
	chains []gapChain
	gap    func(ctx context.Context, chain string) (store.Gap, error)
	set    func(method string, n int)
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration
	remind time.Duration

	warned map[string]time.Time // chain → last warning; absent when within the limit
}

// newGapWatch builds the gap watch of every enabled chain.
func newGapWatch(cfg *config.Config, db *store.DB, m *metrics.Metrics, log *slog.Logger) *gapWatch {
	w := &gapWatch{gap: db.AddressGap, set: m.SetGap, log: log.With("subsystem", "gap"), now: time.Now,
		every: gapEvery, remind: gapRemind}
	methods := map[string][]string{}
	for _, ms := range cfg.Methods() {
		methods[ms.Chain] = append(methods[ms.Chain], ms.Name)
	}
	for _, name := range cfg.ChainNames() {
		if cfg.Chains[name].Type == "lightning" {
			continue // no derived addresses: nothing for a wallet to scan
		}
		w.chains = append(w.chains, gapChain{name: name, limit: cfg.Chains[name].GapLimit, methods: methods[name]})
	}
	return w
}

// Run measures at once, then every minute, until ctx is done.
func (w *gapWatch) Run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// check measures every chain once.
func (w *gapWatch) check(ctx context.Context) {
	if w.warned == nil {
		w.warned = map[string]time.Time{}
	}
	for _, c := range w.chains {
		g, err := w.gap(ctx, c.name)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("address gap not measured", "chain", c.name, "err", err)
			}
			continue
		}
		for _, m := range c.methods {
			w.set(m, g.Unpaid)
		}
		now := w.now()
		last, above := w.warned[c.name]
		switch {
		case c.limit > 0 && g.Unpaid > c.limit:
			if above && now.Sub(last) < w.remind {
				continue
			}
			w.warned[c.name] = now
			w.log.Warn("unpaid address run past the gap limit", "chain", c.name, "unpaid", g.Unpaid,
				"gap_limit", c.limit, "last_paid_index", g.LastPaid, "highest_index", g.Highest,
				"fix", fmt.Sprintf("payments to the newest addresses are seen by payd but not shown by a wallet that stops "+
					"after %d unused addresses: raise the gap limit in the wallet above %d (Sparrow, Electrum, BlueWallet: "+
					"docs/wallets.md#the-gap-limit), then raise chains.%s.gap_limit to match", c.limit, g.Unpaid, c.name))
		case above:
			delete(w.warned, c.name)
			w.log.Info("unpaid address run back within the gap limit", "chain", c.name, "unpaid", g.Unpaid, "gap_limit", c.limit)
		}
	}
}
