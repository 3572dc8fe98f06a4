package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payd/payd/internal/metrics"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Several payd instances on one PostgreSQL database (docs/production.md,
// "High availability"). Every instance serves the API, checkout, dashboard
// and websockets, and delivers webhooks (claiming each delivery from the
// shared queue: store.ClaimWebhookDeliveries). The singleton parts — each
// chain's watcher and the expirer — run on the instance holding their lease
// (store.Lease): renewed every ttl/3 (each round trip bounded to ttl/10),
// given up a quarter of its time before it runs out when renewals keep
// failing — the database down or cut off: then another instance takes it
// within the lease time — and
// fenced: every write of a watcher or the expirer checks the lease's token in
// its own transaction, so an instance that lost its lease writes nothing.
// Committed events reach every instance through the outbox: each tails it
// (woken by LISTEN/NOTIFY, polling every second as a fallback) and hands
// events written by other instances to its websockets and its chain
// backends (new addresses to watch).

// leaseTTL is how long a lease lasts without renewal: the longest a dead
// leader's part stays unowned.
const leaseTTL = 10 * time.Second

// leases runs parts under leases for one instance.
type leases struct {
	db     *store.DB
	holder string
	ttl    time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	held map[string]*atomic.Pointer[store.Lease] // name → current lease (nil: not held)
}

func newLeases(db *store.DB, ttl time.Duration, log *slog.Logger) *leases {
	host, _ := os.Hostname()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return &leases{db: db, ttl: ttl, log: log, held: map[string]*atomic.Pointer[store.Lease]{},
		holder: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(rnd[:]))}
}

func (l *leases) slot(name string) *atomic.Pointer[store.Lease] {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.held[name]
	if !ok {
		p = &atomic.Pointer[store.Lease]{}
		l.held[name] = p
	}
	return p
}

// fence returns the write check of lease name's part.
func (l *leases) fence(name string) func(context.Context, *store.Tx) error {
	p := l.slot(name)
	return func(ctx context.Context, tx *store.Tx) error {
		cur := p.Load()
		if cur == nil {
			return fmt.Errorf("%w: %s is not held by this instance", store.ErrLeaseLost, name)
		}
		return tx.Fence(ctx, *cur, time.Now())
	}
}

// Held lists the unexpired leases this instance holds.
func (l *leases) Held() map[string]store.Lease {
	out := map[string]store.Lease{}
	for _, st := range l.States() {
		if st.Held {
			out[st.Name] = st.Lease
		}
	}
	return out
}

// leaseState is one lease this instance runs a part under: held or not,
// and the lease when held.
type leaseState struct {
	Name  string
	Held  bool
	Lease store.Lease
}

