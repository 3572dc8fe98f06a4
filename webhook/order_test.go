package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// queueInvoiceEvents commits perInvoice events for each of n new invoices,
// interleaved (event 0 of every invoice, then event 1 of every invoice, …)
// in one transaction per round, so one invoice's events sit among the
// others' in the queue. Event k of an invoice carries invoice.sequence k+1.
// It returns the events per invoice, oldest first.
func queueInvoiceEvents(t testing.TB, db *store.DB, n, perInvoice int) [][]invoice.Event {
	t.Helper()
	types := []invoice.EventType{invoice.EventCreated, invoice.EventPaymentReceived, invoice.EventProcessing,
		invoice.EventPaymentConfirmed, invoice.EventSettled}
	now := time.Now()
	invs := make([]*invoice.Invoice, n)
	for i := range invs {
		invs[i] = &invoice.Invoice{ID: invoice.NewID(invoice.PrefixInvoice, now), Status: invoice.StatusNew, Amount: big.NewInt(2500),
			Currency: invoice.Asset{Code: "USD", Decimals: 2, Fiat: true}, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	}
	out := make([][]invoice.Event, n)
	for k := range perInvoice {
		var evs []invoice.Event
		for i, inv := range invs {
			inv.Sequence = int64(k + 1)
			ev, err := invoice.NewEvent(types[k%len(types)], inv, now, invoice.ViewOptions{BaseURL: "https://pay.example"})
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
			out[i] = append(out[i], ev)
		}
		if err := db.Write(context.Background(), func(tx *store.Tx) error { return tx.InsertEvents(context.Background(), evs) }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// orderReceiver is an endpoint that checks per-invoice order: when an
// event of an invoice arrives, every earlier event of that invoice must
// already have been answered 2xx (a failed attempt does not count: its retry
// must come first). It also records the most requests it had in flight.
type orderReceiver struct {
	*httptest.Server
	// order maps an event id to its invoice and its place in the invoice.
	order map[string]eventPlace
	// decide, called under mu, returns the status to answer (200 or a
	// failure) and how long to wait before answering.
	decide func(ev eventPlace, attempt, arrival int) (status int, delay time.Duration)
	// barrier > 0 makes requests from arrival barrierFrom on wait until
	// barrier requests are in flight at once (or 10 s pass), once.
	barrier, barrierFrom int
	// failIsFinal: payd has no retry left, so a failed answer also lets the
	// invoice's next event go.
	failIsFinal bool

	mu         sync.Mutex
	ids        map[string][]string // invoice → its event ids in order
	delivered  map[string]bool     // answered 2xx
	done       map[string]bool     // answered 2xx, or failed with failIsFinal
	attempts   map[string]int
	arrivals   int
	inflight   int
	maxFlight  int
	violations []string
	barrierC   chan struct{}
}

type eventPlace struct {
	invoice string
	k       int // 0 for the invoice's first event
	id      string
}

// newOrderReceiver starts the receiver; call expect with the events before
// payd sends any.
func newOrderReceiver(t testing.TB) *orderReceiver {
	rc := &orderReceiver{order: map[string]eventPlace{}, ids: map[string][]string{}, delivered: map[string]bool{}, done: map[string]bool{},
		attempts: map[string]int{}, barrierC: make(chan struct{})}
	rc.decide = func(eventPlace, int, int) (int, time.Duration) { return http.StatusOK, 0 }
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			ID      string `json:"id"`
			Invoice struct {
				ID       string `json:"id"`
				Sequence int64  `json:"sequence"`
			} `json:"invoice"`
		}
		_ = json.Unmarshal(body, &b)
		rc.mu.Lock()
		ev, known := rc.order[b.ID]
		if !known || ev.invoice != b.Invoice.ID || b.Invoice.Sequence != int64(ev.k+1) {
			rc.violations = append(rc.violations, fmt.Sprintf("unexpected body for %s: %.80s", b.ID, body))
		}
		for _, prev := range rc.ids[ev.invoice][:ev.k] {
			if !rc.done[prev] {
				rc.violations = append(rc.violations, fmt.Sprintf("invoice %s: event %d (%s) arrived before event %s was delivered", ev.invoice, ev.k, ev.id, prev))
			}
		}
		rc.arrivals++
		rc.attempts[b.ID]++
		status, delay := rc.decide(ev, rc.attempts[b.ID], rc.arrivals)
		arrival, barrier, barrierFrom := rc.arrivals, rc.barrier, rc.barrierFrom
		rc.inflight++
		rc.maxFlight = max(rc.maxFlight, rc.inflight)
		if barrier > 0 && rc.inflight >= barrier {
			select {
			case <-rc.barrierC:
			default:
				close(rc.barrierC)
			}
		}
		rc.mu.Unlock()
		if barrier > 0 && arrival >= barrierFrom {
			select {
			case <-rc.barrierC:
			case <-time.After(10 * time.Second): // a broken sender fails the test instead of hanging it
			}
		}
		time.Sleep(delay)
		rc.mu.Lock()
		rc.inflight--
		if status/100 == 2 {
			rc.delivered[b.ID] = true
		}
		if status/100 == 2 || rc.failIsFinal {
			rc.done[b.ID] = true
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// set configures the receiver (fields decide, barrier, barrierFrom,
// failIsFinal) under its lock.
func (rc *orderReceiver) set(f func(rc *orderReceiver)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(rc)
}

// expect tells the receiver the events, per invoice, oldest first.
func (rc *orderReceiver) expect(perInvoice [][]invoice.Event) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, evs := range perInvoice {
		for k, ev := range evs {
			rc.order[ev.ID] = eventPlace{invoice: ev.InvoiceID, k: k, id: ev.ID}
			rc.ids[ev.InvoiceID] = append(rc.ids[ev.InvoiceID], ev.ID)
		}
	}
}

func (rc *orderReceiver) state() (delivered, maxFlight int, violations []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.delivered), rc.maxFlight, append([]string(nil), rc.violations...)
}

// TestPerInvoiceOrderUnderConcurrency: many invoices with five events each,
// interleaved in the queue, delivered with several requests in flight to a
// receiver that answers after random delays and fails the first attempt of
// some events. Every event arrives only after the earlier events of its
// invoice were answered 2xx, every event is delivered, and (with a limit
// above 1) requests do overlap.
func TestPerInvoiceOrderUnderConcurrency(t *testing.T) {
	tests := []struct {
		name        string
		endpointMax int
		fail        bool // fail the first attempt of every event with (invoice index + k) % 3 == 1
		wantOverlap bool
	}{
		{"one in flight", 1, true, false},
		{"four in flight", 4, false, true},
		{"eight in flight, with retries", 8, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, "")
			cfg := testConfig()
			cfg.EndpointConcurrency = tc.endpointMax
			cfg.Timeout = time.Minute // longer than the barrier's 10 s: no timeout makes requests overlap
			cfg.RetrySchedule = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
			cfg.Jitter = 0.01
			m, err := New(cfg, db, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			const invoices, perInvoice = 30, 5
			// The endpoint exists before the events: queue them, then start.
			rc := newOrderReceiver(t)
			if _, err := m.CreateEndpoint(context.Background(), rc.URL, nil); err != nil {
				t.Fatal(err)
			}
			evs := queueInvoiceEvents(t, db, invoices, perInvoice)
			index := map[string]int{}
			for i, e := range evs {
				index[e[0].InvoiceID] = i
			}
			rc.expect(evs)
			rng := rand.New(rand.NewPCG(1, 2)) // used under rc.mu
			rc.set(func(rc *orderReceiver) {
				rc.decide = func(ev eventPlace, attempt, arrival int) (int, time.Duration) {
					delay := time.Duration(rng.IntN(1500)) * time.Microsecond
					if arrival <= 3 {
						return http.StatusOK, 0 // three quick successes open the endpoint up
					}
					if tc.fail && attempt == 1 && (index[ev.invoice]+ev.k)%3 == 1 {
						return http.StatusInternalServerError, delay
					}
					return http.StatusOK, delay
				}
				if tc.wantOverlap {
					rc.barrier, rc.barrierFrom = 2, 4
				}
			})
			startManager(t, m)
			m.Wake()
			waitFor(t, 30*time.Second, "every event delivered", func() bool {
				n, _, _ := rc.state()
				return n == invoices*perInvoice
			})
			_, maxFlight, violations := rc.state()
			for _, v := range violations {
				t.Error(v)
			}
			if maxFlight > tc.endpointMax {
				t.Errorf("%d requests in flight at once, limit %d", maxFlight, tc.endpointMax)
			}
			if tc.wantOverlap && maxFlight < 2 {
				t.Errorf("at most %d request in flight: delivery to one endpoint is serialised", maxFlight)
			}
		})
	}
}

// TestRetryHoldsBackTheInvoiceOnly: the first event of invoice A fails; A's
// later events wait for its retry (or for it to fail for good), while
// invoice B's events go out meanwhile.
func TestRetryHoldsBackTheInvoiceOnly(t *testing.T) {
	tests := []struct {
		name     string
		schedule []time.Duration
		// a1OK reports whether A's first event is finally delivered.
		a1OK bool
	}{
		{"retried until delivered", []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond,
			20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
			200 * time.Millisecond, 400 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}, true},
		{"failed for good releases the rest", []time.Duration{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, "")
			cfg := testConfig()
			cfg.RetrySchedule = tc.schedule
			cfg.Jitter = 0.01
			m, err := New(cfg, db, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			rc := newOrderReceiver(t)
			ep, err := m.CreateEndpoint(context.Background(), rc.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			evs := queueInvoiceEvents(t, db, 2, 3) // A: evs[0], B: evs[1]
			a, b := evs[0], evs[1]
			rc.expect(evs)
			var bDoneBeforeA1 bool // under rc.mu
			rc.set(func(rc *orderReceiver) {
				rc.failIsFinal = len(tc.schedule) == 0
				rc.decide = func(ev eventPlace, attempt, arrival int) (int, time.Duration) {
					if ev.id == a[0].ID {
						// A1 fails until all of B was delivered (or always).
						if !tc.a1OK || !rc.delivered[b[2].ID] {
							return http.StatusServiceUnavailable, 0
						}
						bDoneBeforeA1 = true
					}
					return http.StatusOK, 0
				}
			})
			startManager(t, m)
			m.Wake()
			waitFor(t, 20*time.Second, "A's and B's later events delivered", func() bool {
				rc.mu.Lock()
				defer rc.mu.Unlock()
				return rc.delivered[a[2].ID] && rc.delivered[b[2].ID]
			})
			_, _, violations := rc.state()
			for _, v := range violations {
				t.Error(v)
			}
			rc.mu.Lock()
			a1, a1Attempts, bFirst := rc.delivered[a[0].ID], rc.attempts[a[0].ID], bDoneBeforeA1
			rc.mu.Unlock()
			if tc.a1OK && (!a1 || !bFirst) {
				t.Errorf("A1 delivered %v, after all of B %v: B should go out while A1 is retried", a1, bFirst)
			}
			if !tc.a1OK && (a1 || a1Attempts != 1) {
				t.Errorf("A1 delivered %v after %d attempts, want one failed attempt (no retry left)", a1, a1Attempts)
			}
			waitFor(t, 10*time.Second, "every attempt recorded", func() bool {
				as, err := m.Attempts(context.Background(), ep.ID, 100)
				return err == nil && len(as) == rc.arrivalCount()
			})
		})
	}
}

func (rc *orderReceiver) arrivalCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.arrivals
}

// TestEndpointConcurrencyLimit: with many unrelated invoices, requests to
// one endpoint overlap up to EndpointConcurrency (and the global
// Concurrency), never more; one invoice's events never overlap.
func TestEndpointConcurrencyLimit(t *testing.T) {
	tests := []struct {
		name                 string
		endpointMax, global  int
		invoices, perInvoice int
		want                 int // requests in flight at once the receiver waits for
	}{
		{"limit 1", 1, 8, 20, 1, 1},
		{"limit 4", 4, 8, 20, 1, 4},
		{"global limit below the endpoint's", 8, 3, 20, 1, 3},
		{"one invoice never overlaps", 8, 8, 1, 12, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, "")
			cfg := testConfig()
			cfg.EndpointConcurrency, cfg.Concurrency = tc.endpointMax, tc.global
			cfg.Timeout = time.Minute
			m, err := New(cfg, db, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			rc := newOrderReceiver(t)
			if _, err := m.CreateEndpoint(context.Background(), rc.URL, nil); err != nil {
				t.Fatal(err)
			}
			evs := queueInvoiceEvents(t, db, tc.invoices, tc.perInvoice)
			rc.expect(evs)
			rc.set(func(rc *orderReceiver) {
				rc.decide = func(ev eventPlace, attempt, arrival int) (int, time.Duration) {
					if arrival <= 3 {
						return http.StatusOK, 0 // open the endpoint up
					}
					return http.StatusOK, 3 * time.Millisecond // long enough for a wrong overlap to show
				}
				rc.barrier, rc.barrierFrom = tc.want, 4
			})
			startManager(t, m)
			m.Wake()
			waitFor(t, 30*time.Second, "every event delivered", func() bool {
				n, _, _ := rc.state()
				return n == tc.invoices*tc.perInvoice
			})
			_, maxFlight, violations := rc.state()
			for _, v := range violations {
				t.Error(v)
			}
			if maxFlight != tc.want {
				t.Errorf("at most %d requests in flight at once, want %d", maxFlight, tc.want)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		outcomes []bool
		want     []int // cur after each outcome
	}{
		{"opens up by doubling", 8, []bool{true, true, true, true}, []int{2, 4, 8, 8}},
		{"a failure falls back to one", 8, []bool{true, true, false, true}, []int{2, 4, 1, 2}},
		{"a dead endpoint stays at one", 8, []bool{false, false, false}, []int{1, 1, 1}},
		{"max not a power of two", 6, []bool{true, true, true}, []int{2, 4, 6}},
		{"max one", 1, []bool{true, false, true}, []int{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.max)
			if l.cur != 1 {
				t.Fatalf("starts at %d, want 1", l.cur)
			}
			for i, ok := range tc.outcomes {
				l.observe(ok)
				if l.cur != tc.want[i] {
					t.Fatalf("after outcome %d (%v): %d, want %d", i, ok, l.cur, tc.want[i])
				}
			}
		})
	}
}
