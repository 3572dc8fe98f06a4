package rates

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.wg.Wait)
	return s
}

func mustRate(t *testing.T, s *Service, base, quote string) Rate {
	t.Helper()
	r, err := s.Rate(context.Background(), base, quote)
	if err != nil {
		t.Fatalf("Rate(%s, %s): %v", base, quote, err)
	}
	return r
}

func TestMedianAndFirst(t *testing.T) {
	// BTC/USD from the fixtures: coingecko 60630.12, kraken 60631.1, coinbase 60629.5,
	// binance 60640.01 (BTCUSDT).
	for _, c := range []struct {
		name     string
		strategy string
		sources  []string
		down     []string // providers answering 500
		want     string
		source   string
	}{
		{"median of 3", StrategyMedian, []string{"coingecko", "kraken", "coinbase"}, nil, "60630.12", "median(coingecko,kraken,coinbase)"},
		{"median of 4 is the mean of the middle two", StrategyMedian, []string{"coingecko", "kraken", "coinbase", "binance"}, nil, "60630.61", "median(coingecko,kraken,coinbase,binance)"},
		{"median of the ones that answered", StrategyMedian, []string{"coingecko", "kraken", "coinbase", "binance"}, []string{"kraken", "coinbase"}, "60635.065", "median(coingecko,binance)"},
		{"median of one", StrategyMedian, []string{"coingecko", "kraken"}, []string{"coingecko"}, "60631.1", "kraken"},
		{"first", StrategyFirst, []string{"kraken", "coingecko", "coinbase"}, nil, "60631.1", "kraken"},
		{"first falls back in order", StrategyFirst, []string{"kraken", "coingecko", "coinbase"}, []string{"kraken"}, "60630.12", "coingecko"},
		{"first falls back twice", StrategyFirst, []string{"kraken", "coingecko", "coinbase"}, []string{"kraken", "coingecko"}, "60629.5", "coinbase"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakes(t)
			byName := map[string]*fakeProvider{"coingecko": f.coingecko, "kraken": f.kraken, "coinbase": f.coinbase, "binance": f.binance}
			for _, d := range c.down {
				byName[d].set("500")
			}
			cfg := f.config()
			cfg.Strategy = c.strategy
			cfg.Sources = c.sources
			s := newService(t, cfg)
			r := mustRate(t, s, "btc", "usd")
			if r.String() != c.want || r.Source != c.source {
				t.Errorf("Rate = %s from %q, want %s from %q", r, r.Source, c.want, c.source)
			}
			if r.Base != "BTC" || r.Quote != "USD" || r.Time.IsZero() || time.Since(r.Time) > time.Minute {
				t.Errorf("Rate = %+v", r)
			}
		})
	}
}

func TestRejectsAbsurdValues(t *testing.T) {
	f := newFakes(t)
	f.coingecko.route("*", fixture{file: "coingecko/zero.json"})
	f.kraken.route("/0/public/Ticker?pair=XBTUSD", fixture{file: "kraken/ticker_negative.json"})
	f.binance.route("/api/v3/ticker/price?symbol=BTCUSDT", fixture{file: "binance/ticker_btcusdt_outlier.json"})
	cfg := f.config()
	cfg.Sources = []string{"coingecko", "kraken", "coinbase", "binance"}
	// Two more sane answers so the median sees the outlier: static and a second
	// coinbase-like value through kraken's USDT market is not needed; static suffices.
	cfg.Static = map[string]string{"BTC/USD": "60631"}
	cfg.Sources = append(cfg.Sources, "static")
	s := newService(t, cfg)
	r := mustRate(t, s, "BTC", "USD")
	// Only coinbase (60629.5) and static (60631) are left: zero, negative and the
	// 107× outlier are never used.
	if r.String() != "60630.25" || r.Source != "median(coinbase,static)" {
		t.Fatalf("Rate = %s from %q", r, r.Source)
	}
	s.mu.Lock()
	errs := s.lastErr[Pair{"BTC", "USD"}]
	s.mu.Unlock()
	for name, want := range map[string]string{"coingecko": "not positive", "kraken": "not positive", "binance": "away from the median"} {
		if !strings.Contains(errs[name], want) {
			t.Errorf("%s: last error %q, want it to mention %q", name, errs[name], want)
		}
	}
}

