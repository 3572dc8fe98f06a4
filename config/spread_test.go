package config

import (
	"strings"
	"testing"
)

func TestSpreadsValidated(t *testing.T) {
	for _, c := range []struct {
		name, spreads string
		want          []string // substrings of Validate's error; none = no spread problem
	}{
		{"ok", `{bitcoin/btc: "1.5", ethereum/usdc: "-2"}`, nil},
		{"not a number", `{bitcoin/btc: "1,5"}`, []string{"rates.spreads.bitcoin/btc", `want a decimal percent`}},
		{"too high", `{bitcoin/btc: "150"}`, []string{"rates.spreads.bitcoin/btc", "between -50 and 100"}},
		{"unknown method", `{bitcoin/eth: "1"}`, []string{"rates.spreads.bitcoin/eth: names no enabled payment method"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadBytes([]byte(`
chains:
  bitcoin:
    type: bitcoin
  ethereum:
    type: evm
    tokens:
      - {symbol: USDC, contract: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}
rates:
  spreads: `+c.spreads+`
`), nil)
			if err != nil {
				t.Fatal(err)
			}
			var spreadErrs []string
			if err := cfg.Validate(); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if strings.Contains(line, "spreads") {
						spreadErrs = append(spreadErrs, line)
					}
				}
			}
			got := strings.Join(spreadErrs, "\n")
			if len(c.want) == 0 && got != "" {
				t.Fatalf("unexpected: %s", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Fatalf("errors %q lack %q", got, w)
				}
			}
		})
	}
}
