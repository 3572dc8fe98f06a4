package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"
)

// figCreatePG is figure 1 on PostgreSQL: the same invoice creation load as
// figure 1 (32 keep-alive clients, POST /v1/invoices) against payd with
// database.driver postgres — one instance, then two instances on the same
// database behind a loopback round-robin — and, interleaved in the same
// rounds, a raw PostgreSQL insert baseline on the same cluster.
func figCreatePG(e *env, f *Figure) {
	t := curTB
	const clients = 32
	dPayd, dBase := e.scale(3*time.Second), e.scale(2*time.Second)
	pg := benchPostgres(t)
	raw, err := newPGRawInserter(pg.NewDatabase(t), clients)
	if err != nil {
		t.Fatalf("baseline: %v", err)
	}
	defer raw.close()
	if _, err := e.tryPayd(); err != nil {
		r, berr := raw.run(dBase)
		if berr != nil {
			t.Fatalf("baseline: %v", berr)
		}
		f.Rows = append(f.Rows, Row{Figure: "1-pg", Name: "Invoice creation over HTTP on PostgreSQL, one instance, 32 clients", Baseline: r.Rate, Unit: "invoices/s", Goal: "≥ 0.7× baseline", Error: err.Error()})
		return
	}
	bin := e.paydBin()
	btc := e.btcd()
	dbURL := pg.NewDatabase(t)
	cfg := daemonCfg{BTC: btc, BTCWS: true, PostgresURL: dbURL}
	a := newDaemon(e, t, "fig1pg-a", cfg, bin)
	a.start(t)
	b := newDaemon(e, t, "fig1pg-b", cfg, bin)
	b.start(t)
	// b is paused (SIGSTOP) whenever one instance is measured, so that it
	// takes no CPU and answers nothing; it is continued before it is stopped.
	// Continued, it first catches up with the invoices a created meanwhile
	// (its outbox tail reads each one to watch its address): settle waits
	// for that before two instances are measured.
	cnt, err := newPGCounter(pg, dbURL)
	if err != nil {
		t.Fatalf("pg_stat_statements: %v", err)
	}
	defer cnt.close()
	pb := &pauser{t: t, d: b, inTx: cnt.inTransaction}
	pause := pb.set
	t.Cleanup(func() { pause(false) })
	hostport := func(d *daemon) string { return strings.TrimPrefix(d.url, "http://") }
	px := startRRProxy(t, hostport(a))
	viaProxy := &daemon{url: px.url, key: a.key}

	groups := []cpuGroup{
		{name: "payd_a", pids: []int{a.cmd.Process.Pid}},
		{name: "payd_b", pids: []int{b.cmd.Process.Pid}},
		{name: "postgres", pids: []int{postmasterPID(pg)}, tree: true},
		{name: "bench", pids: []int{os.Getpid()}},
	}
	type cpuRounds map[string][]float64
	cpuOne, cpuTwo := cpuRounds{}, cpuRounds{}
	measure := func(dm *daemon, into cpuRounds) loadResult {
		s0 := snapCPU(groups)
		r := createLoad(dm, clients, dPayd, createBody)
		for k, v := range cpuUse(groups, s0, snapCPU(groups)) {
			into[k] = append(into[k], v)
		}
		return r
	}

	// Warm both instances (connections, prepared statements, address caches).
	pause(false)
	px.set(hostport(a), hostport(b))
	if w := createLoad(viaProxy, clients, e.scale(time.Second), createBody); w.Count == 0 {
		t.Fatalf("no invoice created through two instances during warm-up: %s (logs: %s / %s)", w.First, tail(a.logPath, 5), tail(b.logPath, 5))
	}
	pause(true)
	if w := createLoad(a, clients, e.scale(time.Second), createBody); w.Count == 0 {
		t.Fatalf("no invoice created during warm-up: %s (log: %s)", w.First, tail(a.logPath, 5))
	}

	var base, one, oneP, two []float64
	var p50One, p99One, p50Two, p99Two, p99Base []float64
	errs := 0
	for i := 0; i < e.pairs; i++ {
		br, err := raw.run(dBase)
		if err != nil {
			t.Fatalf("baseline: %v", err)
		}
		base = append(base, br.Rate)
		p99Base = append(p99Base, ms(br.P99))

		pause(true)
		r := measure(a, cpuOne)
		errs += r.Errors
		one = append(one, r.Rate)
		p50One, p99One = append(p50One, ms(r.P50)), append(p99One, ms(r.P99))

		px.set(hostport(a))
		r = createLoad(viaProxy, clients, dPayd, createBody)
		errs += r.Errors
		oneP = append(oneP, r.Rate)

		pause(false)
		px.set(hostport(a), hostport(b))
		r = measure(viaProxy, cpuTwo)
		errs += r.Errors
		two = append(two, r.Rate)
		p50Two, p99Two = append(p50Two, ms(r.P50)), append(p99Two, ms(r.P99))
		slog.Debug("fig1-pg round", "baseline", br.Rate, "one", one[i], "one_proxy", oneP[i], "two", two[i])
	}
	half := make([]float64, len(two))
	for i, v := range two {
		half[i] = v / 2
	}
	rOne := median(ratios(one, base))
	rHalf := median(ratios(half, base))
	rScale := median(ratios(two, oneP))
	okOne, okHalf, okScale := rOne >= 0.7, rHalf >= 0.7, rScale >= 1.5
	f.Rows = append(f.Rows,
		Row{Figure: "1-pg", Name: fmt.Sprintf("Invoice creation over HTTP on PostgreSQL, one instance, 32 keep-alive clients (p50 %.1f ms, p99 %.1f ms)", median(p50One), median(p99One)),
			Payd: median(one), Baseline: median(base), Unit: "invoices/s", Ratio: rOne, Goal: "≥ 0.7× baseline", Met: met(okOne)},
		Row{Figure: "1-pg-two", Name: fmt.Sprintf("… two instances on one database behind a loopback round-robin, per instance (total / 2; p50 %.1f ms, p99 %.1f ms)", median(p50Two), median(p99Two)),
			Payd: median(half), Baseline: median(base), Unit: "invoices/s", Ratio: rHalf, Goal: "≥ 0.7× baseline per instance", Met: met(okHalf)},
		Row{Figure: "1-pg-scale", Name: "… two instances (total) against one, both through the round-robin (baseline: one instance behind it)",
			Payd: median(two), Baseline: median(oneP), Unit: "invoices/s", Ratio: rScale, Goal: "two ≥ 1.5× one", Met: met(okScale)},
	)
	f.value("p50_one_ms", median(p50One))
	f.value("p99_one_ms", median(p99One))
	f.value("p50_two_ms", median(p50Two))
	f.value("p99_two_ms", median(p99Two))
	f.value("p99_baseline_ms", median(p99Base))
	f.value("one_direct_vs_proxy", median(ratios(one, oneP)))
	f.value("errors", float64(errs))
	for k, v := range cpuOne {
		f.value("cores_one_"+k, median(v))
	}
	for k, v := range cpuTwo {
		f.value("cores_two_"+k, median(v))
	}
	f.note("payd: the real binary (`payd run`) with `database.driver: postgres`, btcd regtest behind it, the figure 1 request (`POST /v1/invoices` {amount 25.00 USD, methods [bitcoin/btc], order_id, description, metadata}) from %d keep-alive clients for %s per round after a %s warm-up. PostgreSQL %s: a private cluster on 127.0.0.1 (testnode, fsync on, synchronous_commit on, shared_buffers 128 MB, pg_stat_statements loaded) that the baseline and payd share.",
		clients, dPayd, e.scale(time.Second), pgVersionOf(pg.URL("postgres")))
	f.note("One instance: the client talks to the daemon directly while the second instance is paused (SIGSTOP: no CPU, no answers). Two instances: both daemons on the same database (same xpub, derivation indexes reserved in blocks, singletons under leases), the client's connections spread by a loopback TCP round-robin in the bench process (connection-level, splice(2): 16 of the 32 keep-alive connections per instance). Row 1-pg-scale divides the two-instance rate by one instance behind the same round-robin, measured in the same round (one direct / one through the round-robin = %.2f×), so the proxy's cost is on both sides. %d non-201 answers.",
		median(ratios(one, oneP)), errs)
	f.note("Baseline: raw PostgreSQL INSERT of the invoice-sized row of figure 1's baseline (~1 KB, 3 secondary indexes, one partial), each its own transaction (autocommit) through a prepared statement, from %d concurrent workers on %d connections (database/sql over pgx, the driver stack of payd's store), %s per round; p99 %.1f ms. %d rounds, each baseline → one instance → one through the round-robin → two instances; medians of per-round ratios.",
		clients, clients, dBase, median(p99Base), e.pairs)
	f.note("Cores used per round (median; the machine has %d, other work on it included in `machine`): one instance — payd %.2f, postgres %.2f, bench client %.2f, machine %.2f; two instances — payd %.2f + %.2f, postgres %.2f, bench client and round-robin %.2f, machine %.2f.",
		numCPU(), median(cpuOne["payd_a"]), median(cpuOne["postgres"]), median(cpuOne["bench"]), median(cpuOne["machine"]),
		median(cpuTwo["payd_a"]), median(cpuTwo["payd_b"]), median(cpuTwo["postgres"]), median(cpuTwo["bench"]), median(cpuTwo["machine"]))

	// Statements per invoice (pg_stat_statements) and, with two instances,
	// what the database's active backends wait on.
	count := func(dm *daemon, key, label string, waits bool) {
		if err := cnt.reset(); err != nil {
			f.note("Statement count (%s) failed: %v", label, err)
			return
		}
		var w map[string]float64
		stop, done := make(chan struct{}), make(chan struct{})
		if waits {
			go func() { defer close(done); w = cnt.sampleWaits(stop) }()
		} else {
			close(done)
		}
		r := createLoad(dm, clients, e.scale(2*time.Second), createBody)
		close(stop)
		<-done
		st, err := cnt.read(10)
		if err != nil || r.Count == 0 {
			f.note("Statement count (%s) failed: %v (%d invoices)", label, err, r.Count)
			return
		}
		n := float64(r.Count)
		var top []string
		for _, s := range st.Top {
			top = append(top, fmt.Sprintf("`%s` %.3f (%.2f ms each)", s.Query, float64(s.Calls)/n, s.TotalMS/float64(max(s.Calls, 1))))
		}
		f.value("statements_per_invoice_"+key, float64(st.Calls)/n)
		f.note("Statements payd sent per invoice created (%s, pg_stat_statements over a %s load, %d invoices, BEGIN and COMMIT counted as statements): %.2f per invoice; most frequent (calls per invoice, mean execution time in the server): %s.",
			label, e.scale(2*time.Second), r.Count, float64(st.Calls)/n, strings.Join(top, "; "))
		if waits {
			f.note("What the database's active backends were doing during that load (pg_stat_activity sampled every 5 ms; shares of samples): %s.", fmtWaits(w))
		}
	}
	pause(true)
	// What one connection committing one row at a time gets: the ceiling of
	// a writer that has one transaction in flight, per transaction.
	if raw1, err := newPGRawInserter(pg.NewDatabase(t), 1); err == nil {
		if r, err := raw1.run(dBase); err == nil {
			f.value("baseline_one_connection_rows_s", r.Rate)
			f.note("For scale: the same raw INSERT from one worker on one connection (one commit in flight, each waiting for its WAL flush) ran at %.0f rows/s (p50 %.2f ms).", r.Rate, ms(r.P50))
		}
		raw1.close()
	}
	count(a, "one", "one instance", true)
	pause(false)
	px.set(hostport(a), hostport(b))
	count(viaProxy, "two", "two instances", true)

	if !okOne || !okHalf || !okScale || e.forceProf {
		// The profiling build serves alone: a and b are paused.
		pause(true)
		pa := &pauser{t: t, d: a, inTx: cnt.inTransaction}
		pa.set(true)
		defer pa.set(false)
		f.Profile = e.profileDaemonLoad(t, "fig1pg", cfg, func(dm *daemon, stop <-chan struct{}) {
			for {
				select {
				case <-stop:
					return
				default:
					createLoad(dm, clients, time.Second, createBody)
				}
			}
		})
	}
}

