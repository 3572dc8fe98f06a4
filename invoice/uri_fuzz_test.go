package invoice

import (
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzPaymentURI builds BIP21 and EIP-681 URIs from arbitrary labels and
// amounts: each parses as a URL with the right scheme and opaque part, the
// label and message come back unchanged from the query, the amount comes
// back exactly (plain digits, never an exponent), and nothing leaks into
// another parameter.
func FuzzPaymentURI(f *testing.F) {
	f.Add("bcrt1q97ad72s9tcsarcqkurl57963swjvgzazk56ddz", int64(100_000), []byte{1}, uint64(31337), "payd test", "2 × T-shirt")
	f.Add("bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", int64(1), []byte{0xff, 0xff, 0xff}, uint64(1), "a&b=c?d+e", "%zz #frag")
	f.Add("1BoatSLRHtKNngkdXEeobR76b53LETtpyT", int64(0), []byte{}, uint64(0), "", "")
	f.Add("x", int64(-5), []byte{0x12, 0x34}, uint64(18446744073709551615), "\x00\xff;/,", "€ label with spaces")
	f.Fuzz(func(t *testing.T, address string, sats int64, wei []byte, chainID uint64, label, message string) {
		if address == "" || strings.Trim(address, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return // addresses are alphanumeric (base58, bech32, 0x hex)
		}
		s := BIP21(address, big.NewInt(sats), label, message)
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("BIP21 %q does not parse: %v", s, err)
		}
		if u.Scheme != "bitcoin" || u.Opaque != address || u.Fragment != "" {
			t.Fatalf("BIP21 %q: scheme %q opaque %q fragment %q", s, u.Scheme, u.Opaque, u.Fragment)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("BIP21 %q query: %v", s, err)
		}
		for k, want := range map[string]string{"label": label, "message": message} {
			if got := q.Get(k); got != want || (want == "" && q.Has(k)) || len(q[k]) > 1 {
				t.Fatalf("BIP21 %q: %s = %q, want %q", s, k, q[k], want)
			}
		}
		if sats > 0 {
			a := q.Get("amount")
			if strings.ContainsAny(a, "eE+-") {
				t.Fatalf("BIP21 amount %q", a)
			}
			back, err := ParseAmount(a, 8, "")
			if err != nil || back.Int64() != sats {
				t.Fatalf("BIP21 amount %q reads back as %v (%v), want %d sats", a, back, err, sats)
			}
		} else if q.Has("amount") {
			t.Fatalf("BIP21 %q has an amount for %d sats", s, sats)
		}
		for k := range q {
			if k != "amount" && k != "label" && k != "message" {
				t.Fatalf("BIP21 %q: stray parameter %q", s, k)
			}
		}

		v := new(big.Int).SetBytes(wei)
		for _, s := range []string{EIP681Native(address, chainID, v), EIP681Token(address, chainID, address, v)} {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("EIP-681 %q does not parse: %v", s, err)
			}
			if u.Scheme != "ethereum" || !strings.HasPrefix(u.Opaque, address+"@"+strconv.FormatUint(chainID, 10)) {
				t.Fatalf("EIP-681 %q: scheme %q opaque %q", s, u.Scheme, u.Opaque)
			}
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil {
				t.Fatalf("EIP-681 %q query: %v", s, err)
			}
			key := "value"
			if strings.Contains(u.Opaque, "/transfer") {
				key = "uint256"
				if q.Get("address") != address {
					t.Fatalf("EIP-681 %q: address %q", s, q.Get("address"))
				}
			}
			if v.Sign() == 0 {
				if q.Has(key) {
					t.Fatalf("EIP-681 %q has %s for zero", s, key)
				}
				continue
			}
			got := q.Get(key)
			if got == "" || strings.Trim(got, "0123456789") != "" {
				t.Fatalf("EIP-681 %q: %s %q is not plain digits", s, key, got)
			}
			if back, ok := new(big.Int).SetString(got, 10); !ok || back.Cmp(v) != 0 {
				t.Fatalf("EIP-681 %q: %s reads back as %v, want %s", s, key, back, v)
			}
		}
	})
}
