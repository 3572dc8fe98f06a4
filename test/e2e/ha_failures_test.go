package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/api"
	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// The failures of docs/production.md's high-availability table, on real
// PostgreSQL with btcd regtest and anvil: three instances (and kill -9 of
// the leader mid-block), the database restarted under load, and a network
// cut between one instance and the database.

// readiness is /readyz's body.
type readiness struct {
	Status   string              `json:"status"`
	Reasons  []string            `json:"reasons"`
	Database *api.DatabaseHealth `json:"database"`
	Instance *api.InstanceHealth `json:"instance"`
}

// readyzClient bounds every /readyz and /metrics call: an instance cut off
// from its database must still answer its health check.
var readyzClient = &http.Client{Timeout: 5 * time.Second}

// readyz reads p's /readyz (an error when it does not answer in 5 s).
func readyz(p *testnode.Payd) (int, readiness, error) {
	resp, err := readyzClient.Get(p.URL + "/readyz")
	if err != nil {
		return 0, readiness{}, err
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return resp.StatusCode, r, fmt.Errorf("readyz body: %w", err)
	}
	return resp.StatusCode, r, nil
}

// scrapeMetrics reads p's /metrics.
func scrapeMetrics(p *testnode.Payd) (string, error) {
	resp, err := readyzClient.Get(p.URL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// webhookAttempts is the sum of p's payd_webhook_deliveries_total.
func webhookAttempts(t *testing.T, p *testnode.Payd) int {
	t.Helper()
	out, err := scrapeMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "payd_webhook_deliveries_total{") {
			v, err := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			n += v
		}
	}
	return n
}

// eventually polls cond until it holds, failing the test after timeout with
// cond's last explanation; it returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// haChains are the chains of the stack every instance follows.
var haChains = []string{"bitcoin", "ethereum"}

// leadsAll: p's /readyz answers 200 and p leads every chain in chains.
func leadsAll(p *testnode.Payd, chains ...string) (bool, string) {
	st, r, err := readyz(p)
	if err != nil || r.Instance == nil {
		return false, fmt.Sprintf("readyz %d %+v %v", st, r, err)
	}
	got := slices.Clone(r.Instance.Leads)
	sort.Strings(got)
	return st == 200 && slices.Equal(got, chains), fmt.Sprintf("readyz %d, leads %v, reasons %v", st, got, r.Reasons)
}

// startInstances starts one payd per database URL, all on one wallet, one
// API key and one webhook endpoint; the first starts alone, so it holds
// every lease when the others come up.
func startInstances(t *testing.T, stack *testnode.Stack, hooks *hookReceiver, urls ...string) []*env {
	t.Helper()
	var envs []*env
	for i, u := range urls {
		o := testnode.PaydOptions{PostgresURL: u, ExtraYAML: hooks.yaml()}
		if i > 0 {
			o.BTCKey, o.EVMKey, o.APIKey = envs[0].payd.BTCKey, envs[0].payd.EVMKey, envs[0].payd.APIKey
		}
		envs = append(envs, newEnv(t, stack, o))
		if i == 0 {
			eventually(t, 30*time.Second, "the first instance leads every chain", func() (bool, string) {
				return leadsAll(envs[0].payd, haChains...)
			})
		}
	}
	return envs
}

// payment is an invoice and what was sent to it.
type payment struct {
	id       string
	method   string
	sent     *big.Int
	decimals int
}

// payKinds are the payments the HA tests make in turn: bitcoin (in the
// mempool until a block is mined), native ETH and the token (mined at once
// by anvil).
var payKinds = []struct {
	method   string
	req      client.CreateInvoiceRequest
	decimals int
}{
	{"bitcoin/btc", client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}}, 8},
	{"ethereum/eth", client.CreateInvoiceRequest{Amount: "0.01", Currency: "ETH", Methods: []string{"ethereum/eth"}}, 18},
	{"ethereum/usdc", client.CreateInvoiceRequest{Amount: "5.00", Currency: "USD", Methods: []string{"ethereum/usdc"}}, 6},
}

// create makes invoice number i (its kind is i mod 3) through e.
func (e *env) createKind(i int) *invoice.View {
	e.t.Helper()
	return e.create(payKinds[i%len(payKinds)].req)
}

