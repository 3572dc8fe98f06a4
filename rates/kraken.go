package rates

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// KrakenURL is Kraken's public API host.
const KrakenURL = "https://api.kraken.com"

// KrakenAssets maps payd codes to Kraken asset codes where they differ.
var KrakenAssets = map[string]string{"BTC": "XBT", "DOGE": "XDG"}

// Kraken reads GET /0/public/Ticker?pair=XBTUSD, answered as
// {"error":[],"result":{"XXBTZUSD":{"a":[…],"b":[…],"c":["30303.20000","0.00067643"],…}}}
// and uses "c"[0], the last trade price. Kraken names bitcoin XBT and keys legacy
// pairs with X/Z prefixes (XXBTZUSD, XETHZEUR, USDTZUSD); newer ones by altname
// (XBTUSDT). An unknown pair answers {"error":["EQuery:Unknown asset pair"]}. It has
// a few fiat/fiat pairs (EUR/USD, GBP/USD) but no IDR or RUB. One request per pair.
type Kraken struct {
	BaseURL string            // default KrakenURL
	Client  *http.Client      // default a client with a 10 s timeout
	Assets  map[string]string // default KrakenAssets
}

// Name returns "kraken".
func (k *Kraken) Name() string { return SourceKraken }

type krakenTicker struct {
	Error  []string `json:"error"`
	Result map[string]struct {
		C []string `json:"c"`
	} `json:"result"`
}

// Fetch implements Source.
func (k *Kraken) Fetch(ctx context.Context, pairs []Pair) ([]Rate, error) {
	assets := k.Assets
	if assets == nil {
		assets = KrakenAssets
	}
	return perPair(ctx, pairs, func(ctx context.Context, p Pair) (Rate, error) {
		b, q := symbol(assets, p.Base), symbol(assets, p.Quote)
		u := baseURL(k.BaseURL, KrakenURL) + "/0/public/Ticker?" + url.Values{"pair": {b + q}}.Encode()
		var t krakenTicker
		if err := getJSON(ctx, k.Client, u, &t); err != nil {
			return Rate{}, err
		}
		if len(t.Error) > 0 {
			msg := strings.Join(t.Error, ", ")
			if strings.Contains(msg, "Unknown asset pair") {
				return Rate{}, fmt.Errorf("%w: kraken: %s", ErrUnsupported, msg)
			}
			return Rate{}, fmt.Errorf("kraken: %s", msg)
		}
		// Accept the altname key (XBTUSDT) or the legacy X/Z-prefixed one (XXBTZUSD).
		var last []string
		found := false
		for key, tick := range t.Result {
			if krakenKeyMatches(key, b, q) || len(t.Result) == 1 {
				last, found = tick.C, true
				break
			}
		}
		if !found {
			return Rate{}, fmt.Errorf("%w: %s not in answer", ErrUnsupported, p)
		}
		if len(last) == 0 {
			return Rate{}, fmt.Errorf("%w: no last trade price for %s", ErrMalformed, p)
		}
		v, err := parseDecimal(last[0])
		if err != nil {
			return Rate{}, err
		}
		return Rate{Base: p.Base, Quote: p.Quote, Value: v, Source: k.Name(), Time: time.Now()}, nil
	})
}

func krakenKeyMatches(key, b, q string) bool {
	for _, kb := range []string{b, "X" + b} {
		for _, kq := range []string{q, "Z" + q, "X" + q} {
			if key == kb+kq {
				return true
			}
		}
	}
	return false
}