// States lists every lease this instance runs a part under, by name. A lease
// past its expiry counts as not held even before the part has stopped (its
// writes are fenced off by then).
func (l *leases) States() []leaseState {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	out := make([]leaseState, 0, len(l.held))
	for n, p := range l.held {
		st := leaseState{Name: n}
		if cur := p.Load(); cur != nil && now.Before(cur.Expires) {
			st.Held, st.Lease = true, *cur
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// metricStates is States for /metrics.
func (l *leases) metricStates() []metrics.LeaseState {
	var out []metrics.LeaseState
	for _, st := range l.States() {
		out = append(out, metrics.LeaseState{Name: st.Name, Held: st.Held, Renewed: st.Lease.Renewed})
	}
	return out
}

// acquire takes or renews lease name, within ttl/10: a database that does
// not answer (a network cut drops packets rather than refusing them) must
// not hold the caller past the lease's expiry.
func (l *leases) acquire(ctx context.Context, name string) (store.Lease, bool, error) {
	actx, cancel := context.WithTimeout(ctx, l.ttl/10)
	defer cancel()
	return l.db.AcquireLease(actx, name, l.holder, l.ttl, time.Now())
}

// run runs part whenever this instance holds lease name, until ctx is done.
// part's context is cancelled when the lease is lost.
func (l *leases) run(ctx context.Context, name string, part func(context.Context) error) error {
	p := l.slot(name)
	every := l.ttl / 3
	unreachable := false // logged once per outage, not every attempt
	for ctx.Err() == nil {
		lease, ok, err := l.acquire(ctx, name)
		switch {
		case err != nil && ctx.Err() == nil && !unreachable:
			l.log.Warn("lease: cannot reach the database", "lease", name, "err", err)
			unreachable = true
		case err == nil && unreachable:
			l.log.Info("lease: database reachable again", "lease", name)
			unreachable = false
		}
		if !ok {
			// Held elsewhere: ask again soon, so a dead holder's lease is
			// taken within ttl/10 of its expiry.
			sleep(ctx, l.ttl/10)
			continue
		}
		p.Store(&lease)
		l.log.Info("lease acquired: running", "lease", name, "token", lease.Token)
		pctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- part(pctx) }()
		lease = l.hold(ctx, p, lease, done)
		// Not held from here on: the part's writes still in flight fail
		// their fence at once instead of waiting for the expiry.
		p.Store(nil)
		stop()
		<-done
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.db.ReleaseLease(rctx, lease)
			cancel()
			return nil
		}
		// Let another instance have a go before trying again.
		sleep(ctx, every)
	}
	return nil
}

// hold renews lease every ttl/3 while its part runs, and returns (the last
// lease held) when ctx is done, the part stopped or another instance took
// the lease. A failed renewal is retried after ttl/10; when the next retry
// could not end ttl/4 before the expiry, hold steps down instead: the part
// stops while the lease still has a quarter of its time left, so an
// instance cut off from the database is no longer leading when another
// takes the lease over. done receives the part's result and gets it back.
func (l *leases) hold(ctx context.Context, p *atomic.Pointer[store.Lease], lease store.Lease, done chan error) store.Lease {
	every, retry, margin := l.ttl/3, l.ttl/10, l.ttl/4
	wait := every
	for {
		select {
		case <-ctx.Done():
			return lease
		case err := <-done:
			if ctx.Err() == nil && err != nil {
				l.log.Error("leased part stopped", "lease", lease.Name, "err", err)
			}
			done <- err
			return lease
		case <-time.After(wait):
		}
		next, ok, err := l.acquire(ctx, lease.Name)
		switch {
		case ctx.Err() != nil:
			return lease
		case err == nil && ok:
			p.Store(&next)
			lease, wait = next, every
		case err == nil && !ok:
			l.log.Warn("lease lost: another instance took over", "lease", lease.Name)
			return lease
		case time.Until(lease.Expires)-2*retry < margin: // retry wait + its round trip
			l.log.Warn("lease: database unreachable, stepping down", "lease", lease.Name, "expires_in", time.Until(lease.Expires).Round(time.Millisecond), "err", err)
			return lease
		default:
			l.log.Warn("lease: renewal failed; retrying", "lease", lease.Name, "err", err)
			wait = retry
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// outboxTail hands events committed by other instances to this one's
// websockets, chain backends and expirer.
type outboxTail struct {
	d     *daemon
	mu    sync.Mutex
	local map[int64]bool // seqs this instance notified itself (skipped by the tail)
	wake  chan struct{}

	readMu sync.Mutex // one reader at a time: Run, or a backend's catchUp
	cursor int64      // the last seq handed on
}

// newOutboxTail starts the tail at the outbox's end, before any part runs:
// every address handed out later reaches the backends through it, every
// earlier one is loaded by the watchers from the database.
func newOutboxTail(ctx context.Context, d *daemon) (*outboxTail, error) {
	cursor, err := d.db.LastEventSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &outboxTail{d: d, local: map[int64]bool{}, wake: make(chan struct{}, 1), cursor: cursor}, nil
}

// sawLocal records events notified in-process.
func (o *outboxTail) sawLocal(evs []invoice.Event) {
	o.mu.Lock()
	for _, e := range evs {
		if e.Seq > 0 {
			o.local[e.Seq] = true
		}
	}
	o.mu.Unlock()
}

func (o *outboxTail) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// catchUp hands on every event committed after the cursor. A chain backend
// calls it before it matches a block against its watched set (BeforeBlock):
// an invoice created through another instance was committed before anyone
// could pay it, so its address is watched before the block holding the
// payment is read — however late LISTEN/NOTIFY or the poll would have told.
func (o *outboxTail) catchUp(ctx context.Context) error {
	o.readMu.Lock()
	defer o.readMu.Unlock()
	for ctx.Err() == nil {
		evs, err := o.d.db.EventsAfter(ctx, o.cursor, 500)
		if err != nil {
			return err
		}
		var remote []invoice.Event
		o.mu.Lock()
		for _, e := range evs {
			if o.local[e.Seq] {
				delete(o.local, e.Seq)
			} else {
				remote = append(remote, e)
			}
			o.cursor = e.Seq
		}
		for s := range o.local {
			if s <= o.cursor {
				delete(o.local, s)
			}
		}
		o.mu.Unlock()
		if len(remote) > 0 {
			o.d.remoteEvents(ctx, remote)
		}
		if len(evs) < 500 {
			return nil
		}
	}
	return ctx.Err()
}

// beforeBlock is the chain backends' BeforeBlock: catch up on the outbox,
// briefly (a database away fails the block's own write anyway).
func (o *outboxTail) beforeBlock(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := o.catchUp(ctx); err != nil && ctx.Err() == nil {
		o.d.log.Warn("outbox tail: catch up before a block", "err", err)
	}
}

func (o *outboxTail) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = o.d.db.Listen(ctx, store.EventsChannel, o.poke) }()
	defer wg.Wait()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		_ = o.catchUp(ctx) // a database away: the next poke or poll tries again
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		case <-poll.C:
		}
	}
}

// chainAddress is a method's chain and deposit address.
type chainAddress struct {
	Chain   string `json:"chain"`
	Address string `json:"address"`
}

// createdMethods is the methods of an invoice.created event: from its
// payload (the invoice as it was created, addresses included), so the outbox
// tail does not read back every invoice another instance creates; from the
// database only when the payload does not parse.
func (d *daemon) createdMethods(ctx context.Context, e invoice.Event) []chainAddress {
	var body struct {
		Invoice struct {
			Methods []chainAddress `json:"methods"`
		} `json:"invoice"`
	}
	if err := json.Unmarshal(e.Payload, &body); err == nil && len(body.Invoice.Methods) > 0 {
		return body.Invoice.Methods
	}
	inv, err := d.db.Invoice(ctx, e.InvoiceID)
	if err != nil {
		d.log.Warn("outbox tail: read a new invoice", "invoice", e.InvoiceID, "err", err)
		return nil
	}
	out := make([]chainAddress, 0, len(inv.Methods))
	for _, m := range inv.Methods {
		out = append(out, chainAddress{Chain: m.Chain, Address: m.Address})
	}
	return out
}

// remoteEvents handles events another instance committed.
func (d *daemon) remoteEvents(ctx context.Context, evs []invoice.Event) {
	d.hub.Publish(evs)
	for _, e := range evs {
		if e.Type != invoice.EventCreated {
			continue
		}
		for _, m := range d.createdMethods(ctx, e) {
			if b, ok := d.backends[m.Chain]; ok {
				b.Watch(m.Address)
			}
		}
	}
	d.expirer.Wake()
	d.hooks.Wake()
}
