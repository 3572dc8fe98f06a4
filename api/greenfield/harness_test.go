package greenfield

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/rates"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
	"github.com/payd/payd/webhook"
)

const storeID = "StoreABC" // as in testdata/woocommerce-calls.txt

type fakeDeriver string

func (f fakeDeriver) Address(i uint32) (string, string, error) {
	return fmt.Sprintf("%s%d", f, i), fmt.Sprintf("m/0/%d", i), nil
}

type fakeRates map[string]string

func (f fakeRates) Rate(_ context.Context, base, quote string) (rates.Rate, error) {
	v, ok := f[base+"/"+quote]
	if !ok {
		return rates.Rate{}, &rates.NoRateError{}
	}
	r, _ := new(big.Rat).SetString(v)
	return rates.Rate{Base: base, Quote: quote, Value: r, Source: "static", Time: time.Unix(1_800_000_000, 0)}, nil
}

// harness is the Greenfield API over the real service, store and webhook
// manager (fake deriver and rates).
type harness struct {
	t     *testing.T
	db    *store.DB
	svc   *service.Service
	hooks *webhook.Manager
	srv   *httptest.Server
	key   string
	cfg   Config
}

func testConfig() Config {
	return Config{StoreID: storeID, StoreName: "Test shop", DefaultCurrency: "USD", BaseURL: "https://pay.example",
		ExpiresIn: 15 * time.Minute, MonitoringWindow: 24 * time.Hour, ToleranceBP: 50, Version: "test",
		Methods: []Method{
			{Name: "bitcoin/btc", Chain: "bitcoin", Asset: "BTC", Bitcoin: true},
			{Name: "ethereum/eth", Chain: "ethereum", Asset: "ETH", Native: "ETH"},
			{Name: "ethereum/usdc", Chain: "ethereum", Asset: "USDC", Token: true, Native: "ETH"},
		}}
}

func newHarness(t *testing.T, scopes ...string) *harness {
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
	secret, k, err := apikey.Generate("woocommerce", scopes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, key: secret, cfg: testConfig()}
	h.hooks, err = webhook.New(webhook.Config{AllowPrivate: true, Timeout: 5 * time.Second, RetrySchedule: []time.Duration{100 * time.Millisecond},
		Formats: map[string]webhook.Format{webhook.FormatGreenfield: NewWebhookFormat(h.cfg)}}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	usdc := invoice.Asset{Code: "USDC", Decimals: 6}
	h.svc = service.New(service.Config{
		Methods: []service.MethodSpec{
			{Name: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Confirmations: 1},
			{Name: "ethereum/eth", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: invoice.Asset{Code: "ETH", Decimals: 18}, Confirmations: 12},
			{Name: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: usdc, Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", Confirmations: 12},
		},
		ExpiresIn: 15 * time.Minute, ToleranceBP: 50, MonitoringWindow: 24 * time.Hour, BaseURL: "https://pay.example",
	}, service.Deps{
		DB: db, Rates: fakeRates{"BTC/USD": "60000", "USDC/USD": "1", "ETH/USD": "3000"},
		Derivers: map[string]service.Deriver{"bitcoin": fakeDeriver("bcrt1qtest"), "ethereum": fakeDeriver("0x00000000000000000000000000000000000000")},
		Watch:    func(string, ...string) {},
		Notify:   func([]invoice.Event) { h.hooks.Wake() },
		Log:      slog.New(slog.DiscardHandler),
	})
	g := New(h.cfg, Deps{Invoices: h.svc, Keys: db, Webhooks: h.hooks, Ready: func(context.Context) []string { return nil },
		Chains: func() []ChainStatus {
			return []ChainStatus{{Chain: "bitcoin", TipHeight: 101, Processed: 101, Ready: true}, {Chain: "ethereum", TipHeight: 7, Processed: 7, Ready: true}}
		}})
	mux := http.NewServeMux()
	g.Register(mux)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// runHooks runs the webhook manager until the test ends.
func (h *harness) runHooks() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.hooks.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// do sends a request the way btcpayserver-greenfield-php does (Accept,
// Content-Type, Authorization: token …); body "null" means none.
func (h *harness) do(method, path, body string) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != "" && body != "null" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "token "+h.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// payment adds a payment to an invoice the way the watcher does: payment,
// new state and events in one transaction, then wakes the webhooks.
func (h *harness) payment(id, method string, units int64, status invoice.PaymentStatus, seen time.Time) {
	h.t.Helper()
	ctx := context.Background()
	var evs []invoice.Event
	err := h.db.Write(ctx, func(tx *store.Tx) error {
		inv, err := tx.Invoice(ctx, id)
		if err != nil {
			return err
		}
		p := invoice.Payment{ID: invoice.NewID(invoice.PrefixPayment, seen), Method: method, TxID: fmt.Sprintf("%064x", len(inv.Payments)+1),
			OutputIndex: 1, Amount: big.NewInt(units), Status: status, SeenAt: seen.UTC().Truncate(time.Second)}
		types := []invoice.EventType{invoice.EventPaymentReceived}
		if status == invoice.PaymentConfirmed {
			p.Confirmations, p.BlockHeight, p.BlockHash, p.ConfirmedAt = 1, 102, fmt.Sprintf("%064x", 99), seen
			types = append(types, invoice.EventPaymentConfirmed)
		}
		inv.Payments = append(inv.Payments, p)
		st, _ := invoice.Evaluate(inv, seen)
		types = append(types, st...)
		inv.Sequence++
		for _, typ := range types {
			ev, err := invoice.NewEvent(typ, inv, seen, h.svc.ViewOptions())
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		if err := tx.SaveInvoice(ctx, inv); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, evs)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.hooks.Wake()
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func serviceListAll() service.ListFilter { return service.ListFilter{Limit: 200} }
