package webhook

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// pollInterval bounds how long anything waits for a lost wake-up.
const pollInterval = time.Second

// fanOutBatch is how many events one fan-out transaction handles at most.
const fanOutBatch = 500

// fanOutRetry is how soon a fan-out that found another instance's fan-out
// under way tries again.
const fanOutRetry = 20 * time.Millisecond

// Config configures a Manager. Zero fields take the defaults of API.md.
type Config struct {
	Timeout       time.Duration   // per attempt, default 10s
	RetrySchedule []time.Duration // default 30s,2m,10m,1h,3h,6h,12h,24h; tests shorten it
	Jitter        float64         // ±fraction of each retry delay in [0, 1); 0 means the default 0.1
	Concurrency   int             // total deliveries in flight, default 8
	AllowPrivate  bool            // allow loopback/private/link-local targets and plain http (demo, tests)
	UserAgent     string          // "payd/<version>"
	// EndpointConcurrency is the most requests in flight to one endpoint
	// (capped by Concurrency), default 8. Deliveries of one invoice still go
	// out one after another, in event order; a failing endpoint is sent one
	// request at a time until it answers 2xx again.
	EndpointConcurrency int
	// Endpoints from the config file, upserted by New with ids derived stably
	// from the URL; config endpoints no longer listed are deleted.
	Endpoints []ConfigEndpoint
	// OnAttempt, if set, is called after every attempt with its outcome
	// ("success", "failure" or "timeout") and duration (metrics).
	OnAttempt func(outcome string, d time.Duration)
	// Formats render the bodies of endpoints with a Format (format.go).
	Formats map[string]Format
	// ClaimTTL is how long a delivery taken from the queue stays this
	// Manager's (store.ClaimWebhookDeliveries): when several payd share one
	// PostgreSQL database, the deliveries of an instance that died or lost
	// the database go to the others once its claims ran out. A request
	// starts only while its claim has more than Timeout + ClaimTTL/10 left,
	// so it ends before anyone else may take the delivery. Default
	// max(30s, 3×Timeout); at least 2×Timeout.
	ClaimTTL time.Duration
	// Instance names this Manager in its claims (default
	// "<host>-<pid>-<random>").
	Instance string
}

// ConfigEndpoint is a webhook endpoint from the config file.
type ConfigEndpoint struct {
	URL    string
	Secret string
	Events []string // empty or ["*"] = every type
}

// DefaultRetrySchedule is API.md's retry schedule: after the first attempt
// fails, retry after each of these delays (± jitter), then give up (failed).
var DefaultRetrySchedule = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// Endpoint is a webhook endpoint as the API shows it.
type Endpoint struct {
	ID     string // wh_…
	URL    string
	Events []string // ["*"] = every type
	// Secret is set only in CreateEndpoint's result: it is shown once.
	Secret    string
	Source    string // "config" | "api"
	CreatedAt time.Time
	// Disabled endpoints get no deliveries until enabled again (SetDisabled).
	Disabled bool
}

// LogValue leaves the secret out of logs.
func (e Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", e.ID), slog.String("url", e.URL), slog.String("source", e.Source))
}

// Attempt is one delivery attempt (GET /v1/webhooks/{id}/deliveries).
type Attempt struct {
	EventID    string
	Attempt    int // 1 for the first attempt of this event to this endpoint
	StatusCode int // 0 when no response arrived
	Error      string
	DurationMS int64
	At         time.Time
}

// Manager owns webhook endpoints and delivers events to them.
type Manager struct {
	cfg    Config
	db     *store.DB
	log    *slog.Logger
	client *http.Client

	wake    chan struct{} // new events committed
	changed chan struct{} // endpoints created or deleted
	sem     chan struct{} // global in-flight slots
	perEP   int           // in-flight limit per endpoint
	results chan result   // attempts to record (group commit), while Run runs
	running atomic.Bool
	holder  string // Config.Instance: this Manager's name in its claims
	// claimBatch is how many deliveries a worker claims at once (fetchBatch;
	// tests make it small to spread work over several Managers).
	claimBatch int

	mu      sync.Mutex
	workers map[string]*worker
}

type worker struct {
	ep     store.WebhookEndpoint
	cancel context.CancelFunc
	wake   chan struct{} // new deliveries queued
	notify chan struct{} // notes added

	mu    sync.Mutex
	notes []note // attempts ended or recorded, for the worker's loop
}