// pay sends the invoice's full amount due on its one method.
func (e *env) pay(v *invoice.View) payment {
	e.t.Helper()
	m := v.Methods[0]
	var dec int
	for _, k := range payKinds {
		if k.method == m.Method {
			dec = k.decimals
		}
	}
	due := units(e.t, m.AmountDue, dec)
	switch m.Method {
	case "bitcoin/btc":
		e.stack.BTC.Pay(m.Address, due.Int64(), false)
	case "ethereum/eth":
		e.stack.EVM.SendETH(m.Address, due)
	case "ethereum/usdc":
		e.stack.EVM.TransferToken(e.stack.USDC, m.Address, due)
	default:
		e.t.Fatalf("no way to pay %s", m.Method)
	}
	return payment{id: v.ID, method: m.Method, sent: due, decimals: dec}
}

// checkSettledOnce checks, through e, that every paid invoice settled once
// (one invoice.settled event, one payment, received exactly what was sent)
// and that each invoice.settled reached the receiver at least once.
func checkSettledOnce(t *testing.T, envs []*env, hooks *hookReceiver, paid []payment) {
	t.Helper()
	for i, p := range paid {
		e := envs[(i+1)%len(envs)].sub(t) // through another instance than most
		v := e.wait(p.id, invoice.StatusSettled, "", 60*time.Second)
		if len(v.Payments) != 1 {
			t.Errorf("invoice %s has %d payments, want 1: %+v", p.id, len(v.Payments), v.Payments)
		}
		if got := units(t, method(t, v, p.method).AmountReceived, p.decimals); got.Cmp(p.sent) != 0 {
			t.Errorf("invoice %s received %s base units, sent %s", p.id, got, p.sent)
		}
	}
	settled := map[string][]string{} // invoice → its invoice.settled event ids
	for _, ev := range envs[0].sub(t).allEvents() {
		if ev.Type == invoice.EventSettled {
			settled[ev.Invoice.ID] = append(settled[ev.Invoice.ID], ev.ID)
		}
	}
	var ids []string
	for _, p := range paid {
		if n := len(settled[p.id]); n != 1 {
			t.Errorf("invoice %s has %d invoice.settled events, want 1", p.id, n)
		}
		ids = append(ids, settled[p.id]...)
	}
	eventually(t, 60*time.Second, "every invoice.settled delivered", func() (bool, string) {
		missing, dups := hooks.missing(ids)
		return len(missing) == 0, fmt.Sprintf("%d of %d not delivered (%d duplicate deliveries)", len(missing), len(ids), dups)
	})
	if _, dups := hooks.missing(nil); dups > 0 {
		t.Logf("%d duplicate webhook deliveries (at-least-once)", dups)
	}
}

// checkOneLeader checks, from every instance's /readyz, that each chain is
// led by exactly one instance and that they agree on who.
func checkOneLeader(t *testing.T, envs []*env) {
	t.Helper()
	leader := map[string]string{}
	ids := map[string]bool{}
	var leaders map[string]string
	for _, e := range envs {
		st, r, err := readyz(e.payd)
		if err != nil || st != 200 || r.Instance == nil || r.Database == nil {
			t.Fatalf("readyz %d %+v %v", st, r, err)
		}
		if !r.Database.Reachable || r.Database.Driver != "postgres" {
			t.Errorf("database %+v", *r.Database)
		}
		if ids[r.Instance.ID] {
			t.Errorf("two instances with id %s", r.Instance.ID)
		}
		ids[r.Instance.ID] = true
		for _, c := range r.Instance.Leads {
			if leader[c] != "" {
				t.Errorf("chain %s led by %s and %s", c, leader[c], r.Instance.ID)
			}
			leader[c] = r.Instance.ID
		}
		for _, l := range r.Instance.Leases {
			if l.AgeSeconds < 0 || l.AgeSeconds > 10 || l.Token < 1 {
				t.Errorf("lease %+v", l)
			}
		}
		if leaders == nil {
			leaders = r.Instance.Leaders
		}
		for _, c := range haChains {
			if leaders["watcher:"+c] == "" || r.Instance.Leaders["watcher:"+c] != leaders["watcher:"+c] {
				t.Errorf("instance %s sees %v as leaders, another %v", r.Instance.ID, r.Instance.Leaders, leaders)
			}
		}
	}
	for _, c := range haChains {
		if leader[c] == "" {
			t.Errorf("no instance leads %s", c)
		}
	}
}