func TestRejectsJumpAgainstLastAccepted(t *testing.T) {
	f := newFakes(t)
	cfg := f.config()
	cfg.Sources = []string{"kraken"}
	s := newService(t, cfg)
	ctx := context.Background()
	if r := mustRate(t, s, "BTC", "USD"); r.String() != "60631.1" {
		t.Fatalf("first rate %s", r)
	}
	f.kraken.route("/0/public/Ticker?pair=XBTUSD", fixture{file: "kraken/ticker_jump.json"})
	s.Refresh(ctx)
	if r := mustRate(t, s, "BTC", "USD"); r.String() != "60631.1" {
		t.Fatalf("rate after a 100× jump = %s, want the last accepted 60631.1", r)
	}
	s.mu.Lock()
	why := s.lastErr[Pair{"BTC", "USD"}]["kraken"]
	s.mu.Unlock()
	if !strings.Contains(why, "last accepted") {
		t.Errorf("kraken last error %q", why)
	}
	// Once the accepted value is older than MaxAge, the pair has no rate at all.
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	_, err := s.Rate(ctx, "BTC", "USD")
	if !errors.Is(err, ErrNoRate) {
		t.Fatalf("stale: err = %v", err)
	}
}

func TestTwoDisagreeingSources(t *testing.T) {
	f := newFakes(t)
	cfg := f.config()
	cfg.Sources = []string{"kraken", "binance"}
	s := newService(t, cfg)
	ctx := context.Background()
	// Warm: both agree.
	if r := mustRate(t, s, "BTC", "USD"); r.Source != "median(kraken,binance)" {
		t.Fatalf("warm rate from %q", r.Source)
	}
	// Binance goes wild: its own history breaks the tie, kraken stays in use.
	f.binance.route("/api/v3/ticker/price?symbol=BTCUSDT", fixture{file: "binance/ticker_btcusdt_outlier.json"})
	s.Refresh(ctx)
	s.mu.Lock()
	e := s.entries[Pair{"BTC", "USD"}]
	kr, bn := e["kraken"].value.RatString(), e["binance"].value.RatString()
	s.mu.Unlock()
	if kr != "606311/10" || bn != "6064001/100" {
		t.Fatalf("entries kraken %s binance %s", kr, bn)
	}

	// Cold start with two disagreeing sources: neither is trusted.
	s2 := newService(t, cfg)
	_, err := s2.Rate(ctx, "BTC", "USD")
	if !errors.Is(err, ErrNoRate) || !strings.Contains(err.Error(), "other answer") {
		t.Fatalf("cold disagreement: %v", err)
	}
}

func TestFailureModes(t *testing.T) {
	for _, mode := range []string{"timeout", "500", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakes(t)
			f.kraken.set(mode)
			cfg := f.config()
			cfg.Sources = []string{"kraken", "coingecko"}
			cfg.Strategy = StrategyFirst
			s := newService(t, cfg)
			start := time.Now()
			r := mustRate(t, s, "BTC", "USD")
			if r.Source != "coingecko" || r.String() != "60630.12" {
				t.Errorf("Rate = %s from %q", r, r.Source)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("took %s", el)
			}
		})
	}
}

