package service

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/store"
)

func openPostgres(t *testing.T, url string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenPostgres(ctx, url, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// idle waits until no background reservation is in flight.
func (h *harness) idle(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		h.s.commit.mu.Lock()
		busy := false
		for _, f := range h.s.commit.fetching {
			busy = busy || f
		}
		h.s.commit.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a reservation ahead is still in flight after 10 s")
		}
	}
}

// On PostgreSQL (several instances on one database) derivation indexes come
// in blocks reserved ahead of need: two services creating invoices one after
// another each wait for a reservation once, at their first invoice, and
// never hand out one index twice, even concurrently.
func TestPostgresIndexesReservedAhead(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	hs := []*harness{newHarnessDB(t, openPostgres(t, url)), newHarnessDB(t, openPostgres(t, url))}
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[uint32]string{}
	create := func(h *harness, who string) error {
		inv, err := h.s.Create(ctx, CreateRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
		if err != nil {
			return err
		}
		idx := inv.Methods[0].DeriveIdx
		mu.Lock()
		defer mu.Unlock()
		if other, dup := seen[idx]; dup {
			return fmt.Errorf("index %d handed out by %s and %s", idx, other, who)
		}
		seen[idx] = who
		return nil
	}
	for i := 0; i < 5*indexBlock; i++ {
		for n, h := range hs {
			if err := create(h, fmt.Sprint("service ", n)); err != nil {
				t.Fatal(err)
			}
			h.idle(t) // a request faster than the reservation ahead would wait: not this test's point
		}
	}
	for n, h := range hs {
		if h.s.commit.waited != 1 {
			t.Errorf("service %d: %d requests waited for a reservation, want 1 (the first)", n, h.s.commit.waited)
		}
	}
	// Concurrently: whoever runs out first waits, nobody shares an index.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3*indexBlock; i++ {
				if err := create(hs[g%2], fmt.Sprint("goroutine ", g)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := 2*5*indexBlock + 8*3*indexBlock; len(seen) != want {
		t.Errorf("%d distinct indexes, want %d", len(seen), want)
	}
}