// leaderOf returns the instance whose /readyz says it leads chain.
func leaderOf(t *testing.T, envs []*env, chain string) *env {
	t.Helper()
	for _, e := range envs {
		if _, r, err := readyz(e.payd); err == nil && r.Instance != nil && slices.Contains(r.Instance.Leads, chain) {
			return e
		}
	}
	t.Fatalf("no instance leads %s", chain)
	return nil
}

// Three payd run on one database: invoices created round-robin through all
// of them (bitcoin, ETH and the token), paid, settled once and delivered;
// each chain led by one instance, as every /readyz and /metrics agree; then
// kill -9 of the leader right after a block is mined (mid-block): the others
// take over within the lease time and nothing is lost or counted twice.
func TestPostgresThreeInstances(t *testing.T) {
	start := time.Now()
	pg := testnode.StartPostgres(t)
	url := pg.NewDatabase(t)
	stack := testnode.StartStack(t)
	hooks := newHookReceiver(t)
	envs := startInstances(t, stack, hooks, url, url, url)
	t.Logf("three instances up in %s", time.Since(start).Round(time.Millisecond))
	var all []payment

	t.Run("created through all three, settled once, delivered", func(t *testing.T) {
		var paid []payment
		for i := 0; i < 9; i++ {
			e := envs[i%3].sub(t)
			paid = append(paid, e.pay(e.createKind(i)))
		}
		stack.BTC.Generate(1)
		checkSettledOnce(t, envs, hooks, paid)
		all = append(all, paid...)
		checkOneLeader(t, envs)
		held := 0
		for _, e := range envs {
			out, err := scrapeMetrics(e.payd)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, `payd_lease_held{lease="watcher:bitcoin"} 1`) {
				held++
			}
			for _, w := range []string{"payd_database_up 1", `payd_instance_info{instance="`, `payd_lease_held{lease="watcher:ethereum"}`} {
				if !strings.Contains(out, w) {
					t.Errorf("%s: /metrics lacks %s", e.payd.URL, w)
				}
			}
		}
		if held != 1 {
			t.Errorf("%d instances say payd_lease_held{lease=\"watcher:bitcoin\"} 1, want 1", held)
		}
	})

	t.Run("kill -9 of the leader mid-block: another takes over", func(t *testing.T) {
		leader := leaderOf(t, envs, "bitcoin")
		var rest []*env
		for _, e := range envs {
			if e != leader {
				rest = append(rest, e)
			}
		}
		var paid []payment
		for i := 0; i < 6; i++ {
			e := rest[i%2].sub(t)
			paid = append(paid, e.pay(e.createKind(i)))
		}
		stack.BTC.Generate(1)
		leader.payd.Kill()
		killed := time.Now()
		took := eventually(t, 60*time.Second, "the survivors lead every chain", func() (bool, string) {
			led := map[string]bool{}
			for _, e := range rest {
				if _, r, err := readyz(e.payd); err == nil && r.Instance != nil {
					for _, c := range r.Instance.Leads {
						led[c] = true
					}
				}
			}
			return len(led) == len(haChains), fmt.Sprintf("led: %v", led)
		})
		t.Logf("survivors lead every chain %s after the kill -9 (lease ttl 10s)", took.Round(time.Millisecond))
		checkSettledOnce(t, rest, hooks, paid)
		t.Logf("settled %s after the kill -9", time.Since(killed).Round(time.Millisecond))
		all = append(all, paid...)
		checkOneLeader(t, rest)
		// Back, it follows: every lease is held by a survivor.
		leader.payd.Start()
		if st, r, err := readyz(leader.payd); err != nil || st != 200 || r.Instance == nil || len(r.Instance.Leads) != 0 {
			t.Fatalf("restarted instance: %d %+v %v", st, r, err)
		}
		checkSettledOnce(t, envs, hooks, all)
	})
}

// loadResult is one invoice creation of the load generator.
type loadResult struct {
	v   *invoice.View
	err error
}

// createLoad creates invoices round-robin through envs, one every 50 ms,
// until ctx is done, sending each outcome on out (closed at the end).
func createLoad(ctx context.Context, envs []*env, out chan<- loadResult) {
	defer close(out)
	for i := 0; ctx.Err() == nil; i++ {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		v, err := envs[i%len(envs)].c.CreateInvoice(rctx, payKinds[i%len(payKinds)].req, "")
		cancel()
		if ctx.Err() != nil {
			return
		}
		out <- loadResult{v, err}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkOutageError: an API call that failed while the database was away
// failed cleanly — a 5xx in the contract's shape, nothing internal.
func checkOutageError(t *testing.T, err error) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Errorf("a request got no HTTP answer during the outage: %v", err)
		return
	}
	if ce.Status != http.StatusServiceUnavailable || ce.Code != "unavailable" {
		t.Errorf("during the outage: %d %s %q, want 503 unavailable", ce.Status, ce.Code, ce.Message)
	}
	for _, leak := range []string{"goroutine ", "panic", ".go:", "postgres://", "pgx", "SQLSTATE"} {
		if strings.Contains(ce.Message, leak) {
			t.Errorf("the error shows %q: %s", leak, ce.Message)
		}
	}
}

