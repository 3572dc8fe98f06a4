package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/rates"
	"github.com/payd/payd/store"
)

type fakeDeriver string

func (f fakeDeriver) Address(i uint32) (string, string, error) {
	return fmt.Sprintf("%s-addr-%d", f, i), fmt.Sprintf("m/0/%d", i), nil
}

type fakeRates map[string]string // "BTC/USD" → "60000"

func (f fakeRates) Rate(_ context.Context, base, quote string) (rates.Rate, error) {
	v, ok := f[base+"/"+quote]
	if !ok {
		return rates.Rate{}, &rates.NoRateError{}
	}
	r, _ := new(big.Rat).SetString(v)
	return rates.Rate{Base: base, Quote: quote, Value: r, Source: "static", Time: time.Unix(1_800_000_000, 0)}, nil
}

type harness struct {
	s       *Service
	db      *store.DB
	mu      sync.Mutex
	watched []string
	events  []invoice.Event
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return newHarnessDB(t, db)
}

// newHarnessDB is newHarness over db (migrated, closed by the caller).
func newHarnessDB(t testing.TB, db *store.DB) *harness {
	t.Helper()
	h := &harness{db: db}
	usdc := invoice.Asset{Code: "USDC", Decimals: 6}
	h.s = New(Config{
		Methods: []MethodSpec{
			{Name: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Confirmations: 1},
			{Name: "ethereum/eth", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: invoice.Asset{Code: "ETH", Decimals: 18}, Confirmations: 12},
			{Name: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: usdc, Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", Confirmations: 12},
		},
		ExpiresIn: 15 * time.Minute, ToleranceBP: 0, MonitoringWindow: 24 * time.Hour, BaseURL: "https://pay.example",
	}, Deps{
		DB: db, Rates: fakeRates{"BTC/USD": "60000", "USDC/USD": "1"},
		Derivers: map[string]Deriver{"bitcoin": fakeDeriver("bc"), "ethereum": fakeDeriver("0x")},
		Watch: func(c string, a ...string) {
			h.mu.Lock()
			h.watched = append(h.watched, a...)
			h.mu.Unlock()
		},
		Notify: func(evs []invoice.Event) { h.mu.Lock(); h.events = append(h.events, evs...); h.mu.Unlock() },
		Log:    slog.New(slog.DiscardHandler),
	})
	return h
}

func ptr[T any](v T) *T { return &v }

func TestCreateValidation(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name  string
		req   CreateRequest
		code  string
		field string
	}{
		{"no amount", CreateRequest{Currency: "USD"}, "invalid_field", "amount"},
		{"no currency", CreateRequest{Amount: "1"}, "invalid_field", "currency"},
		{"unknown currency", CreateRequest{Amount: "1", Currency: "XYZ"}, "unknown_currency", "currency"},
		{"too many decimals", CreateRequest{Amount: "1.001", Currency: "USD"}, "invalid_amount", "amount"},
		{"btc 9 decimals", CreateRequest{Amount: "0.000000001", Currency: "BTC"}, "invalid_amount", "amount"},
		{"exponent", CreateRequest{Amount: "1e3", Currency: "USD"}, "invalid_amount", "amount"},
		{"negative", CreateRequest{Amount: "-1", Currency: "USD"}, "invalid_amount", "amount"},
		{"zero", CreateRequest{Amount: "0.00", Currency: "USD"}, "invalid_amount", "amount"},
		{"unknown method", CreateRequest{Amount: "1", Currency: "USD", Methods: []string{"dogecoin/doge"}}, "unknown_method", "methods[0]"},
		{"no rate for explicit method", CreateRequest{Amount: "1", Currency: "USD", Methods: []string{"ethereum/eth"}}, "no_rate", "methods"},
		{"no rate at all", CreateRequest{Amount: "1", Currency: "EUR"}, "no_rate", "currency"},
		{"duplicate method", CreateRequest{Amount: "1", Currency: "USD", Methods: []string{"bitcoin/btc", "bitcoin/btc"}}, "invalid_field", "methods[1]"},
		{"expires_in short", CreateRequest{Amount: "1", Currency: "USD", ExpiresIn: ptr[int64](59)}, "invalid_field", "expires_in"},
		{"expires_in long", CreateRequest{Amount: "1", Currency: "USD", ExpiresIn: ptr[int64](604801)}, "invalid_field", "expires_in"},
		{"tolerance > 50", CreateRequest{Amount: "1", Currency: "USD", PaymentTolerance: ptr("50.01")}, "invalid_field", "payment_tolerance"},
		{"tolerance float junk", CreateRequest{Amount: "1", Currency: "USD", PaymentTolerance: ptr("0.5e1")}, "invalid_field", "payment_tolerance"},
		{"confirmations unknown chain", CreateRequest{Amount: "1", Currency: "USD", Confirmations: map[string]int{"solana": 1}}, "invalid_field", "confirmations.solana"},
		{"confirmations > 100", CreateRequest{Amount: "1", Currency: "USD", Confirmations: map[string]int{"bitcoin": 101}}, "invalid_field", "confirmations.bitcoin"},
		{"metadata not object", CreateRequest{Amount: "1", Currency: "USD", Metadata: []byte(`[1]`)}, "invalid_field", "metadata"},
		{"metadata too big", CreateRequest{Amount: "1", Currency: "USD", Metadata: []byte(`{"a":"` + string(make([]byte, 8200)) + `"}`)}, "invalid_field", "metadata"},
		{"order_id too long", CreateRequest{Amount: "1", Currency: "USD", OrderID: string(make([]rune, 129))}, "invalid_field", "order_id"},
		{"redirect not http", CreateRequest{Amount: "1", Currency: "USD", RedirectURL: "javascript:alert(1)"}, "invalid_field", "redirect_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.s.Create(context.Background(), tt.req)
			var se *Error
			if !errors.As(err, &se) || se.Code != tt.code || se.Field != tt.field {
				t.Fatalf("got %v (%+v), want %s on %s", err, se, tt.code, tt.field)
			}
		})
	}
	if invs, _, _ := h.db.ListInvoices(context.Background(), "", "", "", 10); len(invs) != 0 {
		t.Fatalf("bad input stored %d invoices", len(invs))
	}
	if n, _ := h.db.PeekIndex(context.Background(), "bitcoin"); n != 0 {
		t.Fatalf("bad input used derivation index %d", n)
	}
}

