package service

import (
	"context"
	"fmt"
	"sync"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// Group commit (PERF.md): SQLite commits one transaction at a time through
// one writer connection, so concurrent invoice creations queue up. The first
// caller to find no write in flight becomes the leader: it takes everything
// queued so far, writes it in ONE transaction (one savepoint per invoice, so
// one bad invoice does not fail the others) and hands each caller its own
// result; callers that arrived meanwhile form the next batch. Under load a
// batch holds as many invoices as arrived during the previous commit; alone,
// a creation commits at once.

// maxBatch bounds one transaction.
const maxBatch = 256

type createJob struct {
	inv  *invoice.Invoice
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
func (s *Service) insert(ctx context.Context, inv *invoice.Invoice) (invoice.Event, error) {
	j := &createJob{inv: inv, done: make(chan struct{})}
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

// writeBatch writes every job of a batch in one transaction.
func (s *Service) writeBatch(ctx context.Context, batch []*createJob) {
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error {
		for i, j := range batch {
			sp := fmt.Sprintf("inv%d", i)
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
				return err
			}
			j.err = s.insertOne(ctx, tx, j)
			if j.err != nil {
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO "+sp); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE "+sp); err != nil {
				return err
			}
		}
		return nil
	})
	for _, j := range batch {
		if err != nil && j.err == nil {
			j.err = err
		}
		close(j.done)
	}
	s.prefill()
}

// insertOne allocates one address per chain and stores the invoice and its
// event inside tx.
func (s *Service) insertOne(ctx context.Context, tx *store.Tx, j *createJob) error {
	inv := j.inv
	addrs := map[string]invoice.Method{}
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if a, ok := addrs[m.Chain]; ok {
			m.Address, m.DeriveIdx = a.Address, a.DeriveIdx
			continue
		}
		idx, err := tx.NextIndex(ctx, m.Chain)
		if err != nil {
			return err
		}
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
