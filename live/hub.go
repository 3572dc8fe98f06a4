package live

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/payd/payd/invoice"
)

// Defaults for Options.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultBuffer       = 64
)

const (
	replayPage   = 500  // events per outbox read during a replay
	recentMargin = 256  // replayed ids remembered beyond the replay queue's capacity (see dedup)
	readLimit    = 4096 // largest message a client may send (clients only answer pings)
	closeWait    = time.Second
	bufferFactor = 16 // live events held during a replay, as a multiple of Buffer
)

// Options configure a Hub.
type Options struct {
	// BaseURL is the public base URL for invoice views' checkout_url.
	BaseURL string
	// PingInterval is how often a ping is sent (default 30s). A client that
	// has not answered for PingInterval+WriteTimeout is disconnected.
	PingInterval time.Duration
	// WriteTimeout bounds every write to a client (default 10s).
	WriteTimeout time.Duration
	// Buffer is the number of queued messages per /v1/events/ws connection
	// (default 64); a client that falls further behind is disconnected.
	Buffer int
	// Invoice loads an invoice (service.Invoices.Get satisfies it via a
	// method value); errors for which IsNotFound is true become 404s.
	Invoice func(ctx context.Context, id string) (*invoice.Invoice, error)
	// EventsAfter and Event read the outbox for replay:
	// (*store.DB).EventsAfter and (*store.DB).Event satisfy them.
	EventsAfter func(ctx context.Context, afterSeq int64, limit int) ([]invoice.Event, error)
	Event       func(ctx context.Context, id string) (invoice.Event, error)
	// IsNotFound reports whether an error of Invoice or Event means "no such
	// row". Nil treats every error as internal.
	IsNotFound func(error) bool
	// CheckOrigin decides whether /i/{id}/ws accepts a request's Origin; nil
	// means same-origin (or no Origin header). /v1/events/ws accepts any
	// origin: it is authenticated by an API key, not by cookies.
	CheckOrigin func(r *http.Request) bool
}

// Hub fans published events out to websocket connections. It is safe for
// concurrent use; create it with New.
type Hub struct {
	o     Options
	log   *slog.Logger
	invUp websocket.Upgrader
	evUp  websocket.Upgrader

	mu      sync.Mutex
	closed  bool
	done    chan struct{} // closed when the hub shuts down
	invSubs map[string]map[*invSub]struct{}
	evSubs  map[*evSub]struct{}
	clients int
	wg      sync.WaitGroup // one per connection being served
}

// New returns a Hub. Zero Options fields take their defaults.
func New(o Options, log *slog.Logger) *Hub {
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.IsNotFound == nil {
		o.IsNotFound = func(error) bool { return false }
	}
	if log == nil {
		log = slog.Default()
	}
	return &Hub{
		o:   o,
		log: log.With("subsystem", "live"),
		invUp: websocket.Upgrader{
			HandshakeTimeout: o.WriteTimeout,
			CheckOrigin:      o.CheckOrigin, // nil: gorilla's same-origin check
		},
		evUp: websocket.Upgrader{
			HandshakeTimeout: o.WriteTimeout,
			CheckOrigin:      func(*http.Request) bool { return true },
		},
		done:    make(chan struct{}),
		invSubs: make(map[string]map[*invSub]struct{}),
		evSubs:  make(map[*evSub]struct{}),
	}
}

// invSub is one /i/{id}/ws connection's interest in an invoice.
type invSub struct {
	id     string
	notify chan struct{} // capacity 1: coalesces bursts
}

// evSub is one /v1/events/ws connection's queue.
type evSub struct {
	ch     chan invoice.Event
	limit  atomic.Int64  // queued events allowed: larger during a replay, then Options.Buffer
	kicked chan struct{} // closed when the queue overflowed
	conn   *websocket.Conn
	once   sync.Once
}

// kick disconnects a consumer that fell behind. It only closes a channel and
// the socket, so it never blocks the publisher.
func (s *evSub) kick() {
	s.once.Do(func() {
		close(s.kicked)
		if s.conn != nil {
			_ = s.conn.NetConn().Close()
		}
	})
}

