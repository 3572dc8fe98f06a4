package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/api"
	"github.com/payd/payd/api/greenfield"
	"github.com/payd/payd/chain"
	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/chain/evm"
	"github.com/payd/payd/chain/lightning"
	"github.com/payd/payd/checkout"
	"github.com/payd/payd/config"
	"github.com/payd/payd/internal/metrics"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/live"
	"github.com/payd/payd/rates"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/watcher"
	"github.com/payd/payd/webhook"
)

// daemon is payd running: every part, wired.
type daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *store.DB
	backends map[string]node
	rates    *rates.Service
	svc      *service.Service
	watchers []*watcher.Watcher
	expirer  *watcher.Expirer
	hooks    *webhook.Manager
	hub      *live.Hub
	metrics  *metrics.Metrics
	mem      *memoryTuner
	srv      *http.Server
	ln       net.Listener
	// lightning are the Lightning backends (also in backends); cancel
	// wakes the loop that cancels the BOLT11 of expired invoices.
	lightning []*lightning.Backend
	cancel    chan struct{}
	// Several instances on PostgreSQL (ha.go); nil on SQLite.
	leases *leases
	tail   *outboxTail
}

// fence is the lease check of a leased part's writes (nil on SQLite: one
// payd owns the file).
func (d *daemon) fence(name string) func(context.Context, *store.Tx) error {
	if d.leases == nil {
		return nil
	}
	return d.leases.fence(name)
}

