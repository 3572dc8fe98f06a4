package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/payd/payd/derive"
	"github.com/payd/payd/invoice"
)

var (
	chainNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	symbolRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.]{0,15}$`)
	contractRe  = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	colorRe     = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	storeIDRe   = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
)

// Validate checks the whole configuration and returns every problem found,
// each an *Error naming its key and the fix.
func (c *Config) Validate() error {
	var errs []error
	add := func(e *Error) { errs = append(errs, e) }

	// Private keys and seed phrases anywhere (except the fields that are
	// secrets by design, where a random string may look like a hex key).
	walkStrings(reflect.ValueOf(*c), "", func(key, val string) {
		if strings.HasSuffix(key, "rpc_password") || strings.HasSuffix(key, ".secret") || val == "" {
			return
		}
		if err := derive.CheckNotPrivate(val); err != nil {
			add(privateKeyError(key, val, err))
		}
	})

	if c.Server.Listen == "" {
		add(cerr("server.listen", "is empty", `set it to an address such as "127.0.0.1:8080"`))
	}
	if err := checkURL(c.Server.PublicURL, false); err != nil {
		add(cerr("server.public_url", "%v", `set the base URL shoppers reach payd at, e.g. "https://pay.example.com"`, err))
	}
	if c.Server.APIRateLimit < 0 || c.Server.PublicRateLimit < 0 {
		add(cerr("server.api_rate_limit", "must not be negative", "use 0 to turn rate limiting off"))
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.Path == "" {
			add(cerr("database.path", "is empty", `set a file path such as "./data/payd.db"`))
		}
		switch strings.ToUpper(c.Database.Synchronous) {
		case "NORMAL", "FULL":
		default:
			add(cerr("database.synchronous", "is %q", "use NORMAL or FULL", c.Database.Synchronous))
		}
	case "postgres":
		if u := c.Database.URL.Reveal(); !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			add(cerr("database.url", "is not a PostgreSQL URL", `set postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full (or PAYD_DATABASE_URL)`))
		}
		if c.Database.MaxConns < 0 {
			add(cerr("database.max_conns", "is %d", "use 0 (default 8) or more", c.Database.MaxConns))
		}
	default:
		add(cerr("database.driver", "is %q", "use sqlite (embedded, the default) or postgres", c.Database.Driver))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		add(cerr("log.level", "is %q", "use debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add(cerr("log.format", "is %q", "use text or json", c.Log.Format))
	}
	if c.Invoices.ExpiresIn < time.Minute || c.Invoices.ExpiresIn > 7*24*time.Hour {
		add(cerr("invoices.expires_in", "is %s", "use a duration from 1m to 168h", c.Invoices.ExpiresIn))
	}
	if _, err := ParseTolerance(c.Invoices.PaymentTolerance); err != nil {
		add(cerr("invoices.payment_tolerance", "%v", `use a percentage from "0" to "50", e.g. "0.5"`, err))
	}
	if c.Invoices.MonitoringWindow < 0 {
		add(cerr("invoices.monitoring_window", "must not be negative", "use a duration such as 24h"))
	}
	if c.Refunds.ClaimTTL < time.Hour || c.Refunds.ClaimTTL > 90*24*time.Hour {
		add(cerr("refunds.claim_ttl", "is %s", "use a duration from 1h to 2160h (90 days)", c.Refunds.ClaimTTL))
	}
	if c.Refunds.FeeTarget < 1 || c.Refunds.FeeTarget > 1008 {
		add(cerr("refunds.fee_target", "is %d", "use a number of blocks from 1 to 1008", c.Refunds.FeeTarget))
	}
	if c.Refunds.FallbackFeeRate < 1 || c.Refunds.FallbackFeeRate > 10000 {
		add(cerr("refunds.fallback_fee_rate", "is %d", "use sat/vB from 1 to 10000", c.Refunds.FallbackFeeRate))
	}

	if len(c.ChainNames()) == 0 {
		add(cerr("chains", "no chain is configured", "add at least one chain (see config.example.yaml)"))
	}
	methods := map[string]string{}
	for _, name := range sortedKeys(c.Chains) {
		ch := c.Chains[name]
		if ch.Disabled {
			continue
		}
		for _, e := range c.validateChain(name, ch, methods) {
			add(e)
		}
	}

	if c.Webhooks.Timeout <= 0 || c.Webhooks.Timeout > time.Minute {
		add(cerr("webhooks.timeout", "is %s", "use a duration from 1s to 1m (the contract says 10s)", c.Webhooks.Timeout))
	}
	if len(c.Webhooks.RetrySchedule) == 0 {
		add(cerr("webhooks.retry_schedule", "is empty", "list the waits before each retry, e.g. [30s, 2m, 10m]"))
	}
	if c.Webhooks.Concurrency < 1 {
		add(cerr("webhooks.concurrency", "must be at least 1", "use e.g. 16"))
	}
	if c.Webhooks.EndpointConcurrency < 1 {
		add(cerr("webhooks.endpoint_concurrency", "must be at least 1", "use e.g. 8"))
	}
	for i, ep := range c.Webhooks.Endpoints {
		key := fmt.Sprintf("webhooks.endpoints[%d]", i)
		if err := checkURL(ep.URL, false); err != nil {
			add(cerr(key+".url", "%v", "give the full https:// URL of your receiver", err))
		}
		if len(ep.Secret) < 16 {
			add(cerr(key+".secret", "is shorter than 16 characters", "use a long random string, e.g. `openssl rand -hex 32`"))
		}
		for _, ev := range ep.Events {
			if ev != "*" && !invoice.ValidEventType(ev) {
				add(cerr(key+".events", "unknown event type %q", `use "*" or event types such as "invoice.settled"`, ev))
			}
		}
	}
	if err := c.Rates.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, method := range sortedKeys(c.Rates.Spreads) {
		if !slices.ContainsFunc(c.Methods(), func(m MethodSpec) bool { return m.Name == strings.ToLower(method) }) {
			add(cerr("rates.spreads."+method, "names no enabled payment method", "use the name of an enabled method, such as bitcoin/btc or ethereum/usdc"))
		}
	}
	if c.Checkout.AccentColor != "" && !colorRe.MatchString(c.Checkout.AccentColor) {
		add(cerr("checkout.accent_color", "is %q", `use a hex colour such as "#2f6fed"`, c.Checkout.AccentColor))
	}
	if c.Checkout.LogoURL != "" {
		if err := checkURL(c.Checkout.LogoURL, false); err != nil {
			add(cerr("checkout.logo_url", "%v", "give an absolute http(s) URL or leave it empty", err))
		}
	}
	if c.Greenfield.Enabled {
		if !storeIDRe.MatchString(c.Greenfield.StoreID) {
			add(cerr("greenfield.store_id", "is %q", "use 1…64 letters and digits, e.g. the output of `openssl rand -hex 16`", c.Greenfield.StoreID))
		}
		if c.Greenfield.DefaultCurrency == "" {
			add(cerr("greenfield.default_currency", "is empty", `use a currency code such as "USD"`))
		}
	}
	if c.Dashboard.Enabled {
		if p := c.Dashboard.Path; !dashPathRe.MatchString(p) {
			add(cerr("dashboard.path", "is %q", `use a path such as "/dashboard" (letters, digits, - and _; not "/")`, p))
		}
		for _, reserved := range []string{"/v1", "/api", "/i", "/l", "/r", "/static", "/healthz", "/readyz", "/metrics"} {
			if c.Dashboard.Path == reserved || strings.HasPrefix(c.Dashboard.Path, reserved+"/") {
				add(cerr("dashboard.path", "%q is used by payd itself", `use another path such as "/dashboard"`, c.Dashboard.Path))
			}
		}
		if c.Dashboard.SessionIdle < time.Minute || c.Dashboard.SessionMax < c.Dashboard.SessionIdle {
			add(cerr("dashboard.session_idle", "is %s with session_max %s", "use at least 1m, and session_max at least as long (e.g. 30m and 12h)",
				c.Dashboard.SessionIdle, c.Dashboard.SessionMax))
		}
		for _, ch := range sortedKeys(c.Dashboard.Explorers) {
			t := c.Dashboard.Explorers[ch]
			if _, ok := c.Chains[ch]; !ok {
				add(cerr("dashboard.explorers."+ch, "names no configured chain", "use a chain name from the chains section"))
			}
			if !strings.Contains(t, "{txid}") || checkURL(strings.ReplaceAll(t, "{txid}", "x"), true) != nil {
				add(cerr("dashboard.explorers."+ch, "is %q", `give an absolute https URL containing {txid}, e.g. "https://mempool.space/tx/{txid}"`, t))
			}
		}
	}
	return errors.Join(errs...)
}

// dashPathRe is an absolute path of one or more plain segments.
var dashPathRe = regexp.MustCompile(`^(/[A-Za-z0-9_-]+)+$`)

func (c *Config) validateChain(name string, ch Chain, methods map[string]string) []*Error {
	var errs []*Error
	add := func(field, problem, fix string, args ...any) {
		errs = append(errs, cerr("chains."+name+"."+field, problem, fix, args...))
	}
	if !chainNameRe.MatchString(name) {
		errs = append(errs, cerr("chains."+name, "chain name must be lower case letters, digits, - or _", `rename it, e.g. "bitcoin" or "polygon"`))
	}
	if err := checkURL(ch.RPCURL, true); err != nil {
		add("rpc_url", "%v", "give the node's JSON-RPC URL, e.g. http://127.0.0.1:8332", err)
	}
	if ch.WSURL != "" {
		if u, err := url.Parse(ch.WSURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			add("ws_url", "%q is not a ws:// or wss:// URL", "give the websocket URL or leave it empty", ch.WSURL)
		}
	}
	if ch.Confirmations < 0 || ch.Confirmations > 100 {
		add("confirmations", "is %d", "use a number from 0 to 100", ch.Confirmations)
	}
	if ch.PollInterval < 100*time.Millisecond || ch.PollInterval > 10*time.Minute {
		add("poll_interval", "is %s", "use a duration from 100ms to 10m", ch.PollInterval)
	}
	if ch.GapLimit < 1 && ch.Type != "lightning" {
		add("gap_limit", "is %d", "use a positive number (wallets default to 20)", ch.GapLimit)
	}
	addMethod := func(field, m string) {
		if prev, ok := methods[m]; ok {
			add(field, "duplicate payment method %s (also from %s)", "give each token of a chain a distinct symbol", m, prev)
			return
		}
		methods[m] = "chains." + name + "." + field
	}
	switch ch.Type {
	case "bitcoin":
		switch ch.Network {
		case "mainnet", "testnet", "signet", "regtest":
		default:
			add("network", "is %q", "use mainnet, testnet, signet or regtest", ch.Network)
		}
		if ch.XPub == "" {
			add("xpub", "is empty", "give the account extended public key (xpub/ypub/zpub, or tpub/vpub off mainnet) or a descriptor")
		} else if derive.CheckNotPrivate(ch.XPub) == nil {
			if _, err := derive.ParseBitcoin(ch.XPub, ch.Network); err != nil {
				add("xpub", "%v", keyFix(err, ch.Network), err)
			}
		}
		if ch.RPCUser == "" && ch.CookieFile == "" {
			add("rpc_user", "neither rpc_user/rpc_password nor cookie_file is set", "set rpc_user and rpc_password, or cookie_file to the node's .cookie")
		}
		if len(ch.Tokens) > 0 {
			add("tokens", "a bitcoin chain has no tokens", "remove the tokens list")
		}
		addMethod("type", name+"/btc")
	case "evm":
		if ch.ChainID == 0 {
			add("chain_id", "is missing", "set the chain id (1 Ethereum, 137 Polygon, 56 BSC, 8453 Base, 42161 Arbitrum)")
		}
		if ch.XPub == "" {
			add("xpub", "is empty", "give the account-level xpub of m/44'/60'/0'")
		} else if derive.CheckNotPrivate(ch.XPub) == nil {
			if _, err := derive.ParseEVM(ch.XPub); err != nil {
				add("xpub", "%v", "give the account-level xpub of m/44'/60'/0' (see docs/wallets.md)", err)
			}
		}
		if !ch.Native.Disabled {
			if !symbolRe.MatchString(ch.Native.Symbol) {
				add("native.symbol", "is %q", `use the coin's ticker, e.g. "ETH"`, ch.Native.Symbol)
			}
			addMethod("native.symbol", name+"/"+strings.ToLower(ch.Native.Symbol))
		}
		for i, t := range ch.Tokens {
			f := fmt.Sprintf("tokens[%d]", i)
			if !symbolRe.MatchString(t.Symbol) {
				add(f+".symbol", "is %q", `use the token's ticker, e.g. "USDC"`, t.Symbol)
			}
			if !contractRe.MatchString(t.Contract) {
				add(f+".contract", "%q is not a 0x-prefixed 20-byte address", "copy the token contract address from a block explorer", t.Contract)
			}
			if t.Decimals < 0 || t.Decimals > 36 {
				add(f+".decimals", "is %d", "use the token's decimals() (6 for USDT/USDC on most chains)", t.Decimals)
			}
			addMethod(f+".symbol", name+"/"+strings.ToLower(t.Symbol))
		}
		if ch.Native.Disabled && len(ch.Tokens) == 0 {
			add("tokens", "no payment method on this chain", "enable the native coin or list tokens")
		}
	case "lightning":
		switch ch.Network {
		case "mainnet", "testnet", "signet", "regtest":
		default:
			add("network", "is %q", "use mainnet, testnet, signet or regtest", ch.Network)
		}
		if u, err := url.Parse(ch.RPCURL); err == nil && u.Scheme != "https" {
			add("rpc_url", "%q is not https", "give LND's REST listener, e.g. https://127.0.0.1:8080 (restlisten in lnd.conf)", ch.RPCURL)
		}
		if ch.TLSCert == "" {
			add("tls_cert", "is empty", "give the path of LND's tls.cert (e.g. ~/.lnd/tls.cert)")
		}
		if ch.Macaroon == "" {
			add("macaroon", "is empty", "give the path of LND's invoice.macaroon (never admin.macaroon), see docs/lightning.md")
		}
		if ch.XPub != "" {
			add("xpub", "a lightning chain takes no key", "remove xpub: the node's own wallet receives Lightning payments")
		}
		if ch.Confirmations != 0 {
			add("confirmations", "is %d", "remove it: a settled Lightning invoice is final (0)", ch.Confirmations)
		}
		if len(ch.Tokens) > 0 {
			add("tokens", "a lightning chain has no tokens", "remove the tokens list")
		}
		addMethod("type", name+"/btc")
	case "":
		add("type", "is missing", `set type: bitcoin, evm or lightning`)
	default:
		add("type", "is %q", "use bitcoin, evm or lightning", ch.Type)
	}
	return errs
}

