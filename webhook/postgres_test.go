package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

func TestMain(m *testing.M) { os.Exit(testnode.RunWithPostgres(m.Run)) }

// Several payd instances on one PostgreSQL database each run a Manager:
// every one delivers, claiming deliveries from the shared queue.

func openPG(t testing.TB, url string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenPostgres(ctx, url, store.PostgresOptions{ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// haReceiver is one endpoint shared by several Managers, told apart by their
// User-Agent. It checks per-invoice order over every sender: an event
// arrives only after each earlier event of its invoice was answered 2xx (by
// anyone), and never after a later one was.
type haReceiver struct {
	*httptest.Server

	mu sync.Mutex
	// barrier > 0 holds every request until that many senders were seen (or
	// the sender gives up), so each has claimed work before any finishes.
	barrier  int
	barrierC chan struct{}
	// stall, when it reports true for a sender, holds its requests until it
	// gives up (its timeout): it never gets a 2xx.
	stall func(ua string) bool

	place      map[string]eventPlace
	ids        map[string][]string // invoice → its event ids in order
	delivered  map[string]string   // event id → the sender whose request was answered 2xx first
	perSender  map[string]int      // requests answered 2xx, per sender
	seen       map[string]bool
	arrivals   []haArrival
	violations []string
}

type haArrival struct{ ua, event string }

// newHAReceiver starts the receiver; call expect with the events before the
// Managers run.
func newHAReceiver(t testing.TB) *haReceiver {
	rc := &haReceiver{place: map[string]eventPlace{}, ids: map[string][]string{}, delivered: map[string]string{},
		perSender: map[string]int{}, seen: map[string]bool{}, barrierC: make(chan struct{})}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &b)
		ua := r.UserAgent()
		rc.mu.Lock()
		ev, known := rc.place[b.ID]
		if !known {
			rc.violations = append(rc.violations, fmt.Sprintf("unknown event %.80s", body))
		}
		for i, id := range rc.ids[ev.invoice] {
			switch {
			case i < ev.k && rc.delivered[id] == "":
				rc.violations = append(rc.violations, fmt.Sprintf("%s sent %s (invoice %s event %d) before event %d was delivered", ua, ev.id, ev.invoice, ev.k, i))
			case i > ev.k && rc.delivered[id] != "":
				rc.violations = append(rc.violations, fmt.Sprintf("%s sent %s (invoice %s event %d) after event %d was delivered", ua, ev.id, ev.invoice, ev.k, i))
			}
		}
		rc.arrivals = append(rc.arrivals, haArrival{ua: ua, event: b.ID})
		rc.seen[ua] = true
		if rc.barrier > 0 && len(rc.seen) >= rc.barrier {
			select {
			case <-rc.barrierC:
			default:
				close(rc.barrierC)
			}
		}
		barrier, stall := rc.barrier > 0, rc.stall != nil && rc.stall(ua)
		rc.mu.Unlock()
		if stall {
			<-r.Context().Done()
			return
		}
		if barrier {
			select {
			case <-rc.barrierC:
			case <-r.Context().Done():
				return
			}
		}
		rc.mu.Lock()
		if rc.delivered[b.ID] == "" {
			rc.delivered[b.ID] = ua
		}
		rc.perSender[ua]++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// expect tells the receiver the events, per invoice, oldest first.
func (rc *haReceiver) expect(perInvoice [][]invoice.Event) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, evs := range perInvoice {
		for k, ev := range evs {
			rc.place[ev.ID] = eventPlace{invoice: ev.InvoiceID, k: k, id: ev.ID}
			rc.ids[ev.InvoiceID] = append(rc.ids[ev.InvoiceID], ev.ID)
		}
	}
}

func (rc *haReceiver) set(f func(rc *haReceiver)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(rc)
}

func (rc *haReceiver) deliveredCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.delivered)
}

// haManagers starts n Managers on the database at urls[i] (one store.DB
// each, as n payd instances have), sending as "payd/test-<i>", each claiming
// at most 4 deliveries at once so that work spreads, and registers one
// endpoint at rc.
func haManagers(t *testing.T, urls []string, cfg Config) ([]*Manager, []*store.DB) {
	t.Helper()
	var ms []*Manager
	var dbs []*store.DB
	for i, u := range urls {
		db := openPG(t, u)
		c := cfg
		c.UserAgent = fmt.Sprintf("payd/test-%d", i)
		c.Instance = fmt.Sprintf("instance-%d", i)
		m, err := New(c, db, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		m.claimBatch = 4
		ms = append(ms, m)
		dbs = append(dbs, db)
	}
	return ms, dbs
}

// undelivered counts the deliveries not yet recorded as succeeded.
func undelivered(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'succeeded'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPostgresManagersShareDelivery: two, then three Managers on one
// PostgreSQL database deliver one queue of interleaved invoice events to one
// receiver: every event arrives, each invoice's in order, and every Manager
// delivered some.
func TestPostgresManagersShareDelivery(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d managers", n), func(t *testing.T) {
			u := testnode.StartPostgres(t).NewDatabase(t)
			urls := make([]string, n)
			for i := range urls {
				urls[i] = u
			}
			cfg := testConfig()
			cfg.Timeout = 5 * time.Second
			ms, dbs := haManagers(t, urls, cfg)
			const invoices, perInvoice = 40, 5
			rc := newHAReceiver(t)
			rc.set(func(rc *haReceiver) { rc.barrier = n })
			if _, err := ms[0].CreateEndpoint(context.Background(), rc.URL, nil); err != nil {
				t.Fatal(err)
			}
			rc.expect(queueInvoiceEvents(t, dbs[0], invoices, perInvoice))
			for _, m := range ms {
				startManager(t, m)
				m.Wake()
			}
			waitFor(t, 60*time.Second, "every event delivered and recorded", func() bool {
				return rc.deliveredCount() == invoices*perInvoice && undelivered(t, dbs[n-1]) == 0
			})
			rc.mu.Lock()
			defer rc.mu.Unlock()
			for _, v := range rc.violations {
				t.Error(v)
			}
			for i := range ms {
				if ua := fmt.Sprintf("payd/test-%d", i); rc.perSender[ua] == 0 {
					t.Errorf("manager %d delivered nothing (per sender: %v)", i, rc.perSender)
				}
			}
		})
	}
}