func pgVersionOf(url string) string {
	db, err := openPG(url)
	if err != nil {
		return "?"
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(`SHOW server_version`).Scan(&v); err != nil {
		return "?"
	}
	return v
}

// pauser stops and continues a daemon (SIGSTOP, SIGCONT).
type pauser struct {
	t *tb
	d *daemon
	// inTx reports a session of the database inside a transaction; called
	// while the other instances are idle, so one is the paused daemon's.
	inTx   func() bool
	paused bool
}

// set pauses (on) or continues the daemon; continued, it is given time to
// settle (catch up with what the other instances committed meanwhile). A
// daemon is never left paused inside a transaction (it could hold the
// outbox lock every other instance's writes wait for): it is continued and
// paused again until it is stopped outside one.
func (p *pauser) set(on bool) {
	if on == p.paused {
		return
	}
	sig := func(s syscall.Signal) {
		if err := p.d.cmd.Process.Signal(s); err != nil {
			p.t.Fatalf("signal payd: %v", err)
		}
	}
	if !on {
		sig(syscall.SIGCONT)
		p.paused = false
		settle(p.d)
		return
	}
	for attempt := 0; ; attempt++ {
		sig(syscall.SIGSTOP)
		time.Sleep(20 * time.Millisecond)
		if !p.inTx() {
			break
		}
		if attempt == 50 {
			sig(syscall.SIGCONT)
			p.t.Fatalf("payd stopped inside a transaction 50 times in a row")
		}
		sig(syscall.SIGCONT)
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	p.paused = true
}

// settle waits (at most 10 s) until the daemon uses less than 5 % of a core
// over 200 ms.
func settle(d *daemon) {
	g := []cpuGroup{{name: "d", pids: []int{d.cmd.Process.Pid}}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s0 := snapCPU(g)
		time.Sleep(200 * time.Millisecond)
		if cpuUse(g, s0, snapCPU(g))["d"] < 0.05 {
			return
		}
	}
}
