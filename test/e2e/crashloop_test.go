package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/webhook"
)

const hookSecret = "whsec_reliability_suite_0123456789"

// hookReceiver is a local webhook endpoint that counts deliveries per event
// id and checks every signature.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    map[string]int // event id → deliveries
	badSig int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(hookSecret, req.Header.Get("Payd-Signature"), body, time.Now(), 0); err != nil {
			r.badSig++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.got[req.Header.Get("Payd-Event-Id")]++
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// yaml is the webhooks section pointing at the receiver, with short retries.
func (r *hookReceiver) yaml() string {
	return fmt.Sprintf(`webhooks:
  allow_private: true
  timeout: 5s
  retry_schedule: [200ms, 500ms, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]
  endpoints:
    - url: %s/hook
      secret: %s
      events: ["*"]
`, r.srv.URL, hookSecret)
}

// missing returns the ids not delivered yet, and the number of deliveries
// beyond the first (duplicates).
func (r *hookReceiver) missing(ids []string) (missing []string, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.got[id] == 0 {
			missing = append(missing, id)
		}
	}
	for _, n := range r.got {
		if n > 1 {
			dups += n - 1
		}
	}
	return missing, dups
}

// allInvoices lists every invoice through the API (all pages).
func (e *env) allInvoices() map[string]invoice.View {
	e.t.Helper()
	out := map[string]invoice.View{}
	after := ""
	for {
		page, err := e.c.ListInvoices(context.Background(), client.ListParams{Limit: 200, StartingAfter: after})
		if err != nil {
			e.t.Fatalf("list invoices: %v", err)
		}
		for _, v := range page.Data {
			out[v.ID] = v
			after = v.ID
		}
		if !page.HasMore || len(page.Data) == 0 {
			return out
		}
	}
}

// allEvents lists every event through the API, oldest first.
func (e *env) allEvents() []invoice.EventBody {
	e.t.Helper()
	var out []invoice.EventBody
	after := ""
	for {
		page, more, err := e.c.ListEvents(context.Background(), after, 200)
		if err != nil {
			e.t.Fatalf("list events: %v", err)
		}
		out = append(out, page...)
		if len(page) > 0 {
			after = page[len(page)-1].ID
		}
		if !more || len(page) == 0 {
			return out
		}
	}
}

// violations checks the invariants that must hold at any moment, whatever
// crashed before: every invoice that got a 201 exists, no payment is
// recorded twice, none is seen before its invoice was created, no invoice is
// settled twice without a reorg in between, and the database is sound. It returns one line per violation.
func (e *env) violations(created map[string]bool) []string {
	e.t.Helper()
	var bad []string
	invs := e.allInvoices()
	for id := range created {
		if _, ok := invs[id]; !ok {
			bad = append(bad, "invoice "+id+" got a 201 but does not exist")
		}
	}
	for id, v := range invs {
		seen := map[string]bool{}
		for _, p := range v.Payments {
			k := p.TxID + ":" + strconv.FormatUint(uint64(p.OutputIndex), 10)
			if seen[k] {
				bad = append(bad, fmt.Sprintf("invoice %s records payment %s twice", id, k))
			}
			seen[k] = true
			// Nothing can pay an address before the invoice made it.
			if p.SeenAt < v.CreatedAt {
				bad = append(bad, fmt.Sprintf("invoice %s created %s has payment %s seen at %s", id, v.CreatedAt, k, p.SeenAt))
			}
		}
	}
	settledSinceReorg := map[string]bool{}
	for _, ev := range e.allEvents() {
		id := ev.Invoice.ID
		// A status event carries the invoice in that status (docs/webhooks.md).
		if st, ok := ev.Type.StatusOf(); ok && st != ev.Invoice.Status {
			bad = append(bad, fmt.Sprintf("event %s %s of invoice %s carries status %s", ev.ID, ev.Type, id, ev.Invoice.Status))
		}
		switch ev.Type {
		case invoice.EventSettled:
			if settledSinceReorg[id] {
				bad = append(bad, fmt.Sprintf("invoice %s settled twice without a reorg (event %s)", id, ev.ID))
			}
			settledSinceReorg[id] = true
		case invoice.EventPaymentReorged:
			settledSinceReorg[id] = false
		}
	}
	if r := integrityCheck(e.t, e.payd); r != "ok" {
		bad = append(bad, "integrity_check: "+r)
	}
	return bad
}

