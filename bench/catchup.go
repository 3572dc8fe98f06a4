package main

import (
	"fmt"
	"time"
)

// figCatchup is figure 7: payd stopped while 1,000 regtest blocks are
// mined, some paying its invoices; time from restart until every invoice
// reached its final state.
func figCatchup(e *env, f *Figure) {
	t := curTB
	bin := e.paydBin()
	btc := e.btcd()
	const blocks, paid = 1000, 20
	rounds := 3 // each round mines 1,000 blocks; 3 keep the figure near a minute
	rcv := newReceiver(t)
	cfg := daemonCfg{BTC: btc, BTCWS: true, BTCConf: 1, Hooks: []hook{{URL: rcv.url + "/ok", Secret: "whsec_bench_catchup_0123456789"}}}
	dm := newDaemon(e, t, "fig7", cfg, bin)
	var a, b, startups []float64
	for round := 0; round < rounds; round++ {
		dm.start(t)
		invs := make([]*apiInvoice, paid)
		for i := range invs {
			invs[i] = dm.mustCreate(t, `{"amount":"0.001","currency":"BTC","methods":["bitcoin/btc"]}`)
		}
		dm.stop()
		from := btc.Height()
		// 1,000 blocks; the i-th paid invoice's payment is mined in block ~50·i+1.
		per := blocks / paid
		for i := 0; i < paid; i++ {
			btc.Pay(invs[i].address("bitcoin/btc"), 100_000, false)
			btc.Generate(per)
		}
		if got := btc.Height() - from; got < blocks {
			t.Fatalf("mined %d blocks, want %d", got, blocks)
		}
		waits := make([]<-chan time.Time, paid)
		for i, inv := range invs {
			waits[i] = rcv.waiter(inv.ID, "invoice.settled")
		}
		dm.start(t)
		var last time.Time
		for i, w := range waits {
			select {
			case at := <-w:
				if at.After(last) {
					last = at
				}
			case <-time.After(120 * time.Second):
				t.Fatalf("invoice %s not settled 120 s after restart (log: %s)", invs[i].ID, tail(dm.logPath, 5))
			}
		}
		a = append(a, last.Sub(dm.Started).Seconds())
		startups = append(startups, dm.Startup.Seconds())
		// Baseline: fetch the same blocks raw, one by one.
		t0 := time.Now()
		for h := from + 1; h <= from+blocks; h++ {
			var hash string
			raw, err := btc.RPC("getblockhash", h)
			if err == nil {
				hash = string(raw[1 : len(raw)-1])
				_, err = btc.RPC("getblock", hash, 0)
			}
			if err != nil {
				t.Fatalf("baseline: %v", err)
			}
		}
		b = append(b, time.Since(t0).Seconds())
		dm.stop()
	}
	r := median(ratios(a, b))
	f.Rows = append(f.Rows, Row{Figure: "7", Name: fmt.Sprintf("Catch-up: restart after %d blocks (%d with payments) → every invoice settled", blocks, paid), Payd: median(a), Baseline: median(b), Unit: "s", Ratio: r, Goal: "(reported)"})
	f.value("startup_until_ready_s", median(startups))
	f.note("The real `payd run` on btcd regtest (websocket on, poll 1 s, confirmations 1), webhooks to a local receiver. Per round: start payd, create %d BTC invoices, stop payd (SIGTERM), then mine %d blocks in %d chunks of %d with one invoice's payment in the first block of each chunk, restart payd and time from exec until the last invoice.settled webhook arrived. %d rounds on the same database (each round's 1,000 blocks are new).", paid, blocks, paid, blocks/paid, rounds)
	f.note("Baseline (no goal; it is the floor of any catch-up): the bench fetching the same %d blocks from btcd one after the other (getblockhash + getblock <hash> 0 over HTTP JSON-RPC), measured right after each round. Blocks are small (regtest: coinbase + at most one payment).", blocks)
}
