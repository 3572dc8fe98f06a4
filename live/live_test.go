package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/live"
	"github.com/payd/payd/store"
)

const baseURL = "https://pay.example.com"

var errNotFound = errors.New("not found")

// invoices is a fake invoice loader over an in-memory map.
type invoices struct {
	mu    sync.Mutex
	m     map[string]*invoice.Invoice
	loads int
}

func newInvoices() *invoices { return &invoices{m: make(map[string]*invoice.Invoice)} }

func (f *invoices) Get(_ context.Context, id string) (*invoice.Invoice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	inv, ok := f.m[id]
	if !ok {
		return nil, errNotFound
	}
	c := *inv
	return &c, nil
}

// put stores a new invoice (sequence 1) and returns it.
func (f *invoices) put(status invoice.Status) *invoice.Invoice {
	now := time.Now()
	inv := &invoice.Invoice{
		ID:        invoice.NewID(invoice.PrefixInvoice, now),
		Status:    status,
		Amount:    big.NewInt(2500),
		Currency:  invoice.FiatAsset("USD"),
		Metadata:  json.RawMessage(`{"secret":"merchant only"}`),
		CreatedAt: now,
		ExpiresAt: now.Add(15 * time.Minute),
		Sequence:  1,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[inv.ID] = inv
	c := *inv
	return &c
}

// update bumps the invoice's sequence, sets its status and returns an event
// for it (Seq 0, as built before the insert).
func (f *invoices) update(t *testing.T, id string, status invoice.Status) invoice.Event {
	t.Helper()
	f.mu.Lock()
	inv := f.m[id]
	inv.Status = status
	inv.Sequence++
	c := *inv
	f.mu.Unlock()
	ev, err := invoice.NewEvent(invoice.EventProcessing, &c, time.Now(), invoice.ViewOptions{BaseURL: baseURL})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

type env struct {
	hub  *live.Hub
	srv  *httptest.Server
	inv  *invoices
	stop func() // cancels Run and waits for it
}

func isNotFound(err error) bool {
	return errors.Is(err, errNotFound) || errors.Is(err, store.ErrNotFound)
}

// start runs a hub behind a real HTTP server on 127.0.0.1.
func start(t *testing.T, o live.Options, wrap func(net.Listener) net.Listener) *env {
	t.Helper()
	e := &env{inv: newInvoices()}
	o.BaseURL = baseURL
	o.Invoice = e.inv.Get
	o.IsNotFound = isNotFound
	e.hub = live.New(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /i/{id}/ws", e.hub.ServeInvoice)
	mux.HandleFunc("GET /v1/events/ws", e.hub.ServeEvents)
	e.srv = httptest.NewUnstartedServer(mux)
	if wrap != nil {
		e.srv.Listener = wrap(e.srv.Listener)
	}
	e.srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.hub.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-ran:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(func() { e.stop(); e.srv.Close() })
	return e
}

func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path }

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type invoiceMsg struct {
	Type    string          `json:"type"`
	Invoice json.RawMessage `json:"invoice"`
	view    invoice.View
}

func readInvoice(t *testing.T, c *websocket.Conn, timeout time.Duration) invoiceMsg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read invoice message: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d, want text", typ)
	}
	var m invoiceMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if err := json.Unmarshal(m.Invoice, &m.view); err != nil {
		t.Fatalf("decode invoice %s: %v", m.Invoice, err)
	}
	if m.Type != "invoice" {
		t.Fatalf("type %q, want invoice", m.Type)
	}
	return m
}

// expectClose reads until the server's close frame and returns its code.
func expectClose(t *testing.T, c *websocket.Conn, timeout time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, b, err := c.ReadMessage()
		if err == nil {
			t.Fatalf("unexpected message before close: %.200s", b)
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("read: %v, want a close frame", err)
	}
}

