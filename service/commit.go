package service

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Group commit (PERF.md): SQLite commits one transaction at a time through
// one writer connection, so concurrent invoice creations queue up. Each
// caller first does its own part outside the writer — it takes its
// derivation indexes from the in-memory counter, gets its addresses (derived
// ahead), renders its invoice.created event and its Idempotency-Key record —
// then queues. The first caller to find no write in flight becomes the
// leader: it takes everything queued so far and writes it in ONE
// transaction, each table's rows in a few multi-row INSERTs, and hands each
// caller its result; callers that arrived meanwhile form the next batch. If
// that transaction fails, each invoice is retried alone, so one bad invoice
// does not fail the others. Under load a batch holds what arrived during the
// previous commit, bounded by maxBatch; alone, a creation commits at once.
//
// The derivation counter lives in memory while payd runs (the database is
// opened exclusively: no other writer hands out indexes) and is written in
// the batch's transaction, so a crash before the commit loses nothing and
// reuses nothing; an invoice that fails leaves its index unused (a gap, as
// an expired invoice does).

// maxBatch bounds one transaction.
const maxBatch = 256

// maxLinger bounds how long a leader waits for callers already preparing
// their invoice to join its batch (batches bounded by time as well as by
// count): far less than one transaction, so a request never waits behind a
// long one, while a batch under load grows from a few invoices to most of
// the callers in flight and the commit's fixed cost is shared.
const maxLinger = 500 * time.Microsecond

type createJob struct {
	inv  *invoice.Invoice
	ln   []store.LightningInvoice // its BOLT11 invoices
	ev   invoice.Event
	idem *store.IdempotencyRecord
	// expireBefore is the idempotency record's expiry (older records go).
	expireBefore time.Time
	err          error
	done         chan struct{}
}

type committer struct {
	mu      sync.Mutex
	pending []*createJob
	leading bool
	// preparing counts callers between reserve and queueing: a leader
	// waits for them (at most maxLinger) so they join its batch instead of
	// waiting for a whole transaction more.
	preparing int
	queued    chan struct{} // signalled (capacity 1) when a job is queued
	// next is each chain's next derivation index (loaded on first use).
	next map[string]uint32
	// end is, on a database shared by several payd (PostgreSQL), the end of
	// the block of indexes this instance reserved (next < end).
	end map[string]uint32
	// spare is each chain's next block, reserved ahead of need (see
	// reserveAhead); fetching says a reservation is in flight.
	spare    map[string]indexRange
	fetching map[string]bool
	// waited counts the reservations a request had to wait for (tests).
	waited int
}

type indexRange struct{ first, end uint32 }

// indexBlock is how many derivation indexes an instance reserves at once on
// a shared database: each block is taken atomically (store.ReserveIndexes),
// so no two instances hand out one index. The next block is reserved in the
// background once half of the current one is used, so a request waits for a
// reservation only when demand outruns it; an instance that stops leaves at
// most two blocks' worth unused (the rest of the current one and the spare).
const indexBlock = 8

// reserveTimeout bounds a background reservation.
const reserveTimeout = 10 * time.Second

// reserve takes one derivation index per distinct chain of inv's methods.
func (s *Service) reserve(ctx context.Context, inv *invoice.Invoice) (map[string]uint32, error) {
	c := &s.commit
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = map[string]uint32{}
	}
	got := map[string]uint32{}
	for _, m := range inv.Methods {
		if _, ok := got[m.Chain]; ok {
			continue
		}
		idx, ok := c.next[m.Chain]
		if s.d.DB.Dialect() == store.Postgres {
			if c.end == nil {
				c.end = map[string]uint32{}
			}
			if !ok || idx >= c.end[m.Chain] {
				if sp, ok := c.spare[m.Chain]; ok {
					idx, c.end[m.Chain] = sp.first, sp.end
					delete(c.spare, m.Chain)
				} else {
					c.waited++
					first, err := s.d.DB.ReserveIndexes(ctx, m.Chain, indexBlock)
					if err != nil {
						return nil, err
					}
					idx, c.end[m.Chain] = first, first+indexBlock
				}
			}
			if c.end[m.Chain]-idx <= indexBlock/2 {
				s.reserveAhead(m.Chain)
			}
		} else if !ok {
			var err error
			if idx, err = s.d.DB.PeekIndex(ctx, m.Chain); err != nil {
				return nil, err
			}
		}
		if uint64(idx)+1 > 1<<31 {
			return nil, fmt.Errorf("service: derivation indexes of %s exhausted", m.Chain)
		}
		got[m.Chain] = idx
		c.next[m.Chain] = idx + 1
	}
	return got, nil
}

