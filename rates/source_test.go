package rates

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestSources runs every provider against fixtures shaped like its real API.
func TestSources(t *testing.T) {
	client := &http.Client{Timeout: 200 * time.Millisecond}
	type tc struct {
		name     string
		mode     string
		override map[string]fixture // routes replaced for this case
		pairs    []Pair
		want     map[Pair]string // exact decimal values
		wantErr  map[Pair]string // reason() per failed pair
	}
	btcUSD, btcEUR, btcIDR := Pair{"BTC", "USD"}, Pair{"BTC", "EUR"}, Pair{"BTC", "IDR"}
	providers := []struct {
		name   string
		routes func() map[string]fixture
		source func(url string) Source
		cases  []tc
	}{
		{
			name:   "coingecko",
			routes: coingeckoRoutes,
			source: func(u string) Source { return &CoinGecko{BaseURL: u, Client: client} },
			cases: []tc{
				{name: "success", mode: "ok", pairs: []Pair{btcUSD, btcIDR, {"ETH", "EUR"}, {"USDT", "IDR"}},
					want: map[Pair]string{btcUSD: "60630.12", btcIDR: "987654321", {"ETH", "EUR"}: "2760.25", {"USDT", "IDR"}: "16280.5"}},
				{name: "exponent numbers", mode: "ok", override: map[string]fixture{"*": {file: "coingecko/simple_price_exponent.json"}},
					pairs: []Pair{btcUSD, {"USDT", "BTC"}}, want: map[Pair]string{btcUSD: "60630.12", {"USDT", "BTC"}: "0.00001649"}},
				{name: "unknown coin and missing quote", mode: "ok", pairs: []Pair{{"XMR", "USD"}, {"ETH", "RUB"}, btcUSD},
					want:    map[Pair]string{btcUSD: "60630.12"},
					wantErr: map[Pair]string{{"XMR", "USD"}: "unsupported pair", {"ETH", "RUB"}: "unsupported pair"}},
				{name: "zero passes through to the service", mode: "ok", override: map[string]fixture{"*": {file: "coingecko/zero.json"}},
					pairs: []Pair{btcUSD}, want: map[Pair]string{btcUSD: "0"}},
				{name: "rate limited", mode: "ok", override: map[string]fixture{"*": {file: "coingecko/rate_limited.json", status: 429}},
					pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "http 429"}},
				{name: "truncated", mode: "ok", override: map[string]fixture{"*": {file: "truncated.json"}},
					pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "malformed response"}},
				{name: "timeout", mode: "timeout", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "timeout"}},
				{name: "500", mode: "500", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "http 500"}},
				{name: "garbage", mode: "garbage", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "malformed response"}},
			},
		},
		{
			name:   "kraken",
			routes: krakenRoutes,
			source: func(u string) Source { return &Kraken{BaseURL: u, Client: client} },
			cases: []tc{
				{name: "success legacy and altname keys", mode: "ok", pairs: []Pair{btcUSD, btcEUR, {"BTC", "USDT"}},
					want: map[Pair]string{btcUSD: "60631.1", btcEUR: "55802", {"BTC", "USDT"}: "60625"}},
				{name: "unknown pair", mode: "ok", pairs: []Pair{btcIDR, btcUSD},
					want: map[Pair]string{btcUSD: "60631.1"}, wantErr: map[Pair]string{btcIDR: "unsupported pair"}},
				{name: "negative passes through", mode: "ok", override: map[string]fixture{"/0/public/Ticker?pair=XBTUSD": {file: "kraken/ticker_negative.json"}},
					pairs: []Pair{btcUSD}, want: map[Pair]string{btcUSD: "-60631.1"}},
				{name: "timeout", mode: "timeout", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "timeout"}},
				{name: "500", mode: "500", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "http 500"}},
				{name: "garbage", mode: "garbage", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "malformed response"}},
			},
		},
		{
			name:   "coinbase",
			routes: coinbaseRoutes,
			source: func(u string) Source { return &Coinbase{BaseURL: u, Client: client} },
			cases: []tc{
				{name: "success crypto and fiat bases", mode: "ok", pairs: []Pair{btcUSD, btcIDR, {"USD", "IDR"}, {"USD", "RUB"}},
					want: map[Pair]string{btcUSD: "60629.5", btcIDR: "987700000", {"USD", "IDR"}: "16250", {"USD", "RUB"}: "91.5"}},
				{name: "quote missing and base unknown", mode: "ok", pairs: []Pair{{"BTC", "XYZ"}, {"FOO", "USD"}, btcEUR},
					want:    map[Pair]string{btcEUR: "55801"},
					wantErr: map[Pair]string{{"BTC", "XYZ"}: "unsupported pair", {"FOO", "USD"}: "http 400"}},
				{name: "timeout", mode: "timeout", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "timeout"}},
				{name: "500", mode: "500", pairs: []Pair{btcUSD, {"USD", "IDR"}}, wantErr: map[Pair]string{btcUSD: "http 500", {"USD", "IDR"}: "http 500"}},
				{name: "garbage", mode: "garbage", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "malformed response"}},
			},
		},
		{
			name:   "binance",
			routes: binanceRoutes,
			source: func(u string) Source { return &Binance{BaseURL: u, Client: client} },
			cases: []tc{
				{name: "success, USD read as USDT", mode: "ok", pairs: []Pair{btcUSD, btcEUR},
					want: map[Pair]string{btcUSD: "60640.01", btcEUR: "55799"}},
				{name: "invalid symbol", mode: "ok", pairs: []Pair{btcIDR, {"USDT", "USD"}},
					wantErr: map[Pair]string{btcIDR: "unsupported pair", {"USDT", "USD"}: "unsupported pair"}},
				{name: "outlier passes through", mode: "ok", override: map[string]fixture{"/api/v3/ticker/price?symbol=BTCUSDT": {file: "binance/ticker_btcusdt_outlier.json"}},
					pairs: []Pair{btcUSD}, want: map[Pair]string{btcUSD: "6500000"}},
				{name: "wrong symbol answered", mode: "ok", override: map[string]fixture{"/api/v3/ticker/price?symbol=BTCUSDT": {file: "binance/ticker_btceur.json"}},
					pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "malformed response"}},
				{name: "timeout", mode: "timeout", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "timeout"}},
				{name: "500", mode: "500", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "http 500"}},
				{name: "garbage", mode: "garbage", pairs: []Pair{btcUSD}, wantErr: map[Pair]string{btcUSD: "malformed response"}},
			},
		},
	}
	for _, pv := range providers {
		for _, c := range pv.cases {
			t.Run(pv.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				f := newFake(t, pv.routes())
				for k, v := range c.override {
					f.route(k, v)
				}
				f.set(c.mode)
				src := pv.source(f.URL())
				if src.Name() != pv.name {
					t.Fatalf("Name() = %q, want %q", src.Name(), pv.name)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				start := time.Now()
				got, err := src.Fetch(ctx, c.pairs)
				if el := time.Since(start); el > time.Second {
					t.Errorf("Fetch took %s", el)
				}
				gotVals := map[Pair]string{}
				for _, r := range got {
					if r.Source != pv.name || r.Time.IsZero() {
						t.Errorf("rate %s: source %q time %v", r.Pair(), r.Source, r.Time)
					}
					gotVals[r.Pair()] = r.String()
				}
				if len(gotVals) != len(c.want) {
					t.Errorf("got rates %v, want %v (err %v)", gotVals, c.want, err)
				}
				for p, w := range c.want {
					if gotVals[p] != w {
						t.Errorf("%s = %q, want %q", p, gotVals[p], w)
					}
				}
				gotErrs := pairReasons(err, c.pairs, gotVals)
				if len(c.wantErr) == 0 && err != nil {
					t.Errorf("unexpected error %v", err)
				}
				for p, w := range c.wantErr {
					if gotErrs[p] != w {
						t.Errorf("%s error = %q, want %q (err %v)", p, gotErrs[p], w, err)
					}
				}
			})
		}
	}
}

