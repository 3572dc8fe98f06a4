package store

import (
	"context"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

func testInvoice(id string, now time.Time, addr string) *invoice.Invoice {
	usdc := invoice.Asset{Code: "USDC", Decimals: 6}
	return &invoice.Invoice{
		ID: id, Status: invoice.StatusNew, Amount: big.NewInt(2500), Currency: invoice.FiatAsset("USD"),
		OrderID: "A-1", Description: "2 × T-shirt", Metadata: []byte(`{"customer":"42"}`),
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute), MonitorUntil: now.Add(24 * time.Hour), Sequence: 1, ToleranceBP: 50,
		Methods: []invoice.Method{
			{Method: "ethereum/eth", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: invoice.Asset{Code: "ETH", Decimals: 18},
				Address: addr, DeriveIdx: 7, AmountDue: new(big.Int).Exp(big.NewInt(10), big.NewInt(19), nil), Rate: "2500.00", RateSource: "static", RateTime: now, ConfirmationsRequired: 12},
			{Method: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: usdc, Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
				Address: addr, DeriveIdx: 7, AmountDue: big.NewInt(25_000_000), Rate: "1", RateSource: "peg", RateTime: now, ConfirmationsRequired: 12},
		},
	}
}

func TestInvoiceRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	inv := testInvoice("inv_a", now, "0xAbC0000000000000000000000000000000000001")
	if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	got, err := db.Invoice(ctx, "inv_a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, inv) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, inv)
	}

	// A payment, then a status change.
	inv.Payments = []invoice.Payment{{ID: "pay_1", Method: "ethereum/usdc", TxID: "0xdead", OutputIndex: 3, Amount: big.NewInt(25_000_000),
		Status: invoice.PaymentPending, SeenAt: now.Add(time.Minute)}}
	inv.Status, inv.Sequence, inv.MonitorUntil = invoice.StatusProcessing, 2, now.Add(48*time.Hour)
	if err := db.Write(ctx, func(tx *Tx) error { return tx.SaveInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	inv.Payments[0].BlockHeight, inv.Payments[0].BlockHash, inv.Payments[0].Confirmations = 10, "0xb10c", 12
	inv.Payments[0].Status, inv.Payments[0].ConfirmedAt = invoice.PaymentConfirmed, now.Add(3*time.Minute)
	settled := now.Add(3 * time.Minute)
	inv.Status, inv.SettledAt, inv.Sequence = invoice.StatusSettled, &settled, 3
	if err := db.Write(ctx, func(tx *Tx) error { return tx.SaveInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Invoice(ctx, "inv_a")
	if !reflect.DeepEqual(got, inv) {
		t.Fatalf("after save:\n got %+v\nwant %+v", got, inv)
	}
	// The address stays watched as long as the invoice is monitored.
	if a, _ := db.WatchedAddresses(ctx, "ethereum", now.Add(47*time.Hour)); len(a) != 1 {
		t.Fatalf("watched = %v", a)
	}
	if a, _ := db.UnwatchedSince(ctx, "ethereum", now, now.Add(49*time.Hour)); len(a) != 1 {
		t.Fatalf("unwatched = %v", a)
	}

	// Lookups the watcher makes.
	err = db.Write(ctx, func(tx *Tx) error {
		for _, c := range []struct {
			f    func() ([]string, error)
			want int
		}{
			{func() ([]string, error) { return tx.InvoicesWithBlock(ctx, "ethereum", "0xb10c") }, 1},
			{func() ([]string, error) { return tx.InvoicesWithTx(ctx, "ethereum", "0xdead") }, 1},
			{func() ([]string, error) { return tx.InvoicesCounting(ctx, "ethereum", 100) }, 1},
			{func() ([]string, error) { return tx.InvoicesCounting(ctx, "ethereum", 12) }, 0},
			{func() ([]string, error) { return tx.InvoicesWithTx(ctx, "bitcoin", "0xdead") }, 0},
		} {
			ids, err := c.f()
			if err != nil || len(ids) != c.want {
				t.Errorf("got %v %v, want %d", ids, err, c.want)
			}
		}
		id, err := tx.AddressOwner(ctx, "ethereum", "0xAbC0000000000000000000000000000000000001")
		if id != "inv_a" || err != nil {
			t.Errorf("owner = %q %v", id, err)
		}
		if _, err := tx.AddressOwner(ctx, "ethereum", "0x0"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown address: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAddressNeverHandedOutTwice(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Now().UTC().Truncate(time.Second)
	if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertInvoice(ctx, testInvoice("inv_a", now, "0x1")) }); err != nil {
		t.Fatal(err)
	}
	b := testInvoice("inv_b", now, "0x1")
	b.Methods[0].DeriveIdx, b.Methods[1].DeriveIdx = 8, 8
	err := db.Write(ctx, func(tx *Tx) error { return tx.InsertInvoice(ctx, b) })
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second use of an address: %v, want ErrConflict", err)
	}
	if ok, _ := db.InvoiceExists(ctx, "inv_b"); ok {
		t.Fatal("the failed insert left an invoice behind")
	}
}

func TestNextIndexMonotonic(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	for want := uint32(0); want < 5; want++ {
		var got uint32
		if err := db.Write(ctx, func(tx *Tx) (err error) { got, err = tx.NextIndexes(ctx, "bitcoin", 1); return }); err != nil || got != want {
			t.Fatalf("NextIndex = %d, %v; want %d", got, err, want)
		}
	}
	// A rolled-back allocation is not lost forever, but never handed out twice.
	_ = db.Write(ctx, func(tx *Tx) error { _, _ = tx.NextIndexes(ctx, "bitcoin", 1); return errors.New("rollback") })
	if n, _ := db.PeekIndex(ctx, "bitcoin"); n != 5 {
		t.Fatalf("peek = %d, want 5", n)
	}
	// A batch reserves a run: 5, 6, 7; the next caller starts at 8.
	for _, c := range []struct {
		n    int
		want uint32
	}{{3, 5}, {1, 8}} {
		var got uint32
		if err := db.Write(ctx, func(tx *Tx) (err error) { got, err = tx.NextIndexes(ctx, "bitcoin", c.n); return }); err != nil || got != c.want {
			t.Fatalf("NextIndexes(%d) = %d, %v; want %d", c.n, got, err, c.want)
		}
	}
}

func TestListInvoicesAndDeadlines(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	ids := []string{}
	for i := range 5 {
		id := invoice.NewID(invoice.PrefixInvoice, now.Add(time.Duration(i)*time.Millisecond))
		ids = append(ids, id)
		inv := testInvoice(id, now.Add(time.Duration(i)*time.Minute), "0x"+id)
		for k := range inv.Methods {
			inv.Methods[k].DeriveIdx = uint32(i)
		}
		if i == 2 {
			inv.Status = invoice.StatusProcessing
		}
		if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertInvoice(ctx, inv) }); err != nil {
			t.Fatal(err)
		}
	}
	page, more, err := db.ListInvoices(ctx, "", "", "", 2)
	if err != nil || !more || len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
		t.Fatalf("page 1: %v %v %v", page, more, err)
	}
	page, more, _ = db.ListInvoices(ctx, "", "", page[1].ID, 2)
	if more != true || page[0].ID != ids[2] {
		t.Fatalf("page 2 starts with %s", page[0].ID)
	}
	page, more, _ = db.ListInvoices(ctx, invoice.StatusProcessing, "A-1", "", 10)
	if more || len(page) != 1 || page[0].ID != ids[2] || len(page[0].Methods) != 2 {
		t.Fatalf("filtered: %+v", page)
	}
	d, ok, err := db.NextDeadline(ctx)
	if err != nil || !ok || !d.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("next deadline = %v %v %v", d, ok, err)
	}
	err = db.Write(ctx, func(tx *Tx) error {
		due, err := tx.DueInvoices(ctx, now.Add(16*time.Minute+30*time.Second), 100)
		if err != nil || len(due) != 2 {
			t.Errorf("due = %v %v, want the two oldest new invoices", due, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
