package store

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

func TestSearchInvoices(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	a := testInvoice("inv_a", now.Add(-48*time.Hour), "0xAbC0000000000000000000000000000000000001")
	a.OrderID = "A-1"
	b := testInvoice("inv_b", now, "0xAbC0000000000000000000000000000000000002")
	b.OrderID, b.Status = "B-2", invoice.StatusSettled
	b.Methods = b.Methods[1:] // ethereum/usdc only
	b.Methods[0].DeriveIdx = 8
	b.Payments = []invoice.Payment{{ID: "pay_1", Method: "ethereum/usdc", TxID: "0xFEED", Amount: big.NewInt(1), Status: invoice.PaymentConfirmed, SeenAt: now}}
	for _, inv := range []*invoice.Invoice{a, b} {
		if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertInvoice(ctx, inv) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.SaveInvoice(ctx, b) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    InvoiceSearch
		want []string
	}{
		{"all, newest first", InvoiceSearch{}, []string{"inv_b", "inv_a"}},
		{"by id", InvoiceSearch{Query: "inv_a"}, []string{"inv_a"}},
		{"by order id", InvoiceSearch{Query: "B-2"}, []string{"inv_b"}},
		{"by address, any case", InvoiceSearch{Query: "0xabc0000000000000000000000000000000000001"}, []string{"inv_a"}},
		{"by txid, any case", InvoiceSearch{Query: "0xfeed"}, []string{"inv_b"}},
		{"no match", InvoiceSearch{Query: "nothing"}, nil},
		{"status", InvoiceSearch{Status: invoice.StatusSettled}, []string{"inv_b"}},
		{"method", InvoiceSearch{Method: "ethereum/eth"}, []string{"inv_a"}},
		{"from", InvoiceSearch{From: now.Add(-time.Hour)}, []string{"inv_b"}},
		{"to", InvoiceSearch{To: now.Add(-time.Hour)}, []string{"inv_a"}},
		{"cursor", InvoiceSearch{StartingAfter: "inv_b"}, []string{"inv_a"}},
		{"a query is not a pattern", InvoiceSearch{Query: "%"}, nil},
	} {
		got, _, err := db.SearchInvoices(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, inv := range got {
			ids = append(ids, inv.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) {
			t.Errorf("%s: %v, want %v", tc.name, ids, tc.want)
		}
	}
	page, more, err := db.SearchInvoices(ctx, InvoiceSearch{Limit: 1})
	if err != nil || len(page) != 1 || !more || len(page[0].Methods) == 0 {
		t.Errorf("limit 1: %d invoices, more %v, %v", len(page), more, err)
	}
}

// TestReceivedByMethodExact sums wei amounts beyond 2^63 exactly.
func TestReceivedByMethodExact(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	big10e19, _ := new(big.Int).SetString("10000000000000000001", 10) // > 2^63
	for i, id := range []string{"inv_x", "inv_y"} {
		inv := testInvoice(id, now, "0xAbC000000000000000000000000000000000000"+string(rune('1'+i)))
		for j := range inv.Methods {
			inv.Methods[j].DeriveIdx = uint32(10 + i)
		}
		inv.Payments = []invoice.Payment{{ID: "pay_" + id, Method: "ethereum/eth", TxID: "0x" + id, Amount: big10e19,
			Status: invoice.PaymentConfirmed, SeenAt: now}}
		if err := db.Write(ctx, func(tx *Tx) error {
			if err := tx.InsertInvoice(ctx, inv); err != nil {
				return err
			}
			return tx.SaveInvoice(ctx, inv)
		}); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := db.ReceivedByMethod(ctx, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil || len(rec) != 1 {
		t.Fatalf("%v %v", rec, err)
	}
	if got := rec[0].Amount.String(); got != "20000000000000000002" || rec[0].Payments != 2 {
		t.Errorf("sum %s over %d payments, want 20000000000000000002 over 2", got, rec[0].Payments)
	}
	// 2 × 10.000000000000000001 ETH at 2500.00 USD = 50000.00 USD (rounded down per payment)
	if got := rec[0].Value["USD"]; got == nil || got.String() != "5000000" {
		t.Errorf("USD value %v, want 5000000 cents", got)
	}
	days, err := db.InvoicesPerDay(ctx, now.AddDate(0, 0, -2), now.Add(time.Second))
	if err != nil || len(days) != 3 || days[2].Created != 2 || days[0].Created != 0 {
		t.Errorf("per day %+v %v", days, err)
	}
	c, err := db.CountInvoices(ctx, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil || c.Created != 2 || c.Settled != 0 {
		t.Errorf("counts %+v %v", c, err)
	}
}

func TestAdminLockoutAndSessions(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := time.Unix(1_800_000_000, 0).UTC()
	a, err := db.CreateAdmin(ctx, Admin{ID: "adm_1", Name: "alice", PasswordHash: "h1", Role: "admin", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		n, err := db.RecordLoginFailure(ctx, a.ID, 3, now.Add(time.Minute))
		if err != nil || n != i {
			t.Fatalf("failure %d: %d %v", i, n, err)
		}
	}
	a, _ = db.AdminByName(ctx, "alice")
	if !a.LockedUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("locked until %v", a.LockedUntil)
	}
	if err := db.CreateAdminSession(ctx, AdminSession{IDHash: "s1", AdminID: a.ID, CSRF: "c", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Re-creating the admin resets the password and lockout and ends its sessions.
	a2, err := db.CreateAdmin(ctx, Admin{ID: "adm_other", Name: "alice", PasswordHash: "h2", Role: "viewer", CreatedAt: now})
	if err != nil || a2.ID != "adm_1" || a2.PasswordHash != "h2" || a2.Role != "viewer" || a2.FailedLogins != 0 || !a2.LockedUntil.IsZero() {
		t.Fatalf("reset: %+v %v", a2, err)
	}
	if _, err := db.AdminSession(ctx, "s1"); err != ErrNotFound {
		t.Errorf("session survived a password reset: %v", err)
	}
	if err := db.AddAudit(ctx, AuditEntry{At: now, Admin: "alice", Action: "x.y", Target: "t"}); err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditLog(ctx, 0, 10)
	if err != nil || len(es) != 1 || es[0].Action != "x.y" {
		t.Errorf("audit %+v %v", es, err)
	}
}