// TestPostgresManagerCutOffFromDatabase: three Managers share the queue; the
// third reaches the database through a TCP proxy, and its requests hang
// until they time out, so it always holds claims. The proxy is closed (a
// network cut): the third claims nothing more and sends only deliveries it
// had claimed before the cut, while the other two deliver everything, the
// third's deliveries once its claims ran out, each invoice in order.
func TestPostgresManagerCutOffFromDatabase(t *testing.T) {
	pg := testnode.StartPostgres(t)
	direct := pg.NewDatabase(t)
	proxy := testnode.StartTCPProxy(t, pg.Addr())
	pu, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = proxy.Addr
	cfg := testConfig()
	cfg.Timeout = time.Second
	cfg.ClaimTTL = 4 * time.Second
	ms, dbs := haManagers(t, []string{direct, direct, pu.String()}, cfg)
	const cut = "payd/test-2"
	const invoices, perInvoice = 30, 4
	rc := newHAReceiver(t)
	rc.set(func(rc *haReceiver) {
		rc.barrier = 3 // nobody is answered before the third has claimed and sent
		rc.stall = func(ua string) bool { return ua == cut }
	})
	if _, err := ms[0].CreateEndpoint(context.Background(), rc.URL, nil); err != nil {
		t.Fatal(err)
	}
	rc.expect(queueInvoiceEvents(t, dbs[0], invoices, perInvoice))
	for _, m := range ms {
		startManager(t, m)
		m.Wake()
	}
	waitFor(t, 30*time.Second, "the third manager sending", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.seen[cut]
	})
	// Cut the third off while nobody writes to the queue (the lock waits
	// for the transactions under way), and read what it holds: it can
	// neither claim nor record from here on.
	ctx := context.Background()
	observer := openPG(t, direct)
	claimed := map[string]bool{}
	var before int
	if err := observer.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE webhook_deliveries IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		proxy.Refuse()
		rc.mu.Lock()
		before = len(rc.arrivals)
		rc.mu.Unlock()
		rows, err := tx.QueryContext(ctx, `SELECT event_id FROM webhook_deliveries WHERE claimed_by = 'instance-2'`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			claimed[id] = true
		}
		return rows.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if len(claimed) == 0 {
		t.Fatal("the third manager held no claim at the cut")
	}
	waitFor(t, 60*time.Second, "every event delivered and recorded by the other two", func() bool {
		return rc.deliveredCount() == invoices*perInvoice && undelivered(t, observer) == 0
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, v := range rc.violations {
		t.Error(v)
	}
	for _, a := range rc.arrivals[before:] {
		if a.ua == cut && !claimed[a.event] {
			t.Errorf("after the cut the third manager sent %s, which it had not claimed", a.event)
		}
	}
	for id := range claimed {
		if by := rc.delivered[id]; by == "" || by == cut {
			t.Errorf("event %s, claimed by the cut-off manager, delivered by %q", id, by)
		}
	}
	if rc.perSender[cut] != 0 {
		t.Errorf("the stalled manager got %d answers", rc.perSender[cut])
	}
}

// The database goes away between a delivery and its record (PostgreSQL
// restarting, the network cut) and comes back within the claim: the manager
// records the attempt once it can, so the receiver gets the event once —
// not a second time after the claim ran out, 30 s later.
func TestPostgresRecordsAfterOutage(t *testing.T) {
	pg := testnode.StartPostgres(t)
	direct := pg.NewDatabase(t)
	proxy := testnode.StartTCPProxy(t, pg.Addr())
	pu, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = proxy.Addr
	cfg := testConfig()
	cfg.Timeout = time.Second
	cfg.ClaimTTL = 30 * time.Second
	ms, dbs := haManagers(t, []string{pu.String()}, cfg)
	observer := openPG(t, direct)
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		got = append(got, b.ID)
		n := len(got)
		mu.Unlock()
		if n == 1 {
			// Answered, but the answer cannot be recorded for 1.5 s.
			proxy.Refuse()
			time.AfterFunc(1500*time.Millisecond, proxy.Heal)
		}
	}))
	t.Cleanup(srv.Close)
	if _, err := ms[0].CreateEndpoint(context.Background(), srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	queueInvoiceEvents(t, dbs[0], 1, 1)
	startManager(t, ms[0])
	ms[0].Wake()
	waitFor(t, 10*time.Second, "the delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	waitFor(t, 10*time.Second, "the delivery recorded after the outage (within its claim)", func() bool { return undelivered(t, observer) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Errorf("the receiver got %d deliveries (%v), want 1", len(got), got)
	}
}
