package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE a = ? AND b = ?`, `SELECT a FROM t WHERE a = $1 AND b = $2`},
		{`SELECT '?' , "q?" FROM t WHERE a = ?`, `SELECT '?' , "q?" FROM t WHERE a = $1`},
		{`SELECT 'it''s ?' WHERE a = ?`, `SELECT 'it''s ?' WHERE a = $1`},
		{"SELECT a -- why?\nFROM t WHERE a = ?", "SELECT a -- why?\nFROM t WHERE a = $1"},
		{`SELECT MIN(x) FROM invoices INDEXED BY invoices_new_expiry WHERE s = ?`, `SELECT MIN(x) FROM invoices WHERE s = $1`},
		{`VALUES (?, ?), (?, ?)`, `VALUES ($1, $2), ($3, $4)`},
		{`SELECT ?1, MAX(?4, x) FROM a CROSS JOIN b ON b.k = ?1 WHERE c = ?12`, `SELECT $1, GREATEST($4, x) FROM a JOIN b ON b.k = $1 WHERE c = $12`},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Two payd instances on one database reserve derivation indexes at the same
// time: every index is handed out once.
func TestPostgresIndexesAcrossInstances(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	a := openPostgresURL(t, url)
	b := openPostgresURL(t, url)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[uint32]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var first uint32
				err := db.Write(ctx, func(tx *Tx) error {
					var err error
					first, err = tx.NextIndexes(ctx, "bitcoin", 2)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, idx := range []uint32{first, first + 1} {
					if seen[idx] {
						errs <- fmt.Errorf("index %d handed out twice", idx)
					}
					seen[idx] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct indexes, want 200", len(seen))
	}
}

// A batch transaction advancing the counter to indexes its instance has
// reserved takes no lock on the counter row, and a reservation does not
// queue behind the writer: while the batch is open, another instance locks
// the row without waiting (NOWAIT fails at once otherwise) and both
// instances reserve fresh blocks (were either blocked, the test would hang).
func TestPostgresBatchLeavesCounterUnlocked(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	a := openPostgresURL(t, url)
	b := openPostgresURL(t, url)
	ctx := context.Background()
	first, err := a.ReserveIndexes(ctx, "bitcoin", 8)
	if err != nil || first != 0 {
		t.Fatalf("first reservation: %d, %v; want 0", first, err)
	}
	var fromA, fromB uint32
	err = a.Write(ctx, func(tx *Tx) error {
		if err := tx.AdvanceIndex(ctx, "bitcoin", first+8); err != nil {
			return err
		}
		if _, err := b.Reader().ExecContext(ctx, `SELECT next_index FROM derivation_counters WHERE chain = 'bitcoin' FOR UPDATE NOWAIT`); err != nil {
			return fmt.Errorf("the counter row is locked by the open batch: %w", err)
		}
		var err error
		if fromB, err = b.ReserveIndexes(ctx, "bitcoin", 8); err != nil {
			return err
		}
		fromA, err = a.ReserveIndexes(ctx, "bitcoin", 8)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fromB != 8 || fromA != 16 {
		t.Fatalf("reservations during the batch: b %d, a %d; want 8, 16", fromB, fromA)
	}
	if next, err := b.PeekIndex(ctx, "bitcoin"); err != nil || next != 24 {
		t.Fatalf("counter after the batch: %d, %v; want 24 (the batch never moves it back)", next, err)
	}
}

// Events appended by two instances at once reach a reader in seq order with
// no gap left behind: a reader that polls EventsAfter(cursor) never skips an
// event that commits after a higher seq.
func TestPostgresOutboxOrderAcrossInstances(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	a := openPostgresURL(t, url)
	b := openPostgresURL(t, url)
	ctx := context.Background()
	const per = 40
	var wg sync.WaitGroup
	for w, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				ev := invoice.Event{ID: fmt.Sprintf("evt_%d_%d", w, i), Type: invoice.EventType("invoice.created"),
					InvoiceID: fmt.Sprintf("inv_%d", w), CreatedAt: time.Unix(1700000000, 0), Payload: []byte(`{}`)}
				if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertEvents(ctx, []invoice.Event{ev}) }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var cursor int64
	got := map[string]bool{}
	for len(got) < 2*per {
		evs, err := a.EventsAfter(ctx, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Seq <= cursor {
				t.Fatalf("seq %d after cursor %d", e.Seq, cursor)
			}
			cursor = e.Seq
			got[e.ID] = true
		}
		if len(evs) == 0 {
			wg.Wait() // every writer done: one more poll must see the rest
			if evs, err = a.EventsAfter(ctx, cursor, 1000); err != nil || len(evs)+len(got) < 2*per && len(evs) == 0 {
				t.Fatalf("reader stuck at %d with %d of %d events (%v): an event committed below the cursor", cursor, len(got), 2*per, err)
			}
		}
	}
	wg.Wait()
}

// Three instances claim one endpoint's deliveries at once, each through its
// own connections (SELECT … FOR UPDATE SKIP LOCKED): every delivery is
// claimed by exactly one, and none waits for another's lock.
func TestPostgresWebhookClaimsAcrossInstances(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	dbs := []*DB{openPostgresURL(t, url), openPostgresURL(t, url), openPostgresURL(t, url)}
	const invoices = 150
	queueClaimTest(t, dbs[0], invoices, 1)
	c := newClaimers(2 * len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		for w := range 2 { // two claimers per instance
			wg.Add(1)
			go func() { defer wg.Done(); c.claimAll(db, fmt.Sprintf("i%d-%d", i, w), 4) }()
		}
	}
	c.wait(t, &wg, invoices)
	var claimedBy int
	if err := dbs[1].r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM webhook_deliveries WHERE claimed_by <> '' AND claim = 1`).Scan(&claimedBy); err != nil || claimedBy != invoices {
		t.Fatalf("%d rows claimed once in the table (%v), want %d", claimedBy, err, invoices)
	}
}

