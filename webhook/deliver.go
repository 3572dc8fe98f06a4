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
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, "", "success"
	}
	msg := "status " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg = fmt.Sprintf("status %d: redirects are not followed", resp.StatusCode)
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
