package config

import (
	"strings"
	"testing"

	"github.com/payd/payd/invoice"
)

const lightningYAML = `
chains:
  lightning:
    type: lightning
    network: regtest
    rpc_url: https://127.0.0.1:8080
    tls_cert: /lnd/tls.cert
    macaroon: /lnd/invoice.macaroon
`

func TestLightningChain(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string // in lightningYAML
		want    string    // "" = valid
	}{
		{"valid", [2]string{}, ""},
		{"http", [2]string{"https://", "http://"}, `chains.lightning.rpc_url: "http://127.0.0.1:8080" is not https`},
		{"no cert", [2]string{"tls_cert: /lnd/tls.cert", "tls_cert: \"\""}, "chains.lightning.tls_cert: is empty"},
		{"no macaroon", [2]string{"macaroon: /lnd/invoice.macaroon", "macaroon: \"\""}, "chains.lightning.macaroon: is empty"},
		{"confirmations", [2]string{"network: regtest", "network: regtest\n    confirmations: 2"}, "chains.lightning.confirmations: is 2"},
		{"xpub", [2]string{"network: regtest", "network: regtest\n    xpub: tpubD6NzVbkrYhZ4X"}, "chains.lightning.xpub: a lightning chain takes no key"},
		{"network", [2]string{"network: regtest", "network: simnet"}, `chains.lightning.network: is "simnet"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := lightningYAML
			if tt.replace[0] != "" {
				y = strings.Replace(y, tt.replace[0], tt.replace[1], 1)
			}
			c, err := LoadBytes([]byte(y), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				m := c.Methods()
				if len(m) != 1 || m[0].Name != "lightning/btc" || m[0].Kind != invoice.KindLightning || m[0].Confirmations != 0 || m[0].Asset != invoice.BTC {
					t.Fatalf("methods = %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
