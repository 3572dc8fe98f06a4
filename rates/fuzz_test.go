package rates

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"67187.3358", "6.7e-05", "-1", "0", "1e99", "NaN", "1e999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseDecimal(s)
		if err == nil {
			_ = formatDecimal(v)
		}
	})
}

// FuzzProviderAnswers feeds arbitrary bodies to every provider's parser: no panic, and
// every returned rate has a value.
func FuzzProviderAnswers(f *testing.F) {
	for _, s := range []string{
		`{"bitcoin":{"usd":60630.12}}`,
		`{"error":[],"result":{"XXBTZUSD":{"c":["60631.1","1"]}}}`,
		`{"data":{"currency":"BTC","rates":{"USD":"60629.5"}}}`,
		`{"symbol":"BTCUSDT","price":"60640.01"}`,
		`{"error":[],"result":{"XXBTZUSD":{"c":[]}}}`,
		`[]`, `null`, `{"bitcoin":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(body))
		}))
		defer srv.Close()
		for _, src := range []Source{
			&CoinGecko{BaseURL: srv.URL}, &Kraken{BaseURL: srv.URL}, &Coinbase{BaseURL: srv.URL}, &Binance{BaseURL: srv.URL},
		} {
			rs, _ := src.Fetch(context.Background(), []Pair{{"BTC", "USD"}})
			for _, r := range rs {
				if r.Value == nil {
					t.Fatalf("%s returned a rate without a value", src.Name())
				}
			}
		}
	})
}
