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

	"github.com/payd/payd/chain"
	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

func migrateTestService(db *store.DB) *service.Service {
	return service.New(service.Config{
		Methods: []service.MethodSpec{
			{Name: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Confirmations: 1},
			{Name: "ethereum/usdc", Chain: "ethereum", Kind: invoice.KindEVM, ChainID: 1, Asset: invoice.Asset{Code: "USDC", Decimals: 6},
				Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", Confirmations: 12},
		},
		ExpiresIn: 15 * time.Minute, MonitoringWindow: 24 * time.Hour, BaseURL: "https://pay.example",
	}, service.Deps{DB: db, Derivers: map[string]service.Deriver{"bitcoin": testDeriver("bcrt1qtest"), "ethereum": testDeriver("0xtest")},
		Log: slog.New(slog.DiscardHandler)})
}

// fillShop writes a small shop into db through payd's own code paths: the
// service creates invoices (and one through a payment link), the watcher's
// store calls pay and settle one, webhooks are queued and attempted, a block
// is connected, a refund, a Lightning invoice, a dashboard user and an API
// key (through `payd apikey create`) are stored. It returns the API key's
// secret.
func fillShop(t *testing.T, db *store.DB, cfgPath string) (secret string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	ep, err := db.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{ID: "we_shop", URL: "https://shop.example/hook", Secret: "0123456789abcdef0123",
		Events: []string{"*"}, Source: "api", CreatedAt: now})
	must(err)
	svc := migrateTestService(db)
	var ids []string
	for i := range 12 {
		req := service.CreateRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}, OrderID: fmt.Sprintf("order-%d", i)}
		if i%3 == 1 {
			req = service.CreateRequest{Amount: "12.5", Currency: "USDC", Methods: []string{"ethereum/usdc"}, Description: "T-shirt ✓", Metadata: []byte(`{"n":1}`)}
		}
		inv, err := svc.Create(ctx, req)
		must(err)
		ids = append(ids, inv.ID)
	}
	l, err := svc.CreateLink(ctx, service.LinkRequest{Amount: "0.002", Currency: "BTC", Methods: []string{"bitcoin/btc"}, Description: "tip jar"})
	must(err)
	_, err = svc.VisitLink(ctx, l.ID)
	must(err)
	// The first invoice paid and settled, as the watcher stores it.
	inv, err := db.Invoice(ctx, ids[0])
	must(err)
	inv.Payments = []invoice.Payment{{ID: "pay_1", Method: "bitcoin/btc", TxID: strings.Repeat("ab", 32), Amount: big.NewInt(100000),
		BlockHeight: 101, BlockHash: strings.Repeat("cd", 32), Confirmations: 1, Status: invoice.PaymentConfirmed, SeenAt: now, ConfirmedAt: now}}
	inv.Status, inv.SettledAt, inv.Sequence = invoice.StatusSettled, &now, inv.Sequence+1
	must(db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SaveInvoice(ctx, inv); err != nil {
			return err
		}
		if err := tx.ConnectBlock(ctx, "bitcoin", chain.BlockRef{Height: 101, Hash: strings.Repeat("cd", 32), Parent: strings.Repeat("ce", 32), Time: now}, 100); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, []invoice.Event{{ID: "evt_settled", Type: invoice.EventSettled, InvoiceID: inv.ID, CreatedAt: now, Payload: []byte(`{"settled":true}`)}})
	}))
	evs, err := db.EventsAfter(ctx, 0, 1000)
	must(err)
	_, _, err = db.FanOutWebhookEvents(ctx, evs, now, func(store.WebhookEndpoint, invoice.Event) bool { return true })
	must(err)
	ds, _, err := db.ClaimWebhookDeliveries(ctx, store.WebhookClaim{EndpointID: ep.ID, Holder: "test", Limit: 2, Now: now, Until: now.Add(time.Minute)})
	must(err)
	_, err = db.RecordWebhookAttempts(ctx, []store.WebhookResult{{Delivery: ds[0], Status: store.DeliverySucceeded, Next: now,
		Attempt: store.WebhookAttempt{EndpointID: ep.ID, EventID: ds[0].EventID, Attempt: 1, StatusCode: 200, DurationMS: 9, At: now}}})
	must(err)
	must(db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SaveRefund(ctx, &refund.Refund{ID: "rf_1", Kind: refund.KindRefund, InvoiceID: inv.ID, Method: "bitcoin/btc", Chain: "bitcoin",
			ChainKind: invoice.KindBitcoin, Asset: invoice.BTC, Amount: big.NewInt(50000), Sent: big.NewInt(49000), Fee: big.NewInt(1000),
			Status: refund.StatusReady, Address: "bcrt1qshopper", Inputs: []refund.Input{{TxID: strings.Repeat("ab", 32), Amount: 100000, InvoiceID: inv.ID}},
			CreatedAt: now, UpdatedAt: now, Sequence: 1}); err != nil {
			return err
		}
		return tx.InsertLightningInvoices(ctx, []store.LightningInvoice{{Chain: "lightning", PaymentHash: "00ff", InvoiceID: ids[2],
			Method: "lightning/btc", PaymentRequest: "lnbcrt10u1…", AddIndex: 7, CreatedAt: now}})
	}))
	a, err := db.CreateAdmin(ctx, store.Admin{ID: "adm_1", Name: "alice", PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", Role: "admin", CreatedAt: now})
	must(err)
	must(db.CreateAdminSession(ctx, store.AdminSession{IDHash: "h", AdminID: a.ID, CSRF: "c", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(db.AddAudit(ctx, store.AuditEntry{At: now, Admin: "alice", Action: "invoice.cancel", Target: ids[3]}))
	out, _, err := runCLI(t, nil, "apikey", "create", "--config", cfgPath, "--name", "shop")
	must(err)
	secret = strings.TrimSpace(out)
	id, _, err := apikey.Parse(secret)
	must(err)
	must(db.SaveIdempotency(ctx, store.IdempotencyRecord{APIKeyID: id, Key: "order-0", RequestHash: "ab", StatusCode: 201,
		Response: []byte(`{"id":"` + ids[0] + `"}`), CreatedAt: now}, now.Add(-24*time.Hour)))
	return secret
}

// TestMigrateCopy fills a SQLite shop, copies it with `payd migrate --from
// sqlite:… --to postgres:…` while the file is held as a running payd holds
// it, and checks that the PostgreSQL store answers as the SQLite one did and
// goes on without reusing an id, a seq or an address.
func TestMigrateCopy(t *testing.T) {
	ctx := context.Background()
	pg := testnode.StartPostgres(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "payd.db")
	cfgPath := filepath.Join(dir, "payd.yaml")
	if err := os.WriteFile(cfgPath, []byte("database:\n  path: "+dbPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lite, err := store.Open(ctx, dbPath, store.Options{Exclusive: true}) // as `payd run` holds it
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := lite.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	secret := fillShop(t, lite, cfgPath)

	url := pg.NewDatabase(t)
	out, errOut, err := runCLI(t, nil, "migrate", "--from", "sqlite:"+dbPath, "--to", "postgres:"+url)
	if err != nil {
		t.Fatalf("payd migrate: %v\n%s%s", err, out, errOut)
	}
	for _, w := range []string{"every table's row count matches", "  invoices             13\n", "  events               ", "  api_keys             1\n", "next: stop payd"} {
		if !strings.Contains(out, w) {
			t.Errorf("the summary lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errOut, "is running on "+dbPath) || !strings.Contains(errOut, "NOT copied") {
		t.Errorf("no warning that payd still runs on the source:\n%s", errOut)
	}
	db, err := store.OpenPostgres(ctx, url, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// The same answers.
	want, _, err := lite.ListInvoices(ctx, "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := db.ListInvoices(ctx, "", "", "", 100)
	if err != nil || len(got) != 13 || !reflect.DeepEqual(got, want) {
		t.Fatalf("invoices on PostgreSQL (%v): %d, want the %d of SQLite, equal", err, len(got), len(want))
	}
	paid, err := db.Invoice(ctx, want[len(want)-1].ID) // the oldest: paid and settled
	if err != nil || paid.Status != invoice.StatusSettled || len(paid.Payments) != 1 || paid.Payments[0].Amount.Cmp(big.NewInt(100000)) != 0 {
		t.Fatalf("the settled invoice on PostgreSQL: %+v (%v)", paid, err)
	}
	wantEvs, _ := lite.EventsAfter(ctx, 0, 1000)
	gotEvs, err := db.EventsAfter(ctx, 0, 1000)
	if err != nil || len(gotEvs) < 14 || !reflect.DeepEqual(gotEvs, wantEvs) {
		t.Fatalf("events on PostgreSQL (%v): %d, want the %d of SQLite in the same order with the same seqs", err, len(gotEvs), len(wantEvs))
	}
	id, sec, err := apikey.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := db.APIKey(ctx, id); err != nil || !apikey.Verify(sec, k.Hash) || k.RevokedAt != nil {
		t.Fatalf("the API key does not authenticate on PostgreSQL: %+v %v", k, err)
	}
	for _, c := range []struct {
		name string
		get  func(*store.DB) (any, error)
	}{
		{"chain cursor", func(d *store.DB) (any, error) { return d.RecentBlocks(ctx, "bitcoin", 10) }},
		{"webhook cursor", func(d *store.DB) (any, error) { return d.WebhookCursor(ctx) }},
		{"webhook endpoints", func(d *store.DB) (any, error) { return d.WebhookEndpoints(ctx) }},
		{"webhook attempts", func(d *store.DB) (any, error) { return d.WebhookAttempts(ctx, "we_shop", 10) }},
		{"pending deliveries", func(d *store.DB) (any, error) {
			// Claimed on each side alike; the tokens are each database's own.
			far := time.Now().Add(24 * time.Hour)
			ds, _, err := d.ClaimWebhookDeliveries(ctx, store.WebhookClaim{EndpointID: "we_shop", Holder: "compare", Limit: 100, Now: far, Until: far.Add(time.Minute)})
			for i := range ds {
				ds[i].Claim, ds[i].ClaimUntil = 0, time.Time{}
			}
			return ds, err
		}},
		{"refund", func(d *store.DB) (any, error) { return d.Refund(ctx, "rf_1") }},
		{"lightning", func(d *store.DB) (any, error) { return d.LightningInvoicesOf(ctx, want[len(want)-3].ID) }},
		{"admin", func(d *store.DB) (any, error) { return d.AdminByName(ctx, "alice") }},
		{"audit log", func(d *store.DB) (any, error) { return d.AuditLog(ctx, 0, 10) }},
		{"idempotency key", func(d *store.DB) (any, error) { return d.IdempotencyRecord(ctx, id, "order-0", time.Unix(0, 0)) }},
		{"bitcoin index", func(d *store.DB) (any, error) { return d.PeekIndex(ctx, "bitcoin") }},
		{"ethereum index", func(d *store.DB) (any, error) { return d.PeekIndex(ctx, "ethereum") }},
	} {
		w, err1 := c.get(lite)
		g, err2 := c.get(db)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(g, w) || reflect.ValueOf(w).IsZero() {
			t.Errorf("%s: PostgreSQL %+v (%v), SQLite %+v (%v)", c.name, g, err2, w, err1)
		}
	}

	// PostgreSQL goes on: a new invoice gets a fresh id, the next address
	// index and the next event seq.
	next, _ := lite.PeekIndex(ctx, "bitcoin")
	fresh, err := migrateTestService(db).Create(ctx, service.CreateRequest{Amount: "0.003", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Methods[0].DeriveIdx != next {
		t.Errorf("new invoice's derivation index %d, want %d (the one after the copied counter)", fresh.Methods[0].DeriveIdx, next)
	}
	for _, old := range want {
		if old.ID == fresh.ID || old.Methods[0].Address == fresh.Methods[0].Address {
			t.Fatalf("new invoice %s reuses %s's id or address", fresh.ID, old.ID)
		}
	}
	if evs, err := db.InvoiceEvents(ctx, fresh.ID); err != nil || len(evs) != 1 || evs[0].Seq != wantEvs[len(wantEvs)-1].Seq+1 {
		t.Errorf("new invoice's event %+v (%v), want seq %d", evs, err, wantEvs[len(wantEvs)-1].Seq+1)
	}

	// Refusals: each names the flag and the fix; nothing is written.
	behind := filepath.Join(dir, "behind.db")
	if err := lite.Backup(ctx, behind); err != nil {
		t.Fatal(err)
	}
	bdb, err := store.Open(ctx, behind, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bdb.Writer().ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	tests := []struct {
		name     string
		from, to string
		code     int
		want     []string
	}{
		{"target not empty", "sqlite:" + dbPath, "postgres:" + url, 1, []string{"--to: postgres://", "not empty", "it has 14 invoices", "migrate into an empty database"}},
		{"source schema behind", "sqlite:" + behind, "postgres:" + pg.NewDatabase(t), 1, []string{"--from: " + behind, "run `payd migrate` on it first"}},
		{"source missing", "sqlite:" + filepath.Join(dir, "nope.db"), "postgres:" + url, 1, []string{"--from: stat", "no such file"}},
		{"source is a directory", "sqlite:" + dir, "postgres:" + url, 1, []string{"is a directory"}},
		{"target unreachable", "sqlite:" + dbPath, "postgres://payd:hunter2hunter2@127.0.0.1:1/payd?sslmode=disable", 1, []string{"--to:", "connect"}},
		{"only --from", "sqlite:" + dbPath, "", 2, []string{"--from and --to go together"}},
		{"only --to", "", "postgres:" + url, 2, []string{"--from and --to go together"}},
		{"from without engine", dbPath, "postgres:" + url, 2, []string{"--from", "name the engine, e.g. --from sqlite:" + dbPath}},
		{"from postgres", "postgres:" + url, "postgres:" + url, 2, []string{"--from: payd migrate copies from SQLite", "pg_dump"}},
		{"from unknown engine", "mysql:x", "postgres:" + url, 2, []string{`--from: unknown engine "mysql"`}},
		{"from empty path", "sqlite:", "postgres:" + url, 2, []string{"--from sqlite: the path is empty"}},
		{"same database", "sqlite:" + dbPath, "sqlite:" + dbPath, 2, []string{"--from and --to name the same database"}},
		{"to sqlite", "sqlite:" + dbPath, "sqlite:" + behind, 2, []string{"--to: payd migrate copies into PostgreSQL", "payd backup"}},
		{"to without engine", "sqlite:" + dbPath, "db.internal:5432/payd", 2, []string{"--to: write postgres:URL"}},
		{"to not a URL", "sqlite:" + dbPath, "postgres:host=x dbname=y", 2, []string{"--to: the URL after postgres: is not a postgres:// URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, nil, "migrate", "--from", tt.from, "--to", tt.to)
			if err == nil {
				t.Fatalf("migrate succeeded:\n%s", out)
			}
			if code := exitCode(err); code != tt.code {
				t.Errorf("exit code %d, want %d (%v)", code, tt.code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password leaks: %v", err)
			}
		})
	}
	if n, err := db.CountInvoices(ctx, time.Unix(0, 0), time.Now().Add(time.Hour)); err != nil || n.Created != 14 {
		t.Fatalf("the refused copies changed the target: %+v %v", n, err)
	}
}
