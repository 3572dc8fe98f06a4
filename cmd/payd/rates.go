package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/payd/payd/config"
	"github.com/payd/payd/rates"
)

func init() {
	register(func(g *globals) *cobra.Command {
		var verbose bool
		cmd := &cobra.Command{
			Use:   "rates",
			Short: "Print the current rate of every enabled method's asset in USD and the configured fiat currencies, and where each came from",
			Long: `rates asks the configured rate sources (rates.sources, rates.static, pegs) for the
price of every enabled method's asset in USD and in the quote currency of every
pair listed in rates.pairs, and prints pair, rate, age and source, or why no
fresh rate could be had. It waits for the providers (up to rates.timeout), not
just rates.cold_wait. Exit status 1 when a pair has no rate.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				log := slog.New(slog.DiscardHandler)
				if verbose {
					log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug}))
				}
				return printRates(cmd.Context(), cmd.OutOrStdout(), cfg, log, time.Now)
			},
		}
		cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every provider request and rejection to stderr")
		return cmd
	})
}

// ratePairs lists the pairs `payd rates` shows: every enabled method's asset
// in USD and in the quote currency of each configured pair, sorted, without
// identities (a USD-pegged coin in USD is shown: it says "peg").
func ratePairs(cfg *config.Config) ([]rates.Pair, error) {
	quotes := map[string]bool{"USD": true}
	for _, s := range cfg.Rates.Pairs {
		p, err := rates.ParsePair(s)
		if err != nil {
			return nil, fmt.Errorf("rates.pairs: %w", err)
		}
		quotes[p.Quote] = true
	}
	seen := map[rates.Pair]bool{}
	var out []rates.Pair
	for _, m := range cfg.Methods() {
		for q := range quotes {
			p := rates.Pair{Base: strings.ToUpper(m.Asset.Code), Quote: q}
			if p.Base == p.Quote || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Base != out[j].Base {
			return out[i].Base < out[j].Base
		}
		return out[i].Quote < out[j].Quote
	})
	return out, nil
}

// printRates asks every pair at once (each waits for its fetch, not only the
// cold wait) and prints a table: pair, rate, age, source (last, as it can
// be long: a cross rate names its legs, a failure what each source said). It fails when a pair has no rate.
func printRates(ctx context.Context, w io.Writer, cfg *config.Config, log *slog.Logger, now func() time.Time) error {
	pairs, err := ratePairs(cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rc := cfg.Rates
	// A one-shot command has no warm cache: wait for the providers' answers.
	if wait := rc.Timeout + time.Second; wait > rc.ColdWait && wait <= 30*time.Second {
		rc.ColdWait = wait
	}
	svc, err := rates.New(rc, log)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("rates: %w", err)}
	}
	type result struct {
		r   rates.Rate
		err error
	}
	results := make([]result, len(pairs))
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := svc.Rate(ctx, p.Base, p.Quote)
			results[i] = result{r, err}
		}()
	}
	wg.Wait()

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tRATE\tAGE\tSOURCE")
	failed := 0
	for i, p := range pairs {
		res := results[i]
		if res.err != nil {
			failed++
			fmt.Fprintf(tw, "%s\t-\t-\t%v\n", p, res.err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p, res.r, age(now().Sub(res.r.Time)), res.r.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(cfg.Rates.Spreads) > 0 {
		fmt.Fprintln(w, "\nSpreads (applied to invoices priced in another currency than the method's asset):")
		for _, m := range sortedStrings(cfg.Rates.Spreads) {
			fmt.Fprintf(w, "  %s %s%%\n", m, cfg.Rates.Spreads[m])
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d pairs have no fresh rate", failed, len(pairs))
	}
	return nil
}

// age prints a duration to the second ("0s", "42s", "3m12s").
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Truncate(time.Second).String()
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