func TestCrossRatesAndPegs(t *testing.T) {
	static := map[string]string{
		"BTC/USD":  "60000.5",
		"USD/IDR":  "16250.25",
		"ETH/USD":  "3000.25",
		"EUR/USD":  "1.08",
		"USDT/USD": "1.0002",
	}
	for _, c := range []struct {
		name        string
		base, quote string
		pegs        map[string]Peg
		want        string
		source      string
	}{
		{"identity", "BTC", "BTC", nil, "1", "identity"},
		{"fiat identity", "usd", "USD", nil, "1", "identity"},
		{"direct", "BTC", "USD", nil, "60000.5", "static"},
		{"direct inverse from the table", "IDR", "USD", nil, "0.00006153751481", "static"},
		{"cross through USD", "BTC", "IDR", nil, "975023125.125", "BTC/USD static × USD/IDR static"},
		{"cross ETH/IDR", "ETH", "IDR", nil, "48754812.5625", "ETH/USD static × USD/IDR static"},
		{"cross crypto/crypto", "ETH", "BTC", nil, "0.05000374997", "ETH/USD static × USD/BTC static"},
		{"cross with inverse leg", "BTC", "EUR", nil, "55556.01851852", "BTC/USD static × USD/EUR static"},
		{"peg is exact", "USDT", "USD", nil, "1", "peg"},
		{"peg inverse", "USD", "USDC", nil, "1", "peg"},
		{"pegged base", "USDT", "IDR", nil, "16250.25", "USDT/USD peg × USD/IDR static"},
		{"pegged quote", "BTC", "USDT", nil, "60000.5", "BTC/USD static × USD/USDT peg"},
		{"two pegged coins", "USDT", "USDC", nil, "1", "USDT/USD peg × USD/USDC peg"},
		{"peg override base", "USDT", "IDR", map[string]Peg{"USDT": {To: "USD", Value: "0.9998"}}, "16246.99995", "USDT/USD peg × USD/IDR static"},
		{"peg override quote", "BTC", "USDT", map[string]Peg{"USDT": {Value: "0.9998"}}, "60012.5025005", "BTC/USD static × USD/USDT peg"},
		{"peg to EUR", "EURC", "IDR", map[string]Peg{"EURC": {To: "EUR", Value: "1"}}, "17550.27", "EURC/EUR peg × EUR/USD static × USD/IDR static"},
		{"priced by a source", "USDT", "IDR", map[string]Peg{"USDT": {Value: "source"}, "USDC": {Value: "1"}}, "16253.50005", "USDT/USD static × USD/IDR static"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Sources = []string{"static"}
			cfg.Static = static
			if c.pegs != nil {
				cfg.Pegs = c.pegs
			}
			s := newService(t, cfg)
			r := mustRate(t, s, c.base, c.quote)
			if r.String() != c.want || r.Source != c.source {
				t.Errorf("Rate(%s, %s) = %s from %q, want %s from %q", c.base, c.quote, r, r.Source, c.want, c.source)
			}
			if r.Value.Cmp(mustRat(r.String())) != 0 {
				t.Errorf("value %s not rounded as printed", r.Value.RatString())
			}
		})
	}
}

func TestCrossRateFromProviders(t *testing.T) {
	// BTC/RUB: coingecko has it directly (5500000.25); kraken and binance do not.
	// BTC/AED: nobody lists it directly except coinbase (222700.55).
	// BTC/IDR with coingecko and coinbase down: kraken + binance give BTC/USD but no
	// IDR, so the rate is crossed through USD with USD/IDR… which only coinbase has: no rate.
	f := newFakes(t)
	cfg := f.config()
	cfg.Sources = []string{"coingecko", "kraken", "binance"}
	s := newService(t, cfg)
	if r := mustRate(t, s, "BTC", "RUB"); r.String() != "5500000.25" || r.Source != "coingecko" {
		t.Errorf("BTC/RUB = %s from %q", r, r.Source)
	}
	cfg.Sources = []string{"coingecko", "kraken", "coinbase"}
	cfg.PairSources = map[string][]string{"BTC/IDR": {"kraken"}, "USD/IDR": {"coinbase"}}
	s = newService(t, cfg)
	r := mustRate(t, s, "BTC", "IDR")
	// BTC/USD = median(60630.12, 60631.1, 60629.5) = 60630.12; × 16250 (coinbase USD/IDR).
	if r.String() != "985239450" || r.Source != "BTC/USD median(coingecko,kraken,coinbase) × USD/IDR coinbase" {
		t.Errorf("BTC/IDR = %s from %q", r, r.Source)
	}
	// USD/BTC known only the other way round: inverted leg.
	cfg.PairSources = map[string][]string{"ETH/BTC": {"kraken"}, "USD/BTC": {"kraken"}, "ETH/USD": {"coingecko"}}
	s = newService(t, cfg)
	r = mustRate(t, s, "ETH", "BTC")
	// 3000.5 / 60630.12
	if r.String() != "0.04948860401" || r.Source != "ETH/USD coingecko × USD/BTC median(coingecko,kraken,coinbase) inverted" {
		t.Errorf("ETH/BTC = %s from %q", r, r.Source)
	}
}

