package rates

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Pair is an ordered currency pair: the price of one Base expressed in Quote.
// Codes are upper case ("BTC", "USD", "USDT").
type Pair struct {
	Base, Quote string
}

// String returns "BASE/QUOTE", the form used in config keys and messages.
func (p Pair) String() string { return p.Base + "/" + p.Quote }

// ParsePair parses "BTC/USD" (any case, surrounding spaces ignored).
func ParsePair(s string) (Pair, error) {
	b, q, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Pair{}, fmt.Errorf("pair %q: want BASE/QUOTE like BTC/USD", s)
	}
	base, err := normCode(b)
	if err != nil {
		return Pair{}, fmt.Errorf("pair %q: %w", s, err)
	}
	quote, err := normCode(q)
	if err != nil {
		return Pair{}, fmt.Errorf("pair %q: %w", s, err)
	}
	return Pair{Base: base, Quote: quote}, nil
}

// normCode upper-cases a currency code and checks it is 2–12 ASCII letters or digits.
func normCode(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if len(c) < 2 || len(c) > 12 {
		return "", fmt.Errorf("%w: %q", ErrInvalidCurrency, s)
	}
	for i := 0; i < len(c); i++ {
		if (c[i] < 'A' || c[i] > 'Z') && (c[i] < '0' || c[i] > '9') {
			return "", fmt.Errorf("%w: %q", ErrInvalidCurrency, s)
		}
	}
	return c, nil
}

// Rate is the price of one Base in Quote, where it came from and when it was observed.
// Value is exact; rates returned by Service.Rate and ApplySpread are already rounded
// to the precision String prints, so the stored string and the value used for
// arithmetic agree exactly.
type Rate struct {
	Base, Quote string
	Value       *big.Rat
	// Source names the origin: "coingecko", "median(coingecko,kraken)", "static",
	// "peg", "identity", or for a composed rate its legs:
	// "BTC/USD median(coingecko,kraken) × USD/IDR coinbase".
	Source string
	Time   time.Time // when the (oldest contributing) value was fetched
}

// Pair returns the rate's pair.
func (r Rate) Pair() Pair { return Pair{Base: r.Base, Quote: r.Quote} }

// String returns the value as a plain decimal string rounded half away from zero,
// trailing zeros trimmed: values of 1 or more to 8 decimal places ("60630.12",
// "60012.50250050", printed "60012.5025005"); values below 1 to 10 significant digits
// (at least 8, at most 18 places: "0.05000374997", "0.00001649362109").
func (r Rate) String() string {
	if r.Value == nil {
		return ""
	}
	return formatDecimal(r.Value)
}

const (
	minPlaces = 8
	sigDigits = 10
	maxPlaces = 18
)

// places returns how many decimal places String uses for v.
func places(v *big.Rat) int {
	a := new(big.Rat).Abs(v)
	if a.Sign() == 0 || a.Cmp(big.NewRat(1, 1)) >= 0 {
		return minPlaces
	}
	// Count the leading zeros after the decimal point: the smallest k with a*10^(k+1) >= 1.
	one := big.NewRat(1, 1)
	ten := big.NewRat(10, 1)
	x := new(big.Rat).Mul(a, ten)
	k := 0
	for x.Cmp(one) < 0 && k < maxPlaces {
		x.Mul(x, ten)
		k++
	}
	p := k + sigDigits
	if p < minPlaces {
		p = minPlaces
	}
	if p > maxPlaces {
		p = maxPlaces
	}
	return p
}

// formatDecimal renders v as String does.
func formatDecimal(v *big.Rat) string {
	s := v.FloatString(places(v))
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// round returns v rounded exactly as String prints it.
func round(v *big.Rat) *big.Rat {
	r, _ := new(big.Rat).SetString(formatDecimal(v))
	return r
}

// parseDecimal parses a provider's number ("67187.3358", "6.7e-05", "-1") exactly.
// It refuses empty, over-long input, huge exponents (which would make big.Rat
// allocate without bound), NaN and infinities. The sign is kept: callers reject
// non-positive values themselves so the log says why.
func parseDecimal(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return nil, fmt.Errorf("%w: number %q", ErrMalformed, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return nil, fmt.Errorf("%w: number %q", ErrMalformed, s)
		}
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp := strings.TrimLeft(s[i+1:], "+-")
		if len(exp) == 0 || len(exp) > 2 {
			return nil, fmt.Errorf("%w: number %q", ErrMalformed, s)
		}
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%w: number %q", ErrMalformed, s)
	}
	return v, nil
}

