package invoice

import (
	"math/big"
	"testing"
)

func TestLightningURIs(t *testing.T) {
	const bolt11 = "lnbcrt500u1pexample"
	btc := Method{Method: "bitcoin/btc", Chain: "bitcoin", Kind: KindBitcoin, Asset: BTC, Address: "bcrt1qaddr", AmountDue: big.NewInt(50_000)}
	ln := Method{Method: "lightning/btc", Chain: "lightning", Kind: KindLightning, Asset: BTC, Address: bolt11, AmountDue: big.NewInt(50_000)}
	tests := []struct {
		name    string
		methods []Method
		want    map[string]string // method → payment_uri
	}{
		{"lightning only", []Method{ln}, map[string]string{"lightning/btc": "lightning:" + bolt11}},
		{"unified", []Method{btc, ln}, map[string]string{
			"bitcoin/btc":   "bitcoin:bcrt1qaddr?amount=0.0005&lightning=" + bolt11,
			"lightning/btc": "lightning:" + bolt11,
		}},
		{"bitcoin only", []Method{btc}, map[string]string{"bitcoin/btc": "bitcoin:bcrt1qaddr?amount=0.0005"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &Invoice{ID: "inv_x", Status: StatusNew, Amount: big.NewInt(50_000), Currency: BTC, Methods: tt.methods}
			v := inv.View(ViewOptions{})
			for _, m := range v.Methods {
				if m.PaymentURI != tt.want[m.Method] {
					t.Fatalf("%s payment_uri = %s, want %s", m.Method, m.PaymentURI, tt.want[m.Method])
				}
			}
		})
	}
	if got := Unified("bitcoin:addr", bolt11); got != "bitcoin:addr?lightning="+bolt11 {
		t.Fatalf("Unified without query = %s", got)
	}
}