// maxLag is how many blocks a chain may trail its node and still be ready.
const maxLag = 3

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log, backends: map[string]node{}, metrics: metrics.New(), cancel: make(chan struct{}, 1)}
	defer func() {
		if err != nil && d.db != nil {
			d.db.Close()
		}
	}()
	if d.db, err = openStore(ctx, cfg, true); err != nil {
		return nil, err
	}
	if n, err := d.db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	} else if n > 0 {
		log.Info("database migrated", "applied", n)
	}
	if cfg.Database.Postgres() {
		d.leases = newLeases(d.db, leaseTTL, log.With("subsystem", "lease"))
		if d.tail, err = newOutboxTail(ctx, d); err != nil {
			return nil, err
		}
		log.Info("shared database: singleton parts run under leases", "instance", d.leases.holder, "lease_ttl", leaseTTL)
		d.metrics.SetLeases(d.leases.holder, d.leases.metricStates)
	}

	derivers := map[string]service.Deriver{}
	invoicers := map[string]service.Invoicer{}
	for _, name := range cfg.ChainNames() {
		ch := cfg.Chains[name]
		b, err := newBackend(name, ch, d.beforeBlock, log)
		if err != nil {
			return nil, err
		}
		if err := checkNode(ctx, name, b, log); err != nil {
			return nil, err
		}
		d.backends[name] = b
		if ln, ok := b.(lnNode); ok {
			invoicers[name] = invoicer{ln.Backend}
			d.lightning = append(d.lightning, ln.Backend)
			continue
		}
		dv, err := newDeriver(ch)
		if err != nil {
			return nil, fmt.Errorf("chains.%s.xpub: %w", name, err)
		}
		derivers[name] = dv
	}

	d.rates, err = rates.New(cfg.Rates, log.With("subsystem", "rates"))
	if err != nil {
		return nil, fmt.Errorf("rates: %w", err)
	}

	tol, err := config.ParseTolerance(cfg.Invoices.PaymentTolerance)
	if err != nil {
		return nil, fmt.Errorf("invoices.payment_tolerance: %w", err)
	}
	baseURL := strings.TrimSuffix(cfg.Server.PublicURL, "/")
	// No BIP21 label: every view (API, events, checkout, QR) shows the same payment_uri.
	view := invoice.ViewOptions{BaseURL: baseURL}

	var specs []service.MethodSpec
	for _, m := range cfg.Methods() {
		specs = append(specs, service.MethodSpec{Name: m.Name, Chain: m.Chain, Kind: m.Kind, ChainID: m.ChainID,
			Asset: m.Asset, Token: m.Token, Confirmations: m.Confirmations})
	}

	var endpoints []webhook.ConfigEndpoint
	for _, e := range cfg.Webhooks.Endpoints {
		endpoints = append(endpoints, webhook.ConfigEndpoint{URL: e.URL, Secret: e.Secret.Reveal(), Events: e.Events})
	}
	gfCfg := greenfieldConfig(cfg, baseURL, tol)
	var instance string // one name for this instance's leases and webhook claims
	if d.leases != nil {
		instance = d.leases.holder
	}
	d.hooks, err = webhook.New(webhook.Config{
		Instance: instance, Timeout: cfg.Webhooks.Timeout, RetrySchedule: cfg.Webhooks.RetrySchedule,
		Concurrency: cfg.Webhooks.Concurrency, EndpointConcurrency: cfg.Webhooks.EndpointConcurrency,
		AllowPrivate: cfg.Webhooks.AllowPrivate, UserAgent: "payd/" + Version(), Endpoints: endpoints,
		OnAttempt: d.metrics.ObserveDelivery,
		Formats:   map[string]webhook.Format{webhook.FormatGreenfield: greenfield.NewWebhookFormat(gfCfg)},
	}, d.db, log.With("subsystem", "webhook"))
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}

	d.hub = live.New(live.Options{
		BaseURL:     baseURL,
		Invoice:     func(ctx context.Context, id string) (*invoice.Invoice, error) { return d.svc.Get(ctx, id) },
		EventsAfter: d.db.EventsAfter, Event: d.db.Event,
		IsNotFound: isNotFound,
	}, log.With("subsystem", "live"))

	d.expirer = watcher.NewExpirer(cfg.Invoices.MonitoringWindow, view, watcher.ExpirerDeps{
		DB: d.db, Notify: d.notify, Log: log.With("subsystem", "expiry"), Fence: d.fence("expirer"),
	})
	d.svc = service.New(service.Config{
		Methods: specs, ExpiresIn: cfg.Invoices.ExpiresIn, ToleranceBP: tol, MonitoringWindow: cfg.Invoices.MonitoringWindow,
		BaseURL: baseURL, Spreads: cfg.Rates.Spreads,
		Refunds: service.RefundConfig{ClaimTTL: cfg.Refunds.ClaimTTL, FeeTarget: cfg.Refunds.FeeTarget, FallbackFeeRate: cfg.Refunds.FallbackFeeRate,
			ClaimPage: true},
	}, service.Deps{
		DB: d.db, Rates: d.rates, Derivers: derivers, RefundChains: refundChains(cfg, d.backends), Lightning: invoicers,
		Watch: func(chainName string, addrs ...string) {
			if b, ok := d.backends[chainName]; ok {
				b.Watch(addrs...)
			}
		},
		Notify: d.notify,
		Log:    log.With("subsystem", "invoice"),
	})
	d.mem = newMemoryTuner(log, cfg.ChainNames())
	for _, name := range cfg.ChainNames() {
		d.watchers = append(d.watchers, watcher.New(watcher.Config{
			MonitoringWindow: cfg.Invoices.MonitoringWindow, View: view,
		}, watcher.Deps{DB: d.db, Backend: d.backends[name], Notify: d.notify, Log: log.With("subsystem", "watcher", "chain", name),
			Loaded: func(n int) { d.mem.chainLoaded(name, n) }, Fence: d.fence("watcher:" + name)}))
	}

	co, err := checkout.New(checkout.Config{
		BaseURL: baseURL, StoreName: cfg.Checkout.StoreName, LogoURL: cfg.Checkout.LogoURL,
		AccentColor: cfg.Checkout.AccentColor, FrameAncestors: cfg.Checkout.FrameAncestors, Language: cfg.Checkout.Language,
	}, d.svc, isNotFound, log.With("subsystem", "checkout"))
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	a := api.New(api.Config{APIRateLimit: cfg.Server.APIRateLimit, PublicRateLimit: cfg.Server.PublicRateLimit, TrustProxy: cfg.Server.TrustProxy},
		api.Deps{
			Invoices: d.svc, Links: d.svc, Refunds: d.svc, Keys: d.db, Events: d.db, Webhooks: d.hooks, Idempotency: d.db, Reports: d.db,
			Ready: d.ready, EventsWS: http.HandlerFunc(d.hub.ServeEvents), Metrics: d.metrics.Handler(),
			Observe: d.metrics.ObserveHTTP, Log: log.With("subsystem", "api"), Version: Version(), BaseURL: baseURL,
		})
	mux := http.NewServeMux()
	a.Register(mux)
	if cfg.Greenfield.Enabled {
		greenfield.New(gfCfg, greenfield.Deps{Invoices: d.svc, Keys: d.db, Webhooks: d.hooks, Ready: d.readyReasons,
			Chains: d.chainStatus, Log: log.With("subsystem", "greenfield")}).Register(mux)
	}
	co.Register(mux, co.Links(d.svc, checkout.LinkOptions{ClientIP: a.ClientIP}))
	if err := co.RegisterClaims(mux, d.svc, checkout.ClaimOptions{ClientIP: a.ClientIP}); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	mux.HandleFunc("GET /i/{id}/ws", d.hub.ServeInvoice)
	if err := d.mountDashboard(mux, baseURL); err != nil {
		return nil, err
	}

	d.ln, err = net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	d.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return d, nil
}