// New validates cfg, applies defaults, and upserts the config endpoints.
func New(cfg Config, db *store.DB, log *slog.Logger) (*Manager, error) {
	if db == nil {
		return nil, errors.New("webhook: nil database")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.RetrySchedule == nil {
		cfg.RetrySchedule = DefaultRetrySchedule
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.1
	}
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		return nil, fmt.Errorf("webhook: jitter %v must be in [0, 1)", cfg.Jitter)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.EndpointConcurrency <= 0 {
		cfg.EndpointConcurrency = 8
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "payd"
	}
	if cfg.ClaimTTL == 0 {
		cfg.ClaimTTL = max(30*time.Second, 3*cfg.Timeout)
	}
	if cfg.ClaimTTL < 2*cfg.Timeout {
		return nil, fmt.Errorf("webhook: claim time %s must be at least twice the timeout %s", cfg.ClaimTTL, cfg.Timeout)
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		cfg.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(rnd[:]))
	}
	m := &Manager{
		cfg:     cfg,
		db:      db,
		log:     log.With("subsystem", "webhook"),
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		sem:     make(chan struct{}, cfg.Concurrency),
		perEP:   min(cfg.EndpointConcurrency, cfg.Concurrency),
		workers: map[string]*worker{},
		holder:  cfg.Instance,

		claimBatch: fetchBatch,
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = dialControl
	}
	m.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would connect for us, past the SSRF guard
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   cfg.Timeout,
			MaxIdleConns:          max(100, 2*cfg.Concurrency),
			MaxIdleConnsPerHost:   m.perEP,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.syncConfig(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// ConfigEndpointID returns the stable id of a config endpoint with this URL.
func ConfigEndpointID(url string) string {
	const crockford = "0123456789abcdefghjkmnpqrstvwxyz"
	sum := sha256.Sum256([]byte("payd webhook endpoint\x00" + url))
	b := make([]byte, 0, 3+26)
	b = append(b, invoice.PrefixWebhook...)
	var acc uint32
	bits := 0
	for _, c := range sum[:17] {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 && len(b) < cap(b) {
			bits -= 5
			b = append(b, crockford[(acc>>uint(bits))&31])
		}
	}
	return string(b)
}

func (m *Manager) syncConfig(ctx context.Context) error {
	var eps []store.WebhookEndpoint
	seen := map[string]bool{}
	now := time.Now()
	for i, c := range m.cfg.Endpoints {
		if err := checkURL(ctx, c.URL, m.cfg.AllowPrivate, false); err != nil {
			return fmt.Errorf("webhook: config endpoint %d: %w", i, err)
		}
		if !m.cfg.AllowPrivate {
			// Resolve once now to refuse a name that points inside; a name
			// that does not resolve yet is left to the connect-time check.
			if err := checkURL(ctx, c.URL, false, true); err != nil {
				var ve *ValidationError
				if errors.As(err, &ve) && ve.Message == "host does not resolve" {
					m.log.Warn("config webhook host does not resolve", "endpoint", ConfigEndpointID(c.URL))
				} else {
					return fmt.Errorf("webhook: config endpoint %d: %w", i, err)
				}
			}
		}
		if c.Secret == "" {
			return fmt.Errorf("webhook: config endpoint %d: secret is empty", i)
		}
		events, err := normalizeEvents(c.Events)
		if err != nil {
			return fmt.Errorf("webhook: config endpoint %d: %w", i, err)
		}
		id := ConfigEndpointID(c.URL)
		if seen[id] {
			return fmt.Errorf("webhook: config endpoint %d: url listed twice", i)
		}
		seen[id] = true
		eps = append(eps, store.WebhookEndpoint{ID: id, URL: c.URL, Secret: c.Secret, Events: events, Source: "config", CreatedAt: now})
	}
	if err := m.db.SyncConfigWebhookEndpoints(ctx, eps); err != nil {
		return fmt.Errorf("webhook: sync config endpoints: %w", err)
	}
	return nil
}

// normalizeEvents validates event type filters: empty means ["*"], "*"
// absorbs the rest, duplicates are dropped.
func normalizeEvents(events []string) ([]string, error) {
	var out []string
	for _, e := range events {
		if e == "*" {
			return []string{"*"}, nil
		}
		if !invoice.ValidEventType(e) {
			return nil, &ValidationError{Field: "events", Message: fmt.Sprintf("unknown event type %q", e)}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return []string{"*"}, nil
	}
	return out, nil
}

func matches(ep store.WebhookEndpoint, ev invoice.Event) bool {
	if ep.Disabled {
		return false
	}
	if ep.Format == FormatGreenfield && !strings.HasPrefix(string(ev.Type), "invoice.") {
		return false // Greenfield has no names for refund and sweep events
	}
	for _, e := range ep.Events {
		if e == "*" || e == string(ev.Type) {
			return true
		}
	}
	return false
}

func toEndpoint(e store.WebhookEndpoint) Endpoint {
	return Endpoint{ID: e.ID, URL: e.URL, Events: e.Events, Source: e.Source, CreatedAt: e.CreatedAt, Disabled: e.Disabled}
}

// Wake tells the Manager that new events were committed. It never blocks; a
// lost wake-up costs at most a second (the poll fallback).
func (m *Manager) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) endpointsChanged() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// CreateEndpoint registers an endpoint from the API. url must be https (http
// only with AllowPrivate) and, without AllowPrivate, resolve to public
// addresses only; events are event types or "*" (empty = "*"). Bad input is a
// *ValidationError. The result carries the secret ("whsec_…"), which is never
// shown again.
func (m *Manager) CreateEndpoint(ctx context.Context, url string, events []string) (Endpoint, error) {
	if err := checkURL(ctx, url, m.cfg.AllowPrivate, true); err != nil {
		return Endpoint{}, err
	}
	evs, err := normalizeEvents(events)
	if err != nil {
		return Endpoint{}, err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Endpoint{}, fmt.Errorf("webhook: secret: %w", err)
	}
	now := time.Now()
	e := store.WebhookEndpoint{ID: invoice.NewID(invoice.PrefixWebhook, now), URL: url, Secret: "whsec_" + hex.EncodeToString(b[:]),
		Events: evs, Source: "api", CreatedAt: now.UTC().Truncate(time.Second)}
	if _, err := m.db.CreateWebhookEndpoint(ctx, e); err != nil {
		return Endpoint{}, fmt.Errorf("webhook: create endpoint: %w", err)
	}
	m.endpointsChanged()
	out := toEndpoint(e)
	out.Secret = e.Secret
	return out, nil
}

// Endpoints lists every endpoint, oldest first, without secrets.
func (m *Manager) Endpoints(ctx context.Context) ([]Endpoint, error) {
	eps, err := m.db.WebhookEndpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	out := make([]Endpoint, 0, len(eps))
	for _, e := range eps {
		out = append(out, toEndpoint(e))
	}
	return out, nil
}

// Endpoint returns one endpoint without its secret, or ErrNotFound.
func (m *Manager) Endpoint(ctx context.Context, id string) (Endpoint, error) {
	e, err := m.db.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: endpoint: %w", err)
	}
	return toEndpoint(e), nil
}

// DeleteEndpoint deletes an API endpoint with its queued deliveries and
// attempts. ErrNotFound for an unknown id; an endpoint from the config file
// cannot be deleted here: that is a *ValidationError with Field "id" (remove
// it from the config file and restart instead).
func (m *Manager) DeleteEndpoint(ctx context.Context, id string) error {
	e, err := m.db.WebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("webhook: delete endpoint: %w", err)
	}
	if e.Source == "config" {
		return &ValidationError{Field: "id", Message: "endpoint comes from the config file; remove it there and restart payd"}
	}
	if err := m.db.DeleteWebhookEndpoint(ctx, id); errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("webhook: delete endpoint: %w", err)
	}
	m.endpointsChanged()
	return nil
}

