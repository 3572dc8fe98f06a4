package main

import (
	"context"
	"log/slog"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Instance a reaches PostgreSQL through a proxy, b directly; a leads. The
// network between a and the database is cut — connections refused, or
// blackholed (nothing gets through, nothing is refused) — and a stops its
// part before b starts one (never two leaders), b takes over; the network
// heals and a, without a restart, takes the lease again once b lets it go.
func TestLeasesStepDownWhenCutOff(t *testing.T) {
	pg := testnode.StartPostgres(t)
	const ttl = 5 * time.Second
	for _, tt := range []struct {
		name string
		cut  func(*testnode.TCPProxy)
	}{
		{"refused", (*testnode.TCPProxy).Refuse},
		{"blackholed", (*testnode.TCPProxy).Blackhole},
	} {
		t.Run(tt.name, func(t *testing.T) {
			direct := pg.NewDatabase(t)
			u, err := url.Parse(direct)
			if err != nil {
				t.Fatal(err)
			}
			proxy := testnode.StartTCPProxy(t, pg.Addr())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			open := func(u string) *store.DB {
				db, err := store.OpenPostgres(ctx, u, store.PostgresOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			dbB := open(direct)
			if _, err := dbB.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			dbA := open(pg.URLAt(proxy.Addr, strings.TrimPrefix(u.Path, "/")))
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			la, lb := newLeases(dbA, ttl, log.With("instance", "a")), newLeases(dbB, ttl, log.With("instance", "b"))
			defer func() {
				if t.Failed() {
					t.Logf("log:\n%s", logs.String())
				}
			}()

			var mu sync.Mutex
			var order []string
			record := func(s string) {
				mu.Lock()
				order = append(order, s)
				mu.Unlock()
			}
			started := map[string]chan struct{}{"a": make(chan struct{}, 4), "b": make(chan struct{}, 4)}
			stopped := map[string]chan struct{}{"a": make(chan struct{}, 4), "b": make(chan struct{}, 4)}
			part := func(who string) func(context.Context) error {
				return func(ctx context.Context) error {
					record(who + " starts")
					started[who] <- struct{}{}
					<-ctx.Done()
					record(who + " stops")
					stopped[who] <- struct{}{}
					return nil
				}
			}
			waitFor := func(ch chan struct{}, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(4 * ttl):
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("%s did not happen; so far: %v", what, order)
				}
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			run := func(l *leases, who string, ctx context.Context) {
				wg.Add(1)
				go func() { defer wg.Done(); _ = l.run(ctx, "watcher:bitcoin", part(who)) }()
			}
			run(la, "a", ctx)
			waitFor(started["a"], "a leads")
			bctx, stopB := context.WithCancel(ctx)
			defer stopB()
			run(lb, "b", bctx)

			tt.cut(proxy)
			waitFor(started["b"], "b takes over")
			mu.Lock()
			if got := strings.Join(order, ", "); got != "a starts, a stops, b starts" {
				t.Errorf("events %q, want a to stop before b starts", got)
			}
			mu.Unlock()
			if h := la.Held(); len(h) != 0 {
				t.Errorf("a still holds %v after b took over", h)
			}

			proxy.Heal()
			// a reaches the database again, and does not take the lease from b.
			deadline := time.Now().Add(4 * ttl)
			for dbA.Ping(ctx) != nil {
				if time.Now().After(deadline) {
					t.Fatal("a does not reach the database after the heal")
				}
				time.Sleep(50 * time.Millisecond)
			}
			// b stops gracefully (releasing the lease): a, never restarted,
			// leads again.
			stopB()
			waitFor(started["a"], "a leads again")
			mu.Lock()
			if got := strings.Join(order, ", "); got != "a starts, a stops, b starts, b stops, a starts" {
				t.Errorf("events %q", got)
			}
			mu.Unlock()
			if h := la.Held(); h["watcher:bitcoin"].Token != 3 {
				t.Errorf("a holds %+v, want the lease with token 3 (a, b, a)", h)
			}
			cancel()
		})
	}
}

// TestCreatedMethodsFromPayload: the outbox tail takes a remote invoice's
// addresses from its invoice.created payload, without reading the database
// (d.db is nil here: a read would panic).
func TestCreatedMethodsFromPayload(t *testing.T) {
	inv := &invoice.Invoice{ID: "inv_x", Status: invoice.StatusNew, Amount: big.NewInt(1000), Currency: invoice.BTC,
		CreatedAt: time.Unix(1_800_000_000, 0), ExpiresAt: time.Unix(1_800_000_900, 0),
		Methods: []invoice.Method{
			{Method: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Address: "bcrt1qexample", AmountDue: big.NewInt(1000)},
			{Method: "ethereum/eth", Chain: "ethereum", Kind: invoice.KindEVM, Asset: invoice.ETH, Address: "0x00000000000000000000000000000000000000aa", AmountDue: big.NewInt(1)},
		}}
	e, err := invoice.NewEvent(invoice.EventCreated, inv, inv.CreatedAt, invoice.ViewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{}
	got := d.createdMethods(context.Background(), e)
	want := []chainAddress{{"bitcoin", "bcrt1qexample"}, {"ethereum", "0x00000000000000000000000000000000000000aa"}}
	if !slices.Equal(got, want) {
		t.Fatalf("methods %+v, want %+v", got, want)
	}
}