// reserveAhead starts the reservation of chain's next block in the
// background unless one is reserved or on its way. The caller holds c.mu.
func (s *Service) reserveAhead(chain string) {
	c := &s.commit
	if _, ok := c.spare[chain]; ok || c.fetching[chain] {
		return
	}
	if c.fetching == nil {
		c.fetching, c.spare = map[string]bool{}, map[string]indexRange{}
	}
	c.fetching[chain] = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), reserveTimeout)
		defer cancel()
		first, err := s.d.DB.ReserveIndexes(ctx, chain, indexBlock)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fetching[chain] = false
		if err != nil {
			// The next request reserves for itself and answers the error.
			s.d.Log.Warn("reserve derivation indexes ahead", "chain", chain, "err", err)
			return
		}
		c.spare[chain] = indexRange{first, first + indexBlock}
	}()
}

// prepare fills in inv's addresses from its reserved indexes and renders
// what the batch will store for it, outside the writer.
func (s *Service) prepare(ctx context.Context, inv *invoice.Invoice, k *Idempotency, ln []store.LightningInvoice) (*createJob, error) {
	idx, err := s.reserve(ctx, inv)
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if m.Kind == invoice.KindLightning {
			// The BOLT11 is the address; the index only keeps the
			// addresses table's (chain, index) unique.
			m.DeriveIdx = idx[m.Chain]
			continue
		}
		a, ok := addrs[m.Chain]
		if !ok {
			if a, err = s.address(m.Chain, idx[m.Chain]); err != nil {
				return nil, err
			}
			addrs[m.Chain] = a
		}
		m.Address, m.DeriveIdx = a, idx[m.Chain]
	}
	j := &createJob{inv: inv, ln: ln, done: make(chan struct{})}
	if j.ev, err = invoice.NewEvent(invoice.EventCreated, inv, s.d.Now(), s.ViewOptions()); err != nil {
		return nil, err
	}
	if k != nil {
		body, err := k.Response(inv)
		if err != nil {
			return nil, err
		}
		j.idem = &store.IdempotencyRecord{APIKeyID: k.APIKeyID, Key: k.Key, RequestHash: k.RequestHash,
			StatusCode: http.StatusCreated, Response: body, CreatedAt: s.d.Now()}
		j.expireBefore = k.ExpireBefore
	}
	return j, nil
}

// insert stores inv (with fresh addresses) and its invoice.created event,
// batched with concurrent callers.
func (s *Service) insert(ctx context.Context, inv *invoice.Invoice, idem *Idempotency, ln []store.LightningInvoice) (invoice.Event, error) {
	c := &s.commit
	c.mu.Lock()
	if c.queued == nil {
		c.queued = make(chan struct{}, 1)
	}
	c.preparing++
	c.mu.Unlock()
	j, err := s.prepare(ctx, inv, idem, ln)
	c.mu.Lock()
	c.preparing--
	if err != nil {
		c.mu.Unlock()
		return invoice.Event{}, err
	}
	c.pending = append(c.pending, j)
	select {
	case c.queued <- struct{}{}:
	default:
	}
	if c.leading {
		c.mu.Unlock()
		select {
		case <-j.done:
			return j.ev, j.err
		case <-ctx.Done():
			// The batch still commits or fails as a whole; the caller
			// just stops waiting for it.
			return invoice.Event{}, ctx.Err()
		}
	}
	c.leading = true
	for {
		c.linger()
		batch := c.pending
		if len(batch) > maxBatch {
			batch = batch[:maxBatch]
		}
		c.pending = c.pending[len(batch):]
		c.mu.Unlock()
		s.writeBatch(context.WithoutCancel(ctx), batch)
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.leading = false
			c.mu.Unlock()
			break
		}
	}
	<-j.done
	return j.ev, j.err
}

// linger waits, with c.mu held on entry and exit, while callers are still
// preparing invoices that would join the batch, up to maxLinger.
func (c *committer) linger() {
	if c.preparing == 0 || len(c.pending) >= maxBatch {
		return
	}
	deadline := time.NewTimer(maxLinger)
	defer deadline.Stop()
	for c.preparing > 0 && len(c.pending) < maxBatch {
		c.mu.Unlock()
		select {
		case <-c.queued:
		case <-deadline.C:
			c.mu.Lock()
			return
		}
		c.mu.Lock()
	}
}

