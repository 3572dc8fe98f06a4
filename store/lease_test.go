package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payd/payd/internal/testnode"
)

func TestLeaseTakeoverAndFence(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	t0 := time.Unix(1700000000, 0)
	ttl := 10 * time.Second
	a, ok, err := db.AcquireLease(ctx, "watcher:bitcoin", "a", ttl, t0)
	if err != nil || !ok || a.Token != 1 {
		t.Fatalf("a acquires: %+v %v %v", a, ok, err)
	}
	if _, ok, err := db.AcquireLease(ctx, "watcher:bitcoin", "b", ttl, t0.Add(time.Second)); err != nil || ok {
		t.Fatalf("b acquires a held lease: %v %v", ok, err)
	}
	if a2, ok, err := db.AcquireLease(ctx, "watcher:bitcoin", "a", ttl, t0.Add(5*time.Second)); err != nil || !ok || a2.Token != a.Token {
		t.Fatalf("a renews: %+v %v %v", a2, ok, err)
	}
	fence := func(l Lease, at time.Time) error {
		return db.Write(ctx, func(tx *Tx) error { return tx.Fence(ctx, l, at) })
	}
	if err := fence(a, t0.Add(6*time.Second)); err != nil {
		t.Fatalf("a's write fenced while it holds the lease: %v", err)
	}
	// a stops renewing: b takes over after the expiry, with a new token.
	b, ok, err := db.AcquireLease(ctx, "watcher:bitcoin", "b", ttl, t0.Add(16*time.Second))
	if err != nil || !ok || b.Token != 2 {
		t.Fatalf("b takes over: %+v %v %v", b, ok, err)
	}
	if err := fence(a, t0.Add(16*time.Second)); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's late write: %v, want ErrLeaseLost", err)
	}
	if _, ok, _ := db.AcquireLease(ctx, "watcher:bitcoin", "a", ttl, t0.Add(17*time.Second)); ok {
		t.Fatal("a renews a lease b holds")
	}
	if err := fence(b, t0.Add(17*time.Second)); err != nil {
		t.Fatalf("b's write: %v", err)
	}
	// A graceful stop hands over at once.
	if err := db.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	if a3, ok, err := db.AcquireLease(ctx, "watcher:bitcoin", "a", ttl, t0.Add(18*time.Second)); err != nil || !ok || a3.Token != 3 {
		t.Fatalf("a after release: %+v %v %v", a3, ok, err)
	}
	ls, err := db.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].Holder != "a" {
		t.Fatalf("leases %+v %v", ls, err)
	}
}

// An instance cut off from PostgreSQL in the middle of a fenced transaction
// leaves it open: the server sees no disconnect and, but for the fence's
// idle timeout, would keep the lease row locked (FOR SHARE) and every other
// instance out of the lease until TCP keepalive gave up. Here the holder's
// transaction is simply left idle after its fence (what the server sees of
// a cut): once the lease has run out, the other instance takes it over.
func TestPostgresLeaseTakeoverPastAnAbandonedTransaction(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	a, b := openPostgresURL(t, url), openPostgresURL(t, url)
	ctx := context.Background()
	ttl := 2 * time.Second
	la, ok, err := a.AcquireLease(ctx, "watcher:bitcoin", "a", ttl, time.Now())
	if err != nil || !ok {
		t.Fatalf("a acquires: %v %v", ok, err)
	}
	sqlTx, err := a.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlTx.Rollback()
	if err := (&Tx{Tx: sqlTx, db: a}).Fence(ctx, la, time.Now()); err != nil {
		t.Fatalf("a's fence: %v", err)
	}
	// a's transaction now holds the lease row and says nothing more.
	deadline := time.Now().Add(30 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		lb, ok, err := b.AcquireLease(actx, "watcher:bitcoin", "b", ttl, time.Now())
		cancel()
		if err == nil && ok {
			if lb.Token != la.Token+1 {
				t.Fatalf("b's token %d after a's %d", lb.Token, la.Token)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never takes over past a's abandoned transaction: %v %v", ok, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := sqlTx.Commit(); err == nil {
		t.Fatal("a's abandoned transaction committed after b took over")
	}
}