func TestCreateGetCancelMark(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	inv, err := h.s.Create(ctx, CreateRequest{Amount: "25.00", Currency: "usd", OrderID: "A-1", Metadata: []byte(`{"customer":"42"}`),
		Confirmations: map[string]int{"bitcoin": 0}})
	if err != nil {
		t.Fatal(err)
	}
	// ETH has no rate: the default methods are the priceable ones.
	if len(inv.Methods) != 2 || inv.Methods[0].Method != "bitcoin/btc" || inv.Methods[1].Method != "ethereum/usdc" {
		t.Fatalf("methods = %+v", inv.Methods)
	}
	if inv.Methods[0].AmountDue.String() != "41667" || inv.Methods[0].Rate != "60000" || inv.Methods[0].ConfirmationsRequired != 0 {
		t.Fatalf("btc method = %+v", inv.Methods[0])
	}
	if inv.Methods[1].AmountDue.String() != "25000000" || inv.Methods[1].ConfirmationsRequired != 12 {
		t.Fatalf("usdc method = %+v", inv.Methods[1])
	}
	if len(h.watched) != 2 || h.watched[0] != "bc-addr-0" || h.watched[1] != "0x-addr-0" {
		t.Fatalf("watched = %v", h.watched)
	}
	if len(h.events) != 1 || h.events[0].Type != invoice.EventCreated {
		t.Fatalf("events = %v", h.events)
	}
	evs, _ := h.db.InvoiceEvents(ctx, inv.ID)
	if len(evs) != 1 || evs[0].ID != h.events[0].ID {
		t.Fatalf("stored events = %v", evs)
	}

	// A second invoice gets fresh addresses.
	inv2, err := h.s.Create(ctx, CreateRequest{Amount: "0.001", Currency: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv2.Methods) != 1 || inv2.Methods[0].Address != "bc-addr-1" || inv2.Methods[0].AmountDue.Int64() != 100_000 || inv2.Methods[0].RateSource != "identity" {
		t.Fatalf("inv2 methods = %+v", inv2.Methods)
	}

	got, err := h.s.Get(ctx, inv.ID)
	if err != nil || got.Sequence != 1 || string(got.Metadata) != `{"customer":"42"}` {
		t.Fatalf("get = %+v, %v", got, err)
	}
	for _, id := range []string{"inv_nope", "evt_" + inv.ID[4:], ""} {
		if _, err := h.s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}

	c, err := h.s.Cancel(ctx, inv.ID)
	if err != nil || c.Status != invoice.StatusExpired || c.Sequence != 2 {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	var se *Error
	if _, err := h.s.Cancel(ctx, inv.ID); !errors.As(err, &se) || se.Code != "conflict" {
		t.Fatalf("second cancel = %v", err)
	}
	m, err := h.s.Mark(ctx, inv.ID, invoice.StatusSettled)
	if err != nil || m.Status != invoice.StatusSettled || m.Exception != invoice.ExceptionMarked || m.SettledAt == nil || m.Sequence != 3 {
		t.Fatalf("mark = %+v, %v", m, err)
	}
	if _, err := h.s.Mark(ctx, inv.ID, invoice.StatusProcessing); !errors.As(err, &se) || se.Field != "status" {
		t.Fatalf("mark processing = %v", err)
	}
	evs, _ = h.db.InvoiceEvents(ctx, inv.ID)
	var types []invoice.EventType
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if fmt.Sprint(types) != "[invoice.created invoice.expired invoice.settled]" {
		t.Fatalf("events = %v", types)
	}

	list, more, err := h.s.List(ctx, ListFilter{Limit: 1})
	if err != nil || !more || len(list) != 1 || list[0].ID != inv2.ID {
		t.Fatalf("list = %v %v %v", list, more, err)
	}
	if _, _, err := h.s.List(ctx, ListFilter{Limit: 201}); !errors.As(err, &se) || se.Field != "limit" {
		t.Fatalf("limit 201 = %v", err)
	}
}

func TestConcurrentCreatesGetDistinctAddresses(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	addrs := make(chan string, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv, err := h.s.Create(context.Background(), CreateRequest{Amount: "0.001", Currency: "BTC"})
			if err != nil {
				t.Error(err)
				return
			}
			addrs <- inv.Methods[0].Address
		}()
	}
	wg.Wait()
	close(addrs)
	seen := map[string]bool{}
	for a := range addrs {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	if len(seen) != 40 {
		t.Fatalf("%d addresses", len(seen))
	}
}

// TestIndexesContinueAcrossRestarts creates invoices concurrently, then
// starts a second Service on the same database (a restart): the indexes are
// one run without reuse, the stored counter is past the last one, and the
// new Service continues from it.
func TestIndexesContinueAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	create := func(s *Service, n int) []uint32 {
		var mu sync.Mutex
		var out []uint32
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inv, err := s.Create(ctx, CreateRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				out = append(out, inv.Methods[0].DeriveIdx)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(out)
		return out
	}
	first := create(h.s, 50)
	for i, idx := range first {
		if idx != uint32(i) {
			t.Fatalf("indexes %v: want 0…49 without gaps or reuse", first)
		}
	}
	if next, err := h.db.PeekIndex(ctx, "bitcoin"); err != nil || next != 50 {
		t.Fatalf("stored counter %d, %v; want 50", next, err)
	}
	restarted := New(h.s.cfg, h.s.d)
	second := create(restarted, 10)
	if second[0] != 50 || second[9] != 59 {
		t.Fatalf("after the restart: %v, want 50…59", second)
	}
}

func BenchmarkCreateConcurrent(b *testing.B) {
	h := newHarness(b)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.s.Create(context.Background(), CreateRequest{Amount: "0.001", Currency: "BTC"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestCreateStoresIdempotencyWithTheInvoice(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	idem := func() *Idempotency {
		return &Idempotency{APIKeyID: "key_a", Key: "order-1", RequestHash: "h1",
			Response: func(inv *invoice.Invoice) ([]byte, error) { return []byte(`{"id":"` + inv.ID + `"}`), nil }}
	}
	inv, err := h.s.Create(ctx, CreateRequest{Amount: "0.001", Currency: "BTC", Idempotency: idem()})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.db.IdempotencyRecord(ctx, "key_a", "order-1", time.Time{})
	if err != nil || rec.StatusCode != 201 || string(rec.Response) != `{"id":"`+inv.ID+`"}` || rec.RequestHash != "h1" {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	// The same key again (a second payd racing, say): refused, and no
	// second invoice or address is left behind.
	if _, err := h.s.Create(ctx, CreateRequest{Amount: "0.001", Currency: "BTC", Idempotency: idem()}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create with the same key: %v, want store.ErrConflict", err)
	}
	if invs, _, _ := h.db.ListInvoices(ctx, "", "", "", 10); len(invs) != 1 {
		t.Fatalf("%d invoices stored, want 1", len(invs))
	}
}
