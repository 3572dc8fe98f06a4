package service

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Group commit (PERF.md): SQLite commits one transaction at a time through
// one writer connection, so concurrent invoice creations queue up. The first
// caller to find no write in flight becomes the leader: it takes everything
// queued so far, writes it in ONE transaction (retrying each invoice alone if
// that fails, so one bad invoice does not fail the others) and hands each
// caller its own result; callers that arrived meanwhile form the next batch. Under load a
// batch holds as many invoices as arrived during the previous commit; alone,
// a creation commits at once.

// maxBatch bounds one transaction.
const maxBatch = 256

type createJob struct {
	inv  *invoice.Invoice
	idem *Idempotency
	ev   invoice.Event
	err  error
	done chan struct{}
}

type committer struct {
	mu      sync.Mutex
	pending []*createJob
	leading bool
}

// insert stores inv (allocating its addresses) and its invoice.created
// event, batched with concurrent callers.
func (s *Service) insert(ctx context.Context, inv *invoice.Invoice, idem *Idempotency) (invoice.Event, error) {
	j := &createJob{inv: inv, idem: idem, done: make(chan struct{})}
	c := &s.commit
	c.mu.Lock()
	c.pending = append(c.pending, j)
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

// writeBatch writes every job of a batch in one transaction: one counter
// update per chain for the whole batch, then each invoice and its event. If
// that transaction fails, each job is retried in its own transaction, so one
// bad invoice fails alone.
func (s *Service) writeBatch(ctx context.Context, batch []*createJob) {
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error {
		// Reserve the batch's derivation indexes, one statement per chain.
		need := map[string]int{}
		for _, j := range batch {
			for _, c := range jobChains(j) {
				need[c]++
			}
		}
		next := map[string]uint32{}
		for c, n := range need {
			first, err := tx.NextIndexes(ctx, c, n)
			if err != nil {
				return err
			}
			next[c] = first
		}
		for _, j := range batch {
			if err := s.insertOne(ctx, tx, j, next); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, j := range batch {
			j.err = s.d.DB.Write(ctx, func(tx *store.Tx) error {
				next := map[string]uint32{}
				for _, c := range jobChains(j) {
					first, err := tx.NextIndexes(ctx, c, 1)
					if err != nil {
						return err
					}
					next[c] = first
				}
				return s.insertOne(ctx, tx, j, next)
			})
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

// jobChains lists the distinct chains of a job's methods (one address each).
func jobChains(j *createJob) []string {
	var out []string
	for _, m := range j.inv.Methods {
		if !slices.Contains(out, m.Chain) {
			out = append(out, m.Chain)
		}
	}
	return out
}

// insertOne gives the invoice one address per chain from the reserved
// indexes (next, advanced as used) and stores it and its event inside tx.
func (s *Service) insertOne(ctx context.Context, tx *store.Tx, j *createJob, next map[string]uint32) error {
	inv := j.inv
	addrs := map[string]invoice.Method{}
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if a, ok := addrs[m.Chain]; ok {
			m.Address, m.DeriveIdx = a.Address, a.DeriveIdx
			continue
		}
		idx := next[m.Chain]
		next[m.Chain] = idx + 1
		addr, err := s.address(m.Chain, idx)
		if err != nil {
			return err
		}
		m.Address, m.DeriveIdx = addr, idx
		addrs[m.Chain] = *m
	}
	if err := tx.InsertInvoice(ctx, inv); err != nil {
		return err
	}
	ev, err := invoice.NewEvent(invoice.EventCreated, inv, s.d.Now(), s.ViewOptions())
	if err != nil {
		return err
	}
	if err := tx.InsertEvents(ctx, []invoice.Event{ev}); err != nil {
		return err
	}
	if k := j.idem; k != nil {
		body, err := k.Response(inv)
		if err != nil {
			return err
		}
		rec := store.IdempotencyRecord{APIKeyID: k.APIKeyID, Key: k.Key, RequestHash: k.RequestHash,
			StatusCode: http.StatusCreated, Response: body, CreatedAt: s.d.Now()}
		if err := tx.SaveIdempotency(ctx, rec, k.ExpireBefore); err != nil {
			return err
		}
	}
	j.ev = ev
	return nil
}

// Addresses are derived ahead of demand (an EC multiplication each, tens of
// microseconds) so that no derivation sits inside the write transaction.

// aheadCount is how many addresses per chain are kept derived ahead.
const aheadCount = 64

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
			fresh := map[uint32]string{}
			for i := next; i < next+aheadCount; i++ {
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
		}()
	}
}
