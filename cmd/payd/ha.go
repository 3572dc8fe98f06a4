package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Several payd instances on one PostgreSQL database (docs/production.md,
// "High availability"). Every instance serves the API, checkout, dashboard
// and websockets, and delivers webhooks (claiming each delivery from the
// shared queue: store.ClaimWebhookDeliveries). The singleton parts — each
// chain's watcher and the expirer — run on the instance holding their lease
// (store.Lease):
// renewed every ttl/3, given up when a renewal fails for longer than the
// lease lasts (then another instance takes it within the lease time), and
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

// Held lists the leases this instance holds, with when each was last renewed.
func (l *leases) Held() map[string]store.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]store.Lease{}
	for n, p := range l.held {
		if cur := p.Load(); cur != nil {
			out[n] = *cur
		}
	}
	return out
}

// run runs part whenever this instance holds lease name, until ctx is done.
// part's context is cancelled when the lease is lost.
func (l *leases) run(ctx context.Context, name string, part func(context.Context) error) error {
	p := l.slot(name)
	every := l.ttl / 3
	for ctx.Err() == nil {
		lease, ok, err := l.db.AcquireLease(ctx, name, l.holder, l.ttl, time.Now())
		if err != nil && ctx.Err() == nil {
			l.log.Warn("lease: cannot reach the database", "lease", name, "err", err)
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
			continue
		}
		p.Store(&lease)
		l.log.Info("lease acquired: running", "lease", name, "token", lease.Token)
		pctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- part(pctx) }()
		lost := false
		for !lost {
			select {
			case <-ctx.Done():
				lost = true
			case err := <-done:
				if ctx.Err() == nil && err != nil {
					l.log.Error("leased part stopped", "lease", name, "err", err)
				}
				done <- err
				lost = true
			case <-time.After(every):
				next, ok, err := l.db.AcquireLease(ctx, name, l.holder, l.ttl, time.Now())
				switch {
				case err == nil && ok:
					p.Store(&next)
					lease = next
				case err == nil && !ok:
					l.log.Warn("lease lost: another instance took over", "lease", name)
					lost = true
				case time.Until(lease.Expires) < every:
					// The database has not answered for most of the lease:
					// stop before it runs out (the fence would refuse our
					// writes by then anyway).
					l.log.Warn("lease: database unreachable, stepping down", "lease", name, "err", err)
					lost = true
				default:
					l.log.Warn("lease: renewal failed; retrying", "lease", name, "err", err)
				}
			}
		}
		stop()
		<-done
		p.Store(nil)
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.db.ReleaseLease(rctx, lease)
			cancel()
			return nil
		}
		// Let another instance have a go before trying again.
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
	return nil
}

// outboxTail hands events committed by other instances to this one's
// websockets, chain backends and expirer.
type outboxTail struct {
	d     *daemon
	mu    sync.Mutex
	local map[int64]bool // seqs this instance notified itself (skipped by the tail)
	wake  chan struct{}
}

func newOutboxTail(d *daemon) *outboxTail {
	return &outboxTail{d: d, local: map[int64]bool{}, wake: make(chan struct{}, 1)}
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

func (o *outboxTail) Run(ctx context.Context) error {
	db := o.d.db
	cursor, err := db.LastEventSeq(ctx)
	for err != nil {
		if ctx.Err() != nil {
			return nil
		}
		o.d.log.Warn("outbox tail: cannot reach the database", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		cursor, err = db.LastEventSeq(ctx)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = db.Listen(ctx, store.EventsChannel, o.poke) }()
	defer wg.Wait()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		for ctx.Err() == nil {
			evs, err := db.EventsAfter(ctx, cursor, 500)
			if err != nil {
				break
			}
			var remote []invoice.Event
			o.mu.Lock()
			for _, e := range evs {
				if o.local[e.Seq] {
					delete(o.local, e.Seq)
				} else {
					remote = append(remote, e)
				}
				cursor = e.Seq
			}
			for s := range o.local {
				if s <= cursor {
					delete(o.local, s)
				}
			}
			o.mu.Unlock()
			if len(remote) > 0 {
				o.d.remoteEvents(ctx, remote)
			}
			if len(evs) < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		case <-poll.C:
		}
	}
}

// remoteEvents handles events another instance committed.
func (d *daemon) remoteEvents(ctx context.Context, evs []invoice.Event) {
	d.hub.Publish(evs)
	for _, e := range evs {
		if e.Type != invoice.EventCreated {
			continue
		}
		inv, err := d.db.Invoice(ctx, e.InvoiceID)
		if err != nil {
			d.log.Warn("outbox tail: read a new invoice", "invoice", e.InvoiceID, "err", err)
			continue
		}
		for _, m := range inv.Methods {
			if b, ok := d.backends[m.Chain]; ok {
				b.Watch(m.Address)
			}
		}
	}
	d.expirer.Wake()
	d.hooks.Wake()
}
