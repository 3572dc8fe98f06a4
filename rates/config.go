package rates

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// Source names accepted in Config.Sources, Config.PairSources and Config.Providers.
const (
	SourceCoinGecko = "coingecko"
	SourceKraken    = "kraken"
	SourceCoinbase  = "coinbase"
	SourceBinance   = "binance"
	SourceStatic    = "static"
)

// Strategies accepted in Config.Strategy.
const (
	// StrategyMedian uses the median of every source of the pair that has a fresh,
	// accepted answer (the mean of the two middle ones for an even count).
	StrategyMedian = "median"
	// StrategyFirst uses the first source in the pair's order that has a fresh,
	// accepted answer: an ordered fallback list.
	StrategyFirst = "first"
)

// PegSource as a Peg value means "not pegged: price this coin through the sources".
const PegSource = "source"

// Config configures rate sources, aggregation, caching and pegs. The config package
// embeds it as the "rates" section; keys are snake_case. Pair keys ("btc/usd") and
// currency keys ("usdt") are case-insensitive because viper lower-cases map keys.
type Config struct {
	// Sources is the ordered list of sources asked for every pair without an entry in
	// PairSources. Order matters for the "first" strategy and in messages.
	Sources []string `mapstructure:"sources"`
	// PairSources overrides Sources for one pair: "BTC/IDR": ["coingecko", "static"].
	PairSources map[string][]string `mapstructure:"pair_sources"`
	// Strategy is "median" (default) or "first".
	Strategy string `mapstructure:"strategy"`
	// MaxAge is how old a fetched value may be and still be used (default 15m).
	MaxAge time.Duration `mapstructure:"max_age"`
	// RefreshInterval is how often Run refreshes every wanted pair (default 1m).
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// ColdWait bounds how long Rate waits for a first fetch when the cache has no
	// fresh value (default 800ms; 0 = never wait).
	ColdWait time.Duration `mapstructure:"cold_wait"`
	// Timeout bounds one provider request (default 5s).
	Timeout time.Duration `mapstructure:"timeout"`
	// OutlierFactor: a value more than this many times above or below the reference
	// is rejected (default 100).
	OutlierFactor int64 `mapstructure:"outlier_factor"`
	// Cross is the currency cross rates go through when a direct pair has no fresh
	// rate: BTC/IDR = BTC/USD × USD/IDR (default "USD").
	Cross string `mapstructure:"cross"`
	// Pairs are kept warm from startup ("BTC/USD", "ETH/EUR"); pairs asked for through
	// Rate are added automatically.
	Pairs []string `mapstructure:"pairs"`
	// Pegs fixes stablecoins to a currency: USDT and USDC = 1 USD by default.
	Pegs map[string]Peg `mapstructure:"pegs"`
	// Static is the table served by the "static" source: "BTC/USD": "60000.00". A
	// static pair also answers its inverse (USD/BTC = 1/60000).
	Static map[string]string `mapstructure:"static"`
	// Providers overrides per-provider settings (base URL, symbol names).
	Providers map[string]ProviderConfig `mapstructure:"providers"`
	// Spreads is a markup per payment method, in percent ("bitcoin/btc": "1.5"),
	// applied with ApplySpread when an invoice in another currency is priced in
	// that method. Methods not listed get none. Values lie in [-50, 100].
	Spreads map[string]string `mapstructure:"spreads"`
}

// Peg fixes the value of one unit of a coin in another currency.
type Peg struct {
	// To is the currency the coin is pegged to (default "USD").
	To string `mapstructure:"to"`
	// Value is the price of one coin in To as a decimal string ("1", "0.9998"), or
	// "source" to not peg the coin and price it through the sources instead.
	Value string `mapstructure:"value"`
}

// ProviderConfig overrides one provider's defaults.
type ProviderConfig struct {
	// BaseURL replaces the public API host (e.g. for a proxy or a test server).
	BaseURL string `mapstructure:"base_url"`
	// Symbols maps payd currency codes to the provider's names, added to the
	// built-in table: CoinGecko coin ids ("BTC": "bitcoin"), Kraken asset codes
	// ("BTC": "XBT"), Binance assets ("USD": "USDT").
	Symbols map[string]string `mapstructure:"symbols"`
}

// DefaultConfig returns the defaults: the four public providers, median, 1 minute
// refresh, 15 minute max age, 800 ms cold wait, 5 s timeout, factor 100, cross via
// USD, USDT = USDC = 1 USD.
func DefaultConfig() Config {
	return Config{
		Sources:         []string{SourceCoinGecko, SourceKraken, SourceCoinbase, SourceBinance},
		Strategy:        StrategyMedian,
		MaxAge:          15 * time.Minute,
		RefreshInterval: time.Minute,
		ColdWait:        800 * time.Millisecond,
		Timeout:         5 * time.Second,
		OutlierFactor:   100,
		Cross:           "USD",
		Pegs: map[string]Peg{
			"USDT": {To: "USD", Value: "1"},
			"USDC": {To: "USD", Value: "1"},
		},
	}
}

var knownSources = map[string]bool{
	SourceCoinGecko: true, SourceKraken: true, SourceCoinbase: true, SourceBinance: true, SourceStatic: true,
}

