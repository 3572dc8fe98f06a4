package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/payd/payd/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Version returns payd's version, falling back to the module build info.
func Version() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return strings.TrimPrefix(bi.Main.Version, "v")
	}
	return version
}

// globals are the persistent flags.
type globals struct {
	configPath string
	demo       bool
}

var registered []func(g *globals) *cobra.Command

// register adds a subcommand constructor; called from init() in each file.
func register(f func(g *globals) *cobra.Command) { registered = append(registered, f) }

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "payd",
		Short: "Self-hosted cryptocurrency payment processor",
		Long: `payd creates invoices, hands each its own deposit address derived from your
watch-only keys, watches your Bitcoin and EVM nodes, and tells your shop through
signed webhooks, an events API, websockets and a hosted checkout page.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", os.Getenv("PAYD_CONFIG"),
		"config file (YAML); every key can also be set as PAYD_<KEY>, e.g. PAYD_DATABASE_PATH")
	root.PersistentFlags().BoolVar(&g.demo, "demo", false,
		"use the embedded demo config (local regtest + anvil nodes, throw-away keys) under --config and PAYD_*")
	for _, f := range registered {
		root.AddCommand(f(g))
	}
	return root
}

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// loadConfig loads and validates the configuration named by --config.
func (g *globals) loadConfig() (*config.Config, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if err := cfg.Validate(); err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("invalid configuration:\n%s", indent(err.Error()))}
	}
	return cfg, nil
}

// loadConfigLoose loads the config and checks only what commands that touch
// the database need (so `payd apikey` works before chains are set up).
func (g *globals) loadConfigLoose() (*config.Config, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if cfg.Database.Postgres() {
		if cfg.Database.URL == "" {
			return nil, &exitError{code: 2, err: errors.New("database.url: is empty; set postgres://USER:PASSWORD@HOST:5432/DB (or PAYD_DATABASE_URL)")}
		}
	} else if cfg.Database.Path == "" {
		return nil, &exitError{code: 2, err: errors.New("database.path: is empty; set a file path such as ./data/payd.db")}
	}
	return cfg, nil
}

//go:embed demo.yaml
var demoYAML []byte

func (g *globals) load() (*config.Config, error) {
	if g.demo {
		return config.LoadWithBase(demoYAML, g.configPath, os.Environ())
	}
	return config.Load(g.configPath, os.Environ())
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// newLogger builds the process logger from config.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