func TestAllDownFailsFast(t *testing.T) {
	for _, mode := range []string{"closed", "timeout", "500", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakes(t)
			cfg := f.config()
			cfg.Timeout = 2 * time.Second // longer than the cold wait
			for _, p := range f.all() {
				p.set(mode)
				if mode == "closed" {
					p.srv.Close()
				}
			}
			s := newService(t, cfg)
			ctx := context.Background()
			start := time.Now()
			_, err := s.Rate(ctx, "BTC", "IDR")
			el := time.Since(start)
			if !errors.Is(err, ErrNoRate) {
				t.Fatalf("err = %v, want ErrNoRate", err)
			}
			var nre *NoRateError
			if !errors.As(err, &nre) || nre.Pair != (Pair{"BTC", "IDR"}) || !strings.Contains(err.Error(), "no fresh rate for BTC/IDR") {
				t.Errorf("error %q does not name the pair", err)
			}
			if el >= time.Second {
				t.Errorf("took %s, want < 1s", el)
			}
			t.Logf("%s after %s", err, el)
			// Crypto-priced invoices need no provider: identity still answers.
			if r := mustRate(t, s, "BTC", "BTC"); r.String() != "1" {
				t.Errorf("identity = %s", r)
			}
			// Asked again right away: fails without waiting again.
			start = time.Now()
			if _, err := s.Rate(ctx, "BTC", "IDR"); !errors.Is(err, ErrNoRate) || time.Since(start) > 100*time.Millisecond {
				t.Errorf("second call: %v after %s", err, time.Since(start))
			}
			if mode != "timeout" && mode != "closed" {
				want := map[string]string{"500": "http 500", "garbage": "malformed response"}[mode]
				if !strings.Contains(err.Error(), "BTC/IDR: "+want+" (coingecko, kraken, coinbase, binance)") {
					t.Errorf("error %q lacks the coingecko reason %q", err, want)
				}
			}
		})
	}
}

func TestColdWaitAndBackgroundRefresh(t *testing.T) {
	f := newFakes(t)
	cfg := f.config()
	cfg.Sources = []string{"kraken"}
	cfg.Timeout = time.Second
	cfg.ColdWait = 200 * time.Millisecond
	cfg.Pairs = []string{"BTC/USD"}
	f.kraken.set("timeout")
	s := newService(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	// Cold cache, slow provider: Rate gives up after ColdWait.
	start := time.Now()
	if _, err := s.Rate(context.Background(), "BTC", "USD"); !errors.Is(err, ErrNoRate) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 600*time.Millisecond {
		t.Errorf("cold wait took %s", el)
	}
	// The provider recovers; Run's refresh fills the cache without anyone waiting.
	f.kraken.set("ok")
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := s.Rate(context.Background(), "BTC", "USD")
		if err == nil {
			if r.String() != "60631.1" {
				t.Fatalf("rate %s", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rate after recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Warm cache: a provider outage does not slow Rate down.
	f.kraken.set("timeout")
	start = time.Now()
	for i := 0; i < 50; i++ {
		mustRate(t, s, "BTC", "USD")
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("50 warm lookups took %s", el)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestConcurrentColdRequestsShareOneFetch(t *testing.T) {
	f := newFakes(t)
	cfg := f.config()
	cfg.Sources = []string{"coinbase"}
	s := newService(t, cfg)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Rate(context.Background(), "BTC", "EUR"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.coinbase.hits.Load(); n != 3 { // one exchange-rates request per base: BTC, USD, EUR
		t.Errorf("coinbase hit %d times, want 3", n)
	}
}

func TestRateInvalidCurrency(t *testing.T) {
	s := newService(t, DefaultConfig())
	for _, c := range [][2]string{{"", "USD"}, {"BTC", "U$D"}, {"B", "USD"}} {
		if _, err := s.Rate(context.Background(), c[0], c[1]); !errors.Is(err, ErrInvalidCurrency) {
			t.Errorf("Rate(%q, %q) = %v", c[0], c[1], err)
		}
	}
}

// recorder is a slog.Handler keeping records for assertions.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func TestRejectionsAreLogged(t *testing.T) {
	f := newFakes(t)
	f.binance.route("/api/v3/ticker/price?symbol=BTCUSDT", fixture{file: "binance/ticker_btcusdt_outlier.json"})
	f.coingecko.set("500")
	cfg := f.config()
	rec := &recorder{}
	s, err := New(cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.wg.Wait)
	if r := mustRate(t, s, "BTC", "USD"); r.Source != "median(kraken,coinbase)" {
		t.Fatalf("source %q", r.Source)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	found := map[string]string{}
	for _, r := range rec.recs {
		if r.Level != slog.LevelWarn {
			continue
		}
		var src, why string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "source":
				src = a.Value.String()
			case "reason":
				why = a.Value.String()
			}
			return true
		})
		if strings.HasPrefix(r.Message, "rates:") && src != "" {
			found[src] = why
		}
	}
	if found["coingecko"] != "http 500" || !strings.Contains(found["binance"], "rejected value") {
		t.Errorf("warnings %v", found)
	}
}
