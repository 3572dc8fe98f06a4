package checkout

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

var errNotFound = errors.New("invoice not found")

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// fakeInvoices is an in-memory Invoices: a map guarded by a mutex. Update
// lets the browser test change an invoice while the page is open.
type fakeInvoices struct {
	mu   sync.Mutex
	invs map[string]*invoice.Invoice
	// onUpdate, when set, is called after every Update with the new invoice.
	onUpdate func(*invoice.Invoice)
}

func newFake(invs ...*invoice.Invoice) *fakeInvoices {
	f := &fakeInvoices{invs: make(map[string]*invoice.Invoice)}
	for _, inv := range invs {
		f.invs[inv.ID] = inv
	}
	return f
}

func (f *fakeInvoices) Get(_ context.Context, id string) (*invoice.Invoice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invs[id]
	if !ok {
		return nil, errNotFound
	}
	c := *inv
	c.Methods = append([]invoice.Method(nil), inv.Methods...)
	c.Payments = append([]invoice.Payment(nil), inv.Payments...)
	return &c, nil
}

// Update changes an invoice under the lock, bumps its sequence and reports it.
func (f *fakeInvoices) Update(id string, change func(*invoice.Invoice)) {
	f.mu.Lock()
	inv := f.invs[id]
	change(inv)
	inv.Sequence++
	cb := f.onUpdate
	f.mu.Unlock()
	if cb != nil {
		c, _ := f.Get(context.Background(), id)
		cb(c)
	}
}

var (
	testNow = time.Date(2026, 11, 22, 16, 12, 48, 0, time.UTC)
	usdc    = invoice.Asset{Code: "USDC", Decimals: 6}
)

func units(s string, decimals int) *big.Int {
	v, err := invoice.ParseAmount(s, decimals, "X")
	if err != nil {
		panic(err)
	}
	return v
}

// testInvoice is a 25.00 USD invoice payable in BTC or USDC on Ethereum,
// created at testNow, expiring 15 minutes later.
func testInvoice(id string) *invoice.Invoice {
	return &invoice.Invoice{
		ID:          id,
		Status:      invoice.StatusNew,
		Amount:      units("25.00", 2),
		Currency:    invoice.FiatAsset("USD"),
		OrderID:     "A-1001",
		Description: "2 × T-shirt",
		CreatedAt:   testNow,
		ExpiresAt:   testNow.Add(15 * time.Minute),
		RedirectURL: "https://shop.example/thanks",
		Sequence:    1,
		Methods: []invoice.Method{
			{
				Method: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC,
				Address:   "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
				AmountDue: units("0.00041234", 8), Rate: "60630.12", RateSource: "static",
				ConfirmationsRequired: 1,
			},
			{
				Method: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: usdc,
				Token:     "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
				Address:   "0x52908400098527886E0F7030069857D2E4169EE7",
				AmountDue: units("25.000000", 6), Rate: "1.00", RateSource: "identity",
				ConfirmationsRequired: 12,
			},
		},
	}
}

func testPayment(method string, amount *big.Int, confs int, status invoice.PaymentStatus) invoice.Payment {
	p := invoice.Payment{
		ID: "pay_test" + method[:3], Method: method, TxID: "7f1b5c0e4d3a2b1908f7e6d5c4b3a291807f6e5d4c3b2a19f8e7d6c5b4a39281",
		Amount: amount, Confirmations: confs, Status: status, SeenAt: testNow.Add(time.Minute),
	}
	if confs > 0 {
		p.BlockHeight, p.BlockHash = 101, "0000000000000000000123456789abcdef0123456789abcdef0123456789abcd"
	}
	return p
}

func newTestHandler(t *testing.T, cfg Config, f *fakeInvoices) *Handler {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://pay.example"
	}
	if cfg.StoreName == "" {
		cfg.StoreName = "Test Shop"
	}
	h, err := New(cfg, f, isNotFound, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.now = func() time.Time { return testNow.Add(30 * time.Second) }
	return h
}

// errInvoices fails every read with err, or as a broken database would.
type errInvoices struct{ err error }

func (e errInvoices) Get(context.Context, string) (*invoice.Invoice, error) {
	if e.err != nil {
		return nil, e.err
	}
	return nil, errors.New("disk on fire")
}
