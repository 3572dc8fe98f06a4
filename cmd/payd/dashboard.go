package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/payd/payd/dashboard"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

// mountDashboard serves the merchant console under dashboard.path when
// dashboard.enabled is set.
func (d *daemon) mountDashboard(mux *http.ServeMux, baseURL string) error {
	c := d.cfg.Dashboard
	if !c.Enabled {
		return nil
	}
	var methods []string
	for _, m := range d.cfg.Methods() {
		methods = append(methods, m.Name)
	}
	h, err := dashboard.New(dashboard.Config{
		Path: c.Path, BaseURL: baseURL, Methods: methods, Explorers: c.Explorers,
		SessionIdle: c.SessionIdle, SessionMax: c.SessionMax, Language: d.cfg.Checkout.Language,
		TrustProxy: d.cfg.Server.TrustProxy, StoreName: d.cfg.Checkout.StoreName,
	}, dashboard.Deps{
		Invoices: d.svc, Store: d.db, Webhooks: d.hooks, Refunds: d.svc, Health: d.chainHealth,
		OnLoginFailure: d.metrics.ObserveConsoleLoginFailure, OnAction: d.metrics.ObserveConsoleAction,
		Log: d.log,
	})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	h.Register(mux)
	if n, err := d.db.AdminCount(context.Background()); err == nil && n == 0 {
		d.log.Warn("the dashboard has no admin yet; create one with `payd admin create --name NAME`", "path", c.Path)
	}
	return nil
}

// chainHealth is every chain's node state for the console's overview.
func (d *daemon) chainHealth(context.Context) []dashboard.ChainHealth {
	names := make([]string, 0, len(d.backends))
	for n := range d.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]dashboard.ChainHealth, 0, len(names))
	for _, n := range names {
		st := d.backends[n].Status()
		reason := st.Reason
		if st.Ready && st.Lag() > maxLag {
			reason = fmt.Sprintf("%d blocks behind the node", st.Lag())
		}
		out = append(out, dashboard.ChainHealth{Chain: n, Ready: st.Ready && st.Lag() <= maxLag, Reason: reason,
			TipHeight: st.TipHeight, Processed: st.Processed})
	}
	return out
}

var (
	_ dashboard.Store    = (*store.DB)(nil)
	_ dashboard.Webhooks = (*webhook.Manager)(nil)
)