// Attempts returns up to limit (default 100, at most 1000) attempts to one
// endpoint, newest first; ErrNotFound for an unknown endpoint.
func (m *Manager) Attempts(ctx context.Context, endpointID string, limit int) ([]Attempt, error) {
	if _, err := m.Endpoint(ctx, endpointID); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	as, err := m.db.WebhookAttempts(ctx, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook: attempts: %w", err)
	}
	out := make([]Attempt, 0, len(as))
	for _, a := range as {
		out = append(out, Attempt{EventID: a.EventID, Attempt: a.Attempt, StatusCode: a.StatusCode, Error: a.Error, DurationMS: a.DurationMS, At: a.At})
	}
	return out, nil
}

// Redeliver re-queues an event, due now with a fresh retry schedule, for
// every endpoint whose filter matches it (whatever its earlier deliveries
// did). ErrNotFound for an unknown event.
func (m *Manager) Redeliver(ctx context.Context, eventID string) error {
	ev, err := m.db.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	eps, err := m.db.WebhookEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	var ids []string
	for _, ep := range eps {
		if matches(ep, ev) {
			ids = append(ids, ep.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := m.db.RequeueWebhookEvent(ctx, ev, ids, time.Now()); err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	m.wakeWorkers(ids)
	return nil
}

func (m *Manager) wakeWorkers(ids []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if w := m.workers[id]; w != nil {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Run fans events out to the delivery queue and runs one delivery worker per
// endpoint and the attempt recorder until ctx is done; it waits for every
// goroutine it started and returns nil then. Deliveries in flight at shutdown
// are left due and sent again on the next start (or by another instance);
// attempts that ended are recorded, and the claims left are released, before
// Run returns. Several Managers may Run on one PostgreSQL database at once
// (one per payd instance): they share the fan-out and claim deliveries from
// one queue.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("webhook: Run called twice")
	}
	defer m.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	m.results = make(chan result, recordQueue)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		m.runRecorder(ctx, m.results)
	}()
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait() // workers and their attempts: nothing sends results after this
		close(m.results)
		<-recorded
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := m.db.ReleaseWebhookClaims(rctx, m.holder, ""); err != nil {
			m.log.Warn("release webhook claims; they run out by themselves", "err", err)
		}
		rcancel()
		m.mu.Lock()
		clear(m.workers)
		m.mu.Unlock()
	}()

	cursor, err := m.db.WebhookCursor(ctx)
	for err != nil {
		// The database is away (a shared one may be, for a while): wait
		// for it rather than stop delivering for good.
		if ctx.Err() != nil {
			return nil
		}
		m.log.Warn("webhook cursor: cannot reach the database; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollInterval):
		}
		cursor, err = m.db.WebhookCursor(ctx)
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		if err := m.reconcile(ctx, &wg); err != nil && ctx.Err() == nil {
			m.log.Error("list webhook endpoints", "err", err)
		}
		var again <-chan time.Time // another instance's fan-out held the cursor: retry soon
		for ctx.Err() == nil {
			evs, err := m.db.EventsAfter(ctx, cursor, fanOutBatch)
			if err == nil && len(evs) > 0 {
				var touched []string
				var next int64
				touched, next, err = m.db.FanOutWebhookEvents(ctx, evs, time.Now(), matches)
				if err == nil {
					m.wakeWorkers(touched)
					if next < evs[len(evs)-1].Seq {
						again = time.After(fanOutRetry)
						break
					}
					cursor = next
				}
			}
			if err != nil {
				if ctx.Err() == nil {
					m.log.Error("fan out events to webhooks", "after_seq", cursor, "err", err)
				}
				break
			}
			if len(evs) < fanOutBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-m.changed:
		case <-poll.C:
		case <-again:
		}
	}
}

// reconcile starts a worker for every endpoint without one and stops the
// workers of deleted endpoints.
func (m *Manager) reconcile(ctx context.Context, wg *sync.WaitGroup) error {
	// Read the endpoints under m.mu: a worker stopped for a change (a new
	// secret, format or URL) is then restarted from what was read after the
	// change, never from an older read that raced with it.
	m.mu.Lock()
	defer m.mu.Unlock()
	eps, err := m.db.WebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, ep := range eps {
		if ep.Disabled {
			continue // its worker stops below; its queue waits for it
		}
		live[ep.ID] = true
		if _, ok := m.workers[ep.ID]; ok {
			continue
		}
		wctx, wcancel := context.WithCancel(ctx)
		w := &worker{ep: ep, cancel: wcancel, wake: make(chan struct{}, 1), notify: make(chan struct{}, 1)}
		m.workers[ep.ID] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runWorker(wctx, w)
			if ctx.Err() == nil {
				// Stopped alone (endpoint deleted, disabled or changed): free
				// its claims for the next worker (Run frees all at its end).
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := m.db.ReleaseWebhookClaims(rctx, m.holder, ep.ID); err != nil {
					m.log.Warn("release webhook claims; they run out by themselves", "endpoint", ep.ID, "err", err)
				}
				cancel()
			}
		}()
	}
	for id, w := range m.workers {
		if !live[id] {
			w.cancel()
			delete(m.workers, id)
		}
	}
	return nil
}