func TestInvoiceConnectAndUpdateWithin100ms(t *testing.T) {
	e := start(t, live.Options{}, nil)
	inv := e.inv.put(invoice.StatusNew)
	c := dial(t, e.wsURL("/i/"+inv.ID+"/ws"))

	m := readInvoice(t, c, 2*time.Second)
	if m.view.ID != inv.ID || m.view.Status != invoice.StatusNew || m.view.Sequence != 1 {
		t.Fatalf("initial view = %s %s seq %d", m.view.ID, m.view.Status, m.view.Sequence)
	}
	if m.view.CheckoutURL != baseURL+"/i/"+inv.ID {
		t.Errorf("checkout_url = %q", m.view.CheckoutURL)
	}
	if strings.Contains(string(m.Invoice), "metadata") || strings.Contains(string(m.Invoice), "merchant only") {
		t.Errorf("public view leaks metadata: %s", m.Invoice)
	}
	if e.hub.Clients() != 1 {
		t.Errorf("Clients() = %d, want 1", e.hub.Clients())
	}

	for i := 0; i < 10; i++ {
		ev := e.inv.update(t, inv.ID, invoice.StatusProcessing)
		t0 := time.Now()
		e.hub.Publish([]invoice.Event{ev})
		m := readInvoice(t, c, time.Second)
		took := time.Since(t0)
		if want := int64(i + 2); m.view.Sequence != want {
			t.Fatalf("update %d: sequence %d, want %d", i, m.view.Sequence, want)
		}
		if took >= 100*time.Millisecond {
			t.Fatalf("update %d arrived after %v, want < 100ms", i, took)
		}
		t.Logf("update %d arrived after %v", i, took)
	}
}

func TestInvoiceCoalescesAndDropsStale(t *testing.T) {
	e := start(t, live.Options{}, nil)
	inv := e.inv.put(invoice.StatusNew)
	other := e.inv.put(invoice.StatusNew)
	c := dial(t, e.wsURL("/i/"+inv.ID+"/ws"))
	readInvoice(t, c, 2*time.Second)

	// A burst: every message is newer than the one before, and the last one
	// is the latest state.
	const burst = 200
	for i := 0; i < burst; i++ {
		e.hub.Publish([]invoice.Event{e.inv.update(t, inv.ID, invoice.StatusProcessing)})
	}
	last, n := int64(1), 0
	for last < burst+1 {
		m := readInvoice(t, c, 2*time.Second)
		if m.view.Sequence <= last {
			t.Fatalf("sequence %d after %d", m.view.Sequence, last)
		}
		last = m.view.Sequence
		n++
	}
	t.Logf("%d changes arrived as %d messages", burst, n)

	// An event that does not change the invoice (stale news) and one for
	// another invoice send nothing; the next message is the next real change.
	stale, err := invoice.NewEvent(invoice.EventProcessing, inv, time.Now(), invoice.ViewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Publish([]invoice.Event{stale})
	e.hub.Publish([]invoice.Event{e.inv.update(t, other.ID, invoice.StatusProcessing)})
	time.Sleep(50 * time.Millisecond)
	e.hub.Publish([]invoice.Event{e.inv.update(t, inv.ID, invoice.StatusProcessing)})
	if m := readInvoice(t, c, time.Second); m.view.Sequence != burst+2 {
		t.Fatalf("after stale news: sequence %d, want %d", m.view.Sequence, burst+2)
	}
}

func TestInvoiceClosesOnFinal(t *testing.T) {
	e := start(t, live.Options{}, nil)
	for _, final := range []invoice.Status{invoice.StatusSettled, invoice.StatusExpired, invoice.StatusInvalid} {
		t.Run(string(final), func(t *testing.T) {
			inv := e.inv.put(invoice.StatusNew)
			c := dial(t, e.wsURL("/i/"+inv.ID+"/ws"))
			readInvoice(t, c, 2*time.Second)
			e.hub.Publish([]invoice.Event{e.inv.update(t, inv.ID, invoice.StatusProcessing)})
			if m := readInvoice(t, c, time.Second); m.view.Status != invoice.StatusProcessing {
				t.Fatalf("status %s", m.view.Status)
			}
			e.hub.Publish([]invoice.Event{e.inv.update(t, inv.ID, final)})
			if m := readInvoice(t, c, time.Second); m.view.Status != final {
				t.Fatalf("status %s, want %s", m.view.Status, final)
			}
			if code := expectClose(t, c, 2*time.Second); code != websocket.CloseNormalClosure {
				t.Fatalf("close code %d, want %d", code, websocket.CloseNormalClosure)
			}
		})
	}
	t.Run("already final", func(t *testing.T) {
		inv := e.inv.put(invoice.StatusExpired)
		c := dial(t, e.wsURL("/i/"+inv.ID+"/ws"))
		if m := readInvoice(t, c, 2*time.Second); m.view.Status != invoice.StatusExpired {
			t.Fatalf("status %s", m.view.Status)
		}
		if code := expectClose(t, c, 2*time.Second); code != websocket.CloseNormalClosure {
			t.Fatalf("close code %d", code)
		}
	})
	waitClients(t, e.hub, 0)
}

func waitClients(t *testing.T, h *live.Hub, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Clients() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Clients() = %d, want %d", h.Clients(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// apiError is the API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func getError(t *testing.T, url string) (int, apiError) {
	t.Helper()
	// A real websocket handshake, so the handler sees an upgrade request.
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		t.Fatalf("dial %s succeeded, want an HTTP error", url)
	}
	if resp == nil {
		t.Fatalf("dial %s: %v (no response)", url, err)
	}
	defer resp.Body.Close()
	var body apiError
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, body
}

