package watcher

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/chain/chaintest"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func newClock(t time.Time) *clock    { return &clock{t: t} }
func bref(h uint64, tag string) chain.BlockRef {
	return chain.BlockRef{Height: h, Hash: fmt.Sprintf("%s%d", tag, h), Parent: fmt.Sprintf("%s%d", tag, h-1)}
}

type env struct {
	t      *testing.T
	db     *store.DB
	fake   *chaintest.Fake
	clk    *clock
	w      *Watcher
	x      *Expirer
	mu     sync.Mutex
	events []invoice.Event
	notify chan struct{}
	cancel context.CancelFunc
	done   chan error
	idx    uint32
}

var t0 = time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, path string) *env {
	t.Helper()
	ctx := context.Background()
	if path == "" {
		path = filepath.Join(t.TempDir(), "p.db")
	}
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, fake: chaintest.New("bitcoin"), clk: newClock(t0), notify: make(chan struct{}, 100)}
	notify := func(evs []invoice.Event) {
		e.mu.Lock()
		e.events = append(e.events, evs...)
		e.mu.Unlock()
		e.notify <- struct{}{}
	}
	e.w = New(Config{MonitoringWindow: 24 * time.Hour, SweepInterval: time.Hour}, Deps{DB: db, Backend: e.fake, Notify: notify, Now: e.clk.Now})
	e.x = NewExpirer(24*time.Hour, invoice.ViewOptions{}, ExpirerDeps{DB: db, Notify: notify, Now: e.clk.Now})
	return e
}

func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.w.Run(ctx) }()
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

// send delivers a chain event and waits until the watcher committed it: the
// next event sent is taken only after the previous one was handled, so a
// no-op block after it flushes.
func (e *env) send(ev chain.Event) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.fake.Send(ctx, ev); err != nil {
		e.t.Fatal(err)
	}
}

// sync waits for every event sent so far to be handled.
func (e *env) sync() {
	e.t.Helper()
	// The watcher reads the next event only after handling the previous;
	// a replacement of an unknown tx is a no-op that proves it.
	e.send(chain.Event{Type: chain.TxReplaced, TxID: "sync", ReplacedBy: "sync"})
	e.send(chain.Event{Type: chain.TxReplaced, TxID: "sync", ReplacedBy: "sync"})
}

func (e *env) create(id, addr string, sats int64, required int) *invoice.Invoice {
	e.t.Helper()
	inv := &invoice.Invoice{ID: id, Status: invoice.StatusNew, Amount: big.NewInt(sats), Currency: invoice.BTC,
		CreatedAt: e.clk.Now(), ExpiresAt: e.clk.Now().Add(15 * time.Minute), MonitorUntil: e.clk.Now().Add(24*time.Hour + 15*time.Minute), Sequence: 1,
		Methods: []invoice.Method{{Method: "bitcoin/btc", Chain: "bitcoin", Kind: invoice.KindBitcoin, Asset: invoice.BTC, Address: addr,
			DeriveIdx: e.nextIdx(), AmountDue: big.NewInt(sats), Rate: "1", ConfirmationsRequired: required}}}
	ctx := context.Background()
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.InsertInvoice(ctx, inv) }); err != nil {
		e.t.Fatal(err)
	}
	e.fake.Watch(addr)
	return inv
}

func (e *env) nextIdx() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.idx++
	return e.idx
}