// PostgreSQL crashes (immediate shutdown) and comes back while invoices are
// being created and paid on two instances: requests fail cleanly during the
// outage, then every instance answers again without a restart of its own,
// the leases are taken again, and every paid invoice settles once with its
// webhook delivered — payments and a block made during the outage included.
func TestPostgresRestartUnderLoad(t *testing.T) {
	start := time.Now()
	pg, err := testnode.NewPostgres(testnode.PostgresOptions{}) // its own: it is crashed
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	url := pg.NewDatabase(t)
	stack := testnode.StartStack(t)
	hooks := newHookReceiver(t)
	envs := startInstances(t, stack, hooks, url, url)
	pids := []int{envs[0].payd.PID(), envs[1].payd.PID()}
	t.Logf("two instances up in %s", time.Since(start).Round(time.Millisecond))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	results := make(chan loadResult)
	go createLoad(ctx, envs, results)
	var paid []payment
	var unpaid []*invoice.View
	pay := func(v *invoice.View) {
		e := envs[0].sub(t)
		paid = append(paid, e.pay(v))
	}
	// Before: 8 invoices, 6 of them paid now.
	for len(paid)+len(unpaid) < 8 {
		r := <-results
		if r.err != nil {
			t.Fatalf("before the outage: %v", r.err)
		}
		if len(paid) < 6 {
			pay(r.v)
		} else {
			unpaid = append(unpaid, r.v)
		}
	}
	stack.BTC.Generate(1)

	pg.Crash()
	down := time.Now()
	// During: requests fail cleanly; the other 2 are paid and a block mined.
	for _, v := range unpaid {
		pay(v)
	}
	stack.BTC.Generate(1)
	failed := 0
	for failed < 5 {
		r := <-results
		if r.err == nil {
			t.Fatalf("invoice %s created with the database down", r.v.ID)
		}
		checkOutageError(t, r.err)
		failed++
	}
	for _, e := range envs {
		if st, r, err := readyz(e.payd); err != nil || st != 503 || r.Database == nil || r.Database.Reachable ||
			!slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "database: ") }) {
			t.Errorf("readyz during the outage: %d %+v %v", st, r, err)
		}
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("database down for %s", time.Since(down).Round(time.Millisecond))
	up := time.Now()
	// After: the load goes on; 6 more invoices created and paid.
	var after int
	for after < 6 {
		r := <-results
		if r.err != nil {
			checkOutageError(t, r.err) // the first requests may still meet a broken connection
			continue
		}
		pay(r.v)
		after++
	}
	stop()
	for range results {
	}
	t.Logf("invoices created again %s after the database came back", time.Since(up).Round(time.Millisecond))
	eventually(t, 60*time.Second, "every instance ready with every chain led", func() (bool, string) {
		led := map[string]bool{}
		for _, e := range envs {
			st, r, err := readyz(e.payd)
			if err != nil || st != 200 || r.Instance == nil {
				return false, fmt.Sprintf("%s: readyz %d %+v %v", e.payd.URL, st, r, err)
			}
			for _, c := range r.Instance.Leads {
				led[c] = true
			}
		}
		return len(led) == len(haChains), fmt.Sprintf("led: %v", led)
	})
	t.Logf("every instance ready, every chain led, %s after the database came back", time.Since(up).Round(time.Millisecond))
	stack.BTC.Generate(1)
	checkSettledOnce(t, envs, hooks, paid)
	checkOneLeader(t, envs)
	for i, e := range envs {
		if e.payd.PID() != pids[i] {
			t.Errorf("instance %d was restarted (pid %d → %d)", i, pids[i], e.payd.PID())
		}
	}
	t.Logf("settled and delivered %s after the database came back", time.Since(up).Round(time.Millisecond))
}

