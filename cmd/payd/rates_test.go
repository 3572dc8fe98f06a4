package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const ratesChains = goodBitcoin + `
  ethereum:
    type: evm
    chain_id: 1
    rpc_url: http://127.0.0.1:8545
    xpub: xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt
    tokens:
      - {symbol: USDC, contract: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}
`

func TestRatesCommand(t *testing.T) {
	for _, c := range []struct {
		name    string
		rates   string
		wantErr string
		want    []string // regexps, one per line of output, in order
	}{
		{
			name: "static and pegs",
			rates: `
rates:
  sources: [static]
  static: {btc/usd: "60000", eth/usd: "3000.5"}
  spreads: {bitcoin/btc: "1.0"}
`,
			want: []string{
				`^PAIR +RATE +AGE +SOURCE$`,
				`^BTC/USD +60000 +\d+s +static$`,
				`^ETH/USD +3000\.5 +\d+s +static$`,
				`^USDC/USD +1 +\d+s +peg$`,
				`^$`,
				`^Spreads`,
				`^  bitcoin/btc 1\.0%$`,
			},
		},
		{
			name: "a configured fiat without a rate",
			rates: `
rates:
  sources: [static]
  static: {btc/usd: "60000", eth/usd: "3000.5", usd/eur: "0.9"}
  pairs: [BTC/EUR, ETH/IDR]
`,
			wantErr: "3 of 9 pairs have no fresh rate",
			want: []string{
				`^PAIR +RATE +AGE +SOURCE$`,
				`^BTC/EUR +54000 +\d+s +BTC/USD static × USD/EUR static$`,
				`^BTC/IDR +- +- +no fresh rate for BTC/IDR .*static`,
				`^BTC/USD +60000 +\d+s +static$`,
				`^ETH/EUR +2700\.45 +\d+s +ETH/USD static × USD/EUR static$`,
				`^ETH/IDR +- +- +no fresh rate for ETH/IDR`,
				`^ETH/USD +3000\.5 +\d+s +static$`,
				`^USDC/EUR +0\.9 +\d+s +USDC/USD peg × USD/EUR static$`,
				`^USDC/IDR +- +- +no fresh rate for USDC/IDR`,
				`^USDC/USD +1 +\d+s +peg$`,
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "payd.yaml")
			if err := os.WriteFile(path, []byte(ratesChains+c.rates), 0o600); err != nil {
				t.Fatal(err)
			}
			out, _, err := runCLI(t, nil, "rates", "--config", path)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("rates: %v\n%s", err, out)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("rates error = %v, want %q\n%s", err, c.wantErr, out)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != len(c.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(c.want), out)
			}
			for i, re := range c.want {
				if !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("line %d %q does not match %s", i, lines[i], re)
				}
			}
		})
	}
}