func (e *env) inv(id string) *invoice.Invoice {
	e.t.Helper()
	inv, err := e.db.Invoice(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

func (e *env) types(id string) []invoice.EventType {
	evs, err := e.db.InvoiceEvents(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []invoice.EventType
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func tr(addr, txid string, vout uint32, sats int64, blk *chain.BlockRef) chain.Transfer {
	return chain.Transfer{Asset: "BTC", TxID: txid, Index: vout, Address: addr, Amount: big.NewInt(sats), Block: blk}
}

func mempool(trs ...chain.Transfer) chain.Event {
	return chain.Event{Type: chain.MempoolTransfers, Transfers: trs}
}

func block(b chain.BlockRef, trs ...chain.Transfer) chain.Event {
	for i := range trs {
		trs[i].Block = &b
	}
	return chain.Event{Type: chain.BlockConnected, Block: b, Transfers: trs}
}

func (e *env) check(id string, st invoice.Status, ex invoice.Exception, types ...invoice.EventType) {
	e.t.Helper()
	inv := e.inv(id)
	if inv.Status != st || inv.Exception != ex {
		e.t.Fatalf("%s is %s/%q, want %s/%q", id, inv.Status, inv.Exception, st, ex)
	}
	if got := e.types(id); !slices.Equal(got, types) {
		e.t.Fatalf("%s events %v, want %v", id, got, types)
	}
}

const (
	recv    = invoice.EventPaymentReceived
	conf    = invoice.EventPaymentConfirmed
	reorged = invoice.EventPaymentReorged
	proc    = invoice.EventProcessing
	settled = invoice.EventSettled
	expired = invoice.EventExpired
)

func TestExactPaymentMempoolThenBlocks(t *testing.T) {
	e := newEnv(t, "")
	e.create("inv_a", "addr-a", 100_000, 2)
	e.start()
	e.send(block(bref(100, "m")))
	e.send(mempool(tr("addr-a", "tx1", 0, 100_000, nil)))
	e.send(mempool(tr("addr-a", "tx1", 0, 100_000, nil))) // duplicate notification
	e.sync()
	e.check("inv_a", invoice.StatusProcessing, "", recv, proc)
	e.send(block(bref(101, "m"), tr("addr-a", "tx1", 0, 100_000, nil)))
	e.sync()
	inv := e.inv("inv_a")
	if p := inv.Payments[0]; p.Confirmations != 1 || p.Status != invoice.PaymentPending || p.BlockHeight != 101 {
		t.Fatalf("payment after 1 block: %+v", p)
	}
	e.send(block(bref(102, "m")))
	e.sync()
	e.check("inv_a", invoice.StatusSettled, "", recv, proc, conf, settled)
	inv = e.inv("inv_a")
	if len(inv.Payments) != 1 || inv.Payments[0].Confirmations != 2 || inv.SettledAt == nil || inv.Sequence < 4 {
		t.Fatalf("settled invoice: %+v", inv)
	}
	// Reorg: both blocks leave, the tx comes back in the mempool, then is mined again.
	e.send(chain.Event{Type: chain.BlockDisconnected, Block: bref(102, "m")})
	e.send(chain.Event{Type: chain.BlockDisconnected, Block: bref(101, "m")})
	e.sync()
	// Losing block 102 drops a confirmation (settled → processing); losing
	// block 101 orphans the payment (→ new, payment_reorged).
	e.check("inv_a", invoice.StatusNew, "", recv, proc, conf, settled, proc, reorged)
	if p := e.inv("inv_a").Payments[0]; p.Status != invoice.PaymentOrphaned {
		t.Fatalf("payment after reorg: %+v", p)
	}
	e.send(mempool(tr("addr-a", "tx1", 0, 100_000, nil)))
	e.send(block(bref(101, "n"), tr("addr-a", "tx1", 0, 100_000, nil)))
	e.send(block(bref(102, "n")))
	e.sync()
	e.check("inv_a", invoice.StatusSettled, "", recv, proc, conf, settled, proc, reorged, proc, conf, settled)
	if recent, _ := e.db.RecentBlocks(context.Background(), "bitcoin", 10); len(recent) != 3 || recent[2].Hash != "n102" {
		t.Fatalf("cursor = %v", recent)
	}
}

// checkSnapshots asserts that every status event stored carries the invoice
// in that status, and that sequences never go down within an invoice.
func (e *env) checkSnapshots() {
	e.t.Helper()
	evs, err := e.db.EventsAfter(context.Background(), 0, 10_000)
	if err != nil {
		e.t.Fatal(err)
	}
	seq := map[string]int64{}
	for _, ev := range evs {
		var body struct {
			Invoice struct {
				Status   invoice.Status `json:"status"`
				Sequence int64          `json:"sequence"`
			} `json:"invoice"`
		}
		if err := json.Unmarshal(ev.Payload, &body); err != nil {
			e.t.Fatal(err)
		}
		if st, ok := ev.Type.StatusOf(); ok && st != body.Invoice.Status {
			e.t.Errorf("event %s %s carries the invoice in status %s", ev.InvoiceID, ev.Type, body.Invoice.Status)
		}
		if body.Invoice.Sequence < seq[ev.InvoiceID] {
			e.t.Errorf("event %s %s: sequence %d after %d", ev.InvoiceID, ev.Type, body.Invoice.Sequence, seq[ev.InvoiceID])
		}
		seq[ev.InvoiceID] = body.Invoice.Sequence
	}
}

// payloadStatus returns the status in the payload of id's last event of type typ.
func (e *env) payloadStatus(id string, typ invoice.EventType) invoice.Status {
	e.t.Helper()
	evs, err := e.db.InvoiceEvents(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != typ {
			continue
		}
		var body struct {
			Invoice struct {
				Status invoice.Status `json:"status"`
			} `json:"invoice"`
		}
		if err := json.Unmarshal(evs[i].Payload, &body); err != nil {
			e.t.Fatal(err)
		}
		return body.Invoice.Status
	}
	e.t.Fatalf("%s has no %s event", id, typ)
	return ""
}

// TestReorgAsksTheNode disconnects the block of a settled payment with the
// node answering, in the same step, that the transaction is back in its
// mempool, already in the new branch, gone, or not answering at all.
func TestReorgAsksTheNode(t *testing.T) {
	tests := []struct {
		name     string
		state    chain.TxState
		nodeErr  error
		status   invoice.Status // after the disconnect
		payment  invoice.PaymentStatus
		events   []invoice.EventType // after the disconnect
		remined  []invoice.EventType // after the tx is mined again in n101
		failsRun bool
	}{
		{name: "back in the mempool", state: chain.TxInMempool, status: invoice.StatusProcessing, payment: invoice.PaymentPending,
			events: []invoice.EventType{reorged, proc}, remined: []invoice.EventType{reorged, proc, conf, settled}},
		{name: "already in the new branch", state: chain.TxMined, status: invoice.StatusProcessing, payment: invoice.PaymentPending,
			events: []invoice.EventType{reorged, proc}, remined: []invoice.EventType{reorged, proc, conf, settled}},
		{name: "gone from the node", state: chain.TxUnknown, status: invoice.StatusNew, payment: invoice.PaymentOrphaned,
			events: []invoice.EventType{reorged}, remined: []invoice.EventType{reorged, proc, conf, settled}},
		{name: "node does not answer", nodeErr: fmt.Errorf("connection refused"), status: invoice.StatusSettled,
			payment: invoice.PaymentConfirmed, failsRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.create("inv_a", "addr-a", 100_000, 1)
			e.start()
			e.send(block(bref(100, "m")))
			e.send(block(bref(101, "m"), tr("addr-a", "tx1", 0, 100_000, nil)))
			e.sync()
			e.check("inv_a", invoice.StatusSettled, "", recv, conf, settled)
			before := e.types("inv_a")

			e.fake.SetTxState("tx1", tt.state)
			e.fake.SetTxError(tt.nodeErr)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := e.fake.Send(ctx, chain.Event{Type: chain.BlockDisconnected, Block: bref(101, "m")}); err != nil {
				t.Fatal(err)
			}
			if tt.failsRun {
				select {
				case err := <-e.done:
					if err == nil {
						t.Fatal("Run returned nil, want the node's error")
					}
					e.cancel = nil
				case <-ctx.Done():
					t.Fatal("Run did not fail")
				}
				// Nothing was committed: the block is still payd's tip.
				e.check("inv_a", tt.status, "", before...)
				if recent, _ := e.db.RecentBlocks(context.Background(), "bitcoin", 10); recent[len(recent)-1].Hash != "m101" {
					t.Fatalf("cursor moved to %v", recent)
				}
				return
			}
			e.sync()
			e.check("inv_a", tt.status, "", append(before, tt.events...)...)
			p := e.inv("inv_a").Payments[0]
			if p.Status != tt.payment || p.BlockHeight != 0 || p.BlockHash != "" || p.Confirmations != 0 {
				t.Fatalf("payment after the disconnect: %+v", p)
			}
			if got := e.payloadStatus("inv_a", reorged); got != tt.status {
				t.Fatalf("payment_reorged carries the invoice %s, want %s", got, tt.status)
			}
			// Mined again (the mempool poll may come before or after).
			e.send(mempool(tr("addr-a", "tx1", 0, 100_000, nil)))
			e.send(block(bref(101, "n"), tr("addr-a", "tx1", 0, 100_000, nil)))
			e.sync()
			e.check("inv_a", invoice.StatusSettled, "", append(before, tt.remined...)...)
			e.checkSnapshots()
		})
	}
}

func TestPartialTopUpOverpaidAndMismatch(t *testing.T) {
	e := newEnv(t, "")
	e.create("inv_p", "addr-p", 100_000, 1)
	e.create("inv_o", "addr-o", 100_000, 1)
	e.start()
	e.send(block(bref(10, "m")))
	e.send(mempool(tr("addr-p", "t1", 0, 40_000, nil)))
	e.sync()
	e.check("inv_p", invoice.StatusNew, invoice.ExceptionUnderpaid, recv)
	e.send(block(bref(11, "m"), tr("addr-p", "t1", 0, 40_000, nil), tr("addr-p", "t2", 1, 60_000, nil),
		tr("addr-o", "t3", 0, 150_000, nil),
		chain.Transfer{Asset: "USDT", Token: "0xdAC17F958D2ee523a2206206994597C13D831ec7", TxID: "t4", Address: "addr-o", Amount: big.NewInt(5)},
		tr("addr-o", "t5", 0, 0, nil), // zero value: ignored
		tr("addr-unknown", "t6", 0, 1, nil),
	))
	e.sync()
	// new → settled in one block: no processing event (the invoice never
	// was processing at a commit).
	e.check("inv_p", invoice.StatusSettled, "", recv, recv, conf, settled)
	e.check("inv_o", invoice.StatusSettled, invoice.ExceptionOverpaid, recv, conf, settled)
	e.checkSnapshots()
	if n := len(e.inv("inv_o").Payments); n != 1 {
		t.Fatalf("inv_o has %d payments, want 1 (token not asked for and zero value not counted)", n)
	}
}

func TestReplacedPayment(t *testing.T) {
	e := newEnv(t, "")
	e.create("inv_r", "addr-r", 100_000, 1)
	e.start()
	e.send(block(bref(10, "m")))
	rbf := tr("addr-r", "t1", 0, 100_000, nil)
	rbf.RBF = true
	e.send(mempool(rbf))
	e.send(chain.Event{Type: chain.TxReplaced, TxID: "t1", ReplacedBy: "t2"})
	e.sync()
	e.check("inv_r", invoice.StatusNew, "", recv, proc, reorged)
	if p := e.inv("inv_r").Payments[0]; p.Status != invoice.PaymentReplaced {
		t.Fatalf("payment: %+v", p)
	}
}

func TestZeroConfAndRBF(t *testing.T) {
	e := newEnv(t, "")
	e.create("inv_z", "addr-z", 100_000, 0)
	e.create("inv_y", "addr-y", 100_000, 0)
	e.start()
	e.send(block(bref(10, "m")))
	rbf := tr("addr-y", "t2", 0, 100_000, nil)
	rbf.RBF = true
	e.send(mempool(tr("addr-z", "t1", 0, 100_000, nil), rbf))
	e.sync()
	e.check("inv_z", invoice.StatusSettled, "", recv, conf, settled)
	e.check("inv_y", invoice.StatusProcessing, "", recv, proc) // RBF needs a block even at 0 confirmations
	e.send(block(bref(11, "m"), rbf))
	e.sync()
	e.check("inv_y", invoice.StatusSettled, "", recv, proc, conf, settled)
}

func TestExpiryLatePaymentAndCatchUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	e := newEnv(t, path)
	e.create("inv_l", "addr-l", 100_000, 1)
	e.create("inv_c", "addr-c", 100_000, 1)
	e.start()
	e.send(block(bref(10, "m")))
	e.sync()
	// Time passes; the expirer expires both at expires_at.
	e.clk.Add(16 * time.Minute)
	if err := e.x.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.check("inv_l", invoice.StatusExpired, "", expired)
	// A late full payment: still expired, with paid_late; watching continues.
	e.send(block(bref(11, "m"), tr("addr-l", "t1", 0, 100_000, nil)))
	e.sync()
	e.check("inv_l", invoice.StatusExpired, invoice.ExceptionPaidLate, expired, recv, conf)
	if !e.fake.Watched("addr-l") {
		t.Fatal("late payment address no longer watched")
	}
	// payd was down: on restart it catches up a block mined before expiry
	// that pays inv_c: the payment was on time.
	e.stop()
	onTime := bref(12, "m")
	onTime.Time = t0.Add(10 * time.Minute)
	e.fake.SetTip(onTime) // mined while payd was down
	e.start()
	e.send(block(onTime, tr("addr-c", "t2", 0, 100_000, nil)))
	if r := e.fake.Recent(); len(r) != 2 || r[1].Hash != "m11" {
		t.Fatalf("resumed from %v", r)
	}
	e.sync()
	e.check("inv_c", invoice.StatusSettled, "", expired, recv, conf, settled)
	e.checkSnapshots()
}

func TestExpirerWaitsForNextDeadline(t *testing.T) {
	e := newEnv(t, "")
	e.clk.Set(time.Now().UTC().Truncate(time.Second))
	inv := e.create("inv_x", "addr-x", 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.x.Run(ctx)
	// Move the deadline to 2 s from now and wake the expirer.
	inv.ExpiresAt = time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.SaveInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	e.x.Wake()
	e.clk.Set(inv.ExpiresAt)
	select {
	case <-e.notify:
	case <-time.After(5 * time.Second):
		t.Fatal("not expired within 5 s of its deadline")
	}
	e.check("inv_x", invoice.StatusExpired, "", expired)
}

// TestExpirerNotStarvedByWakes wakes the expirer every millisecond (as
// commits under load do) across an invoice's deadline: the wakes only make it
// re-read the next deadline, and the invoice still expires.
func TestExpirerNotStarvedByWakes(t *testing.T) {
	e := newEnv(t, "")
	e.clk.Set(time.Now().UTC().Truncate(time.Second))
	inv := e.create("inv_w", "addr-w", 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inv.ExpiresAt = e.clk.Now().Add(time.Second)
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.SaveInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	go e.x.Run(ctx)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				e.x.Wake()
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	e.clk.Set(inv.ExpiresAt)
	select {
	case <-e.notify:
	case <-time.After(5 * time.Second):
		t.Fatal("not expired while woken every millisecond")
	}
	e.check("inv_w", invoice.StatusExpired, "", expired)
}
