package greenfield

import (
	"strings"
)

// Method is a payd payment method as Greenfield names it.
type Method struct {
	Name    string // payd's name, "bitcoin/btc"
	Chain   string // "bitcoin"
	Asset   string // "BTC", "USDC"
	Bitcoin bool   // a Bitcoin chain (speedPolicy applies)
	Token   bool   // an ERC-20 token
	Native  string // the EVM chain's coin symbol ("ETH"), "" for Bitcoin
	// ID is the Greenfield payment method id, set by newMethods.
	ID string
}

// newMethods gives every method its Greenfield id, of [A-Za-z0-9-] only:
// "<ASSET>-CHAIN" for a chain's own coin (BTC-CHAIN, ETH-CHAIN) and
// "<ASSET>-<NATIVE>" for a token (USDC-ETH, USDT-POL). Ids that would
// collide (two chains whose coin is ETH) use the chain's name instead
// (USDC-ARBITRUM).
func newMethods(ms []Method) []Method {
	out := make([]Method, len(ms))
	count := map[string]int{}
	for i, m := range ms {
		tag := "CHAIN"
		if m.Token {
			tag = alnum(m.Native)
		}
		out[i] = m
		out[i].ID = alnum(m.Asset) + "-" + tag
		count[out[i].ID]++
	}
	for i := range out {
		if count[out[i].ID] > 1 {
			out[i].ID = alnum(out[i].Asset) + "-" + alnum(out[i].Chain)
		}
	}
	return out
}

// alnum upper-cases s and drops everything but letters and digits.
func alnum(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// byName returns the method with payd name n.
func (a *API) byName(n string) (Method, bool) {
	for _, m := range a.methods {
		if m.Name == n {
			return m, true
		}
	}
	return Method{}, false
}

// gfID returns the Greenfield id of payd method n (n itself, sanitized, for
// a method no longer configured).
func (a *API) gfID(n string) string {
	if m, ok := a.byName(n); ok {
		return m.ID
	}
	return alnum(strings.ReplaceAll(n, "/", "-"))
}

// parseMethod maps a Greenfield payment method id as the plugins send it —
// "BTC-CHAIN", "BTC_CHAIN" (WooCommerce's form), "btc-chain", legacy "BTC"
// or "BTC-OnChain" — or payd's own name to the method.
func (a *API) parseMethod(s string) (Method, bool) {
	if m, ok := a.byName(strings.ToLower(s)); ok {
		return m, true
	}
	id := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
	if !strings.Contains(id, "-") || strings.HasSuffix(id, "-ONCHAIN") {
		id = strings.TrimSuffix(id, "-ONCHAIN") + "-CHAIN"
	}
	for _, m := range a.methods {
		if m.ID == id {
			return m, true
		}
	}
	return Method{}, false
}