// Validate checks every field and returns all problems, each naming its key under
// "rates.".
func (c Config) Validate() error {
	_, err := c.normalize(knownSources)
	return err
}

// normalized is a validated Config in usable form.
type normalized struct {
	cfg         Config
	sources     []string
	pairSources map[Pair][]string
	pairs       []Pair
	pegs        map[string]peg
	static      map[Pair]*big.Rat
	cross       string
}

type peg struct {
	to    string
	value *big.Rat
}

// normalize validates c; names is the set of source names that may be referenced.
func (c Config) normalize(names map[string]bool) (*normalized, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("rates.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	n := &normalized{cfg: c, pairSources: map[Pair][]string{}, pegs: map[string]peg{}, static: map[Pair]*big.Rat{}}

	checkList := func(key string, list []string) []string {
		var out []string
		seen := map[string]bool{}
		for _, s := range list {
			s = strings.ToLower(strings.TrimSpace(s))
			if !names[s] {
				bad(key, "unknown source %q (known: coingecko, kraken, coinbase, binance, static)", s)
				continue
			}
			if seen[s] {
				bad(key, "source %q listed twice", s)
				continue
			}
			seen[s] = true
			out = append(out, s)
		}
		return out
	}
	n.sources = checkList("sources", c.Sources)
	if len(c.Sources) == 0 {
		bad("sources", "list at least one source, e.g. [coingecko, kraken, coinbase]")
	}
	for k, list := range c.PairSources {
		p, err := ParsePair(k)
		if err != nil {
			bad("pair_sources", "%v", err)
			continue
		}
		l := checkList("pair_sources."+p.String(), list)
		if len(list) == 0 {
			bad("pair_sources."+p.String(), "list at least one source")
		}
		n.pairSources[p] = l
	}
	switch c.Strategy {
	case StrategyMedian, StrategyFirst:
	default:
		bad("strategy", "%q: use %q or %q", c.Strategy, StrategyMedian, StrategyFirst)
	}
	if c.MaxAge <= 0 {
		bad("max_age", "must be positive, e.g. 15m")
	}
	if c.RefreshInterval <= 0 {
		bad("refresh_interval", "must be positive, e.g. 1m")
	} else if c.MaxAge > 0 && c.RefreshInterval >= c.MaxAge {
		bad("refresh_interval", "%s must be shorter than max_age %s, or rates go stale between refreshes", c.RefreshInterval, c.MaxAge)
	}
	if c.ColdWait < 0 || c.ColdWait > 30*time.Second {
		bad("cold_wait", "must be between 0 and 30s (it delays invoice creation)")
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive, e.g. 5s")
	}
	if c.OutlierFactor < 2 {
		bad("outlier_factor", "must be at least 2 (default 100)")
	}
	cross, err := normCode(c.Cross)
	if err != nil {
		bad("cross", "%v", err)
	}
	n.cross = cross
	for _, s := range c.Pairs {
		p, err := ParsePair(s)
		if err != nil {
			bad("pairs", "%v", err)
			continue
		}
		n.pairs = append(n.pairs, p)
	}
	for k, pg := range c.Pegs {
		code, err := normCode(k)
		if err != nil {
			bad("pegs", "%v", err)
			continue
		}
		if strings.EqualFold(strings.TrimSpace(pg.Value), PegSource) {
			continue
		}
		to := pg.To
		if strings.TrimSpace(to) == "" {
			to = "USD"
		}
		toCode, err := normCode(to)
		if err != nil {
			bad("pegs."+code+".to", "%v", err)
			continue
		}
		if toCode == code {
			bad("pegs."+code+".to", "a coin cannot be pegged to itself")
			continue
		}
		v, err := parseDecimal(pg.Value)
		if err != nil || v.Sign() <= 0 {
			bad("pegs."+code+".value", "%q: want a positive decimal like \"1\", or \"source\"", pg.Value)
			continue
		}
		n.pegs[code] = peg{to: toCode, value: v}
	}
	for code, pg := range n.pegs {
		if _, chained := n.pegs[pg.to]; chained {
			bad("pegs."+code+".to", "%s is itself pegged; peg %s to %s's target directly", pg.to, code, pg.to)
		}
	}
	for k, v := range c.Static {
		p, err := ParsePair(k)
		if err != nil {
			bad("static", "%v", err)
			continue
		}
		r, err := parseDecimal(v)
		if err != nil || r.Sign() <= 0 {
			bad("static."+p.String(), "%q: want a positive decimal like \"60000.00\"", v)
			continue
		}
		n.static[p] = r
	}
	for method, v := range c.Spreads {
		if _, err := ParseSpread(v); err != nil {
			bad("spreads."+strings.ToLower(method), "%v", err)
		}
	}
	for name, pc := range c.Providers {
		name = strings.ToLower(name)
		if !knownSources[name] || name == SourceStatic {
			bad("providers", "unknown provider %q (known: coingecko, kraken, coinbase, binance)", name)
			continue
		}
		if pc.BaseURL != "" {
			u, err := url.Parse(pc.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("providers."+name+".base_url", "%q: want an http(s) URL", pc.BaseURL)
			}
		}
	}
	return n, errors.Join(errs...)
}

// order returns the ordered source list for p.
func (n *normalized) order(p Pair) []string {
	if l, ok := n.pairSources[p]; ok {
		return l
	}
	return n.sources
}