// One instance reaches PostgreSQL through a proxy that cuts the network —
// refusing connections, or blackholing them (a partition: nothing is
// refused, nothing gets through). It leads every chain; on the cut it stops
// leading and another takes over within the lease time, its /readyz turns
// 503 naming the database, and invoices created on the other instance still
// settle and are delivered. When the network heals it recovers — ready, a
// follower — without a restart, and serves invoices again.
func TestPostgresNetworkCut(t *testing.T) {
	pg := testnode.StartPostgres(t)
	stack := testnode.StartStack(t)
	for _, tt := range []struct {
		name string
		cut  func(*testnode.TCPProxy)
	}{
		{"refused", (*testnode.TCPProxy).Refuse},
		{"blackholed", (*testnode.TCPProxy).Blackhole},
	} {
		t.Run(tt.name, func(t *testing.T) {
			direct := pg.NewDatabase(t)
			u, err := url.Parse(direct)
			if err != nil {
				t.Fatal(err)
			}
			proxy := testnode.StartTCPProxy(t, pg.Addr())
			hooks := newHookReceiver(t)
			envs := startInstances(t, stack, hooks, pg.URLAt(proxy.Addr, strings.TrimPrefix(u.Path, "/")), direct)
			cut, other := envs[0], envs[1]
			pid := cut.payd.PID()
			_, r, err := readyz(cut.payd)
			if err != nil || r.Instance == nil {
				t.Fatalf("readyz: %+v %v", r, err)
			}
			cutID := r.Instance.ID
			sentBefore := webhookAttempts(t, cut.payd)

			tt.cut(proxy)
			at := time.Now()
			took := eventually(t, 60*time.Second, "the other instance leads every chain", func() (bool, string) {
				return leadsAll(other.payd, haChains...)
			})
			t.Logf("the other instance leads every chain %s after the cut (lease ttl 10s)", took.Round(time.Millisecond))
			eventually(t, 30*time.Second, "the cut instance is not ready, names the database and leads nothing", func() (bool, string) {
				st, r, err := readyz(cut.payd)
				ok := err == nil && st == 503 && r.Database != nil && !r.Database.Reachable && r.Instance != nil &&
					len(r.Instance.Leases) == 0 && len(r.Instance.Leads) == 0 &&
					slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "database: ") })
				return ok, fmt.Sprintf("readyz %d %+v %v", st, r, err)
			})
			out, err := scrapeMetrics(cut.payd)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"payd_database_up 0", `payd_lease_held{lease="watcher:bitcoin"} 0`, `payd_lease_held{lease="expirer"} 0`} {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("the cut instance's /metrics lacks %s", w)
				}
			}
			if strings.Contains(out, `payd_chain_up{chain="bitcoin"}`) {
				t.Error("the cut instance still reports bitcoin's chain figures")
			}
			var paid []payment
			for i := 0; i < 3; i++ {
				paid = append(paid, other.sub(t).pay(other.sub(t).createKind(i)))
			}
			stack.BTC.Generate(1)
			checkSettledOnce(t, []*env{other}, hooks, paid)
			t.Logf("settled through the other instance %s after the cut", time.Since(at).Round(time.Millisecond))
			// Cut off, it claimed (and so sent) no delivery: the other
			// instance delivered every one.
			if sent := webhookAttempts(t, cut.payd); sent != sentBefore {
				t.Errorf("the cut instance made %d webhook attempts during the cut", sent-sentBefore)
			}

			proxy.Heal()
			healed := time.Now()
			eventually(t, 60*time.Second, "the cut instance ready again, a follower", func() (bool, string) {
				st, r, err := readyz(cut.payd)
				ok := err == nil && st == 200 && r.Database != nil && r.Database.Reachable && r.Instance != nil &&
					len(r.Instance.Leads) == 0 && r.Instance.Leaders["watcher:bitcoin"] != "" && r.Instance.Leaders["watcher:bitcoin"] != cutID
				return ok, fmt.Sprintf("readyz %d %+v %v", st, r, err)
			})
			t.Logf("the cut instance ready again %s after the heal", time.Since(healed).Round(time.Millisecond))
			for i := 0; i < 3; i++ {
				paid = append(paid, cut.sub(t).pay(cut.sub(t).createKind(i)))
			}
			stack.BTC.Generate(1)
			checkSettledOnce(t, envs, hooks, paid)
			checkOneLeader(t, envs)
			if cut.payd.PID() != pid {
				t.Errorf("the cut instance was restarted")
			}
		})
	}
}