// Two instances fan the same events out at once, over and over: each
// delivery is queued once, and the cursor ends at the last event.
func TestPostgresWebhookFanOutAcrossInstances(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	a, b := openPostgresURL(t, url), openPostgresURL(t, url)
	ctx := context.Background()
	queueClaimTest(t, a, 1, 1) // the endpoint, and one event fanned out
	every := func(WebhookEndpoint, invoice.Event) bool { return true }
	const rounds, perRound = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cursor := int64(0)
			for r := range rounds {
				if w == 0 { // a writes the events; both fan out
					var evs []invoice.Event
					for i := range perRound {
						evs = append(evs, invoice.Event{ID: fmt.Sprintf("evt_r%d_%d", r, i), Type: invoice.EventCreated,
							InvoiceID: fmt.Sprintf("inv_r%d", i), CreatedAt: claimT0, Payload: []byte(`{}`)})
					}
					if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertEvents(ctx, evs) }); err != nil {
						errs <- err
						return
					}
				}
				for {
					evs, err := db.EventsAfter(ctx, cursor, 7)
					if err != nil {
						errs <- err
						return
					}
					if len(evs) == 0 {
						break
					}
					_, next, err := db.FanOutWebhookEvents(ctx, evs, claimT0, every)
					if err != nil {
						errs <- err
						return
					}
					if next < cursor {
						errs <- fmt.Errorf("fan-out moved the cursor back from %d to %d", cursor, next)
						return
					}
					cursor = next
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Whoever is behind catches up.
	for _, db := range []*DB{a, b} {
		for {
			cur, err := db.WebhookCursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := db.EventsAfter(ctx, cur, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			if _, _, err := db.FanOutWebhookEvents(ctx, evs, claimT0, every); err != nil {
				t.Fatal(err)
			}
		}
	}
	var n, distinct int
	if err := a.r.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT event_id) FROM webhook_deliveries`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := 1 + rounds*perRound; n != want || distinct != want {
		t.Fatalf("%d deliveries of %d events, want %d of %d", n, distinct, want, want)
	}
	last, err := a.LastEventSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := b.WebhookCursor(ctx); err != nil || cur != last {
		t.Fatalf("cursor %d %v, want %d", cur, err, last)
	}
}
