package rates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Source is one place rates come from. Fetch returns the rates it could get for the
// requested pairs (Base/Quote as requested, Source = Name(), Time = when fetched). A
// nil error means every pair has a rate. If some pairs failed, the error is a
// FetchErrors naming them; any other error applies to every pair without a rate.
// Fetch must honour ctx and must not retain pairs. It does not judge values: the
// Service rejects zero, negative and outlying ones.
type Source interface {
	Name() string
	Fetch(ctx context.Context, pairs []Pair) ([]Rate, error)
}

// maxBody bounds how much of a provider's answer is read.
const maxBody = 1 << 20

// userAgent identifies payd to providers.
const userAgent = "payd-rates/1"

// defaultClient is used by sources built without a Client.
var defaultClient = &http.Client{Timeout: 10 * time.Second}

// getJSON GETs url and decodes a 200 answer into v with json.Number for numbers.
// Other statuses return *HTTPError with the start of the body.
func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	if c == nil {
		c = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxBody)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(body, 512))
		return &HTTPError{Status: resp.StatusCode, Body: string(b)}
	}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %w", req.URL.Path, ctx.Err())
		}
		return fmt.Errorf("%w: decode %s: %v", ErrMalformed, req.URL.Path, err)
	}
	return nil
}

// perPair runs fn for every pair, at most 4 at a time, and collects the rates and a
// FetchErrors for the failures.
func perPair(ctx context.Context, pairs []Pair, fn func(context.Context, Pair) (Rate, error)) ([]Rate, error) {
	type res struct {
		r   Rate
		err error
	}
	out := make([]res, len(pairs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = res{err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			r, err := fn(ctx, p)
			out[i] = res{r: r, err: err}
		}()
	}
	wg.Wait()
	var rates []Rate
	var errs FetchErrors
	for i, o := range out {
		if o.err != nil {
			errs = append(errs, PairError{Pair: pairs[i], Err: o.err})
			continue
		}
		rates = append(rates, o.r)
	}
	if len(errs) > 0 {
		return rates, errs
	}
	return rates, nil
}

// symbol maps a payd code through a provider's table, falling back to the code.
func symbol(table map[string]string, code string) string {
	if s, ok := table[code]; ok && s != "" {
		return s
	}
	return code
}

// mergeSymbols returns defaults overlaid with overrides (keys upper-cased).
func mergeSymbols(defaults, overrides map[string]string) map[string]string {
	out := make(map[string]string, len(defaults)+len(overrides))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range overrides {
		out[strings.ToUpper(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}

// baseURL returns u without a trailing slash, or def when u is empty.
func baseURL(u, def string) string {
	if u == "" {
		u = def
	}
	return strings.TrimRight(u, "/")
}

// reason turns a fetch or validation error into the few words used in NoRateError
// messages: "timeout", "http 500", "malformed response", "unsupported pair",
// "unreachable", "rejected: …".
func reason(err error) string {
	var he *HTTPError
	var ne net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrRejected):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &he):
		return he.Error()
	case errors.Is(err, ErrUnsupported):
		return "unsupported pair"
	case errors.Is(err, ErrMalformed):
		return "malformed response"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "unreachable"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
