package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

func openDB(t testing.TB, path string) *store.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "payd.db")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newEvent renders an event of type typ for a minimal invoice.
func newEvent(typ invoice.EventType) (invoice.Event, error) {
	now := time.Now()
	inv := &invoice.Invoice{ID: invoice.NewID(invoice.PrefixInvoice, now), Status: invoice.StatusNew, Amount: big.NewInt(2500),
		Currency: invoice.Asset{Code: "USD", Decimals: 2, Fiat: true}, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute),
		Sequence: 1, Metadata: []byte(`{"order":"A-1"}`)}
	return invoice.NewEvent(typ, inv, now, invoice.ViewOptions{BaseURL: "https://pay.example"})
}

// insertEvents commits n events of type typ, one transaction each.
func insertEvents(t testing.TB, db *store.DB, n int, typ invoice.EventType) []invoice.Event {
	t.Helper()
	var out []invoice.Event
	for range n {
		ev, err := newEvent(typ)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Write(context.Background(), func(tx *store.Tx) error { return tx.InsertEvents(context.Background(), []invoice.Event{ev}) }); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// independentVerify checks a Payd-Signature with crypto/hmac directly (not
// Verify): hex(HMAC-SHA256(secret, "<t>." + body)).
func independentVerify(secret, header string, body []byte) bool {
	var ts, v1 string
	for _, p := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(p, "t="); ok {
			ts = v
		}
		if v, ok := strings.CutPrefix(p, "v1="); ok {
			v1 = v
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	io.WriteString(m, ts+"."+string(body))
	return ts != "" && hex.EncodeToString(m.Sum(nil)) == v1
}

type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is an httptest server recording every request; respond decides
// the answer (default 200).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []delivery
	notify  chan struct{}
	respond func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{respond: respond, notify: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, at: time.Now()})
		rc.mu.Unlock()
		select {
		case rc.notify <- struct{}{}:
		default:
		}
		if rc.respond != nil {
			rc.respond(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WEBHOOK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startManager runs m until the test ends.
func startManager(t testing.TB, m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func testConfig() Config {
	return Config{
		Timeout:       2 * time.Second,
		RetrySchedule: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond},
		AllowPrivate:  true,
		UserAgent:     "payd/test",
	}
}
