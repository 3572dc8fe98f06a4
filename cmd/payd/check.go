package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/payd/payd/config"
)

func init() {
	register(func(g *globals) *cobra.Command {
		var offline bool
		var timeout time.Duration
		cmd := &cobra.Command{
			Use:   "check",
			Short: "Validate the config, reach every node and print its tip and the first 3 addresses of each method",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintln(out, "config: ok")
				log := slog.New(slog.DiscardHandler)
				var failed []error
				if cfg.Database.Postgres() && !offline {
					ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
					if err := checkDatabase(ctx, cfg, out); err != nil {
						failed = append(failed, err)
						fmt.Fprintf(out, "database: UNREACHABLE or misconfigured: %v\n", err)
					}
					cancel()
				}
				for _, name := range cfg.ChainNames() {
					ch := cfg.Chains[name]
					if ch.Type == "lightning" {
						if err := checkLightning(cmd.Context(), out, name, ch, offline, timeout, log); err != nil {
							failed = append(failed, err)
						}
						continue
					}
					d, err := newDeriver(ch)
					if err != nil {
						failed = append(failed, fmt.Errorf("chains.%s.xpub: %w", name, err))
						continue
					}
					if !offline {
						n, err := newBackend(name, ch, nil, log)
						if err != nil {
							failed = append(failed, err)
							continue
						}
						ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
						tip, err := n.check(ctx)
						cancel()
						if err != nil {
							failed = append(failed, fmt.Errorf("chains.%s: node %s: %w", name, redactURL(ch.RPCURL), err))
							fmt.Fprintf(out, "%s: node UNREACHABLE or misconfigured: %v\n", name, err)
						} else {
							fmt.Fprintf(out, "%s: node ok, tip %d %s\n", name, tip.Height, tip.Hash)
						}
					}
					for _, m := range cfg.Methods() {
						if m.Chain != name {
							continue
						}
						fmt.Fprintf(out, "  %s (%s):\n", m.Name, d.Type())
						for i := uint32(0); i < 3; i++ {
							addr, path, err := d.Address(i)
							if err != nil {
								failed = append(failed, fmt.Errorf("chains.%s.xpub: %w", name, err))
								break
							}
							fmt.Fprintf(out, "    %d  %-22s %s\n", i, path, addr)
						}
					}
				}
				if len(failed) > 0 {
					return &exitError{code: 1, err: errors.Join(failed...)}
				}
				fmt.Fprintln(out, "all checks passed")
				return nil
			},
		}
		cmd.Flags().BoolVar(&offline, "offline", false, "check the config and keys only; do not contact the nodes")
		cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for each node")
		return cmd
	})
}

// checkLightning builds the Lightning backend (refusing an admin macaroon)
// and, online, prints the node's alias, pubkey and inbound liquidity.
func checkLightning(ctx context.Context, out io.Writer, name string, ch config.Chain, offline bool, timeout time.Duration, log *slog.Logger) error {
	n, err := newBackend(name, ch, nil, log)
	if err != nil {
		fmt.Fprintf(out, "%s: REFUSED: %v\n", name, err)
		return err
	}
	if offline {
		fmt.Fprintf(out, "%s: macaroon ok (invoices only)\n", name)
		return nil
	}
	ln := n.(lnNode)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, liq, err := ln.Check(cctx)
	if err != nil {
		fmt.Fprintf(out, "%s: node UNREACHABLE or misconfigured: %v\n", name, err)
		return fmt.Errorf("chains.%s: node %s: %w", name, redactURL(ch.RPCURL), err)
	}
	fmt.Fprintf(out, "%s: lnd ok, alias %q, pubkey %s, network %s, synced %t\n", name, info.Alias, info.PubKey, info.Network(), info.SyncedToChain)
	fmt.Fprintf(out, "  %s/btc: %d active channels, inbound liquidity %d sats (largest channel %d sats)\n",
		name, liq.ActiveChannels, liq.Inbound, liq.MaxInbound)
	if !info.SyncedToChain || liq.Inbound <= 0 {
		return fmt.Errorf("chains.%s: lnd cannot receive yet (synced %t, inbound %d sats)", name, info.SyncedToChain, liq.Inbound)
	}
	return nil
}