func TestNotFound(t *testing.T) {
	e := start(t, live.Options{}, nil)
	e.inv.put(invoice.StatusNew)
	db := openStore(t)
	e2 := startWithStore(t, db, live.Options{})
	unknownEvt := invoice.NewID(invoice.PrefixEvent, time.Now())
	tests := []struct {
		name       string
		url        string
		status     int
		code       string
		field      string
		wantLoaded bool
	}{
		{"unknown invoice", e.wsURL("/i/" + invoice.NewID(invoice.PrefixInvoice, time.Now()) + "/ws"), 404, "not_found", "", true},
		{"malformed invoice id", e.wsURL("/i/inv_nope/ws"), 404, "not_found", "", false},
		{"other prefix", e.wsURL("/i/" + unknownEvt + "/ws"), 404, "not_found", "", false},
		{"unknown starting_after", e2.wsURL("/v1/events/ws?starting_after=" + unknownEvt), 404, "not_found", "starting_after", false},
		{"malformed starting_after", e2.wsURL("/v1/events/ws?starting_after=inv_x"), 400, "invalid_field", "starting_after", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.inv.mu.Lock()
			before := e.inv.loads
			e.inv.mu.Unlock()
			status, body := getError(t, tt.url)
			if status != tt.status || body.Error.Code != tt.code || body.Error.Field != tt.field {
				t.Fatalf("got %d %+v, want %d %s field %q", status, body.Error, tt.status, tt.code, tt.field)
			}
			e.inv.mu.Lock()
			loaded := e.inv.loads > before
			e.inv.mu.Unlock()
			if loaded != tt.wantLoaded {
				t.Errorf("invoice loaded = %v, want %v (malformed ids never reach the store)", loaded, tt.wantLoaded)
			}
		})
	}
	if e.hub.Clients() != 0 || e2.hub.Clients() != 0 {
		t.Errorf("clients after 404s: %d, %d", e.hub.Clients(), e2.hub.Clients())
	}
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func startWithStore(t *testing.T, db *store.DB, o live.Options) *env {
	t.Helper()
	o.EventsAfter = db.EventsAfter
	o.Event = db.Event
	return start(t, o, nil)
}

// insertEvents commits n new events for inv and returns them as the writer
// has them (Seq 0).
func insertEvents(t *testing.T, db *store.DB, inv *invoice.Invoice, n int) []invoice.Event {
	t.Helper()
	evs, err := insert(db, inv, n)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func insert(db *store.DB, inv *invoice.Invoice, n int) ([]invoice.Event, error) {
	evs := make([]invoice.Event, n)
	for i := range evs {
		inv.Sequence++
		ev, err := invoice.NewEvent(invoice.EventPaymentReceived, inv, time.Now(), invoice.ViewOptions{BaseURL: baseURL})
		if err != nil {
			return nil, err
		}
		evs[i] = ev
	}
	ctx := context.Background()
	if err := db.Write(ctx, func(tx *store.Tx) error { return tx.InsertEvents(ctx, evs) }); err != nil {
		return nil, err
	}
	return evs, nil
}

// readEvents reads n event messages and returns their ids.
func readEvents(t *testing.T, c *websocket.Conn, n int, timeout time.Duration) []string {
	t.Helper()
	var ids []string
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for len(ids) < n {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(ids), n, err)
		}
		var body invoice.EventBody
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("decode event %.200s: %v", b, err)
		}
		ids = append(ids, body.ID)
	}
	return ids
}

