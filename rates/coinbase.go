package rates

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CoinbaseURL is Coinbase's public API host.
const CoinbaseURL = "https://api.coinbase.com"

// Coinbase reads GET /v2/exchange-rates?currency=BTC, answered as
// {"data":{"currency":"BTC","rates":{"USD":"67000.12","IDR":"1090000000.5",…}}} (decimal
// strings). One request per distinct base prices it in every currency Coinbase knows,
// crypto and fiat, so it also gives fiat/fiat rates (currency=USD → USD/IDR, USD/RUB).
type Coinbase struct {
	BaseURL string       // default CoinbaseURL
	Client  *http.Client // default a client with a 10 s timeout
}

// Name returns "coinbase".
func (c *Coinbase) Name() string { return SourceCoinbase }

type coinbaseRates struct {
	Data struct {
		Currency string            `json:"currency"`
		Rates    map[string]string `json:"rates"`
	} `json:"data"`
}

// Fetch implements Source.
func (c *Coinbase) Fetch(ctx context.Context, pairs []Pair) ([]Rate, error) {
	var bases []Pair // one pseudo-pair per distinct base, for perPair
	seen := map[string]bool{}
	for _, p := range pairs {
		if !seen[p.Base] {
			seen[p.Base] = true
			bases = append(bases, Pair{Base: p.Base, Quote: "*"})
		}
	}
	var mu sync.Mutex
	answers := map[string]map[string]string{}
	baseErrs := map[string]error{}
	_, err := perPair(ctx, bases, func(ctx context.Context, bp Pair) (Rate, error) {
		u := baseURL(c.BaseURL, CoinbaseURL) + "/v2/exchange-rates?" + url.Values{"currency": {bp.Base}}.Encode()
		var r coinbaseRates
		err := getJSON(ctx, c.Client, u, &r)
		if err == nil && (r.Data.Currency != bp.Base || r.Data.Rates == nil) {
			err = fmt.Errorf("%w: exchange-rates for %s answered currency %q", ErrMalformed, bp.Base, r.Data.Currency)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			baseErrs[bp.Base] = err
			return Rate{}, err
		}
		answers[bp.Base] = r.Data.Rates
		return Rate{}, nil
	})
	if err != nil && len(answers) == 0 && len(bases) == 1 {
		return nil, baseErrs[bases[0].Base]
	}
	now := time.Now()
	var out []Rate
	var errs FetchErrors
	for _, p := range pairs {
		if e, ok := baseErrs[p.Base]; ok {
			errs = append(errs, PairError{Pair: p, Err: e})
			continue
		}
		s, ok := answers[p.Base][p.Quote]
		if !ok {
			errs = append(errs, PairError{Pair: p, Err: fmt.Errorf("%w: %s not in answer", ErrUnsupported, p)})
			continue
		}
		var v *big.Rat
		if v, err = parseDecimal(s); err != nil {
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