// mustRat parses a decimal string known to be valid (tests, defaults).
func mustRat(s string) *big.Rat {
	v, err := parseDecimal(s)
	if err != nil {
		panic(err)
	}
	return v
}

// median returns the median of vs exactly: the middle value, or the mean of the two
// middle values for an even count. vs must not be empty; it is not modified.
func median(vs []*big.Rat) *big.Rat {
	s := make([]*big.Rat, len(vs))
	copy(s, vs)
	sort.Slice(s, func(i, j int) bool { return s[i].Cmp(s[j]) < 0 })
	n := len(s)
	if n%2 == 1 {
		return new(big.Rat).Set(s[n/2])
	}
	m := new(big.Rat).Add(s[n/2-1], s[n/2])
	return m.Quo(m, big.NewRat(2, 1))
}

// outside reports whether v is more than factor times above or below ref.
func outside(v, ref *big.Rat, factor int64) bool {
	f := big.NewRat(factor, 1)
	hi := new(big.Rat).Mul(ref, f)
	if v.Cmp(hi) > 0 {
		return true
	}
	lo := new(big.Rat).Mul(v, f)
	return lo.Cmp(ref) < 0
}

// compose multiplies two adjacent legs (a: X/Y, b: Y/Z) into X/Z. The source lists
// both legs; the time is the older of the two.
func compose(a, b Rate) Rate {
	t := a.Time
	if b.Time.Before(t) {
		t = b.Time
	}
	return Rate{
		Base:   a.Base,
		Quote:  b.Quote,
		Value:  new(big.Rat).Mul(a.Value, b.Value),
		Source: legName(a) + " × " + legName(b),
		Time:   t,
	}
}

func legName(r Rate) string {
	if strings.Contains(r.Source, " × ") {
		return r.Source
	}
	return r.Pair().String() + " " + r.Source
}

// invert turns a Y/X rate into X/Y.
func invert(r Rate) Rate {
	return Rate{
		Base:   r.Quote,
		Quote:  r.Base,
		Value:  new(big.Rat).Inv(r.Value),
		Source: r.Source + " inverted",
		Time:   r.Time,
	}
}

// ApplySpread applies a per-method markup of percent (a decimal string, e.g. "1.5",
// between -50 and 100) so that the merchant receives percent% MORE crypto: the rate
// (price of one crypto unit in the invoice currency) is divided by (1 + percent/100).
// A 25.00 USD invoice at 50000 USD/BTC is 0.0005 BTC; with a 2% spread the rate becomes
// 49019.60784314 and the shopper owes 0.00051 BTC. A negative percent is a discount.
// "" and "0" return r unchanged. The result is rounded as String prints it and its
// Source gets " spread 2%" appended.
func ApplySpread(r Rate, percent string) (Rate, error) {
	p, err := ParseSpread(percent)
	if err != nil {
		return Rate{}, err
	}
	if p.Sign() == 0 || r.Value == nil {
		return r, nil
	}
	f := new(big.Rat).Quo(p, big.NewRat(100, 1))
	f.Add(f, big.NewRat(1, 1))
	out := r
	out.Value = round(new(big.Rat).Quo(r.Value, f))
	out.Source = r.Source + " spread " + strings.TrimSpace(percent) + "%"
	return out, nil
}

// ParseSpread parses a spread percent ("1.5"; "" means 0) and checks it lies in
// [-50, 100]. The config package uses it to validate per-method spreads.
func ParseSpread(percent string) (*big.Rat, error) {
	if strings.TrimSpace(percent) == "" {
		return new(big.Rat), nil
	}
	p, err := parseDecimal(percent)
	if err != nil || strings.ContainsAny(percent, "eE") {
		return nil, fmt.Errorf("spread %q: want a decimal percent like \"1.5\"", percent)
	}
	if p.Cmp(big.NewRat(-50, 1)) < 0 || p.Cmp(big.NewRat(100, 1)) > 0 {
		return nil, fmt.Errorf("spread %q: must be between -50 and 100 percent", percent)
	}
	return p, nil
}
