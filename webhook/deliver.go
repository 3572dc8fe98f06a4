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
type limiter struct{ cur, max int }

func newLimiter(max int) limiter { return limiter{cur: 1, max: max} }

// observe adjusts the limit after an attempt's request ended.
func (l *limiter) observe(ok bool) {
	if !ok {
		l.cur = 1
		return
	}
	l.cur = min(l.max, l.cur*2)
}

// runWorker delivers one endpoint's queue. It reads the due deliveries that
// are at the head of their invoice's line (PendingWebhookDeliveries), in the
// background while it sends those it has, and sends them, up to the
// endpoint's limit in flight (see limiter; at most m.perEP), each holding one
// of the global slots while its request runs. Each attempt's result goes to
// the recorder; until it is committed the delivery stays pending in the
// queue and is not read again, and the invoice's later deliveries stay
// behind it, so they go out only after it succeeded or failed for good. The
// worker sleeps until the next delivery is due, a wake-up, a note, or the
// poll interval. It returns when ctx is done, after its reads and attempts
// ended.
func (m *Manager) runWorker(ctx context.Context, w *worker) {
	var running sync.WaitGroup // reads and attempts
	defer running.Wait()
	lim := newLimiter(m.perEP)
	sending := 0                      // requests in flight
	held := map[int64]bool{}          // sent or sending, not yet recorded
	var ready []store.WebhookDelivery // due heads, not yet sent
	var notes []note
	var due time.Time // when the soonest delivery not yet due is (zero: none seen)
	stale := true     // the queue may hold due heads that are not in ready
	reading := false  // a read is under way; its result comes on fetched
	fetched := make(chan []store.WebhookDelivery, 1)
	timer := time.NewTimer(pollInterval)
	defer timer.Stop()
	for {
		if !due.IsZero() && !time.Now().Before(due) {
			stale, due = true, time.Time{}
		}
		if stale && !reading && len(ready) <= fetchBatch/2 && len(held)+len(ready) < maxHeld {
			// Read ahead while ready still holds work. What is in ready or
			// held is left out; an invoice's next delivery is not the head
			// while one of those is pending.
			stale, reading = false, true
			exclude := make([]int64, 0, len(held)+len(ready))
			for id := range held {
				exclude = append(exclude, id)
			}
			for _, d := range ready {
				exclude = append(exclude, d.ID)
			}
			running.Add(1)
			go func() {
				defer running.Done()
				ds, err := m.db.PendingWebhookDeliveries(ctx, w.ep.ID, fetchBatch, exclude)
				if err != nil && ctx.Err() == nil {
					m.log.Error("read webhook queue", "endpoint", w.ep.ID, "err", err)
				}
				fetched <- ds
			}()
		}
		for len(ready) > 0 && sending < lim.cur && len(held) < maxHeld {
			select {
			case m.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			d := ready[0]
			ready = ready[1:]
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
		case ds := <-fetched:
			reading = false
			now := time.Now()
			due = time.Time{}
			for _, d := range ds {
				if d.NextAttemptAt.After(now) {
					due = d.NextAttemptAt
					break
				}
				ready = append(ready, d)
			}
			if len(ds) == fetchBatch && due.IsZero() {
				stale = true // a full batch, all due: there may be more
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
// are sent again (at least once).
func (m *Manager) runRecorder(in <-chan result) {
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.db.RecordWebhookAttempts(ctx, batch); err != nil {
			m.log.Error("record webhook attempts", "attempts", len(batch), "err", err)
		}
		cancel()
		for i, w := range owners {
			w.add(note{id: batch[i].Delivery.ID, recorded: true})
		}
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
