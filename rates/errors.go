package rates

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoRate is matched (errors.Is) by every *NoRateError: no fresh rate could be had
// for a pair within the configured wait. The API maps it to 422 no_rate.
var ErrNoRate = errors.New("no fresh rate")

// ErrInvalidCurrency is returned for a currency code that is not 2–12 letters or digits.
var ErrInvalidCurrency = errors.New("invalid currency code")

// ErrUnsupported is wrapped by a Source when it does not list a pair (unknown asset,
// unknown symbol, pair missing from the answer). It is logged at Debug, not Warn.
var ErrUnsupported = errors.New("unsupported pair")

// ErrMalformed is wrapped when a provider's answer cannot be parsed or is not shaped
// like its API: garbage JSON, missing fields, a value that is not a decimal number.
var ErrMalformed = errors.New("malformed response")

// ErrRejected is wrapped when a value parsed fine but is absurd: zero, negative, or
// more than the outlier factor away from the other answers or from the source's last
// accepted value. Rejected values are logged and never used.
var ErrRejected = errors.New("rejected value")

// NoRateError says which pair had no fresh rate and what each source last said.
type NoRateError struct {
	Pair    Pair
	Reasons []string // "BTC/IDR: kraken: unsupported pair", …
}

// Error returns e.g. "no fresh rate for BTC/IDR (sources: kraken: timeout, coingecko: http 500)".
func (e *NoRateError) Error() string {
	if len(e.Reasons) == 0 {
		return fmt.Sprintf("no fresh rate for %s", e.Pair)
	}
	return fmt.Sprintf("no fresh rate for %s (%s)", e.Pair, strings.Join(e.Reasons, "; "))
}

// Is makes errors.Is(err, ErrNoRate) true.
func (e *NoRateError) Is(target error) bool { return target == ErrNoRate }

// HTTPError is a provider answering with a status other than 200.
type HTTPError struct {
	Status int
	Body   string // first bytes of the body, for logs and for provider error codes
}

// Error returns "http 500".
func (e *HTTPError) Error() string { return fmt.Sprintf("http %d", e.Status) }

// PairError is the failure of one pair inside a partly successful Source.Fetch.
type PairError struct {
	Pair Pair
	Err  error
}

// Error returns "BTC/USD: <err>".
func (e PairError) Error() string { return e.Pair.String() + ": " + e.Err.Error() }

// Unwrap returns the pair's error.
func (e PairError) Unwrap() error { return e.Err }

// FetchErrors is returned by Source.Fetch when some pairs failed; the rates it
// returned alongside are good. A Fetch error of any other type applies to every
// requested pair that has no rate.
type FetchErrors []PairError

// Error lists the failed pairs.
func (e FetchErrors) Error() string {
	parts := make([]string, len(e))
	for i, pe := range e {
		parts[i] = pe.Error()
	}
	return strings.Join(parts, "; ")
}