// pairReasons spreads a Fetch error over the pairs the way Service does.
func pairReasons(err error, pairs []Pair, got map[Pair]string) map[Pair]string {
	out := map[Pair]string{}
	if err == nil {
		return out
	}
	var fe FetchErrors
	if errors.As(err, &fe) {
		for _, pe := range fe {
			out[pe.Pair] = reason(pe.Err)
		}
		return out
	}
	for _, p := range pairs {
		if _, ok := got[p]; !ok {
			out[p] = reason(err)
		}
	}
	return out
}

func TestStaticSource(t *testing.T) {
	s, err := NewStatic(map[string]string{"btc/usd": "60000.00", "USD/IDR": "16250"})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.Fetch(context.Background(), []Pair{{"BTC", "USD"}, {"IDR", "USD"}, {"ETH", "USD"}})
	var fe FetchErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Pair != (Pair{"ETH", "USD"}) || !errors.Is(fe[0], ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
	got := map[Pair]string{}
	for _, r := range rs {
		got[r.Pair()] = r.Value.RatString()
	}
	if got[Pair{"BTC", "USD"}] != "60000" || got[Pair{"IDR", "USD"}] != "1/16250" {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []map[string]string{{"BTC/USD": "0"}, {"BTC/USD": "-1"}, {"BTCUSD": "1"}, {"BTC/USD": "abc"}} {
		if _, err := NewStatic(bad); err == nil {
			t.Errorf("NewStatic(%v) accepted", bad)
		}
	}
}
