// Package config loads payd's configuration: one YAML file (viper), every key
// also settable from the environment as PAYD_<KEY> with dots as underscores
// (PAYD_DATABASE_PATH, PAYD_CHAINS_BITCOIN_RPC_PASSWORD), over defaults
// embedded in the binary. Validate names the key and the fix for every
// problem and refuses private keys and seed phrases anywhere: payd is
// watch-only.
//
// Unknown keys are refused (a typo such as "confirmation:" would otherwise be
// silently ignored and a merchant would settle on the default).
//
// config imports invoice (assets), derive (key checks) and rates (its section);
// nothing deep in payd reads the config: cmd/payd passes each part its section.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/rates"
)

// Secret is a string that prints as [redacted] in logs, errors and %v.
type Secret string

// String redacts.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts (so a config dumped as JSON/YAML shows no secret).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Config is the whole configuration.
type Config struct {
	Server   Server           `mapstructure:"server"`
	Database Database         `mapstructure:"database"`
	Log      Log              `mapstructure:"log"`
	Invoices Invoices         `mapstructure:"invoices"`
	Refunds  Refunds          `mapstructure:"refunds"`
	Chains   map[string]Chain `mapstructure:"chains"`
	Webhooks Webhooks         `mapstructure:"webhooks"`
	Rates    rates.Config     `mapstructure:"rates"`
	Checkout Checkout         `mapstructure:"checkout"`
	// Greenfield serves the BTCPay Greenfield API subset shop plugins use.
	Greenfield Greenfield `mapstructure:"greenfield"`
	// Dashboard is the merchant console under /dashboard/.
	Dashboard Dashboard `mapstructure:"dashboard"`
}

