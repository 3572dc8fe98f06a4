package main

import (
	"sort"
	"strings"

	"github.com/payd/payd/api/greenfield"
	"github.com/payd/payd/config"
	"github.com/payd/payd/invoice"
)

// greenfieldConfig turns the config into the Greenfield API's (and its
// webhook format's) Config.
func greenfieldConfig(cfg *config.Config, baseURL string, toleranceBP int64) greenfield.Config {
	gc := greenfield.Config{
		StoreID: cfg.Greenfield.StoreID, StoreName: cfg.Greenfield.StoreName, DefaultCurrency: cfg.Greenfield.DefaultCurrency,
		BaseURL: baseURL, ExpiresIn: cfg.Invoices.ExpiresIn, MonitoringWindow: cfg.Invoices.MonitoringWindow,
		ToleranceBP: toleranceBP, Version: Version(), APIRateLimit: cfg.Server.APIRateLimit,
	}
	if gc.StoreName == "" {
		gc.StoreName = cfg.Checkout.StoreName
	}
	for _, m := range cfg.Methods() {
		native := strings.ToUpper(cfg.Chains[m.Chain].Native.Symbol)
		if native == "" && m.Kind == invoice.KindEVM {
			native = "ETH"
		}
		gc.Methods = append(gc.Methods, greenfield.Method{Name: m.Name, Chain: m.Chain, Asset: m.Asset.Code,
			Bitcoin: m.Kind == invoice.KindBitcoin, Token: m.Token != "", Native: native})
	}
	return gc
}

// chainStatus is every chain's sync state for /api/v1/server/info.
func (d *daemon) chainStatus() []greenfield.ChainStatus {
	var out []greenfield.ChainStatus
	for name, b := range d.backends {
		st := b.Status()
		out = append(out, greenfield.ChainStatus{Chain: name, TipHeight: st.TipHeight, Processed: st.Processed, Ready: st.Ready})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chain < out[j].Chain })
	return out
}