func keyFix(err error, network string) string {
	if errors.Is(err, derive.ErrNetworkMismatch) {
		return fmt.Sprintf("give a key for %s (mainnet: xpub/ypub/zpub; testnet/signet/regtest: tpub/upub/vpub) or change network", network)
	}
	return "give the account extended public key or a descriptor (see docs/wallets.md)"
}

func privateKeyError(key, val string, err error) *Error {
	// derive.CheckNotPrivate classifies; name the kind without echoing the secret.
	what := "a private key"
	msg := err.Error()
	switch {
	case strings.Contains(msg, "seed phrase"):
		what = "a seed phrase"
	case strings.Contains(msg, "WIF"):
		what = "a WIF private key"
	case strings.Contains(msg, "hex"):
		what = "a raw private key (64 hex digits)"
	case len(val) >= 4 && strings.HasSuffix(val[:4], "prv"):
		what = "a private key (" + val[:4] + ")"
	}
	return cerr(key, "this is %s; payd is watch-only", "give the account extended public key (xpub/zpub/tpub/vpub) instead, and move the secret off this machine", what)
}

func checkURL(s string, required bool) error {
	if s == "" {
		if required {
			return errors.New("is missing")
		}
		return errors.New("is empty")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// ParseTolerance parses a tolerance percentage ("0.5") into hundredths of a
// percent (50). At most 2 decimals, 0…50.
func ParseTolerance(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := invoice.ParseAmount(s, 2, "payment_tolerance")
	if err != nil {
		return 0, err
	}
	if v.Cmp(bigInt(5000)) > 0 {
		return 0, fmt.Errorf("%s%% is more than 50%%", s)
	}
	return v.Int64(), nil
}

func walkStrings(v reflect.Value, key string, fn func(key, val string)) {
	switch v.Kind() {
	case reflect.String:
		fn(key, v.String())
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			tag := t.Field(i).Tag.Get("mapstructure")
			walkStrings(v.Field(i), join(key, tag), fn)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walkStrings(v.MapIndex(k), join(key, fmt.Sprint(k.Interface())), fn)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", key, i), fn)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), key, fn)
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
