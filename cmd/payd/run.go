package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func init() {
	register(func(g *globals) *cobra.Command {
		return &cobra.Command{
			Use:   "run",
			Short: "Run the daemon: API, checkout page, chain watchers and webhook delivery",
			Long: `run starts payd: it migrates the database, checks every configured node (network,
chain id, token decimals — a mismatch refuses to start), then serves the API and
checkout page, follows every chain from where it stopped, and delivers webhooks.
SIGINT/SIGTERM shut it down gracefully.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				log := newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
				slog.SetDefault(log)
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				d, err := newDaemon(ctx, cfg, log)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				return d.run(ctx)
			},
		}
	})
}

// group runs long-lived parts and waits for all of them.
type group struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (g *group) Go(name string, log *slog.Logger, f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("component stopped", "component", name, "err", err)
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
			g.mu.Unlock()
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	return errors.Join(g.errs...)
}

// serveHTTP runs srv on ln until ctx is done, then shuts it down gracefully.
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Shutdown(sctx)
}
