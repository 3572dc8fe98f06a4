package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// schemaTables lists a migrated database's tables, sorted.
func schemaTables(t *testing.T, db *DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if db.pg {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.r.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out, err := scanStrings(rows)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// schemaColumns lists a table's columns, sorted.
func schemaColumns(t *testing.T, db *DB, table string) []string {
	t.Helper()
	q := `SELECT name FROM pragma_table_info(?)`
	if db.pg {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`
	}
	rows, err := db.r.QueryContext(context.Background(), q, table)
	if err != nil {
		t.Fatal(err)
	}
	out, err := scanStrings(rows)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// The guard against drift: a migration that adds a table must say whether
// Copy carries it (copyTables, after the tables it references) or leaves it
// behind (skippedTables), and both dialects must have the same columns in
// every copied table (Copy refuses a mismatch at run time, this finds it
// first). The row-by-row comparison in TestCopyEveryRow then checks that
// every copied table arrives unchanged.
func TestCopyCoversSchema(t *testing.T) {
	lite := openTest(t, Options{})
	pg := openPostgresTest(t)
	var want []string
	want = append(want, copyTables...)
	for k := range skippedTables {
		want = append(want, k)
	}
	sort.Strings(want)
	for _, db := range []*DB{lite, pg} {
		if got := schemaTables(t, db); !slices.Equal(got, want) {
			t.Errorf("%s tables:\n got  %v\n want %v (copyTables + skippedTables in store/copy.go: add the new table to one of them)", db.Dialect(), got, want)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(copyTables)))) != len(copyTables) {
		t.Errorf("copyTables lists a table twice: %v", copyTables)
	}
	for _, table := range copyTables {
		if a, b := schemaColumns(t, lite, table), schemaColumns(t, pg, table); !slices.Equal(a, b) {
			t.Errorf("%s: columns differ between the dialects:\n sqlite   %v\n postgres %v", table, a, b)
		}
	}
	// Foreign keys point backwards in copyTables (the target checks them
	// row by row).
	fks := map[string]string{}
	rows, err := pg.r.QueryContext(context.Background(), `SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			t.Fatal(err)
		}
		fks[from+" → "+to] = "postgres"
	}
	rows.Close()
	ltx := mustTx(t, lite)
	for _, table := range copyTables {
		refs, err := queryStrings(context.Background(), ltx, `SELECT "table" FROM pragma_foreign_key_list(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range refs {
			fks[table+" → "+to] = "sqlite"
		}
	}
	if len(fks) == 0 {
		t.Fatal("no foreign keys found: the query is wrong")
	}
	for fk, dialect := range fks {
		from, to, _ := strings.Cut(fk, " → ")
		if slices.Index(copyTables, to) > slices.Index(copyTables, from) || slices.Index(copyTables, from) < 0 {
			t.Errorf("%s foreign key %s: copyTables must list %s before %s", dialect, fk, to, from)
		}
	}
}

func mustTx(t *testing.T, db *DB) *sql.Tx {
	t.Helper()
	tx, err := db.r.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

// fillEveryTable writes rows into every table Copy carries, through the
// store's own methods, as a running shop would have them.
func fillEveryTable(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ep, err := db.CreateWebhookEndpoint(ctx, WebhookEndpoint{ID: "we_1", URL: "https://shop.example/hook", Secret: "0123456789abcdef0123",
		Events: []string{"*"}, Source: "api", CreatedAt: now, Format: "greenfield", Options: `{"enabled":true}`})
	must(err)
	var evs []invoice.Event
	for i := range 3 {
		id := fmt.Sprintf("inv_%d", i)
		inv := testInvoice(id, now.Add(time.Duration(i)*time.Minute), fmt.Sprintf("0xAbC%037d", i))
		must(db.Write(ctx, func(tx *Tx) error {
			idx, err := tx.NextIndexes(ctx, "ethereum", 1)
			if err != nil {
				return err
			}
			for j := range inv.Methods {
				inv.Methods[j].DeriveIdx = idx
			}
			if err := tx.InsertInvoice(ctx, inv); err != nil {
				return err
			}
			ev := []invoice.Event{{ID: "evt_c" + id, Type: invoice.EventCreated, InvoiceID: id, CreatedAt: inv.CreatedAt, Payload: []byte(`{"id":"` + id + `"}`)}}
			if err := tx.InsertEvents(ctx, ev); err != nil {
				return err
			}
			evs = append(evs, ev...)
			return nil
		}))
		if i == 0 { // paid and settled, as the watcher stores it
			settled := now.Add(5 * time.Minute)
			inv.Payments = []invoice.Payment{{ID: "pay_1", Method: "ethereum/usdc", TxID: "0xdead", OutputIndex: 3, Amount: big.NewInt(25_000_000),
				BlockHeight: 10, BlockHash: "0xb10c", Confirmations: 12, Status: invoice.PaymentConfirmed, SeenAt: now.Add(time.Minute), ConfirmedAt: settled}}
			inv.Status, inv.SettledAt, inv.Sequence = invoice.StatusSettled, &settled, 2
			must(db.Write(ctx, func(tx *Tx) error {
				if err := tx.SaveInvoice(ctx, inv); err != nil {
					return err
				}
				ev := []invoice.Event{{ID: "evt_s" + id, Type: invoice.EventSettled, InvoiceID: id, CreatedAt: settled, Payload: []byte(`{"id":"` + id + `","n":2}`)}}
				if err := tx.InsertEvents(ctx, ev); err != nil {
					return err
				}
				evs = append(evs, ev...)
				return nil
			}))
		}
	}
	_, _, err = db.FanOutWebhookEvents(ctx, evs, now, func(WebhookEndpoint, invoice.Event) bool { return true })
	must(err)
	ds, err := db.pendingWebhookDeliveries(ctx, ep.ID, 1, nil)
	must(err)
	if len(ds) != 1 {
		t.Fatalf("%d pending deliveries", len(ds))
	}
	_, err = db.RecordWebhookAttempts(ctx, []WebhookResult{{Delivery: ds[0], Status: DeliverySucceeded, Next: now,
		Attempt: WebhookAttempt{EndpointID: ep.ID, EventID: ds[0].EventID, Attempt: 1, StatusCode: 200, DurationMS: 12, At: now}}})
	must(err)
	must(db.Write(ctx, func(tx *Tx) error {
		return tx.ConnectBlock(ctx, "ethereum", chain.BlockRef{Height: 10, Hash: "0xb10c", Parent: "0xb109", Time: now}, 100)
	}))
	_, k, err := apikey.Generate("shop", nil, now)
	must(err)
	must(db.CreateAPIKey(ctx, k))
	must(db.SaveIdempotency(ctx, IdempotencyRecord{APIKeyID: k.ID, Key: "order-1", RequestHash: "ab", StatusCode: 201, Response: []byte(`{"id":"inv_0"}`), CreatedAt: now}, now.Add(-time.Hour)))
	must(db.CreateLink(ctx, Link{ID: "lnk_1", Amount: "25.00", Currency: "USD", Methods: []string{"ethereum/usdc"}, Metadata: []byte(`{"a":1}`), CreatedAt: now}))
	must(db.Write(ctx, func(tx *Tx) error {
		return tx.SaveRefund(ctx, &refund.Refund{ID: "rf_1", Kind: refund.KindRefund, InvoiceID: "inv_0", Method: "bitcoin/btc", Chain: "bitcoin",
			ChainKind: invoice.KindBitcoin, Asset: invoice.BTC, Amount: big.NewInt(1000), Sent: big.NewInt(900), Fee: big.NewInt(100),
			Status: refund.StatusReady, Address: "bcrt1qdest", Inputs: []refund.Input{{TxID: strings.Repeat("ab", 32), Vout: 1, Amount: 1000, InvoiceID: "inv_0"}},
			CreatedAt: now, UpdatedAt: now, Sequence: 1})
	}))
	a, err := db.CreateAdmin(ctx, Admin{ID: "adm_1", Name: "alice", PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", Role: "admin", CreatedAt: now})
	must(err)
	must(db.CreateAdminSession(ctx, AdminSession{IDHash: "sess", AdminID: a.ID, CSRF: "csrf", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(db.AddAudit(ctx, AuditEntry{At: now, Admin: "alice", Action: "invoice.cancel", Target: "inv_2", IP: "127.0.0.1"}))
	must(db.Write(ctx, func(tx *Tx) error {
		return tx.InsertLightningInvoices(ctx, []LightningInvoice{{Chain: "lightning", PaymentHash: "00ff", InvoiceID: "inv_1", Method: "lightning/btc",
			PaymentRequest: "lnbcrt1…", AddIndex: 4, CreatedAt: now}})
	}))
}

// dumpTable renders every row of a table as text, sorted (both dialects
// order text differently, so the order is Go's).
func dumpTable(t *testing.T, db *DB, table string, cols []string) []string {
	t.Helper()
	rows, err := db.r.QueryContext(context.Background(), `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if b2, ok := v.([]byte); ok {
				v = string(b2)
			}
			fmt.Fprintf(&b, "%s=%T:%v ", cols[i], v, v)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func openLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "payd.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// Every row of every copied table arrives unchanged, the sequences continue
// past the source's, and a write made to the source while the copy runs is
// not carried (one snapshot) and tears nothing.
func TestCopyEveryRow(t *testing.T) {
	ctx := context.Background()
	src := openLite(t)
	fillEveryTable(t, src)
	// The newest event and audit entry are gone (as if pruned): their
	// numbers must not be handed out again on the target.
	var lastSeq, lastAudit int64
	if err := src.w.QueryRowContext(ctx, `DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events) RETURNING seq`).Scan(&lastSeq); err != nil {
		t.Fatal(err)
	}
	if err := src.w.QueryRowContext(ctx, `INSERT INTO audit_log (at, admin, action) VALUES (1, 'x', 'y') RETURNING id`).Scan(&lastAudit); err != nil {
		t.Fatal(err)
	}
	if _, err := src.w.ExecContext(ctx, `DELETE FROM audit_log WHERE id = ?`, lastAudit); err != nil {
		t.Fatal(err)
	}
	dst := openPostgresTest(t)

	var progress []string
	wrote := false
	late := testInvoice("inv_late", time.Unix(1_800_000_900, 0).UTC(), "0xAbC0000000000000000000000000000000000999")
	got, err := Copy(ctx, src, dst, CopyOptions{ProgressRows: 1, Progress: func(table string, n int64) {
		progress = append(progress, fmt.Sprintf("%s:%d", table, n))
		if table == "invoices" && n == 3 && !wrote {
			wrote = true
			// A running shop writes on: an invoice and its event, after
			// the invoices were read and before the events are.
			if err := src.Write(ctx, func(tx *Tx) error {
				if err := tx.InsertInvoice(ctx, late); err != nil {
					return err
				}
				return tx.InsertEvents(ctx, []invoice.Event{{ID: "evt_late", Type: invoice.EventCreated, InvoiceID: late.ID, CreatedAt: late.CreatedAt, Payload: []byte(`{}`)}})
			}); err != nil {
				t.Error(err)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Invoice(ctx, late.ID); err != nil {
		t.Fatalf("the write during the copy did not land on the source: %v", err)
	}
	if !slices.Contains(progress, "invoices:3") || !slices.Contains(progress, "audit_log:1") {
		t.Errorf("progress %v", progress)
	}
	if len(got) != len(copyTables) {
		t.Fatalf("copied %d tables, want %d", len(got), len(copyTables))
	}
	for _, tr := range got {
		if tr.Rows == 0 {
			t.Errorf("the fixture has no %s rows: fillEveryTable must write every copied table (a new table needs rows here)", tr.Table)
		}
		cols := schemaColumns(t, src, tr.Table)
		want := dumpTable(t, src, tr.Table, cols)
		if tr.Table == "invoices" || tr.Table == "invoice_methods" || tr.Table == "addresses" || tr.Table == "events" {
			want = slices.DeleteFunc(want, func(s string) bool { return strings.Contains(s, "inv_late") })
		}
		if g := dumpTable(t, dst, tr.Table, cols); !slices.Equal(g, want) {
			t.Errorf("%s differs:\n got  %q\n want %q", tr.Table, g, want)
		} else if int64(len(g)) != tr.Rows {
			t.Errorf("%s: %d rows reported, %d there", tr.Table, tr.Rows, len(g))
		}
	}
	if _, err := dst.Invoice(ctx, late.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the invoice written after the snapshot was copied: %v", err)
	}

	// The target goes on from where the source was.
	var seq int64
	if err := dst.Write(ctx, func(tx *Tx) error {
		evs := []invoice.Event{{ID: "evt_new", Type: invoice.EventCreated, InvoiceID: "inv_2", CreatedAt: time.Now(), Payload: []byte(`{}`)}}
		err := tx.InsertEvents(ctx, evs)
		seq = evs[0].Seq
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if seq != lastSeq+1 {
		t.Errorf("the next event seq on the target is %d, want %d (seq %d was used on the source)", seq, lastSeq+1, lastSeq)
	}
	if err := dst.AddAudit(ctx, AuditEntry{At: time.Now(), Admin: "alice", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if es, _ := dst.AuditLog(ctx, 0, 1); len(es) != 1 || es[0].ID != lastAudit+1 {
		t.Errorf("the next audit id on the target is %+v, want %d", es, lastAudit+1)
	}
	if _, _, err := dst.FanOutWebhookEvents(ctx, []invoice.Event{{ID: "evt_new", Seq: seq, InvoiceID: "inv_2"}}, time.Now(),
		func(WebhookEndpoint, invoice.Event) bool { return true }); err != nil {
		t.Fatalf("a new delivery collides with a copied one: %v", err)
	}
	first, err := dst.ReserveIndexes(ctx, "ethereum", 1)
	if err != nil || first != 3 {
		t.Errorf("next ethereum index on the target %d (%v), want 3", first, err)
	}
}

// Copy refuses, and leaves the target as it was.
func TestCopyRefuses(t *testing.T) {
	ctx := context.Background()
	pgc := testnode.StartPostgres(t)
	tests := []struct {
		name   string
		source func(t *testing.T, db *DB)
		target func(t *testing.T, url string) *DB // nil: a migrated empty database
		want   error
		msg    string
	}{
		{name: "target not empty", target: func(t *testing.T, url string) *DB {
			db := openPostgresURL(t, url)
			fillEveryTable(t, db)
			return db
		}, want: ErrNotEmpty, msg: "it has 3 invoices, "},
		{name: "target has leases", target: func(t *testing.T, url string) *DB {
			db := openPostgresURL(t, url)
			if _, _, err := db.AcquireLease(ctx, "expirer", "host-a", time.Minute, time.Now()); err != nil {
				t.Fatal(err)
			}
			return db
		}, want: ErrNotEmpty, msg: "1 leases"},
		{name: "target not migrated", target: func(t *testing.T, url string) *DB {
			db, err := OpenPostgres(ctx, url, PostgresOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}, want: ErrSchemaVersion, msg: "target is at schema version 0"},
		{name: "source behind", source: func(t *testing.T, db *DB) {
			mustExec(t, db, `DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`)
		}, want: ErrSchemaVersion, msg: "run `payd migrate` on it first"},
		{name: "source newer", source: func(t *testing.T, db *DB) {
			mustExec(t, db, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`)
		}, want: ErrSchemaVersion, msg: "a newer payd wrote it"},
		{name: "not a payd database", source: func(t *testing.T, db *DB) {
			mustExec(t, db, `DROP TABLE goose_db_version`)
		}, want: ErrSchemaVersion, msg: "not a payd database"},
		{name: "unknown source table", source: func(t *testing.T, db *DB) {
			mustExec(t, db, `CREATE TABLE extra (x INTEGER)`)
		}, msg: "a table extra this payd does not know how to copy"},
		{name: "source column the target lacks", source: func(t *testing.T, db *DB) {
			mustExec(t, db, `ALTER TABLE links ADD COLUMN color TEXT`)
		}, want: ErrSchemaVersion, msg: "table links has columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := openLite(t)
			fillEveryTable(t, src)
			if tt.source != nil {
				tt.source(t, src)
			}
			url := pgc.NewDatabase(t)
			var dst *DB
			if tt.target != nil {
				dst = tt.target(t, url)
			} else {
				dst = openPostgresURL(t, url)
			}
			var before int64
			_ = dst.r.QueryRowContext(ctx, `SELECT count(*) FROM invoices`).Scan(&before)
			_, err := Copy(ctx, src, dst, CopyOptions{})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("want %v with %q, got %v", tt.want, tt.msg, err)
			}
			var after int64
			_ = dst.r.QueryRowContext(ctx, `SELECT count(*) FROM invoices`).Scan(&after)
			if after != before {
				t.Fatalf("the refused copy changed the target: %d invoices, were %d", after, before)
			}
		})
	}
	// Two SQLite databases, or PostgreSQL as the source: not a copy this does.
	lite := openLite(t)
	if _, err := Copy(ctx, lite, openLite(t), CopyOptions{}); err == nil || !strings.Contains(err.Error(), "SQLite database into PostgreSQL only") {
		t.Fatalf("sqlite → sqlite: %v", err)
	}
}

func mustExec(t *testing.T, db *DB, q string) {
	t.Helper()
	if _, err := db.w.ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCopy copies a shop of 100,000 invoices (two methods and
// addresses each, two events each with a webhook delivery: ~900,000 rows,
// event payloads of ~1 KB as payd writes them) from SQLite into PostgreSQL
// (fsync on), the figure docs/production.md gives for `payd migrate --from
// … --to …`:
//
//	go test -run '^$' -bench BenchmarkCopy -benchtime 3x ./store/
func BenchmarkCopy(b *testing.B) {
	const invoices = 100_000
	ctx := context.Background()
	src, err := Open(ctx, filepath.Join(b.TempDir(), "payd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := src.CreateWebhookEndpoint(ctx, WebhookEndpoint{ID: "we_1", URL: "https://shop.example/hook", Secret: "0123456789abcdef0123",
		Events: []string{"*"}, Source: "api", CreatedAt: time.Unix(1_800_000_000, 0)}); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"id":"evt","type":"invoice.created","invoice":{` + strings.Repeat(`"k":"0123456789abcdef0123456789abcdef",`, 24) + `"end":1}}`)
	const batch = 1000
	for at := 0; at < invoices; at += batch {
		invs := make([]*invoice.Invoice, 0, batch)
		var evs []invoice.Event
		for i := at; i < at+batch; i++ {
			now := time.Unix(1_800_000_000+int64(i), 0).UTC()
			inv := testInvoice(fmt.Sprintf("inv_%08d", i), now, fmt.Sprintf("0x%040d", i))
			inv.Methods[1].Chain, inv.Methods[1].Address = "polygon", fmt.Sprintf("0x%040d", i)
			for j := range inv.Methods {
				inv.Methods[j].DeriveIdx = uint32(i)
			}
			invs = append(invs, inv)
			for k, typ := range []invoice.EventType{invoice.EventCreated, invoice.EventExpired} {
				evs = append(evs, invoice.Event{ID: fmt.Sprintf("evt_%08d_%d", i, k), Type: typ, InvoiceID: inv.ID, CreatedAt: now, Payload: payload})
			}
		}
		if err := src.Write(ctx, func(tx *Tx) error {
			if err := tx.InsertNewInvoices(ctx, invs); err != nil {
				return err
			}
			if err := tx.AdvanceIndex(ctx, "ethereum", uint32(at+batch)); err != nil {
				return err
			}
			return tx.InsertEventsBulk(ctx, evs)
		}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := src.FanOutWebhookEvents(ctx, evs, time.Unix(1_800_000_000, 0), func(WebhookEndpoint, invoice.Event) bool { return true }); err != nil {
			b.Fatal(err)
		}
	}
	var size int64
	if err := src.r.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	pgc, err := testnode.NewPostgres(testnode.PostgresOptions{Durable: true}) // fsync on, as in production
	if err != nil {
		b.Fatal(err)
	}
	defer pgc.Stop()
	var rows int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		url := pgc.NewDatabase(b)
		dst, err := OpenPostgres(ctx, url, PostgresOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dst.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got, err := Copy(ctx, src, dst, CopyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		rows = 0
		for _, tr := range got {
			rows += tr.Rows
		}
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(float64(size)/(1<<20), "source-MiB")
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
