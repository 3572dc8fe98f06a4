package service

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestCreateLinkValidation(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name  string
		req   LinkRequest
		code  string
		field string
	}{
		{"no amount", LinkRequest{Currency: "USD"}, "invalid_field", "amount"},
		{"unknown currency", LinkRequest{Amount: "1", Currency: "XYZ"}, "unknown_currency", "currency"},
		{"too many decimals", LinkRequest{Amount: "1.001", Currency: "USD"}, "invalid_amount", "amount"},
		{"zero", LinkRequest{Amount: "0", Currency: "BTC"}, "invalid_amount", "amount"},
		{"unknown method", LinkRequest{Amount: "1", Currency: "USD", Methods: []string{"dogecoin/doge"}}, "unknown_method", "methods[0]"},
		{"no rate", LinkRequest{Amount: "1", Currency: "USD", Methods: []string{"ethereum/eth"}}, "no_rate", "methods"},
		{"metadata not object", LinkRequest{Amount: "1", Currency: "USD", Metadata: []byte(`"x"`)}, "invalid_field", "metadata"},
		{"description too long", LinkRequest{Amount: "1", Currency: "USD", Description: string(make([]rune, 1001))}, "invalid_field", "description"},
		{"max_uses 0", LinkRequest{Amount: "1", Currency: "USD", MaxUses: ptr[int64](0)}, "invalid_field", "max_uses"},
		{"max_uses negative", LinkRequest{Amount: "1", Currency: "USD", MaxUses: ptr[int64](-3)}, "invalid_field", "max_uses"},
		{"expires_at not RFC 3339", LinkRequest{Amount: "1", Currency: "USD", ExpiresAt: "tomorrow"}, "invalid_field", "expires_at"},
		{"expires_at past", LinkRequest{Amount: "1", Currency: "USD", ExpiresAt: "2001-01-01T00:00:00Z"}, "invalid_field", "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.s.CreateLink(context.Background(), tt.req)
			var se *Error
			if !errors.As(err, &se) || se.Code != tt.code || se.Field != tt.field {
				t.Fatalf("got %v (%+v), want %s on %s", err, se, tt.code, tt.field)
			}
			// Validate judges the invoice part the same way.
			if tt.field != "max_uses" && tt.field != "expires_at" {
				err := h.s.Validate(context.Background(), CreateRequest{Amount: tt.req.Amount, Currency: tt.req.Currency,
					Methods: tt.req.Methods, Description: tt.req.Description, Metadata: tt.req.Metadata})
				if !errors.As(err, &se) || se.Code != tt.code || se.Field != tt.field {
					t.Fatalf("Validate: got %v, want %s on %s", err, tt.code, tt.field)
				}
			}
		})
	}
	if invs, _, _ := h.db.ListInvoices(context.Background(), "", "", "", 10); len(invs) != 0 {
		t.Fatalf("validation stored %d invoices", len(invs))
	}
}

