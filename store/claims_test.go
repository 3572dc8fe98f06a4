package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

// claimT0 is the tests' "now" (claims, due times and attempts take explicit
// times).
var claimT0 = time.UnixMilli(1_700_000_000_000)

// queueClaimTest creates endpoint wh_a and queues, for each invoice, perInvoice
// events (event k of every invoice in round k, one transaction per round),
// fanned out due at claimT0. It returns the delivery ids per invoice, in event
// order.
func queueClaimTest(t *testing.T, db *DB, invoices, perInvoice int) [][]int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := db.CreateWebhookEndpoint(ctx, WebhookEndpoint{ID: "wh_a", URL: "https://a.example/hook", Secret: "whsec_a",
		Events: []string{"*"}, Source: "api", CreatedAt: claimT0}); err != nil {
		t.Fatal(err)
	}
	var all []invoice.Event
	for k := range perInvoice {
		var evs []invoice.Event
		for i := range invoices {
			evs = append(evs, invoice.Event{ID: fmt.Sprintf("evt_%d_%d", i, k), Type: invoice.EventCreated,
				InvoiceID: fmt.Sprintf("inv_%d", i), CreatedAt: claimT0, Payload: []byte(`{}`)})
		}
		if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertEvents(ctx, evs) }); err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	every := func(WebhookEndpoint, invoice.Event) bool { return true }
	if _, cursor, err := db.FanOutWebhookEvents(ctx, all, claimT0, every); err != nil || cursor != all[len(all)-1].Seq {
		t.Fatalf("fan out: cursor %d, %v", cursor, err)
	}
	ids := make([][]int64, invoices)
	rows, err := db.r.QueryContext(ctx, `SELECT d.id, e.invoice_id FROM webhook_deliveries d JOIN events e ON e.id = d.event_id ORDER BY e.seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var inv string
		if err := rows.Scan(&id, &inv); err != nil {
			t.Fatal(err)
		}
		var i int
		fmt.Sscanf(inv, "inv_%d", &i)
		ids[i] = append(ids[i], id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func claimFor(t *testing.T, db *DB, holder string, limit int, now time.Time, ttl time.Duration) []WebhookDelivery {
	t.Helper()
	ds, _, err := db.ClaimWebhookDeliveries(context.Background(), WebhookClaim{EndpointID: "wh_a", Holder: holder, Limit: limit, Now: now, Until: now.Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func deliveryIDs(ds []WebhookDelivery) []int64 {
	out := make([]int64, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	slices.Sort(out)
	return out
}

// result is the outcome of an attempt of d at at.
func result(d WebhookDelivery, status string, at, next time.Time) WebhookResult {
	return WebhookResult{Delivery: d, Status: status, Next: next,
		Attempt: WebhookAttempt{EndpointID: d.EndpointID, EventID: d.EventID, Attempt: d.Attempts + 1, StatusCode: 200, At: at}}
}

func deliveryStatus(t *testing.T, db *DB, id int64) (status string, attempts int) {
	t.Helper()
	if err := db.r.QueryRowContext(context.Background(), `SELECT status, attempts FROM webhook_deliveries WHERE id = ?`, id).Scan(&status, &attempts); err != nil {
		t.Fatal(err)
	}
	return status, attempts
}

// Two claimers, one after the other and then many at once, never get the
// same delivery, and each claim holds heads only.
func TestWebhookClaimsExclusive(t *testing.T) {
	db := openTest(t, Options{})
	ids := queueClaimTest(t, db, 6, 2)
	a := claimFor(t, db, "a", 4, claimT0, time.Minute)
	b := claimFor(t, db, "b", 10, claimT0, time.Minute)
	if len(a) != 4 || len(b) != 2 {
		t.Fatalf("a claimed %d, b %d; want 4 and the other 2 heads", len(a), len(b))
	}
	var heads []int64
	for _, inv := range ids {
		heads = append(heads, inv[0])
	}
	got := deliveryIDs(append(slices.Clone(a), b...))
	if !slices.Equal(got, heads) {
		t.Fatalf("claimed %v, want the heads %v", got, heads)
	}
	for _, d := range append(a, b...) {
		if d.Claim == 0 || !d.ClaimUntil.Equal(claimT0.Add(time.Minute)) || d.EventType != string(invoice.EventCreated) || string(d.Payload) != `{}` {
			t.Fatalf("claimed delivery %+v", d)
		}
	}
	if c := claimFor(t, db, "c", 10, claimT0.Add(30*time.Second), time.Minute); len(c) != 0 {
		t.Fatalf("c claimed %v while a and b hold every head", deliveryIDs(c))
	}
}

// claimers records which holder claimed each delivery, failing on a
// delivery claimed twice.
type claimers struct {
	mu        sync.Mutex
	owner     map[int64]string
	perHolder map[string]int
	errs      chan error
}

func newClaimers(n int) *claimers {
	return &claimers{owner: map[int64]string{}, perHolder: map[string]int{}, errs: make(chan error, n)}
}

// claimAll claims deliveries of wh_a for holder, limit at a time, until
// none is left.
func (c *claimers) claimAll(db *DB, holder string, limit int) {
	for {
		ds, _, err := db.ClaimWebhookDeliveries(context.Background(), WebhookClaim{EndpointID: "wh_a", Holder: holder, Limit: limit,
			Now: claimT0, Until: claimT0.Add(time.Minute)})
		if err != nil {
			c.errs <- err
			return
		}
		if len(ds) == 0 {
			return
		}
		c.mu.Lock()
		for _, d := range ds {
			if prev, dup := c.owner[d.ID]; dup {
				c.errs <- fmt.Errorf("delivery %d claimed by %s and %s", d.ID, prev, holder)
			}
			c.owner[d.ID] = holder
			c.perHolder[holder]++
		}
		c.mu.Unlock()
	}
}

// wait waits for wg, then fails t with the first error and unless want
// deliveries were claimed.
func (c *claimers) wait(t *testing.T, wg *sync.WaitGroup, want int) {
	t.Helper()
	wg.Wait()
	close(c.errs)
	for err := range c.errs {
		t.Fatal(err)
	}
	if len(c.owner) != want {
		t.Fatalf("%d of %d deliveries claimed (%v)", len(c.owner), want, c.perHolder)
	}
}

func TestWebhookClaimsConcurrent(t *testing.T) {
	db := openTest(t, Options{})
	const invoices = 60
	queueClaimTest(t, db, invoices, 1)
	c := newClaimers(4)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); c.claimAll(db, fmt.Sprintf("w%d", w), 3) }()
	}
	c.wait(t, &wg, invoices)
}

// A claim that ran out is anyone's again, with a new token; the old owner's
// outcome is then refused (its attempt is still logged), the new owner's
// counts. A released claim is free at once, and an outcome recorded before
// anyone claimed the delivery again still counts.
func TestWebhookClaimExpiryAndFence(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	queueClaimTest(t, db, 2, 1)
	ttl := 10 * time.Second
	a := claimFor(t, db, "a", 1, claimT0, ttl)
	if len(a) != 1 {
		t.Fatalf("a claimed %d", len(a))
	}
	other := claimFor(t, db, "b", 1, claimT0.Add(ttl-time.Millisecond), ttl)
	if len(other) != 1 || other[0].ID == a[0].ID {
		t.Fatalf("b before a's claim ran out: %v, want only the other invoice's head", deliveryIDs(other))
	}
	if lost, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(other[0], DeliverySucceeded, claimT0, claimT0)}); err != nil || lost != 0 {
		t.Fatalf("b's record of the other: lost %d, %v", lost, err)
	}
	at := claimT0.Add(ttl)
	b := claimFor(t, db, "b", 1, at, ttl)
	if len(b) != 1 || b[0].ID != a[0].ID || b[0].Claim == a[0].Claim {
		t.Fatalf("b after a's claim ran out: %+v, want delivery %d with a new token (a had %d)", b, a[0].ID, a[0].Claim)
	}
	// a, cut off, comes back and records a success: refused.
	lost, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(a[0], DeliverySucceeded, at.Add(time.Second), at.Add(time.Second))})
	if err != nil || lost != 1 {
		t.Fatalf("a's stale record: lost %d, %v; want 1 lost", lost, err)
	}
	if st, n := deliveryStatus(t, db, a[0].ID); st != DeliveryPending || n != 0 {
		t.Fatalf("after a's stale record: %s, %d attempts; want b's pending delivery untouched", st, n)
	}
	// b's own record (a retry) counts, and ends its claim.
	next := at.Add(time.Minute)
	if lost, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(b[0], DeliveryPending, at.Add(2*time.Second), next)}); err != nil || lost != 0 {
		t.Fatalf("b's record: lost %d, %v", lost, err)
	}
	if st, n := deliveryStatus(t, db, b[0].ID); st != DeliveryPending || n != 1 {
		t.Fatalf("after b's record: %s, %d attempts; want pending after 1", st, n)
	}
	as, err := db.WebhookAttempts(ctx, "wh_a", 10)
	if err != nil || len(as) != 3 {
		t.Fatalf("attempts %+v %v: want 3 (a's stale one is logged, not applied)", as, err)
	}
	// Due again at next; claimed and released, it is free at once.
	c := claimFor(t, db, "c", 5, next, ttl)
	if len(c) != 1 || c[0].ID != b[0].ID {
		t.Fatalf("c at the retry time: %v, want %d", deliveryIDs(c), b[0].ID)
	}
	if err := db.ReleaseWebhookClaims(ctx, "c", "wh_a"); err != nil {
		t.Fatal(err)
	}
	// Released but not yet claimed again: c's outcome still counts.
	if lost, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(c[0], DeliveryPending, next, next)}); err != nil || lost != 0 {
		t.Fatalf("c's record after its release: lost %d, %v", lost, err)
	}
	d := claimFor(t, db, "d", 5, next, ttl)
	if len(d) != 1 || d[0].ID != c[0].ID {
		t.Fatalf("d after c's release: %v, want %d", deliveryIDs(d), c[0].ID)
	}
	if err := db.ReleaseWebhookClaims(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	e := claimFor(t, db, "e", 5, next, ttl)
	if len(e) != 1 || e[0].ID != d[0].ID {
		t.Fatalf("e after d's release: %v, want %d", deliveryIDs(e), d[0].ID)
	}
	// d's outcome after e claimed it: refused.
	if lost, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(d[0], DeliverySucceeded, next, next)}); err != nil || lost != 1 {
		t.Fatalf("d's record after e claimed: lost %d, %v; want 1", lost, err)
	}
}

// An invoice's later event is claimed only after the earlier one was
// delivered or failed for good, whoever claims; while the earlier one waits
// for its retry, next tells when.
func TestWebhookClaimsKeepInvoiceOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	ids := queueClaimTest(t, db, 1, 3)[0]
	ttl := time.Minute
	want := func(holder string, now time.Time, id int64) WebhookDelivery {
		t.Helper()
		ds := claimFor(t, db, holder, 10, now, ttl)
		if id == 0 {
			if len(ds) != 0 {
				t.Fatalf("%s at %s claimed %v, want nothing", holder, now.Sub(claimT0), deliveryIDs(ds))
			}
			return WebhookDelivery{}
		}
		if len(ds) != 1 || ds[0].ID != id {
			t.Fatalf("%s at %s claimed %v, want [%d]", holder, now.Sub(claimT0), deliveryIDs(ds), id)
		}
		return ds[0]
	}
	first := want("a", claimT0, ids[0])
	want("b", claimT0, 0) // the second waits behind a's claim of the first
	retry := claimT0.Add(time.Minute)
	if _, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(first, DeliveryPending, claimT0, retry)}); err != nil {
		t.Fatal(err)
	}
	ds, next, err := db.ClaimWebhookDeliveries(ctx, WebhookClaim{EndpointID: "wh_a", Holder: "b", Limit: 10, Now: claimT0.Add(time.Second), Until: claimT0.Add(ttl)})
	if err != nil || len(ds) != 0 || !next.Equal(retry) {
		t.Fatalf("while the first waits for its retry: %v, next %s, %v; want nothing, next at the retry", deliveryIDs(ds), next, err)
	}
	first = want("b", retry, ids[0])
	if _, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(first, DeliverySucceeded, retry, retry)}); err != nil {
		t.Fatal(err)
	}
	second := want("a", retry, ids[1])
	want("b", retry, 0)
	if _, err := db.RecordWebhookAttempts(ctx, []WebhookResult{result(second, DeliveryFailed, retry, retry)}); err != nil {
		t.Fatal(err)
	}
	want("b", retry, ids[2]) // failed for good lets the third go
}

// Fan-out of the same events by two callers (one after the other; on
// PostgreSQL also two instances at once, postgres_test.go) queues each
// delivery once and never moves the cursor back.
func TestWebhookFanOutTwice(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	queueClaimTest(t, db, 3, 2)
	evs, err := db.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	every := func(WebhookEndpoint, invoice.Event) bool { return true }
	touched, cursor, err := db.FanOutWebhookEvents(ctx, evs[:2], claimT0, every)
	if err != nil || !slices.Equal(touched, []string{"wh_a"}) {
		t.Fatalf("fan out again: %v %v", touched, err)
	}
	last := evs[len(evs)-1].Seq
	if db.pg && cursor != last {
		t.Fatalf("cursor %d after a stale fan-out, want the stored %d", cursor, last)
	}
	if stored, err := db.WebhookCursor(ctx); err != nil || stored != last {
		t.Fatalf("stored cursor %d %v, want %d: it moved back", stored, err, last)
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d deliveries %v, want 6", n, err)
	}
}

// TestWebhookRequeueTwice re-queues an event that already has a delivery row
// (the console's Re-deliver, POST /v1/events/{id}/redeliver) twice: the row
// goes back to pending with a new generation each time, no second row
// appears. On PostgreSQL the upsert once named an ambiguous column.
func TestWebhookRequeueTwice(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	queueClaimTest(t, db, 1, 1)
	evs, err := db.EventsAfter(ctx, 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %v %v", evs, err)
	}
	gen := func() (n, g int64) {
		t.Helper()
		if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*), MAX(gen) FROM webhook_deliveries WHERE event_id = ?`, evs[0].ID).Scan(&n, &g); err != nil {
			t.Fatal(err)
		}
		return n, g
	}
	_, g0 := gen()
	for i := 1; i <= 2; i++ {
		if err := db.RequeueWebhookEvent(ctx, evs[0], []string{"wh_a"}, claimT0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("requeue %d: %v", i, err)
		}
		if n, g := gen(); n != 1 || g != g0+int64(i) {
			t.Fatalf("after requeue %d: %d rows, gen %d, want 1 row, gen %d", i, n, g, g0+int64(i))
		}
	}
}