// Server is the HTTP server.
type Server struct {
	// Listen is the address to listen on ("127.0.0.1:8080").
	Listen string `mapstructure:"listen"`
	// PublicURL is the base URL shoppers reach payd at (checkout_url).
	PublicURL string `mapstructure:"public_url"`
	// TrustProxy takes the client IP from X-Forwarded-For (behind a reverse proxy).
	TrustProxy bool `mapstructure:"trust_proxy"`
	// RateLimit per API key, requests per second (burst = 2×).
	APIRateLimit float64 `mapstructure:"api_rate_limit"`
	// PublicRateLimit per client IP on public routes, requests per second.
	PublicRateLimit float64 `mapstructure:"public_rate_limit"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// Database is payd's database: an embedded SQLite file (default) or a
// PostgreSQL database that several payd instances may share.
type Database struct {
	// Driver: sqlite (default) or postgres.
	Driver string `mapstructure:"driver"`
	// Path is the SQLite file (driver sqlite).
	Path string `mapstructure:"path"`
	// Synchronous: NORMAL (default) or FULL (driver sqlite).
	Synchronous string `mapstructure:"synchronous"`
	// URL is the PostgreSQL connection URL (driver postgres); it may hold a
	// password, so it prints as [redacted].
	URL Secret `mapstructure:"url"`
	// MaxConns caps this instance's PostgreSQL read connections (driver postgres).
	MaxConns int `mapstructure:"max_conns"`
}

// Postgres reports whether the database is PostgreSQL.
func (d Database) Postgres() bool { return d.Driver == "postgres" }

// Log configures log/slog.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text or json
}

// Invoices holds the invoice defaults.
type Invoices struct {
	// ExpiresIn is the default time to pay (60s…168h).
	ExpiresIn time.Duration `mapstructure:"expires_in"`
	// PaymentTolerance is the default tolerance in percent ("0"…"50").
	PaymentTolerance string `mapstructure:"payment_tolerance"`
	// MonitoringWindow is how long addresses are watched after expiry.
	MonitoringWindow time.Duration `mapstructure:"monitoring_window"`
}

// Refunds tunes refunds and sweeps (docs/refunds.md).
type Refunds struct {
	// ClaimTTL is how long a claim link /r/{id} waits for the shopper's address.
	ClaimTTL time.Duration `mapstructure:"claim_ttl"`
	// FeeTarget is the confirmation target (blocks) asked of the node's fee estimate.
	FeeTarget int `mapstructure:"fee_target"`
	// FallbackFeeRate in sat/vB when the node has no fee estimate (a fresh regtest node).
	FallbackFeeRate int64 `mapstructure:"fallback_fee_rate"`
}

// Chain is one chain: a node to watch and the merchant's watch-only key.
type Chain struct {
	// Type is "bitcoin", "evm" or "lightning" (the merchant's LND, docs/lightning.md).
	Type string `mapstructure:"type"`
	// Network (bitcoin): mainnet, testnet, signet or regtest.
	Network string `mapstructure:"network"`
	// ChainID (evm): checked against eth_chainId at startup.
	ChainID uint64 `mapstructure:"chain_id"`
	// RPCURL is the node's JSON-RPC over HTTP.
	RPCURL string `mapstructure:"rpc_url"`
	// RPCUser and RPCPassword (bitcoin) authenticate; or CookieFile.
	RPCUser     string `mapstructure:"rpc_user"`
	RPCPassword Secret `mapstructure:"rpc_password"`
	CookieFile  string `mapstructure:"cookie_file"`
	// WSURL is optional: btcd's ws://host:port/ws or an EVM node's websocket.
	WSURL string `mapstructure:"ws_url"`
	// XPub is the account-level extended public key or descriptor.
	XPub string `mapstructure:"xpub"`
	// Confirmations is the default number required (0…100).
	Confirmations int `mapstructure:"confirmations"`
	// PollInterval is how often the node is polled.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// GapLimit: warn when this many consecutive addresses went unpaid.
	GapLimit int `mapstructure:"gap_limit"`
	// Native (evm) names the chain's coin ("ETH", "POL", "BNB"); Disabled
	// turns native payments off. Bitcoin's is always BTC.
	Native Native `mapstructure:"native"`
	// Tokens (evm) are the accepted ERC-20 tokens.
	Tokens []Token `mapstructure:"tokens"`
	// TraceInternal (evm) also sees value sent by contracts, through
	// debug_traceBlockByNumber (the node must support it).
	TraceInternal bool `mapstructure:"trace_internal"`
	// MaxLogRange (evm) is the widest eth_getLogs block range asked for.
	MaxLogRange uint64 `mapstructure:"max_log_range"`
	// TLSCert (lightning) is the path of LND's tls.cert; RPCURL is then its
	// REST listener (https://127.0.0.1:8080).
	TLSCert string `mapstructure:"tls_cert"`
	// Macaroon (lightning) is the path of an invoice macaroon (lnd's
	// invoice.macaroon or one baked with invoices:read invoices:write
	// info:read offchain:read). An admin macaroon is refused.
	Macaroon string `mapstructure:"macaroon"`
	// ReadonlyMacaroon (lightning, optional) is lnd's readonly.macaroon, used
	// for getinfo and channels when Macaroon cannot read them.
	ReadonlyMacaroon string `mapstructure:"readonly_macaroon"`
	// Disabled keeps the chain configured but unused.
	Disabled bool `mapstructure:"disabled"`
}

// Native is an EVM chain's coin.
type Native struct {
	Symbol   string `mapstructure:"symbol"`
	Disabled bool   `mapstructure:"disabled"`
}

// Token is an ERC-20 token.
type Token struct {
	Symbol   string `mapstructure:"symbol"`
	Contract string `mapstructure:"contract"`
	Decimals int    `mapstructure:"decimals"`
}

// Webhooks configures delivery.
type Webhooks struct {
	// AllowPrivate permits URLs on private, loopback and link-local addresses.
	AllowPrivate bool `mapstructure:"allow_private"`
	// Timeout per delivery attempt (the contract says 10s).
	Timeout time.Duration `mapstructure:"timeout"`
	// RetrySchedule is the wait before each retry.
	RetrySchedule []time.Duration `mapstructure:"retry_schedule"`
	// Concurrency bounds deliveries in flight.
	Concurrency int `mapstructure:"concurrency"`
	// EndpointConcurrency bounds requests in flight to one endpoint (one
	// invoice's events still go out one at a time, in order).
	EndpointConcurrency int `mapstructure:"endpoint_concurrency"`
	// Endpoints from config (more can be added through the API).
	Endpoints []Endpoint `mapstructure:"endpoints"`
}

// Endpoint is a webhook endpoint from config.
type Endpoint struct {
	URL    string   `mapstructure:"url"`
	Secret Secret   `mapstructure:"secret"`
	Events []string `mapstructure:"events"`
}

// Checkout brands the hosted page.
type Checkout struct {
	StoreName      string `mapstructure:"store_name"`
	LogoURL        string `mapstructure:"logo_url"`
	AccentColor    string `mapstructure:"accent_color"`
	FrameAncestors string `mapstructure:"frame_ancestors"`
	// Language is the default language when the browser asks for none we have.
	Language string `mapstructure:"language"`
}

// Greenfield is the BTCPay Greenfield compatibility API (/api/v1, docs/greenfield.md).
type Greenfield struct {
	// Enabled serves /api/v1 for BTCPay shop plugins.
	Enabled bool `mapstructure:"enabled"`
	// StoreID is the one store's id, entered in the shop plugin.
	StoreID string `mapstructure:"store_id"`
	// StoreName is the store's name ("" = checkout.store_name).
	StoreName string `mapstructure:"store_name"`
	// DefaultCurrency prices invoices created without a currency.
	DefaultCurrency string `mapstructure:"default_currency"`
}

// Dashboard is the merchant console (package dashboard) served by payd run.
type Dashboard struct {
	// Enabled serves the console; false turns it off entirely (404).
	Enabled bool `mapstructure:"enabled"`
	// Path is where it is served ("/dashboard").
	Path string `mapstructure:"path"`
	// SessionIdle signs a session out after this long without a request.
	SessionIdle time.Duration `mapstructure:"session_idle"`
	// SessionMax signs a session out this long after sign-in, whatever happens.
	SessionMax time.Duration `mapstructure:"session_max"`
	// Explorers maps a chain name to a transaction URL containing {txid}.
	Explorers map[string]string `mapstructure:"explorers"`
}

// MethodSpec is one payment method derived from the chains section.
type MethodSpec struct {
	Name          string // "bitcoin/btc"
	Chain         string // "bitcoin"
	Kind          invoice.ChainKind
	ChainID       uint64
	Asset         invoice.Asset
	Token         string // ERC-20 contract or ""
	Confirmations int
}

// Methods lists every enabled payment method, sorted by name.
func (c *Config) Methods() []MethodSpec {
	var out []MethodSpec
	for _, name := range c.ChainNames() {
		ch := c.Chains[name]
		switch ch.Type {
		case "bitcoin":
			out = append(out, MethodSpec{Name: name + "/btc", Chain: name, Kind: invoice.KindBitcoin,
				Asset: invoice.BTC, Confirmations: ch.Confirmations})
		case "lightning":
			out = append(out, MethodSpec{Name: name + "/btc", Chain: name, Kind: invoice.KindLightning,
				Asset: invoice.BTC, Confirmations: 0})
		case "evm":
			if !ch.Native.Disabled {
				sym := strings.ToUpper(ch.Native.Symbol)
				if sym == "" {
					sym = "ETH"
				}
				out = append(out, MethodSpec{Name: name + "/" + strings.ToLower(sym), Chain: name, Kind: invoice.KindEVM,
					ChainID: ch.ChainID, Asset: invoice.Asset{Code: sym, Decimals: 18}, Confirmations: ch.Confirmations})
			}
			for _, t := range ch.Tokens {
				sym := strings.ToUpper(t.Symbol)
				out = append(out, MethodSpec{Name: name + "/" + strings.ToLower(sym), Chain: name, Kind: invoice.KindEVM,
					ChainID: ch.ChainID, Asset: invoice.Asset{Code: sym, Decimals: t.Decimals}, Token: t.Contract,
					Confirmations: ch.Confirmations})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ChainNames returns the enabled chains' names, sorted.
func (c *Config) ChainNames() []string {
	var names []string
	for n, ch := range c.Chains {
		if !ch.Disabled {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Error is a configuration problem: the key, what is wrong and how to fix it.
type Error struct {
	Key     string
	Problem string
	Fix     string
}

func (e *Error) Error() string {
	s := e.Key + ": " + e.Problem
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

func cerr(key, problem, fix string, args ...any) *Error {
	return &Error{Key: key, Problem: fmt.Sprintf(problem, args...), Fix: fix}
}