// crashPaid is an invoice the crash loop paid in full.
type crashPaid struct {
	id     string
	method string
}

// TestCrashLoop kills payd with SIGKILL at random moments while invoices are
// created over the API, paid on btcd and anvil, mined and delivered by
// webhook, and checks the invariants after every restart; at the end every
// paid invoice must be settled exactly as without crashes, and every event
// delivered at least once. PAYD_CRASH_ITERATIONS overrides the 50 rounds.
func TestCrashLoop(t *testing.T) {
	iterations := 50
	if s := os.Getenv("PAYD_CRASH_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PAYD_CRASH_ITERATIONS=%q", s)
		}
		iterations = n
	}
	t.Setenv("PAYD_SERVER_API_RATE_LIMIT", "10000")
	stack := testnode.StartStack(t)
	hooks := newHookReceiver(t)
	e := newEnv(t, stack, testnode.PaydOptions{ExtraYAML: hooks.yaml()})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	start := time.Now()

	var (
		mu      sync.Mutex
		got201  = map[string]bool{}               // got a 201
		methods = map[string]invoice.MethodView{} // id → its one method
		order   []string                          // created ids, oldest first
	)
	paid := map[string]crashPaid{}
	var lastCreateErr error
	var faults, violations, restarts int
	var restartTotal time.Duration

	createLoop := func(stop <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req := client.CreateInvoiceRequest{Amount: "0.0001", Currency: "BTC", Methods: []string{"bitcoin/btc"}}
			if i%2 == 1 {
				req = client.CreateInvoiceRequest{Amount: "1.00", Currency: "USD", Methods: []string{"ethereum/usdc"}}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := e.c.CreateInvoice(ctx, req, "")
			cancel()
			if err != nil {
				mu.Lock()
				lastCreateErr = err
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			mu.Lock()
			got201[v.ID] = true
			methods[v.ID] = v.Methods[0]
			order = append(order, v.ID)
			mu.Unlock()
		}
	}
	pay := func(n int) {
		mu.Lock()
		var todo []string
		for _, id := range order {
			if _, ok := paid[id]; !ok && len(todo) < n {
				todo = append(todo, id)
			}
		}
		mu.Unlock()
		for _, id := range todo {
			mu.Lock()
			m := methods[id]
			mu.Unlock()
			if m.Method == "bitcoin/btc" {
				stack.BTC.Pay(m.Address, 10_000, false)
			} else {
				stack.EVM.TransferToken(stack.USDC, m.Address, big.NewInt(1_000_000))
			}
			paid[id] = crashPaid{id: id, method: m.Method}
		}
	}
	mine := func() {
		stack.BTC.Generate(1)
		stack.EVM.Mine(1)
	}

	for i := 0; i < iterations; i++ {
		stop, done := make(chan struct{}), make(chan struct{})
		go createLoop(stop, done)
		// Work while payd is up, in a random order, then crash at a random moment.
		for _, step := range rng.Perm(3) {
			switch step {
			case 0:
				pay(1 + rng.IntN(2))
			case 1:
				if rng.IntN(2) == 0 {
					mine()
				}
			}
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		e.payd.Kill()
		faults++
		close(stop)
		<-done
		// Sometimes the chains move while payd is down.
		if rng.IntN(3) == 0 {
			pay(1)
			mine()
		}
		t0 := time.Now()
		e.payd.Start()
		restartTotal += time.Since(t0)
		restarts++
		mu.Lock()
		snapshot := maps.Clone(got201)
		mu.Unlock()
		if bad := e.violations(snapshot); len(bad) > 0 {
			violations += len(bad)
			t.Errorf("after crash %d: %s", i+1, strings.Join(bad, "\n"))
		}
	}
	loop := time.Since(start)
	if len(got201) < iterations || len(paid) < iterations/2 {
		t.Fatalf("the load did not run: %d invoices created, %d paid; last create error: %v\n%s", len(got201), len(paid), lastCreateErr, e.payd.Tail(20))
	}

	// No more crashes: mine, and everything must settle and be delivered.
	mine()
	mine()
	deadline := time.Now().Add(60 * time.Second)
	var final map[string]invoice.View
	for {
		final = e.allInvoices()
		pending := 0
		for id := range paid {
			if final[id].Status != invoice.StatusSettled {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d paid invoices not settled after 60s\n%s", pending, e.payd.Tail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The final state equals a run without crashes: paid → settled with one
	// confirmed payment of the exact amount and each lifecycle event once;
	// unpaid → new, nothing paid, only invoice.created.
	events := e.allEvents()
	types := map[string][]string{}
	var ids []string
	for _, ev := range events {
		types[ev.Invoice.ID] = append(types[ev.Invoice.ID], string(ev.Type))
		ids = append(ids, ev.ID)
	}
	// invoice.processing appears only when payd saw the payment unconfirmed:
	// a transfer mined at once (anvil) or paid and mined while payd was down
	// goes new → settled in one commit and emits no processing
	// (docs/webhooks.md), so a paid invoice has either set, each event once.
	paidEvents := []string{string(created), string(confirmed), string(received), string(process), string(settled)}
	slices.Sort(paidEvents)
	paidDirect := slices.DeleteFunc(slices.Clone(paidEvents), func(s string) bool { return s == string(process) })
	for id, v := range final {
		got := slices.Clone(types[id])
		slices.Sort(got)
		if _, ok := paid[id]; ok {
			if v.Status != invoice.StatusSettled || v.Exception != nil || v.AmountPaid != v.Amount ||
				len(v.Payments) != 1 || v.Payments[0].Status != invoice.PaymentConfirmed {
				t.Errorf("paid invoice %s ends as %s (exception %v) paid %s of %s, payments %+v", id, v.Status, v.Exception, v.AmountPaid, v.Amount, v.Payments)
				violations++
			}
			if !slices.Equal(got, paidEvents) && !slices.Equal(got, paidDirect) {
				t.Errorf("paid invoice %s has events %v, want each of %v once (processing optional)", id, types[id], paidEvents)
				violations++
			}
			continue
		}
		if v.Status != invoice.StatusNew || v.Exception != nil || len(v.Payments) != 0 {
			t.Errorf("unpaid invoice %s ends as %s (exception %v), payments %+v", id, v.Status, v.Exception, v.Payments)
			violations++
		}
		if !slices.Equal(got, []string{string(created)}) {
			t.Errorf("unpaid invoice %s has events %v", id, types[id])
			violations++
		}
	}
	if bad := e.violations(maps.Clone(got201)); len(bad) > 0 {
		violations += len(bad)
		t.Errorf("at the end: %s", strings.Join(bad, "\n"))
	}
	// Every event listed was delivered at least once.
	var missing []string
	var dups int
	deadline = time.Now().Add(60 * time.Second)
	for {
		missing, dups = hooks.missing(ids)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		violations += len(missing)
		t.Errorf("%d of %d events never delivered, e.g. %v", len(missing), len(ids), missing[:min(5, len(missing))])
	}
	hooks.mu.Lock()
	badSig := hooks.badSig
	hooks.mu.Unlock()
	if badSig > 0 {
		violations += badSig
		t.Errorf("%d deliveries with a bad signature", badSig)
	}
	t.Logf("crash loop: %d kills, %d restarts (mean restart-to-ready %s), %d invoices got a 201 (%d listed), %d paid, %d events, %d duplicate deliveries, %d invariant violations; loop %s, total %s",
		faults, restarts, (restartTotal / time.Duration(max(restarts, 1))).Round(time.Millisecond),
		len(got201), len(final), len(paid), len(ids), dups, violations, loop.Round(time.Second), time.Since(start).Round(time.Second))
}
