package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// receiver is a local webhook endpoint: /ok records every delivery (and can
// be gated: held until released), /bad answers 200 or, in bad mode, never
// answers (the sender's timeout ends the call).
type receiver struct {
	url string
	srv *http.Server

	mu      sync.Mutex
	seen    map[string]time.Time // invoice id + "|" + type → first arrival
	waiters map[string][]chan time.Time
	ids     map[string]bool // event ids answered on /ok since reset
	gate    chan struct{}   // non-nil: /ok waits until it is closed

	okDone atomic.Int64 // unique events answered on /ok since reset
	// Per-invoice order on /ok, over the receiver's life: the highest
	// invoice.sequence received per invoice, the event ids received, and
	// the events that arrived after a later event of their invoice.
	maxSeq     map[string]int64
	arrived    map[string]bool
	violations atomic.Int64
	firstBad   string
	badCalls   atomic.Int64
	bad        atomic.Bool
	badRel     chan struct{}
}

func newReceiver(t *tb) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	r := &receiver{url: "http://" + ln.Addr().String(), seen: map[string]time.Time{}, waiters: map[string][]chan time.Time{}, ids: map[string]bool{}, badRel: make(chan struct{}),
		maxSeq: map[string]int64{}, arrived: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ok", r.ok)
	mux.HandleFunc("POST /bad", r.badHandler)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { r.setBad(false); _ = r.srv.Close() })
	return r
}

type eventBody struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Invoice struct {
		ID       string `json:"id"`
		Sequence int64  `json:"sequence"`
	} `json:"invoice"`
}

func (r *receiver) ok(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	b, _ := io.ReadAll(req.Body)
	var ev eventBody
	_ = json.Unmarshal(b, &ev)
	if ev.Type == "" {
		ev.Type = req.Header.Get("Payd-Event-Type")
	}
	key := ev.Invoice.ID + "|" + ev.Type
	r.mu.Lock()
	r.checkOrder(ev)
	if _, ok := r.seen[key]; !ok {
		r.seen[key] = now
		for _, c := range r.waiters[key] {
			c <- now
		}
		delete(r.waiters, key)
	}
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	w.WriteHeader(http.StatusOK)
	r.mu.Lock()
	if !r.ids[ev.ID] {
		r.ids[ev.ID] = true
		r.okDone.Add(1)
	}
	r.mu.Unlock()
}

// checkOrder counts ev as a violation when an event of the same invoice with
// a higher invoice.sequence arrived before it (a consumer would have seen,
// say, settled before created). Only an event's first arrival counts: a
// resend of an event already received is at-least-once, not disorder.
// Called with r.mu held.
func (r *receiver) checkOrder(ev eventBody) {
	if ev.ID == "" || ev.Invoice.ID == "" || r.arrived[ev.ID] {
		return
	}
	r.arrived[ev.ID] = true
	if hi, ok := r.maxSeq[ev.Invoice.ID]; ok && ev.Invoice.Sequence < hi {
		if r.violations.Add(1) == 1 {
			r.firstBad = fmt.Sprintf("%s %s (sequence %d) after sequence %d of %s", ev.ID, ev.Type, ev.Invoice.Sequence, hi, ev.Invoice.ID)
		}
		return
	}
	r.maxSeq[ev.Invoice.ID] = ev.Invoice.Sequence
}

// firstViolation describes the first order violation ("" when none).
func (r *receiver) firstViolation() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstBad
}

func (r *receiver) badHandler(w http.ResponseWriter, req *http.Request) {
	r.badCalls.Add(1)
	_, _ = io.Copy(io.Discard, req.Body)
	if r.bad.Load() {
		r.mu.Lock()
		rel := r.badRel
		r.mu.Unlock()
		select {
		case <-req.Context().Done():
			return
		case <-rel:
		}
	}
	w.WriteHeader(http.StatusOK)
}

// setBad switches /bad between hanging and answering at once.
func (r *receiver) setBad(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.badRel = make(chan struct{})
	} else if r.bad.Load() {
		close(r.badRel)
	}
	r.bad.Store(on)
}

// hold makes /ok wait; release lets every held and later call through.
func (r *receiver) hold() {
	r.mu.Lock()
	r.gate = make(chan struct{})
	r.mu.Unlock()
}

func (r *receiver) release() {
	r.mu.Lock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
	r.mu.Unlock()
}

// reset forgets the answered event ids.
func (r *receiver) reset() {
	r.mu.Lock()
	r.ids = map[string]bool{}
	r.okDone.Store(0)
	r.mu.Unlock()
}

// waiter returns a channel that receives the arrival time of the first
// delivery of typ for invoice id (at once if it already arrived).
func (r *receiver) waiter(id, typ string) <-chan time.Time {
	c := make(chan time.Time, 1)
	key := id + "|" + typ
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.seen[key]; ok {
		c <- at
		return c
	}
	r.waiters[key] = append(r.waiters[key], c)
	return c
}

// wait waits for the first delivery of typ for invoice id.
func (r *receiver) wait(id, typ string, timeout time.Duration) (time.Time, bool) {
	select {
	case at := <-r.waiter(id, typ):
		return at, true
	case <-time.After(timeout):
		return time.Time{}, false
	}
}
