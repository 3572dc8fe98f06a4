package rates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// BinanceURL is Binance's public API host.
const BinanceURL = "https://api.binance.com"

// BinanceAssets maps payd codes to Binance assets. Binance lists no USD market, so
// USD is read from the USDT market by default: Binance's "BTC/USD" is really BTC/USDT.
// Override with Config.Providers["binance"].Symbols {"USD": "USDC"} or {"USD": "USD"}.
var BinanceAssets = map[string]string{"USD": "USDT"}

// Binance reads GET /api/v3/ticker/price?symbol=BTCUSDT, answered as
// {"symbol":"BTCUSDT","price":"67000.01000000"}. An unknown symbol answers HTTP 400
// {"code":-1121,"msg":"Invalid symbol."}. It prices crypto in a few fiats (EUR, TRY,
// BRL, …) and in stablecoins; no fiat/fiat. One request per pair.
type Binance struct {
	BaseURL string            // default BinanceURL
	Client  *http.Client      // default a client with a 10 s timeout
	Assets  map[string]string // default BinanceAssets
}

// Name returns "binance".
func (b *Binance) Name() string { return SourceBinance }

// Fetch implements Source.
func (b *Binance) Fetch(ctx context.Context, pairs []Pair) ([]Rate, error) {
	assets := b.Assets
	if assets == nil {
		assets = BinanceAssets
	}
	return perPair(ctx, pairs, func(ctx context.Context, p Pair) (Rate, error) {
		bs, qs := symbol(assets, p.Base), symbol(assets, p.Quote)
		if bs == qs {
			return Rate{}, fmt.Errorf("%w: binance reads both %s and %s as %s", ErrUnsupported, p.Base, p.Quote, bs)
		}
		sym := bs + qs
		u := baseURL(b.BaseURL, BinanceURL) + "/api/v3/ticker/price?" + url.Values{"symbol": {sym}}.Encode()
		var t struct {
			Symbol string `json:"symbol"`
			Price  string `json:"price"`
		}
		if err := getJSON(ctx, b.Client, u, &t); err != nil {
			var he *HTTPError
			if errors.As(err, &he) && he.Status == http.StatusBadRequest {
				var e struct {
					Code int    `json:"code"`
					Msg  string `json:"msg"`
				}
				if json.Unmarshal([]byte(he.Body), &e) == nil && e.Code == -1121 {
					return Rate{}, fmt.Errorf("%w: binance symbol %s: %s", ErrUnsupported, sym, e.Msg)
				}
			}
			return Rate{}, err
		}
		if t.Symbol != sym {
			return Rate{}, fmt.Errorf("%w: asked %s, answered symbol %q", ErrMalformed, sym, t.Symbol)
		}
		v, err := parseDecimal(t.Price)
		if err != nil {
			return Rate{}, err
		}
		return Rate{Base: p.Base, Quote: p.Quote, Value: v, Source: b.Name(), Time: time.Now()}, nil
	})
}
