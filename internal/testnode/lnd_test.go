package testnode

import "testing"

// TestLightningChannel starts btcd and two lnd nodes, opens a channel from
// the payer to the merchant and pays an invoice over it.
func TestLightningChannel(t *testing.T) {
	l := StartLightning(t, 1_000_000)
	if n := l.Merchant.ActiveChannels(); n != 1 {
		t.Fatalf("merchant has %d active channels, want 1", n)
	}
	req := l.Merchant.AddInvoice(1000, "testnode")
	if err := l.Payer.PayErr(req); err != nil {
		t.Fatalf("pay: %v\n%s", err, l.Payer.Tail(20))
	}
}
