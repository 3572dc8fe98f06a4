package main

import (
	"fmt"
	"time"
)

func createBody(i int64) []byte {
	return fmt.Appendf(nil, `{"amount":"25.00","currency":"USD","methods":["bitcoin/btc"],"order_id":"A-%d","description":"2 x T-shirt","metadata":{"customer":"42"}}`, i)
}

// figCreate is figure 1: invoice creation over HTTP with 32 keep-alive
// clients, against raw SQLite inserts of an invoice-sized row.
func figCreate(e *env, f *Figure) {
	t := curTB
	const clients = 32
	dPayd, dBase := e.scale(3*time.Second), e.scale(2*time.Second)
	raw, err := newRawInserter(e.tempPath("fig1-baseline.db"))
	if err != nil {
		t.Fatalf("baseline: %v", err)
	}
	defer raw.close()
	if _, err := e.tryPayd(); err != nil {
		// Still report the baseline, so the table shows what 1.0 means here.
		var bs []float64
		for i := 0; i < 3; i++ {
			r, err := raw.rate(dBase)
			if err != nil {
				t.Fatalf("baseline: %v", err)
			}
			bs = append(bs, r)
		}
		f.Rows = append(f.Rows, Row{Figure: "1", Name: "Invoice creation over HTTP, 32 clients", Baseline: median(bs), Unit: "invoices/s", Goal: "≥ 0.8× baseline", Error: err.Error()})
		f.note("Baseline only: raw SQLite inserts of a ~1 KB invoice row with 3 indexes, one transaction per row, WAL, synchronous=NORMAL: %.0f rows/s (median of 3).", median(bs))
		return
	}
	bin := e.paydBin()
	btc := e.btcd()
	dm := newDaemon(e, t, "fig1", daemonCfg{BTC: btc, BTCWS: true}, bin)
	dm.start(t)
	// Warm: connections, rate cache, derivation, SQLite pages.
	warm := createLoad(dm, clients, e.scale(time.Second), createBody)
	if warm.Rate == 0 {
		t.Fatalf("no invoice created during warm-up: %s (log: %s)", warm.First, tail(dm.logPath, 5))
	}
	var a, b []float64
	var p50s, p99s []float64
	errs := 0
	for i := 0; i < e.pairs; i++ {
		r := createLoad(dm, clients, dPayd, createBody)
		errs += r.Errors
		a = append(a, r.Rate)
		p50s = append(p50s, ms(r.P50))
		p99s = append(p99s, ms(r.P99))
		br, err := raw.rate(dBase)
		if err != nil {
			t.Fatalf("baseline: %v", err)
		}
		b = append(b, br)
	}
	ratio := median(ratios(a, b))
	p99 := median(p99s)
	okRate, okP99 := ratio >= 0.8, p99 < 20
	f.Rows = append(f.Rows,
		Row{Figure: "1", Name: "Invoice creation over HTTP, 32 keep-alive clients", Payd: median(a), Baseline: median(b), Unit: "invoices/s", Ratio: ratio, Goal: "≥ 0.8× baseline", Met: met(okRate)},
		Row{Figure: "1-p99", Name: "Invoice creation over HTTP, 32 clients: p99 latency", Payd: p99, Unit: "ms", Goal: "< 20 ms", Met: met(okP99)},
	)
	f.value("p50_ms", median(p50s))
	f.value("p99_ms", p99)
	f.value("errors", float64(errs))
	f.note("payd: the real binary (`payd run`), btcd regtest behind it, one API key; each request `POST /v1/invoices` {amount 25.00 USD, methods [bitcoin/btc], order_id, description, metadata}: auth, validation, BIP84 address derivation, BTC/USD from the warm rate cache (static source), invoice + invoice.created event in one transaction. %d keep-alive clients on 127.0.0.1 for %s per round after a %s warm-up; p50 %.1f ms, p99 %.1f ms (medians over rounds); %d non-201 answers.",
		clients, dPayd, e.scale(time.Second), median(p50s), p99, errs)
	f.note("Baseline: raw SQLite insert of an invoice-sized row (~1 KB, 3 secondary indexes), one transaction per insert through a prepared statement, one connection, the store's pragmas (WAL, synchronous=NORMAL, busy_timeout), %s per round. %d rounds interleaved payd/baseline, median of per-round ratios.", dBase, e.pairs)
	if !okRate || !okP99 {
		f.Profile = e.profileDaemonLoad(t, "fig1", daemonCfg{BTC: btc, BTCWS: true}, func(dm *daemon, stop <-chan struct{}) {
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

// tryPayd builds payd and reports whether it can run.
func (e *env) tryPayd() (bin string, err error) {
	defer func() {
		if r := recover(); r != nil {
			if fe, ok := r.(fatal); ok {
				err = fmt.Errorf("%s", fe.msg)
				return
			}
			panic(r)
		}
	}()
	return e.paydBin(), nil
}

// profileDaemonLoad starts a profiling build of payd with cfg, runs load
// against it and returns the CPU profile's top entries.
func (e *env) profileDaemonLoad(t *tb, name string, cfg daemonCfg, load func(dm *daemon, stop <-chan struct{})) []string {
	bin, err := e.profBin()
	if err != nil {
		return []string{err.Error()}
	}
	dm := newDaemon(e, t, name+"-prof", cfg, bin)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dm.start(t, "PAYD_BENCH_PPROF="+addr)
	defer dm.stop()
	return profileDaemon(e.work, name, bin, addr, 5*time.Second, func(stop <-chan struct{}) { load(dm, stop) })
}
