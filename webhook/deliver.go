package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/store"
)

// runWorker delivers one endpoint's queue: it takes due deliveries, at most
// m.perEP in flight, each holding one of the global slots while it runs, and
// sleeps until the next is due, a wake-up, an attempt ends, or the poll
// interval passes. It returns when ctx is done, after its attempts ended.
func (m *Manager) runWorker(ctx context.Context, w *worker) {
	inflight := map[int64]bool{}
	done := make(chan int64, m.perEP) // never blocks: at most perEP attempts
	var attempts sync.WaitGroup
	defer attempts.Wait()
	timer := time.NewTimer(pollInterval)
	defer timer.Stop()
	for {
		wait := pollInterval
		if free := m.perEP - len(inflight); free > 0 {
			ds, err := m.db.PendingWebhookDeliveries(ctx, w.ep.ID, free+1, slices.Collect(maps.Keys(inflight)))
			if err != nil && ctx.Err() == nil {
				m.log.Error("read webhook queue", "endpoint", w.ep.ID, "err", err)
			}
			now := time.Now()
			for _, d := range ds {
				if d.NextAttemptAt.After(now) {
					wait = min(wait, d.NextAttemptAt.Sub(now))
					break
				}
				if len(inflight) >= m.perEP {
					break // due, but this endpoint's slots are taken
				}
				select {
				case m.sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				inflight[d.ID] = true
				attempts.Add(1)
				go func() {
					defer attempts.Done()
					m.attempt(ctx, w.ep, d)
					<-m.sem
					done <- d.ID
				}()
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case id := <-done:
			delete(inflight, id)
		case <-timer.C:
		}
	}
}

// attempt makes one delivery attempt and records it with the delivery's next
// state. An attempt cut short by shutdown is not recorded: the delivery stays
// due and is sent again after the restart.
func (m *Manager) attempt(ctx context.Context, ep store.WebhookEndpoint, d store.WebhookDelivery) {
	start := time.Now()
	code, errMsg, outcome := m.post(ctx, ep, d, start)
	dur := time.Since(start)
	if outcome == "" {
		return // shutting down or endpoint deleted
	}
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
	a := store.WebhookAttempt{EndpointID: ep.ID, EventID: d.EventID, Attempt: d.Attempts + 1, StatusCode: code,
		Error: errMsg, DurationMS: dur.Milliseconds(), At: start}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := m.db.RecordWebhookAttempt(rctx, d, a, status, next); err != nil {
		m.log.Error("record webhook attempt", "endpoint", ep.ID, "event", d.EventID, "err", err)
		return
	}
	switch {
	case outcome == "success":
		m.log.Debug("webhook delivered", "endpoint", ep.ID, "event", d.EventID, "attempt", a.Attempt, "status", code, "duration", dur)
	case status == store.DeliveryFailed:
		m.log.Warn("webhook delivery failed for good", "endpoint", ep.ID, "event", d.EventID, "attempt", a.Attempt, "status", code, "err", errMsg)
	default:
		m.log.Warn("webhook delivery failed", "endpoint", ep.ID, "event", d.EventID, "attempt", a.Attempt, "status", code, "err", errMsg, "retry_at", next)
	}
}

// post sends the delivery; outcome is "success", "failure", "timeout", or ""
// when ctx (shutdown) cut it short.
func (m *Manager) post(ctx context.Context, ep store.WebhookEndpoint, d store.WebhookDelivery, now time.Time) (code int, errMsg, outcome string) {
	actx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, "build request: " + err.Error(), "failure"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", m.cfg.UserAgent)
	req.Header.Set("Payd-Event-Id", d.EventID)
	req.Header.Set("Payd-Event-Type", d.EventType)
	req.Header.Set("Payd-Signature", Sign(ep.Secret, now, d.Payload))
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