// Publish hands committed events to every interested connection. It never
// blocks: invoice connections get a coalesced wake-up, event connections a
// queued copy, and an event connection whose queue is full is disconnected.
func (h *Hub) Publish(evs []invoice.Event) {
	if len(evs) == 0 {
		return
	}
	kicked := 0
	h.mu.Lock()
	defer func() {
		h.mu.Unlock()
		if kicked > 0 { // logged outside the lock: a log handler may do I/O
			h.log.Warn("event consumer too slow, disconnected", "clients", kicked, "buffer", h.o.Buffer)
		}
	}()
	if h.closed {
		return
	}
	for _, ev := range evs {
		for s := range h.invSubs[ev.InvoiceID] {
			select {
			case s.notify <- struct{}{}:
			default: // a wake-up is already pending; it will load the latest
			}
		}
	}
	for s := range h.evSubs {
		for _, ev := range evs {
			if int64(len(s.ch)) < s.limit.Load() {
				select {
				case s.ch <- ev:
					continue
				default:
				}
			}
			kicked++
			delete(h.evSubs, s)
			s.kick()
			break
		}
	}
}

// Run waits for ctx to end, then closes every connection (close code 1001,
// going away) and waits for their handlers to finish. Connections opened
// afterwards are refused with 503.
func (h *Hub) Run(ctx context.Context) error {
	<-ctx.Done()
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
		for s := range h.evSubs {
			delete(h.evSubs, s)
		}
		for id := range h.invSubs {
			delete(h.invSubs, id)
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}

// Clients returns the number of open websocket connections.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clients
}

// begin registers a connection being served; false once the hub is closed.
func (h *Hub) begin() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Hub) end() { h.wg.Done() }

func (h *Hub) addClient(d int) {
	h.mu.Lock()
	h.clients += d
	h.mu.Unlock()
}

func (h *Hub) subscribeInvoice(id string) *invSub {
	s := &invSub{id: id, notify: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.invSubs[id]
	if m == nil {
		m = make(map[*invSub]struct{})
		h.invSubs[id] = m
	}
	m[s] = struct{}{}
	return s
}

func (h *Hub) unsubscribeInvoice(s *invSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.invSubs[s.id]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.invSubs, s.id)
		}
	}
}

// subscribeEvents queues live events for one connection: up to capacity
// while it replays, then up to Options.Buffer (see live).
func (h *Hub) subscribeEvents(capacity int) *evSub {
	s := &evSub{ch: make(chan invoice.Event, capacity), kicked: make(chan struct{})}
	s.limit.Store(int64(capacity))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evSubs[s] = struct{}{}
	return s
}

// attach sets the connection a kick closes. If the subscription was kicked
// before the upgrade finished, the connection is closed at once.
func (h *Hub) attach(s *evSub, c *websocket.Conn) {
	h.mu.Lock()
	s.conn = c
	h.mu.Unlock()
	select {
	case <-s.kicked:
		_ = c.NetConn().Close()
	default:
	}
}

func (h *Hub) unsubscribeEvents(s *evSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.evSubs, s)
}

// conn wraps a websocket connection: one reader goroutine (discarding client
// messages, answering pings, tracking pongs) and deadline-bounded writes from
// the serving goroutine.
type conn struct {
	h        *Hub
	c        *websocket.Conn
	readDone chan struct{} // closed when the reader stops (client gone, close frame, pong timeout)
}

func (h *Hub) startConn(c *websocket.Conn) *conn {
	cn := &conn{h: h, c: c, readDone: make(chan struct{})}
	wait := h.o.PingInterval + h.o.WriteTimeout
	c.SetReadLimit(readLimit)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(wait)) })
	go func() {
		defer close(cn.readDone)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(wait))
		}
	}()
	return cn
}

func (cn *conn) write(typ int, b []byte) error {
	_ = cn.c.SetWriteDeadline(time.Now().Add(cn.h.o.WriteTimeout))
	return cn.c.WriteMessage(typ, b)
}

func (cn *conn) ping() error {
	return cn.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(cn.h.o.WriteTimeout))
}

// close sends a close frame with code and reason, waits briefly for the
// client's reply when handshake is set, closes the socket and waits for the
// reader to stop.
func (cn *conn) close(code int, reason string, handshake bool) {
	err := cn.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(min(cn.h.o.WriteTimeout, closeWait)))
	if err == nil && handshake {
		select {
		case <-cn.readDone:
		case <-time.After(closeWait):
		}
	}
	_ = cn.c.Close()
	<-cn.readDone
}

// abort closes the socket without a close frame (the write side failed or
// the client is gone) and waits for the reader to stop.
func (cn *conn) abort() {
	_ = cn.c.Close()
	<-cn.readDone
}
