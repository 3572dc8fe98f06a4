package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

type testDeriver string

func (d testDeriver) Address(i uint32) (string, string, error) {
	return fmt.Sprintf("%s%04d", d, i), fmt.Sprintf("m/0/%d", i), nil
}

// TestBackupRestores creates invoices through the service while the
// database is held as a running payd holds it, runs `payd backup FILE`, and
// opens the backup as a fresh payd would: every invoice, payment, event and
// derivation counter is there, unchanged.
func TestBackupRestores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "payd.db")
	db, err := store.Open(ctx, dbPath, store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{
		Methods: []service.MethodSpec{
			{Name: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Confirmations: 1},
			{Name: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: invoice.Asset{Code: "USDC", Decimals: 6},
				Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", Confirmations: 12},
		},
		ExpiresIn: 15 * time.Minute, MonitoringWindow: 24 * time.Hour, BaseURL: "https://pay.example",
	}, service.Deps{DB: db, Derivers: map[string]service.Deriver{"bitcoin": testDeriver("bcrt1qtest"), "ethereum": testDeriver("0xtest")},
		Log: slog.New(slog.DiscardHandler)})
	var ids []string
	for i := range 25 {
		req := service.CreateRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}, OrderID: fmt.Sprintf("order-%d", i), Metadata: []byte(`{"n":` + fmt.Sprint(i) + `}`)}
		if i%2 == 1 {
			req = service.CreateRequest{Amount: "12.5", Currency: "USDC", Methods: []string{"ethereum/usdc"}, Description: "T-shirt ✓"}
		}
		inv, err := svc.Create(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inv.ID)
	}
	// One of them paid and settled, as the watcher would store it.
	inv, err := db.Invoice(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	inv.Payments = []invoice.Payment{{ID: "pay_1", Method: "bitcoin/btc", TxID: strings.Repeat("ab", 32), Amount: big.NewInt(100000),
		BlockHeight: 101, BlockHash: strings.Repeat("cd", 32), Confirmations: 1, Status: invoice.PaymentConfirmed, SeenAt: now, ConfirmedAt: now}}
	inv.Status, inv.SettledAt, inv.Sequence = invoice.StatusSettled, &now, inv.Sequence+1
	if err := db.Write(ctx, func(tx *store.Tx) error { return tx.SaveInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}

	cfgPath := filepath.Join(dir, "payd.yaml")
	if err := os.WriteFile(cfgPath, []byte("database:\n  path: "+dbPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup", "payd-backup.db")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "backup", "--config", cfgPath, backup)
	if err != nil {
		t.Fatalf("payd backup: %v\n%s", err, out)
	}
	if !strings.Contains(out, "backed up") {
		t.Fatalf("output: %s", out)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v (%v), want 0600: it holds webhook secrets", st.Mode().Perm(), err)
	}
	// A second backup to the same file is refused, not overwritten.
	if _, _, err := runCLI(t, nil, "backup", "--config", cfgPath, backup); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}

	// Start from the backup as a fresh payd does: open exclusively, migrate.
	rdb, err := store.Open(ctx, backup, store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, err := rdb.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want, _, err := db.ListInvoices(ctx, "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := rdb.ListInvoices(ctx, "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) || !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %d invoices, want %d identical ones", len(got), len(want))
	}
	if r, _ := rdb.Invoice(ctx, ids[0]); r.Status != invoice.StatusSettled || len(r.Payments) != 1 {
		t.Fatalf("settled invoice restored as %+v", r)
	}
	for _, id := range ids {
		we, _ := db.InvoiceEvents(ctx, id)
		ge, err := rdb.InvoiceEvents(ctx, id)
		if err != nil || !reflect.DeepEqual(ge, we) || len(ge) == 0 {
			t.Fatalf("events of %s: %d restored, want %d (%v)", id, len(ge), len(we), err)
		}
	}
	// The derivation counters come back too: a restored payd never hands out an address twice.
	for _, chain := range []string{"bitcoin", "ethereum"} {
		w, _ := db.PeekIndex(ctx, chain)
		g, err := rdb.PeekIndex(ctx, chain)
		if err != nil || g != w || g == 0 {
			t.Fatalf("next index of %s: %d restored, want %d (%v)", chain, g, w, err)
		}
	}
}