func ids(evs []invoice.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	seen := make(map[string]bool)
	for i := range got {
		if seen[got[i]] {
			t.Fatalf("%s: duplicate %s at %d", what, got[i], i)
		}
		seen[got[i]] = true
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}

// expectNothing asserts no message arrives within d (it ends the connection's
// usefulness: a timed-out gorilla connection cannot be read again).
func expectNothing(t *testing.T, c *websocket.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	if _, b, err := c.ReadMessage(); err == nil {
		t.Fatalf("unexpected message: %.200s", b)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read: %v, want a timeout", err)
	}
}

func TestEventsReplayThenLive(t *testing.T) {
	db := openStore(t)
	e := startWithStore(t, db, live.Options{})
	inv := e.inv.put(invoice.StatusNew)

	stored := insertEvents(t, db, inv, 5)
	c := dial(t, e.wsURL("/v1/events/ws?starting_after="+stored[1].ID))
	equalIDs(t, "replay", readEvents(t, c, 3, 2*time.Second), ids(stored[2:]))

	// Events the replay already sent, published late, with and without
	// their Seq: dropped.
	back, err := db.EventsAfter(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Publish(back[3:])
	e.hub.Publish(stored[4:])
	// New events, as the writer publishes them after commit.
	fresh := insertEvents(t, db, inv, 2)
	e.hub.Publish(fresh)
	equalIDs(t, "live", readEvents(t, c, 2, 2*time.Second), ids(fresh))
	expectNothing(t, c, 200*time.Millisecond)

	// Without starting_after: live only.
	c2 := dial(t, e.wsURL("/v1/events/ws"))
	waitClients(t, e.hub, 2)
	more := insertEvents(t, db, inv, 3)
	e.hub.Publish(more)
	equalIDs(t, "live only", readEvents(t, c2, 3, 2*time.Second), ids(more))
}

// TestEventsReplayRace connects replaying clients while events are being
// committed and published: each must see exactly the events after its
// starting point, in order, once — across several outbox pages.
func TestEventsReplayRace(t *testing.T) {
	db := openStore(t)
	e := startWithStore(t, db, live.Options{})
	inv := e.inv.put(invoice.StatusNew)
	var all []invoice.Event
	for i := 0; i < 12; i++ {
		all = append(all, insertEvents(t, db, inv, 100)...)
	}

	const published = 300
	var mu sync.Mutex
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; i < published; i++ {
			evs, err := insert(db, inv, 1)
			if err != nil {
				writerDone <- err
				return
			}
			mu.Lock()
			all = append(all, evs...)
			mu.Unlock()
			e.hub.Publish(evs)
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		writerDone <- nil
	}()

	starts := []int{0, 650, 1199}
	conns := make([]*websocket.Conn, len(starts))
	for i, s := range starts {
		mu.Lock()
		from := all[s].ID
		mu.Unlock()
		conns[i] = dial(t, e.wsURL("/v1/events/ws?starting_after="+from))
		time.Sleep(3 * time.Millisecond)
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	for i, s := range starts {
		want := ids(all[s+1:])
		got := readEvents(t, conns[i], len(want), 20*time.Second)
		equalIDs(t, fmt.Sprintf("client from #%d", s), got, want)
	}
	for _, c := range conns {
		expectNothing(t, c, 100*time.Millisecond)
	}
}

// smallBuffers shrinks the server's socket send buffers so that a client
// that does not read is noticed after kilobytes, not megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

func TestSlowConsumerDisconnected(t *testing.T) {
	db := openStore(t)
	o := live.Options{Buffer: 8, EventsAfter: db.EventsAfter, Event: db.Event}
	e := start(t, o, func(l net.Listener) net.Listener { return smallBuffers{l} })

	slowDialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(8 << 10)
		}
		return c, err
	}}
	slow, _, err := slowDialer.Dial(e.wsURL("/v1/events/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	healthy := dial(t, e.wsURL("/v1/events/ws"))
	waitClients(t, e.hub, 2)

	got := make(chan string, 16)
	go func() {
		defer close(got)
		for {
			_, b, err := healthy.ReadMessage()
			if err != nil {
				return
			}
			var body invoice.EventBody
			_ = json.Unmarshal(b, &body)
			got <- body.ID
		}
	}()

	pad := strings.Repeat("x", 16<<10)
	var maxPublish time.Duration
	n := 0
	for ; n < 5000 && e.hub.Clients() == 2; n++ {
		ev := invoice.Event{ID: invoice.NewID(invoice.PrefixEvent, time.Now()), Type: invoice.EventCreated}
		ev.Payload, _ = json.Marshal(map[string]string{"id": ev.ID, "pad": pad})
		t0 := time.Now()
		e.hub.Publish([]invoice.Event{ev})
		maxPublish = max(maxPublish, time.Since(t0))
		select {
		case id := <-got:
			if id != ev.ID {
				t.Fatalf("healthy client got %s, want %s", id, ev.ID)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("healthy client did not receive event %d", n)
		}
	}
	if e.hub.Clients() != 1 {
		t.Fatalf("slow client still connected after %d events", n)
	}
	t.Logf("slow client disconnected after %d events; longest Publish %v", n, maxPublish)
	if maxPublish > 20*time.Millisecond {
		t.Errorf("Publish took %v; it must never wait for a client", maxPublish)
	}

	// The healthy one keeps receiving.
	for i := 0; i < 20; i++ {
		ev := invoice.Event{ID: invoice.NewID(invoice.PrefixEvent, time.Now()), Payload: json.RawMessage(`{"id":"x"}`)}
		e.hub.Publish([]invoice.Event{ev})
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Fatal("healthy client stopped receiving")
		}
	}

	// The slow one finds its connection closed once it reads what was sent.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow client: %v, want a closed connection", err)
			}
			break
		}
	}
}