// checkNode verifies a node matches the config. A node that answers with
// the wrong network, chain id or token refuses the start; one that cannot be
// reached is only a warning: payd starts not ready and keeps trying.
func checkNode(ctx context.Context, name string, b node, log *slog.Logger) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tip, err := b.check(cctx)
	if err == nil {
		log.Info("node ok", "chain", name, "tip", tip)
		return nil
	}
	var ce *evm.CheckError
	if errors.Is(err, bitcoin.ErrWrongNetwork) || errors.Is(err, bitcoin.ErrAuth) || errors.As(err, &ce) ||
		errors.Is(err, lightning.ErrWrongNetwork) || errors.Is(err, lightning.ErrAuth) {
		return fmt.Errorf("chains.%s: %w", name, err)
	}
	log.Warn("node not reachable yet; starting anyway", "chain", name, "err", err)
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, service.ErrNotFound) || errors.Is(err, store.ErrNotFound) || errors.Is(err, webhook.ErrNotFound)
}

// beforeBlock runs before a chain backend matches a block against its
// watched set: with several instances, the addresses other instances
// handed out must be watched first (outboxTail.catchUp).
func (d *daemon) beforeBlock(ctx context.Context) {
	if d.tail != nil {
		d.tail.beforeBlock(ctx)
	}
}

// notify fans committed events out: webhooks, websockets, metrics, expiry.
func (d *daemon) notify(evs []invoice.Event) {
	if d.tail != nil {
		d.tail.sawLocal(evs)
	}
	d.hooks.Wake()
	d.hub.Publish(evs)
	for _, e := range evs {
		d.metrics.ObserveEvent(e)
	}
	d.expirer.Wake()
	if len(d.lightning) > 0 {
		for _, e := range evs {
			if e.Type == invoice.EventExpired || e.Type == invoice.EventInvalid {
				select {
				case d.cancel <- struct{}{}:
				default:
				}
				break
			}
		}
	}
}

// readyTimeout bounds /readyz's database round trips: a database cut off by
// the network answers nothing, and a balancer's health check must get its
// 503 before it gives up waiting.
const readyTimeout = 2 * time.Second

// ready lists why payd is not ready — the database, and every chain's node
// reachable and within maxLag blocks of its tip (with several instances:
// the chains this one leads; for the others, that some instance leads them)
// — and reports the database's health and this instance's leases.
func (d *daemon) ready(ctx context.Context) api.Readiness {
	var rd api.Readiness
	dctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	start := time.Now()
	err := d.db.Ping(dctx)
	ping := time.Since(start)
	d.metrics.SetDatabase(err == nil, ping)
	rd.Database = &api.DatabaseHealth{Driver: string(d.db.Dialect()), Reachable: err == nil,
		PingMS: float64(ping.Microseconds()) / 1000}
	switch {
	case err != nil && dctx.Err() != nil && ctx.Err() == nil:
		rd.Reasons = append(rd.Reasons, fmt.Sprintf("database: unreachable: no answer within %s", readyTimeout))
	case err != nil:
		rd.Reasons = append(rd.Reasons, "database: "+err.Error())
	}
	names := make([]string, 0, len(d.backends))
	for n := range d.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	now := time.Now()
	var leaders map[string]store.LeaseHolder // unexpired leases; nil: the table cannot be read
	held := map[string]store.Lease{}
	if d.leases != nil {
		held = d.leases.Held()
		if err == nil {
			if ls, err := d.db.Leases(dctx); err == nil {
				leaders = map[string]store.LeaseHolder{}
				for _, l := range ls {
					if now.Before(l.Expires) {
						leaders[l.Name] = l
					}
				}
			}
		}
		rd.Instance = &api.InstanceHealth{ID: d.leases.holder, Leads: []string{}, Leases: []api.LeaseHealth{}}
		for _, st := range d.leases.States() {
			if st.Held {
				rd.Instance.Leases = append(rd.Instance.Leases, api.LeaseHealth{Name: st.Name, Token: st.Lease.Token,
					AgeSeconds: max(now.Sub(st.Lease.Renewed).Seconds(), 0), ExpiresAt: st.Lease.Expires.UTC().Format(time.RFC3339Nano)})
			}
		}
		if leaders != nil {
			rd.Instance.Leaders = map[string]string{}
			for n, l := range leaders {
				rd.Instance.Leaders[n] = l.Holder
			}
		}
	}
	for _, n := range names {
		if d.leases != nil {
			if _, mine := held["watcher:"+n]; !mine {
				// Another instance follows this chain: ready while its lease is
				// live (the leader's own /readyz reports its lag). This one's
				// chain figures would be stale.
				d.metrics.DeleteChain(n)
				if _, ok := leaders["watcher:"+n]; !ok && leaders != nil {
					rd.Reasons = append(rd.Reasons, fmt.Sprintf("chain %s: no instance holds its watcher lease", n))
				}
				continue
			}
			rd.Instance.Leads = append(rd.Instance.Leads, n)
		}
		st := d.backends[n].Status()
		d.metrics.SetChain(n, st.TipHeight, st.Processed, st.Ready)
		if ln, ok := d.backends[n].(lnNode); ok {
			d.metrics.SetInbound(n, ln.Liquidity().Inbound)
		}
		switch {
		case !st.Ready:
			rd.Reasons = append(rd.Reasons, fmt.Sprintf("chain %s: %s", n, orDefault(st.Reason, "not ready")))
		case st.Lag() > maxLag:
			rd.Reasons = append(rd.Reasons, fmt.Sprintf("chain %s: %d blocks behind the node", n, st.Lag()))
		}
	}
	return rd
}