// writeBatch writes every job of a batch in one transaction; if that fails,
// each job is retried in its own transaction, so one bad invoice fails alone.
func (s *Service) writeBatch(ctx context.Context, batch []*createJob) {
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error { return s.writeJobs(ctx, tx, batch) })
	if err != nil && len(batch) > 1 {
		for _, j := range batch {
			j.err = s.d.DB.Write(ctx, func(tx *store.Tx) error { return s.writeJobs(ctx, tx, []*createJob{j}) })
		}
	} else {
		for _, j := range batch {
			j.err = err
		}
	}
	for _, j := range batch {
		close(j.done)
	}
	s.prefill()
}

// writeJobs stores jobs inside tx: the derivation counters past their
// indexes, the invoices, their events and Idempotency-Key records.
func (s *Service) writeJobs(ctx context.Context, tx *store.Tx, jobs []*createJob) error {
	next := map[string]uint32{}
	invs := make([]*invoice.Invoice, len(jobs))
	evs := make([]invoice.Event, len(jobs))
	for i, j := range jobs {
		invs[i], evs[i] = j.inv, j.ev
		for _, m := range j.inv.Methods {
			if m.DeriveIdx+1 > next[m.Chain] {
				next[m.Chain] = m.DeriveIdx + 1
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(next)) {
		if err := tx.AdvanceIndex(ctx, c, next[c]); err != nil {
			return err
		}
	}
	if err := tx.InsertNewInvoices(ctx, invs); err != nil {
		return err
	}
	if err := tx.InsertEventsBulk(ctx, evs); err != nil {
		return err
	}
	for i, j := range jobs {
		j.ev.Seq = evs[i].Seq
		if len(j.ln) > 0 {
			if err := tx.InsertLightningInvoices(ctx, j.ln); err != nil {
				return err
			}
		}
		if j.idem != nil {
			if err := tx.SaveIdempotency(ctx, *j.idem, j.expireBefore); err != nil {
				return err
			}
		}
	}
	return nil
}

// Addresses are derived ahead of demand (an EC multiplication each, tens of
// microseconds) so that no derivation sits inside the write transaction.

// aheadCount is how many addresses per chain are kept derived ahead: more
// than a few full batches, so that under load the writer never derives
// inline (it holds the single writer connection while it does).
const aheadCount = 1024

// aheadChunk is how many derived addresses prefill publishes at a time.
const aheadChunk = 64

type addrCache struct {
	mu      sync.Mutex
	m       map[string]map[uint32]string
	filling map[string]bool
}

// address returns chain's address at index idx, derived ahead if possible.
func (s *Service) address(chainName string, idx uint32) (string, error) {
	c := &s.addrs
	c.mu.Lock()
	if a, ok := c.m[chainName][idx]; ok {
		delete(c.m[chainName], idx)
		c.mu.Unlock()
		return a, nil
	}
	c.mu.Unlock()
	d, ok := s.d.Derivers[chainName]
	if !ok {
		return "", fmt.Errorf("service: no key for chain %s", chainName)
	}
	a, _, err := d.Address(idx)
	if err != nil {
		return "", fmt.Errorf("service: derive %s address %d: %w", chainName, idx, err)
	}
	return a, nil
}

// prefill derives the next addresses of every chain in the background.
func (s *Service) prefill() {
	c := &s.addrs
	for chainName, d := range s.d.Derivers {
		c.mu.Lock()
		if c.m == nil {
			c.m, c.filling = map[string]map[uint32]string{}, map[string]bool{}
		}
		if c.filling[chainName] || len(c.m[chainName]) >= aheadCount/2 {
			c.mu.Unlock()
			continue
		}
		c.filling[chainName] = true
		c.mu.Unlock()
		go func() {
			defer func() { c.mu.Lock(); c.filling[chainName] = false; c.mu.Unlock() }()
			next, err := s.d.DB.PeekIndex(context.Background(), chainName)
			if err != nil {
				return
			}
			for i := next; i < next+aheadCount; {
				fresh := make(map[uint32]string, aheadChunk)
				for n := 0; n < aheadChunk && i < next+aheadCount; n, i = n+1, i+1 {
					c.mu.Lock()
					_, have := c.m[chainName][i]
					c.mu.Unlock()
					if have {
						continue
					}
					a, _, err := d.Address(i)
					if err != nil {
						return
					}
					fresh[i] = a
				}
				c.mu.Lock()
				if c.m[chainName] == nil {
					c.m[chainName] = map[uint32]string{}
				}
				for i, a := range fresh {
					c.m[chainName][i] = a
				}
				// Forget indexes already handed out.
				for i := range c.m[chainName] {
					if i < next {
						delete(c.m[chainName], i)
					}
				}
				c.mu.Unlock()
			}
		}()
	}
}
