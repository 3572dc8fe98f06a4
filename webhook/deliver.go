package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/store"
)

// Tuning of the delivery loop.
const (
	fetchBatch  = 256  // deliveries one worker reads from its queue at once
	maxHeld     = 1024 // deliveries per endpoint taken and not yet recorded, at most
	recordBatch = 512  // attempts recorded in one transaction, at most
	recordQueue = 1024 // attempts waiting for the recorder, at most
	// recordLinger is how long the recorder gathers results after the first
	// before it commits them: fewer, larger transactions on the writer.
	recordLinger = 2 * time.Millisecond
)

// note tells a worker that an attempt's request ended (recorded false; ok:
// the endpoint answered 2xx) or that its result was committed, or failed to
// be (recorded true): from then on the delivery may be read from the queue
// again.
type note struct {
	id       int64
	recorded bool
	ok       bool
}

// add queues notes for the worker's loop; it never blocks.
func (w *worker) add(ns ...note) {
	w.mu.Lock()
	w.notes = append(w.notes, ns...)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// take moves the queued notes into buf.
func (w *worker) take(buf []note) []note {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf = append(buf[:0], w.notes...)
	w.notes = w.notes[:0]
	return buf
}

// limiter is one endpoint's in-flight limit: it starts at 1, doubles with
// every 2xx up to max, and falls back to 1 on any failure or timeout, so a
// dead or failing endpoint holds one request slot while a healthy one gets
// max of them.
type limiter struct {
	cur, max int
	failing  bool // the last request failed
}

func newLimiter(max int) limiter { return limiter{cur: 1, max: max} }

// observe adjusts the limit after an attempt's request ended.
func (l *limiter) observe(ok bool) {
	l.failing = !ok
	if !ok {
		l.cur = 1
		return
	}
	l.cur = min(l.max, l.cur*2)
}

// fetched is what one claim brought: the claimed due deliveries, when the
// next not yet due one is due, and whether the claim was full (there may be
// more).
type fetched struct {
	ds   []store.WebhookDelivery
	next time.Time
	full bool
}

// sendable reports whether d's claim leaves time for a whole attempt, and
// some to record it, before it runs out and another instance may take d.
func (m *Manager) sendable(d store.WebhookDelivery, now time.Time) bool {
	return d.ClaimUntil.Sub(now) > m.cfg.Timeout+m.cfg.ClaimTTL/10
}

// runWorker delivers one endpoint's queue. It claims the due deliveries that
// are at the head of their invoice's line (ClaimWebhookDeliveries), in the
// background while it sends those it has, and sends them, up to the
// endpoint's limit in flight (see limiter; at most m.perEP), each holding one
// of the global slots while its request runs. While the endpoint fails it
// claims two at a time: it sends one at a time, and the rest stay free for
// other instances. A delivery whose claim has too little time left for a
// whole attempt is not sent (sendable): it is claimed again once the claim
// ran out, here or elsewhere. Each attempt's result goes to the recorder;
// until it is committed the delivery stays pending and claimed, and the
// invoice's later deliveries stay behind it, so they go out only after it
// succeeded or failed for good. The worker sleeps until the next delivery is
// due, a wake-up, a note, or the poll interval (which also finds deliveries
// whose claims ran out). It returns when ctx is done, after its claims and
// attempts ended.
func (m *Manager) runWorker(ctx context.Context, w *worker) {
	var running sync.WaitGroup // claims and attempts
	defer running.Wait()
	lim := newLimiter(m.perEP)
	sending := 0                      // requests in flight
	held := map[int64]bool{}          // sent or sending, not yet recorded
	var ready []store.WebhookDelivery // claimed due heads, not yet sent
	var notes []note
	var due time.Time // when the soonest delivery not yet due is (zero: none seen)
	stale := true     // the queue may hold due heads that are not in ready
	reading := false  // a claim is under way; its result comes on claimed
	claimed := make(chan fetched, 1)
	timer := time.NewTimer(pollInterval)
	defer timer.Stop()
	for {
		if !due.IsZero() && !time.Now().Before(due) {
			stale, due = true, time.Time{}
		}
		if stale && !reading && len(ready) <= m.claimBatch/2 && len(held)+len(ready) < maxHeld {
			// Claim ahead while ready still holds work. What is in ready or
			// held is claimed, so left out; an invoice's next delivery is not
			// the head while one of those is pending.
			stale, reading = false, true
			n := m.claimBatch
			if lim.failing {
				n = min(n, 2)
			}
			running.Add(1)
			go func() {
				defer running.Done()
				now := time.Now()
				ds, next, err := m.db.ClaimWebhookDeliveries(ctx, store.WebhookClaim{EndpointID: w.ep.ID, Holder: m.holder,
					Limit: n, Now: now, Until: now.Add(m.cfg.ClaimTTL)})
				if err != nil && ctx.Err() == nil {
					m.log.Error("claim webhook deliveries", "endpoint", w.ep.ID, "err", err)
				}
				claimed <- fetched{ds: ds, next: next, full: len(ds) == n}
			}()
		}
		for len(ready) > 0 && sending < lim.cur && len(held) < maxHeld {
			select {
			case m.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			var d store.WebhookDelivery
			ok := false
			for now := time.Now(); len(ready) > 0 && !ok; {
				d, ready = ready[0], ready[1:]
				if ok = m.sendable(d, now); !ok {
					m.log.Debug("webhook claim ran out before sending", "endpoint", w.ep.ID, "event", d.EventID)
				}
			}
			if !ok {
				<-m.sem
				stale = true
				break
			}
			sending++
			held[d.ID] = true
			running.Add(1)
			go func() {
				defer running.Done()
				m.attempt(ctx, w, d)
			}()
		}
		wait := pollInterval
		if !due.IsZero() {
			wait = max(0, min(wait, time.Until(due)))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case c := <-claimed:
			reading = false
			ready = append(ready, c.ds...)
			due = c.next
			if c.full {
				stale = true // a full claim: there may be more
			}
		case <-w.wake:
			stale = true
		case <-w.notify:
			notes = w.take(notes)
			for _, n := range notes {
				if n.recorded {
					delete(held, n.id)
					stale = true // its invoice's next delivery may be the head now
				} else {
					sending--
					lim.observe(n.ok)
				}
			}
		case <-timer.C:
			stale = true
		}
	}
}

// attempt makes one delivery attempt and hands its result, with the
// delivery's next state, to the recorder. An attempt cut short by shutdown is
// not recorded: the delivery stays due and is sent again after the restart.
func (m *Manager) attempt(ctx context.Context, w *worker, d store.WebhookDelivery) {
	start := time.Now()
	code, errMsg, outcome := m.post(ctx, w.ep, d, start)
	dur := time.Since(start)
	<-m.sem
	if outcome == "" {
		return // shutting down or endpoint deleted: the worker is leaving
	}
	w.add(note{id: d.ID, ok: outcome == "success"})
	if m.cfg.OnAttempt != nil {
		m.cfg.OnAttempt(outcome, dur)
	}
	now := time.Now()
	status, next := store.DeliverySucceeded, now
	if outcome != "success" {
		if d.Retry < len(m.cfg.RetrySchedule) {
			status, next = store.DeliveryPending, now.Add(m.jitter(m.cfg.RetrySchedule[d.Retry]))
		} else {
			status = store.DeliveryFailed
		}
	}
	a := store.WebhookAttempt{EndpointID: w.ep.ID, EventID: d.EventID, Attempt: d.Attempts + 1, StatusCode: code,
		Error: errMsg, DurationMS: dur.Milliseconds(), At: start}
	switch {
	case outcome == "success":
		m.log.Debug("webhook delivered", "endpoint", w.ep.ID, "event", d.EventID, "attempt", a.Attempt, "status", code, "duration", dur)
	case status == store.DeliveryFailed:
		m.log.Warn("webhook delivery failed for good", "endpoint", w.ep.ID, "event", d.EventID, "attempt", a.Attempt, "status", code, "err", errMsg)
	default:
		m.log.Warn("webhook delivery failed", "endpoint", w.ep.ID, "event", d.EventID, "attempt", a.Attempt, "status", code, "err", errMsg, "retry_at", next)
	}
	m.results <- result{w: w, r: store.WebhookResult{Delivery: d, Attempt: a, Status: status, Next: next}}
}

// result is an attempt to record, with the worker to tell once it is.
type result struct {
	w *worker
	r store.WebhookResult
}

// runRecorder records attempts until in is closed: it gathers the results
// that arrive within recordLinger of the first (up to recordBatch) and
// commits them in one transaction, so the writer connection, shared with
// invoice creation, sees one write per batch instead of one per delivery.
// Then it tells each worker. A failed write leaves those deliveries due: they
// are sent again (at least once). ctx ends the retries of record (shutdown).
func (m *Manager) runRecorder(ctx context.Context, in <-chan result) {
	batch := make([]store.WebhookResult, 0, recordBatch)
	owners := make([]*worker, 0, recordBatch)
	linger := time.NewTimer(recordLinger)
	defer linger.Stop()
	for first := range in {
		batch, owners = append(batch[:0], first.r), append(owners[:0], first.w)
		linger.Reset(recordLinger)
	fill:
		for len(batch) < recordBatch {
			select {
			case r, ok := <-in:
				if !ok {
					break fill
				}
				batch, owners = append(batch, r.r), append(owners, r.w)
			case <-linger.C:
				break fill
			}
		}
		m.record(ctx, batch)
		for i, w := range owners {
			w.add(note{id: batch[i].Delivery.ID, recorded: true})
		}
	}
}

// record writes batch's attempts. While the database cannot be reached (a
// PostgreSQL restart, a network cut) it tries again, backing off to 2 s, as
// long as every claim of the batch holds and Run is not stopping: the
// deliveries were made, and recording them spares their receivers a second
// copy once the claims ran out (the claim token fences a late write, so
// trying again is safe). Anything else, or claims about to run out, leaves
// them due.
func (m *Manager) record(ctx context.Context, batch []store.WebhookResult) {
	wait := 100 * time.Millisecond
	for {
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lost, err := m.db.RecordWebhookAttempts(wctx, batch)
		cancel()
		if err == nil {
			if lost > 0 {
				m.log.Warn("webhook claims ran out before their attempts were recorded: another instance delivers them", "attempts", lost)
			}
			return
		}
		until := batch[0].Delivery.ClaimUntil
		for _, r := range batch[1:] {
			if r.Delivery.ClaimUntil.Before(until) {
				until = r.Delivery.ClaimUntil
			}
		}
		if !store.Unavailable(err) || ctx.Err() != nil || !time.Now().Add(wait).Before(until) {
			m.log.Error("record webhook attempts", "attempts", len(batch), "err", err)
			return
		}
		m.log.Warn("record webhook attempts: database unavailable; retrying", "attempts", len(batch), "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// post sends the delivery; outcome is "success", "failure", "timeout", or ""
// when ctx (shutdown) cut it short.
func (m *Manager) post(ctx context.Context, ep store.WebhookEndpoint, d store.WebhookDelivery, now time.Time) (code int, errMsg, outcome string) {
	actx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	body, hdr, err := m.render(ep, d, now)
	if err != nil {
		return 0, "render: " + err.Error(), "failure"
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "build request: " + err.Error(), "failure"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", m.cfg.UserAgent)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := m.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return 0, "", ""
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			return 0, "timeout after " + m.cfg.Timeout.String(), "timeout"
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return 0, err.Error(), "failure"
	}
	var head bytes.Buffer
	_, _ = io.Copy(io.Discard, io.TeeReader(io.LimitReader(resp.Body, 64<<10), &limitedWriter{w: &head, n: responseSnippet}))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, "", "success"
	}
	msg := "status " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg = fmt.Sprintf("status %d: redirects are not followed", resp.StatusCode)
	} else if s := strings.TrimSpace(strings.ToValidUTF8(head.String(), "")); s != "" {
		// The start of the receiver's answer, for the merchant to see why.
		msg += ": " + s
	}
	return resp.StatusCode, msg, "failure"
}

// jitter spreads d by ±Jitter.
func (m *Manager) jitter(d time.Duration) time.Duration {
	if m.cfg.Jitter == 0 {
		return d
	}
	f := 1 + m.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// responseSnippet is how much of a failed delivery's response body is kept
// in the attempt's error (shown in the dashboard).
const responseSnippet = 200

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if rest := l.n - l.w.Len(); rest > 0 {
		l.w.Write(p[:min(len(p), rest)])
	}
	return len(p), nil
}
