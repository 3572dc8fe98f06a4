package rates

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestRateString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"60630.12", "60630.12"},
		{"60000", "60000"},
		{"1", "1"},
		{"0", "0"},
		{"1.000000005", "1.00000001"}, // half away from zero at 8 places
		{"1.000000004999", "1"},       // trimmed
		{"60012.50250050010002", "60012.5025005"},
		{"2/3", "0.6666666667"},          // below 1: 10 significant digits
		{"2/121259", "0.00001649362109"}, // USD/BTC keeps 10 significant digits
		{"0.0000164935", "0.0000164935"},
		{"-1/3", "-0.3333333333"},
		{"1/300000000000000000000", "0"}, // beyond 18 places
	} {
		v, ok := new(big.Rat).SetString(c.in)
		if !ok {
			t.Fatalf("bad input %q", c.in)
		}
		if got := (Rate{Value: v}).String(); got != c.want {
			t.Errorf("String(%s) = %q, want %q", c.in, got, c.want)
		}
	}
	if (Rate{}).String() != "" {
		t.Error("nil value should print empty")
	}
}

func TestParseDecimal(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" = error
	}{
		{"67187.3358", "335936679/5000"},
		{"6.7e-05", "67/1000000"},
		{"1E3", "1000"},
		{"-1", "-1"},
		{"0", "0"},
		{"", ""},
		{"NaN", ""},
		{"Inf", ""},
		{"1e999999999", ""}, // would allocate without bound
		{"0x10", ""},
		{"1,5", ""},
		{strings.Repeat("1", 65), ""},
	} {
		got, err := parseDecimal(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("parseDecimal(%q) = %v, want error", c.in, got)
		case c.want == "" && !errors.Is(err, ErrMalformed):
			t.Errorf("parseDecimal(%q) error %v does not wrap ErrMalformed", c.in, err)
		case c.want != "" && (err != nil || got.RatString() != c.want):
			t.Errorf("parseDecimal(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"5"}, "5"},
		{[]string{"60630.12", "60631.1", "60629.5"}, "60630.12"},
		{[]string{"60640.01", "60630.12", "60631.1", "60629.5"}, "60630.61"}, // (60630.12+60631.1)/2
		{[]string{"1", "2"}, "1.5"},
		{[]string{"0.1", "0.2", "0.3", "0.4"}, "0.25"},
		{[]string{"3", "1", "2", "1000000"}, "2.5"},
	} {
		var vs []*big.Rat
		for _, s := range c.in {
			vs = append(vs, mustRat(s))
		}
		before := vs[0].RatString()
		if got := formatDecimal(median(vs)); got != c.want {
			t.Errorf("median(%v) = %s, want %s", c.in, got, c.want)
		}
		if vs[0].RatString() != before {
			t.Errorf("median modified its input")
		}
	}
}

func TestOutside(t *testing.T) {
	ref := mustRat("60000")
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"60000", false},
		{"6000000", false}, // exactly 100×: not more than 100×
		{"6000000.01", true},
		{"600", false},
		{"599.99", true},
	} {
		if got := outside(mustRat(c.v), ref, 100); got != c.want {
			t.Errorf("outside(%s, 60000, 100) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestApplySpread(t *testing.T) {
	base := Rate{Base: "BTC", Quote: "USD", Value: mustRat("50000"), Source: "kraken", Time: time.Unix(1, 0)}
	for _, c := range []struct {
		percent, want, source string
		err                   bool
	}{
		{"", "50000", "kraken", false},
		{"0", "50000", "kraken", false},
		{"2", "49019.60784314", "kraken spread 2%", false}, // 25 USD → 0.00051 BTC instead of 0.0005
		{"25", "40000", "kraken spread 25%", false},
		{"-10", "55555.55555556", "kraken spread -10%", false}, // a discount
		{"100", "25000", "kraken spread 100%", false},
		{"100.01", "", "", true},
		{"-50.5", "", "", true},
		{"1e1", "", "", true},
		{"abc", "", "", true},
	} {
		got, err := ApplySpread(base, c.percent)
		if c.err {
			if err == nil {
				t.Errorf("ApplySpread(%q) accepted", c.percent)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ApplySpread(%q): %v", c.percent, err)
		}
		if got.String() != c.want || got.Source != c.source || got.Base != "BTC" || !got.Time.Equal(base.Time) {
			t.Errorf("ApplySpread(%q) = %s %q, want %s %q", c.percent, got, got.Source, c.want, c.source)
		}
		if got.Value.Cmp(mustRat(got.String())) != 0 {
			t.Errorf("ApplySpread(%q) value is not rounded as printed", c.percent)
		}
	}
	// The merchant receives more crypto: amount due = 25 / rate grows by exactly 2%.
	r, _ := ApplySpread(Rate{Value: mustRat("50000")}, "2")
	due := new(big.Rat).Quo(mustRat("25"), mustRat("50000"))
	due2 := new(big.Rat).Quo(mustRat("25"), new(big.Rat).Quo(mustRat("50000"), mustRat("1.02")))
	if due2.Cmp(new(big.Rat).Mul(due, mustRat("1.02"))) != 0 || r.Value.Cmp(mustRat("50000")) >= 0 {
		t.Errorf("spread direction wrong")
	}
}

func TestParsePair(t *testing.T) {
	p, err := ParsePair(" btc/Usd ")
	if err != nil || p != (Pair{"BTC", "USD"}) || p.String() != "BTC/USD" {
		t.Fatalf("ParsePair = %v, %v", p, err)
	}
	for _, bad := range []string{"BTCUSD", "/USD", "BTC/", "B/USD", "BTC/U$D", "BTC/USD/EUR", "ABCDEFGHIJKLM/USD"} {
		if _, err := ParsePair(bad); err == nil {
			t.Errorf("ParsePair(%q) accepted", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"unknown source", func(c *Config) { c.Sources = []string{"coingecko", "bitstamp"} }, "rates.sources"},
		{"no sources", func(c *Config) { c.Sources = nil }, "rates.sources"},
		{"duplicate source", func(c *Config) { c.Sources = []string{"kraken", "kraken"} }, "rates.sources"},
		{"bad strategy", func(c *Config) { c.Strategy = "mean" }, "rates.strategy"},
		{"refresh >= max age", func(c *Config) { c.RefreshInterval = c.MaxAge }, "rates.refresh_interval"},
		{"zero max age", func(c *Config) { c.MaxAge = 0 }, "rates.max_age"},
		{"cold wait too long", func(c *Config) { c.ColdWait = time.Minute }, "rates.cold_wait"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "rates.timeout"},
		{"factor 1", func(c *Config) { c.OutlierFactor = 1 }, "rates.outlier_factor"},
		{"bad pair", func(c *Config) { c.Pairs = []string{"BTCUSD"} }, "rates.pairs"},
		{"bad pair source", func(c *Config) { c.PairSources = map[string][]string{"btc/idr": {"nope"}} }, "rates.pair_sources.BTC/IDR"},
		{"peg zero", func(c *Config) { c.Pegs["USDT"] = Peg{To: "USD", Value: "0"} }, "rates.pegs.USDT.value"},
		{"peg chain", func(c *Config) { c.Pegs["DAI"] = Peg{To: "USDT", Value: "1"} }, "rates.pegs.DAI.to"},
		{"peg self", func(c *Config) { c.Pegs["USDT"] = Peg{To: "usdt", Value: "1"} }, "rates.pegs.USDT.to"},
		{"static negative", func(c *Config) { c.Static = map[string]string{"btc/usd": "-1"} }, "rates.static.BTC/USD"},
		{"provider url", func(c *Config) { c.Providers = map[string]ProviderConfig{"kraken": {BaseURL: "ftp://x"}} }, "rates.providers.kraken.base_url"},
		{"unknown provider", func(c *Config) { c.Providers = map[string]ProviderConfig{"static": {}} }, "rates.providers"},
		{"bad cross", func(c *Config) { c.Cross = "$" }, "rates.cross"},
	} {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("%s: error %v does not name %s", c.name, err, c.key)
		}
	}
	cfg := DefaultConfig()
	cfg.Pegs["USDT"] = Peg{Value: "source"}
	cfg.Pegs["EURC"] = Peg{To: "eur", Value: "1"}
	cfg.Static = map[string]string{"usd/idr": "16250"}
	cfg.PairSources = map[string][]string{"usd/idr": {"coinbase", "static"}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestNoRateError(t *testing.T) {
	err := error(&NoRateError{Pair: Pair{"BTC", "IDR"}, Reasons: []string{"sources: timeout (kraken), http 500 (coingecko)"}})
	if !errors.Is(err, ErrNoRate) {
		t.Error("not ErrNoRate")
	}
	if want := "no fresh rate for BTC/IDR (sources: timeout (kraken), http 500 (coingecko))"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}
