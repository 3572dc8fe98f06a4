// Package chaintest holds a scripted fake chain.Backend for tests of the
// code that consumes chain events (the watcher). Tests push events with Send
// and the fake delivers them from Run, in order.
package chaintest

import (
	"context"
	"sync"

	"github.com/payd/payd/chain"
)

// Fake is a scripted chain.Backend.
type Fake struct {
	name   string
	script chan chain.Event
	mu     sync.Mutex
	watch  map[string]bool
	recent []chain.BlockRef
	tip    chain.BlockRef
	runs   int
	txs    map[string]chain.TxState
	txErr  error
}

var (
	_ chain.Backend  = (*Fake)(nil)
	_ chain.TxStater = (*Fake)(nil)
)

// New returns a fake backend for the chain called name.
func New(name string) *Fake {
	return &Fake{name: name, script: make(chan chain.Event), watch: map[string]bool{}}
}

// SetTxState sets what TxStates reports for txid (unset: chain.TxUnknown).
func (f *Fake) SetTxState(txid string, s chain.TxState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.txs == nil {
		f.txs = map[string]chain.TxState{}
	}
	f.txs[txid] = s
}

// SetTxError makes TxStates fail with err (nil: answer again).
func (f *Fake) SetTxError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txErr = err
}

// TxStates implements chain.TxStater from SetTxState.
func (f *Fake) TxStates(_ context.Context, txids []string) (map[string]chain.TxState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.txErr != nil {
		return nil, f.txErr
	}
	out := make(map[string]chain.TxState, len(txids))
	for _, id := range txids {
		out[id] = f.txs[id]
	}
	return out, nil
}

// Name implements chain.Backend.
func (f *Fake) Name() string { return f.name }

// Watch implements chain.Backend.
func (f *Fake) Watch(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		f.watch[a] = true
	}
}

// Unwatch implements chain.Backend.
func (f *Fake) Unwatch(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		delete(f.watch, a)
	}
}

// Watched reports whether addr is watched.
func (f *Fake) Watched(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watch[addr]
}

// Recent returns the recent blocks the last Run was started with.
func (f *Fake) Recent() []chain.BlockRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recent
}

// Run implements chain.Backend: it delivers the events given to Send.
func (f *Fake) Run(ctx context.Context, recent []chain.BlockRef, out chan<- chain.Event) error {
	f.mu.Lock()
	f.recent, f.runs = recent, f.runs+1
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-f.script:
			ev.Chain = f.name
			for i := range ev.Transfers {
				ev.Transfers[i].Chain = f.name
			}
			if ev.Type == chain.BlockConnected {
				f.mu.Lock()
				f.tip = ev.Block
				f.mu.Unlock()
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Send hands ev to Run (blocking until Run takes it or ctx ends).
func (f *Fake) Send(ctx context.Context, ev chain.Event) error {
	select {
	case f.script <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetTip sets the tip the fake node reports (as if blocks were mined while
// nobody followed it).
func (f *Fake) SetTip(b chain.BlockRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tip = b
}

// Tip implements chain.Backend.
func (f *Fake) Tip(context.Context) (chain.BlockRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tip, nil
}

// Status implements chain.Backend.
func (f *Fake) Status() chain.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return chain.Status{Ready: true, TipHeight: f.tip.Height, Processed: f.tip.Height}
}