func TestLinkVisits(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	now := time.Now().UTC().Truncate(time.Second)
	h.s.d.Now = func() time.Time { return now }
	l, err := h.s.CreateLink(ctx, LinkRequest{Amount: "25", Currency: "usd", Methods: []string{"BITCOIN/BTC"},
		Description: "T-shirt", Metadata: []byte(`{"sku":"T1"}`), MaxUses: ptr[int64](2),
		ExpiresAt: now.Add(time.Hour).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if l.Amount != "25.00" || l.Currency != "USD" || len(l.Methods) != 1 || l.Methods[0] != "bitcoin/btc" || l.MaxUses != 2 ||
		!l.ExpiresAt.Equal(now.Add(time.Hour)) || !l.CreatedAt.Equal(now) || len(l.ID) != 4+29 {
		t.Fatalf("link = %+v", l)
	}

	seen := map[string]bool{}
	for i := range 2 {
		inv, err := h.s.VisitLink(ctx, l.ID)
		if err != nil {
			t.Fatalf("visit %d: %v", i, err)
		}
		if seen[inv.ID] || inv.LinkID != l.ID || inv.Amount.String() != "2500" || inv.Currency.Code != "USD" ||
			len(inv.Methods) != 1 || inv.Methods[0].Method != "bitcoin/btc" || inv.Description != "T-shirt" || string(inv.Metadata) != `{"sku":"T1"}` {
			t.Fatalf("visit %d: invoice %+v", i, inv)
		}
		seen[inv.ID] = true
		got, err := h.s.Get(ctx, inv.ID)
		if err != nil || got.LinkID != l.ID {
			t.Fatalf("stored invoice: %+v %v", got, err)
		}
	}
	if _, err := h.s.VisitLink(ctx, l.ID); !errors.Is(err, ErrLinkGone) {
		t.Fatalf("third visit of max_uses 2: %v", err)
	}
	if err := h.s.LinkStatus(ctx, l.ID); !errors.Is(err, ErrLinkGone) {
		t.Fatalf("status of a used-up link: %v", err)
	}
	if got, err := h.s.Link(ctx, l.ID); err != nil || got.Uses != 2 {
		t.Fatalf("uses = %+v %v", got, err)
	}
	if _, err := h.s.VisitLink(ctx, "lnk_unknown"); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("unknown link: %v", err)
	}
}

func TestLinkExpiryAndDelete(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	now := time.Now().UTC().Truncate(time.Second)
	h.s.d.Now = func() time.Time { return now }
	exp, err := h.s.CreateLink(ctx, LinkRequest{Amount: "0.001", Currency: "BTC", ExpiresAt: now.Add(time.Minute).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	del, err := h.s.CreateLink(ctx, LinkRequest{Amount: "0.001", Currency: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.s.LinkStatus(ctx, exp.ID); err != nil {
		t.Fatalf("fresh link status: %v", err)
	}
	if err := h.s.DeleteLink(ctx, del.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	tests := []struct {
		name string
		id   string
	}{{"expired", exp.ID}, {"deleted", del.ID}}
	for _, tt := range tests {
		if _, err := h.s.VisitLink(ctx, tt.id); !errors.Is(err, ErrLinkGone) {
			t.Fatalf("%s: visit: %v", tt.name, err)
		}
		if err := h.s.LinkStatus(ctx, tt.id); !errors.Is(err, ErrLinkGone) {
			t.Fatalf("%s: status: %v", tt.name, err)
		}
	}
	if _, err := h.s.Link(ctx, del.ID); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := h.s.DeleteLink(ctx, del.ID); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := h.s.Link(ctx, exp.ID); err != nil {
		t.Fatalf("an expired link is still readable: %v", err)
	}
}

// TestLinkVisitFailureGivesUseBack: a visit whose invoice cannot be created
// (the rate went away) does not consume the link.
func TestLinkVisitFailureGivesUseBack(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	l, err := h.s.CreateLink(ctx, LinkRequest{Amount: "10", Currency: "USD", Methods: []string{"bitcoin/btc"}, MaxUses: ptr[int64](1)})
	if err != nil {
		t.Fatal(err)
	}
	h.s.d.Rates = fakeRates{}
	_, err = h.s.VisitLink(ctx, l.ID)
	var se *Error
	if !errors.As(err, &se) || se.Code != "no_rate" {
		t.Fatalf("visit without a rate: %v", err)
	}
	if got, _ := h.s.Link(ctx, l.ID); got.Uses != 0 {
		t.Fatalf("failed visit used the link: uses %d", got.Uses)
	}
	h.s.d.Rates = fakeRates{"BTC/USD": "60000"}
	if _, err := h.s.VisitLink(ctx, l.ID); err != nil {
		t.Fatalf("visit after the rate is back: %v", err)
	}
}

func TestLinkConcurrentVisits(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	l, err := h.s.CreateLink(ctx, LinkRequest{Amount: "0.001", Currency: "BTC", MaxUses: ptr[int64](3)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ids := map[string]bool{}
	gone := 0
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv, err := h.s.VisitLink(ctx, l.ID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ids[inv.ID] = true
			case errors.Is(err, ErrLinkGone):
				gone++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(ids) != 3 || gone != 7 {
		t.Fatalf("%d invoices, %d gone; want 3 and 7", len(ids), gone)
	}
}
