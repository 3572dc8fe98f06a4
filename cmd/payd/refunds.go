package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/payd/payd/config"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
)

var (
	_ service.BitcoinNode = btcNode{}
	_ service.EVMNode     = evmNode{}
)

// refundChains tells the refund service each chain's node and rules.
func refundChains(cfg *config.Config, backends map[string]node) map[string]service.RefundChain {
	out := map[string]service.RefundChain{}
	for name, b := range backends {
		ch := cfg.Chains[name]
		rc := service.RefundChain{Confirmations: ch.Confirmations, ChainID: ch.ChainID}
		switch n := b.(type) {
		case btcNode:
			rc.Kind, rc.Params, rc.Bitcoin = invoice.KindBitcoin, n.Params(), n
		case evmNode:
			rc.Kind, rc.EVM = invoice.KindEVM, n
		default:
			continue
		}
		out[name] = rc
	}
	return out
}

// expireClaims expires unused claim links once a minute.
func expireClaims(ctx context.Context, svc *service.Service, log *slog.Logger) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := svc.ExpireClaims(ctx); err != nil && ctx.Err() == nil {
			log.Error("expire refund claims failed", "err", err)
		} else if n > 0 {
			log.Info("refund claims expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
