package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func init() {
	register(func(g *globals) *cobra.Command {
		var method string
		var from, count uint32
		cmd := &cobra.Command{
			Use:   "derive --method bitcoin/btc [--from 0] [--count 20]",
			Short: "Print receive addresses of a payment method (index, path, address) to compare with your wallet",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				if count == 0 || count > 10000 {
					return &exitError{code: 2, err: fmt.Errorf("--count must be 1…10000")}
				}
				var names []string
				for _, m := range cfg.Methods() {
					names = append(names, m.Name)
					if m.Name != strings.ToLower(method) {
						continue
					}
					d, err := newDeriver(cfg.Chains[m.Chain])
					if err != nil {
						return &exitError{code: 2, err: fmt.Errorf("chains.%s.xpub: %w", m.Chain, err)}
					}
					out := cmd.OutOrStdout()
					for i := from; i < from+count; i++ {
						addr, path, err := d.Address(i)
						if err != nil {
							return err
						}
						fmt.Fprintf(out, "%d\t%s\t%s\n", i, path, addr)
					}
					return nil
				}
				return &exitError{code: 2, err: fmt.Errorf("--method %q is not configured (configured: %s)", method, strings.Join(names, ", "))}
			},
		}
		cmd.Flags().StringVar(&method, "method", "", "payment method, e.g. bitcoin/btc or ethereum/usdc (required)")
		cmd.Flags().Uint32Var(&from, "from", 0, "first index")
		cmd.Flags().Uint32Var(&count, "count", 20, "how many addresses")
		_ = cmd.MarkFlagRequired("method")
		return cmd
	})
}

// redactURL drops credentials and query strings (hosted RPC URLs often carry API keys).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<invalid URL>"
	}
	u.User = nil
	u.RawQuery = ""
	if len(u.Path) > 1 {
		u.Path = "/…"
	}
	return u.String()
}
