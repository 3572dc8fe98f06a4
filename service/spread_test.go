package service

import (
	"context"
	"testing"
)

func TestSpreadRaisesAmountDue(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, spread, currency, amount string
		wantDue, wantRate, wantSource  string
	}{
		// 25.00 USD at 60000 USD/BTC = 41667 sat (rounded up); at 60000/1.01 it is 1% more.
		{"none", "", "USD", "25.00", "41667", "60000", "static"},
		{"1 percent", "1.0", "USD", "25.00", "42084", "59405.94059406", "static spread 1.0%"},
		{"discount", "-2", "USD", "25.00", "40834", "61224.48979592", "static spread -2%"},
		// An invoice in the method's own asset needs no rate and gets no spread.
		{"own asset", "1.0", "BTC", "0.001", "100000", "1", "identity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.s.cfg.Spreads = map[string]string{"bitcoin/btc": c.spread}
			inv, err := h.s.Create(ctx, CreateRequest{Amount: c.amount, Currency: c.currency, Methods: []string{"bitcoin/btc"}})
			if err != nil {
				t.Fatal(err)
			}
			m := inv.Methods[0]
			if m.AmountDue.String() != c.wantDue || m.Rate != c.wantRate || m.RateSource != c.wantSource {
				t.Fatalf("due %s rate %s source %q, want %s %s %q", m.AmountDue, m.Rate, m.RateSource, c.wantDue, c.wantRate, c.wantSource)
			}
		})
	}
}
