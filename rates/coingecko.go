package rates

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// CoinGeckoURL is CoinGecko's public API host.
const CoinGeckoURL = "https://api.coingecko.com"

// CoinGeckoIDs maps payd codes to CoinGecko coin ids; Config.Providers["coingecko"].Symbols
// adds to it.
var CoinGeckoIDs = map[string]string{
	"BTC":  "bitcoin",
	"ETH":  "ethereum",
	"USDT": "tether",
	"USDC": "usd-coin",
	"DAI":  "dai",
	"LTC":  "litecoin",
}

// CoinGecko reads GET /api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,idr,
// answered as {"bitcoin":{"usd":67187.3358,"idr":1090000000},…} (JSON numbers). It
// prices crypto bases (those in IDs) in most fiat currencies directly, so BTC/IDR needs
// no cross rate; it gives no fiat/fiat rates. One request per Fetch.
type CoinGecko struct {
	BaseURL string            // default CoinGeckoURL
	Client  *http.Client      // default a client with a 10 s timeout
	IDs     map[string]string // default CoinGeckoIDs
}

// Name returns "coingecko".
func (c *CoinGecko) Name() string { return SourceCoinGecko }

// Fetch implements Source.
func (c *CoinGecko) Fetch(ctx context.Context, pairs []Pair) ([]Rate, error) {
	ids := c.IDs
	if ids == nil {
		ids = CoinGeckoIDs
	}
	var errs FetchErrors
	idSet, vsSet := map[string]bool{}, map[string]bool{}
	var ask []Pair
	for _, p := range pairs {
		id, ok := ids[p.Base]
		if !ok {
			errs = append(errs, PairError{Pair: p, Err: fmt.Errorf("%w: no coingecko id for %s", ErrUnsupported, p.Base)})
			continue
		}
		idSet[id] = true
		vsSet[strings.ToLower(p.Quote)] = true
		ask = append(ask, p)
	}
	if len(ask) == 0 {
		return nil, errs
	}
	q := url.Values{}
	q.Set("ids", joinSorted(idSet))
	q.Set("vs_currencies", joinSorted(vsSet))
	u := baseURL(c.BaseURL, CoinGeckoURL) + "/api/v3/simple/price?" + q.Encode()
	var body map[string]map[string]json.Number
	if err := getJSON(ctx, c.Client, u, &body); err != nil {
		if len(errs) == 0 {
			return nil, err
		}
		for _, p := range ask {
			errs = append(errs, PairError{Pair: p, Err: err})
		}
		return nil, errs
	}
	now := time.Now()
	var out []Rate
	for _, p := range ask {
		n, ok := body[ids[p.Base]][strings.ToLower(p.Quote)]
		if !ok {
			errs = append(errs, PairError{Pair: p, Err: fmt.Errorf("%w: %s not in answer", ErrUnsupported, p)})
			continue
		}
		v, err := parseDecimal(n.String())
		if err != nil {
			errs = append(errs, PairError{Pair: p, Err: err})
			continue
		}
		out = append(out, Rate{Base: p.Base, Quote: p.Quote, Value: v, Source: c.Name(), Time: now})
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

func joinSorted(set map[string]bool) string {
	s := make([]string, 0, len(set))
	for k := range set {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}
