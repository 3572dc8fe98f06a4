package live

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
)

// ServeEvents serves GET /v1/events/ws: every event's webhook body as a text
// message. With ?starting_after=evt_… the events after that one are replayed
// first, then live events follow without gaps or duplicates. The caller has
// already authenticated the request. An unknown starting_after is a 404.
func (h *Hub) ServeEvents(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("starting_after")
	if after != "" && !invoice.ValidID(after, invoice.PrefixEvent) {
		httpx.WriteError(w, h.log, httpx.InvalidField("starting_after", "starting_after must be an event id (evt_…)"))
		return
	}
	if !h.begin() {
		httpx.WriteError(w, h.log, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "", "shutting down"))
		return
	}
	defer h.end()

	// Subscribe before reading the outbox: every event committed from now on
	// is queued, every earlier one is found by the replay.
	capacity := h.o.Buffer
	if after != "" {
		capacity = h.o.Buffer * bufferFactor
	}
	sub := h.subscribeEvents(capacity)
	defer h.unsubscribeEvents(sub)
	var start invoice.Event
	if after != "" {
		ev, err := h.o.Event(r.Context(), after)
		if err != nil {
			if h.o.IsNotFound(err) {
				httpx.WriteError(w, h.log, &httpx.Error{Status: http.StatusNotFound, Code: httpx.CodeNotFound,
					Field: "starting_after", Message: "event " + after + " not found"})
			} else {
				httpx.WriteError(w, h.log, fmt.Errorf("live: look up starting_after %s: %w", after, err))
			}
			return
		}
		start = ev
	}
	c, err := h.evUp.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	h.attach(sub, c)
	h.addClient(1)
	defer h.addClient(-1)
	cn := h.startConn(c)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	watched := make(chan struct{})
	defer func() { cancel(); <-watched }()
	go func() { // stop outbox reads when the connection ends
		defer close(watched)
		select {
		case <-cn.readDone:
		case <-sub.kicked:
		case <-h.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	h.serveEvents(ctx, cn, sub, after != "", start)
}

// dedup drops live events a replay has already sent. A live event with a Seq
// is a duplicate when its Seq is not above the last replayed one. A live event
// without one (Seq 0) is a duplicate when its id is among the most recently
// replayed ids: an event can only be both replayed and queued if it was
// committed after (or in flight at) the subscription, and those are the tail
// of the outbox, at most as many as the queue holds (more kick the client).
type dedup struct {
	active  bool
	lastSeq int64
	size    int
	ids     map[string]struct{}
	ring    []string // the most recent replayed ids, oldest first
}

func (d *dedup) remember(ev invoice.Event) {
	d.lastSeq = max(d.lastSeq, ev.Seq)
	if len(d.ring) == d.size {
		delete(d.ids, d.ring[0])
		d.ring = d.ring[1:]
	}
	d.ring = append(d.ring, ev.ID)
	d.ids[ev.ID] = struct{}{}
}

func (d *dedup) seen(ev invoice.Event) bool {
	if !d.active {
		return false
	}
	if ev.Seq > 0 {
		return ev.Seq <= d.lastSeq
	}
	_, ok := d.ids[ev.ID]
	return ok
}

func (h *Hub) serveEvents(ctx context.Context, cn *conn, sub *evSub, replay bool, start invoice.Event) {
	d := &dedup{active: replay, size: cap(sub.ch) + recentMargin, ids: make(map[string]struct{})}
	if replay {
		d.remember(start) // the client has it already
		if !h.replay(ctx, cn, sub, d) {
			return
		}
	}
	ping := time.NewTicker(h.o.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-h.done:
			cn.close(websocket.CloseGoingAway, "server shutting down", false)
			return
		case <-sub.kicked:
			cn.abort()
			return
		case <-cn.readDone:
			cn.abort()
			return
		case <-ping.C:
			if err := cn.ping(); err != nil {
				cn.abort()
				return
			}
		case ev := <-sub.ch:
			if len(sub.ch) < h.o.Buffer {
				sub.limit.Store(int64(h.o.Buffer)) // caught up after a replay
			}
			if d.seen(ev) {
				continue
			}
			if err := cn.write(websocket.TextMessage, ev.Payload); err != nil {
				cn.abort()
				return
			}
		}
	}
}

// replay sends the outbox after d.lastSeq page by page until it is caught up.
// Live events keep queueing in sub meanwhile. It reports whether the
// connection is still usable.
func (h *Hub) replay(ctx context.Context, cn *conn, sub *evSub, d *dedup) bool {
	ping := time.Now()
	for {
		evs, err := h.o.EventsAfter(ctx, d.lastSeq, replayPage)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("read events for websocket replay", "after_seq", d.lastSeq, "err", err)
				cn.close(websocket.CloseInternalServerErr, "event replay failed", false)
			} else {
				cn.abort()
			}
			return false
		}
		for _, ev := range evs {
			if err := cn.write(websocket.TextMessage, ev.Payload); err != nil {
				cn.abort()
				return false
			}
			d.remember(ev)
		}
		select {
		case <-h.done:
			cn.close(websocket.CloseGoingAway, "server shutting down", false)
			return false
		case <-sub.kicked:
			cn.abort()
			return false
		case <-cn.readDone:
			cn.abort()
			return false
		default:
		}
		if time.Since(ping) >= h.o.PingInterval {
			if err := cn.ping(); err != nil {
				cn.abort()
				return false
			}
			ping = time.Now()
		}
		if len(evs) < replayPage {
			return true
		}
	}
}
