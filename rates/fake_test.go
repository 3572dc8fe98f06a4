package rates

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is one canned answer: a file under testdata/ and a status.
type fixture struct {
	file   string
	status int
}

// fakeProvider is a 127.0.0.1 HTTP server answering a provider's requests from
// fixtures. Mode "ok" serves routes (key: path?rawquery; "*" for anything else);
// "timeout" holds the request until the client gives up; "500" answers an error page;
// "garbage" answers 200 with an HTML error page.
type fakeProvider struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	mode   string
	routes map[string]fixture
	hits   atomic.Int64
}

func newFake(t *testing.T, routes map[string]fixture) *fakeProvider {
	t.Helper()
	f := &fakeProvider{t: t, mode: "ok", routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) URL() string { return f.srv.URL }

func (f *fakeProvider) set(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

func (f *fakeProvider) route(key string, fx fixture) {
	f.mu.Lock()
	f.routes[key] = fx
	f.mu.Unlock()
}

func (f *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	f.mu.Lock()
	mode := f.mode
	fx, ok := f.routes[r.URL.Path+"?"+r.URL.RawQuery]
	if !ok {
		fx, ok = f.routes["*"]
	}
	f.mu.Unlock()
	switch mode {
	case "timeout":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<html><body>Internal Server Error</body></html>"))
		return
	case "garbage":
		w.Header().Set("Content-Type", "text/html")
		w.Write(readFixture(f.t, "garbage.html"))
		return
	}
	if !ok {
		f.t.Errorf("fake provider: no fixture for %s?%s", r.URL.Path, r.URL.RawQuery)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if fx.status != 0 {
		w.WriteHeader(fx.status)
	}
	w.Write(readFixture(f.t, fx.file))
}

func readFixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Errorf("read fixture: %v", err)
	}
	return b
}

// Routes shaped like each provider's real API.
func coingeckoRoutes() map[string]fixture {
	return map[string]fixture{"*": {file: "coingecko/simple_price.json"}}
}

func krakenRoutes() map[string]fixture {
	return map[string]fixture{
		"/0/public/Ticker?pair=XBTUSD":  {file: "kraken/ticker_xbtusd.json"},
		"/0/public/Ticker?pair=XBTEUR":  {file: "kraken/ticker_xbteur.json"},
		"/0/public/Ticker?pair=XBTUSDT": {file: "kraken/ticker_xbtusdt.json"},
		"*":                             {file: "kraken/unknown_pair.json"},
	}
}

func coinbaseRoutes() map[string]fixture {
	return map[string]fixture{
		"/v2/exchange-rates?currency=BTC": {file: "coinbase/exchange_rates_btc.json"},
		"/v2/exchange-rates?currency=USD": {file: "coinbase/exchange_rates_usd.json"},
		"*":                               {file: "coinbase/invalid_currency.json", status: http.StatusBadRequest},
	}
}

func binanceRoutes() map[string]fixture {
	return map[string]fixture{
		"/api/v3/ticker/price?symbol=BTCUSDT": {file: "binance/ticker_btcusdt.json"},
		"/api/v3/ticker/price?symbol=BTCEUR":  {file: "binance/ticker_btceur.json"},
		"*":                                   {file: "binance/invalid_symbol.json", status: http.StatusBadRequest},
	}
}

// fakes is one fake server per provider.
type fakes struct {
	coingecko, kraken, coinbase, binance *fakeProvider
}

func newFakes(t *testing.T) *fakes {
	return &fakes{
		coingecko: newFake(t, coingeckoRoutes()),
		kraken:    newFake(t, krakenRoutes()),
		coinbase:  newFake(t, coinbaseRoutes()),
		binance:   newFake(t, binanceRoutes()),
	}
}

func (f *fakes) all() []*fakeProvider {
	return []*fakeProvider{f.coingecko, f.kraken, f.coinbase, f.binance}
}

// config returns a test config pointing every provider at its fake, with short
// timeouts.
func (f *fakes) config() Config {
	c := DefaultConfig()
	c.Timeout = 300 * time.Millisecond
	c.ColdWait = 600 * time.Millisecond
	c.RefreshInterval = 50 * time.Millisecond
	c.MaxAge = time.Minute
	c.Providers = map[string]ProviderConfig{
		"coingecko": {BaseURL: f.coingecko.URL()},
		"kraken":    {BaseURL: f.kraken.URL()},
		"coinbase":  {BaseURL: f.coinbase.URL()},
		"binance":   {BaseURL: f.binance.URL()},
	}
	return c
}
