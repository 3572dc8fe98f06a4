package invoice

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Asset is a currency payd can price or receive: a crypto asset with its base
// unit decimals (BTC 8, ETH 18, USDC 6) or a fiat currency (2 decimals).
type Asset struct {
	Code     string // upper case: "BTC", "USDC", "USD"
	Decimals int
	Fiat     bool
}

// Common assets. Tokens get theirs from config.
var (
	BTC = Asset{Code: "BTC", Decimals: 8}
	ETH = Asset{Code: "ETH", Decimals: 18}
)

// FiatAsset returns the fiat asset for an ISO 4217 code (always 2 decimals in payd).
func FiatAsset(code string) Asset { return Asset{Code: strings.ToUpper(code), Decimals: 2, Fiat: true} }

// ErrAmount is wrapped by every amount parsing error.
var ErrAmount = errors.New("invalid amount")

// AmountError says why a decimal string is not an amount of an asset.
type AmountError struct {
	Input   string
	Problem string
}

func (e *AmountError) Error() string { return e.Problem }

// Unwrap makes errors.Is(err, ErrAmount) true.
func (e *AmountError) Unwrap() error { return ErrAmount }

// maxIntDigits bounds the integer part: far above any real amount, and low
// enough that every parsed amount also formats within the 100-character limit.
const maxIntDigits = 60

// ParseAmount parses a plain decimal string ("25.00", "0.00041234") into base
// units of an asset with the given decimals. It rejects signs, exponents,
// spaces, empty parts and more decimals than the asset has: money is never
// rounded on the way in.
func ParseAmount(s string, decimals int, code string) (*big.Int, error) {
	bad := func(format string, args ...any) (*big.Int, error) {
		return nil, &AmountError{Input: s, Problem: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("amount is empty")
	}
	if len(s) > 100 {
		return bad("amount is too long")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" {
		return bad("amount %q has no digits before the decimal point", s)
	}
	if hasDot && frac == "" {
		return bad("amount %q has no digits after the decimal point", s)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return bad("amount %q must be a plain decimal number like \"25.00\"", s)
			}
		}
	}
	if len(intPart) > maxIntDigits {
		return bad("amount is too large")
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return bad("amount %q has a leading zero", s)
	}
	if len(frac) > decimals {
		return bad("amount has %d decimals; %s allows %d", len(frac), code, decimals)
	}
	digits := intPart + frac + strings.Repeat("0", decimals-len(frac))
	v, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return bad("amount %q is not a number", s)
	}
	return v, nil
}

// FormatAmount writes base units as a decimal string with exactly decimals
// places ("25.00", "0.00041234", "1.000000").
func FormatAmount(v *big.Int, decimals int) string {
	if v == nil {
		v = new(big.Int)
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// FormatTrimmed is FormatAmount without trailing zeros ("0.0005", "25", "0").
func FormatTrimmed(v *big.Int, decimals int) string {
	s := FormatAmount(v, decimals)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// Format writes an amount of this asset the way the API shows it: fiat with
// exactly 2 decimals, crypto with its full decimals.
func (a Asset) Format(v *big.Int) string { return FormatAmount(v, a.Decimals) }

// Parse parses an amount of this asset.
func (a Asset) Parse(s string) (*big.Int, error) { return ParseAmount(s, a.Decimals, a.Code) }

// ValueAt is amount (base units with assetDec decimals) × rate, in base units
// of a currency with curDec decimals, rounded down; false when rate is not a
// plain non-negative decimal. Reports use it to value a payment at the rate
// its invoice locked.
func ValueAt(amount *big.Int, assetDec int, rate string, curDec int) (*big.Int, bool) {
	if rate == "" || strings.ContainsAny(rate, "eE") {
		return nil, false
	}
	rt, ok := new(big.Rat).SetString(rate)
	if !ok || rt.Sign() < 0 {
		return nil, false
	}
	v := new(big.Rat).SetInt(amount)
	v.Mul(v, rt)
	v.Mul(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(curDec)), nil)))
	v.Quo(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(assetDec)), nil)))
	return new(big.Int).Quo(v.Num(), v.Denom()), true
}