// readyReasons is ready's reasons alone (the Greenfield API's view).
func (d *daemon) readyReasons(ctx context.Context) []string { return d.ready(ctx).Reasons }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// run serves until ctx is done, then stops every part and waits for it.
func (d *daemon) run(ctx context.Context) error {
	defer d.db.Close()
	log := d.log
	var g group
	partsCtx, stopParts := context.WithCancel(context.Background())
	defer stopParts()
	g.Go("rates", log, func() error { return d.rates.Run(partsCtx) })
	// leased runs a singleton part: always on SQLite, under its lease on PostgreSQL.
	leased := func(name string, part func(context.Context) error) func() error {
		if d.leases == nil {
			return func() error { return part(partsCtx) }
		}
		return func() error { return d.leases.run(partsCtx, name, part) }
	}
	// Webhook delivery runs on every instance: deliveries are claimed from
	// the shared queue (store.ClaimWebhookDeliveries), no lease needed.
	g.Go("webhooks", log, func() error { return d.hooks.Run(partsCtx) })
	g.Go("live", log, func() error { return d.hub.Run(partsCtx) })
	g.Go("expiry", log, leased("expirer", d.expirer.Run))
	g.Go("claims", log, leased("claims", func(ctx context.Context) error { return expireClaims(ctx, d.svc, log) }))
	if d.tail != nil {
		g.Go("outbox tail", log, func() error { return d.tail.Run(partsCtx) })
	}
	g.Go("gap", log, func() error { return newGapWatch(d.cfg, d.db, d.metrics, log).Run(partsCtx) })
	g.Go("memory", log, func() error { return d.mem.Run(partsCtx) })
	if len(d.lightning) > 0 {
		g.Go("lightning-cancel", log, leased("lightning-cancel", d.cancelLoop))
	}
	var wg sync.WaitGroup
	for i, w := range d.watchers {
		wg.Add(1)
		g.Go("watcher", log, func() error {
			defer wg.Done()
			return leased("watcher:"+d.cfg.ChainNames()[i], func(ctx context.Context) error {
				for {
					err := w.Run(ctx)
					if ctx.Err() != nil {
						return nil
					}
					// A backend fault (deep reorg, wrong network): retry after a
					// pause. The database away (restarting, cut off) is no fault
					// of payd's and usually short: retry soon.
					pause, level := 10*time.Second, slog.LevelError
					if store.Unavailable(err) || errors.Is(err, store.ErrLeaseLost) {
						pause, level = time.Second, slog.LevelWarn
					}
					log.Log(ctx, level, "watcher stopped; restarting", "err", err, "in", pause)
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(pause):
					}
				}
			})()
		})
	}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-partsCtx.Done():
				return
			case <-t.C:
				d.ready(partsCtx)
			}
		}
	}()
	log.Info("payd running", "listen", d.ln.Addr().String(), "public_url", d.cfg.Server.PublicURL, "version", Version(),
		"chains", strings.Join(d.cfg.ChainNames(), ","))
	err := serveHTTP(ctx, d.srv, d.ln, d.cfg.Server.ShutdownTimeout)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("http server failed", "err", err)
	}
	log.Info("shutting down")
	stopParts()
	perr := g.Wait()
	log.Info("stopped")
	return errors.Join(err, perr)
}

var _ api.Webhooks = (*webhook.Manager)(nil)
var _ greenfield.Webhooks = (*webhook.Manager)(nil)
var _ greenfield.Invoices = (*service.Service)(nil)

var _ chain.Backend = node(nil)