func TestPings(t *testing.T) {
	e := start(t, live.Options{PingInterval: 30 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}, nil)

	t.Run("sent and answered", func(t *testing.T) {
		inv := e.inv.put(invoice.StatusNew)
		c := dial(t, e.wsURL("/i/"+inv.ID+"/ws"))
		var mu sync.Mutex
		pings := 0
		c.SetPingHandler(func(data string) error {
			mu.Lock()
			pings++
			mu.Unlock()
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		readInvoice(t, c, 2*time.Second)
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			errc <- err
		}()
		time.Sleep(400 * time.Millisecond)
		mu.Lock()
		n := pings
		mu.Unlock()
		if n < 5 {
			t.Fatalf("%d pings in 400ms at a 30ms interval", n)
		}
		if e.hub.Clients() != 1 {
			t.Fatalf("a client answering pings was dropped (Clients() = %d)", e.hub.Clients())
		}
		c.Close()
		<-errc
		waitClients(t, e.hub, 0)
	})

	t.Run("unanswered pings drop the client", func(t *testing.T) {
		c := dial(t, e.wsURL("/v1/events/ws"))
		c.SetPingHandler(func(string) error { return nil }) // never pong
		errc := make(chan error, 1)
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					errc <- err
					return
				}
			}
		}()
		select {
		case <-errc:
		case <-time.After(3 * time.Second):
			t.Fatal("client that never answers pings is still connected")
		}
		waitClients(t, e.hub, 0)
	})
}

func TestShutdownClosesConnections(t *testing.T) {
	db := openStore(t)
	e := startWithStore(t, db, live.Options{})
	inv := e.inv.put(invoice.StatusNew)
	ci := dial(t, e.wsURL("/i/"+inv.ID+"/ws"))
	readInvoice(t, ci, 2*time.Second)
	ce := dial(t, e.wsURL("/v1/events/ws"))
	waitClients(t, e.hub, 2)

	e.stop()
	for _, c := range []*websocket.Conn{ci, ce} {
		if code := expectClose(t, c, 2*time.Second); code != websocket.CloseGoingAway {
			t.Errorf("close code %d, want %d", code, websocket.CloseGoingAway)
		}
	}
	if n := e.hub.Clients(); n != 0 {
		t.Errorf("Clients() = %d after Run returned", n)
	}
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL("/i/"+inv.ID+"/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v, %v; want 503", err, resp)
	}
	e.hub.Publish([]invoice.Event{{ID: "evt_x", InvoiceID: inv.ID}}) // harmless after shutdown
}

func TestOrigin(t *testing.T) {
	db := openStore(t)
	e := startWithStore(t, db, live.Options{})
	inv := e.inv.put(invoice.StatusNew)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	tests := []struct {
		name   string
		path   string
		origin string
		ok     bool
	}{
		{"invoice same origin", "/i/" + inv.ID + "/ws", "http://" + host, true},
		{"invoice no origin", "/i/" + inv.ID + "/ws", "", true},
		{"invoice cross origin", "/i/" + inv.ID + "/ws", "https://evil.example", false},
		{"events any origin", "/v1/events/ws", "https://bot.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, resp, err := websocket.DefaultDialer.Dial(e.wsURL(tt.path), h)
			if c != nil {
				defer c.Close()
			}
			if tt.ok && err != nil {
				t.Fatalf("dial: %v", err)
			}
			if !tt.ok && (err == nil || resp == nil || resp.StatusCode != http.StatusForbidden) {
				t.Fatalf("dial: %v, want 403", err)
			}
		})
	}
}
