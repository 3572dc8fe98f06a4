package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// figWebhook is figure 5: webhook delivery throughput to a local receiver,
// and the same while a second endpoint times out on every call.
func figWebhook(e *env, f *Figure) {
	t := curTB
	bin := e.paydBin()
	btc := e.btcd()
	// Events per round: enough that the delivery window (from release to the
	// last answer) lasts about half a second at the goal's rate, so one
	// scheduling hiccup on the shared machine does not decide the ratio.
	n := 4000
	if e.quick {
		n = 1000
	}
	const timeout = fig5Timeout
	rcv := newReceiver(t)
	healthyHook := hook{URL: rcv.url + "/ok", Secret: "whsec_bench_healthy_0123456789"}
	// One daemon delivers to the healthy endpoint only (the baseline of the
	// goal); a second one also has an endpoint that never answers.
	cfgOne := daemonCfg{BTC: btc, BTCWS: true, HookTimeout: timeout, Hooks: []hook{healthyHook}}
	cfg := daemonCfg{BTC: btc, BTCWS: true, HookTimeout: timeout, Hooks: []hook{healthyHook, {URL: rcv.url + "/bad", Secret: "whsec_bench_timeout_0123456789"}}}
	one := newDaemon(e, t, "fig5-one", cfgOne, bin)
	one.start(t)
	dm := newDaemon(e, t, "fig5-two", cfg, bin)
	dm.start(t)
	rcv.setBad(true)
	defer rcv.setBad(false)
	// Warm up both.
	for _, d := range []*daemon{one, dm} {
		if r := webhookRound(t, d, rcv, 200); r == 0 {
			t.Fatalf("no webhook delivered during warm-up (log: %s)", tail(d.logPath, 5))
		}
	}
	var healthy, withBad, raw []float64
	for i := 0; i < e.pairs; i++ {
		healthy = append(healthy, webhookRound(t, one, rcv, n))
		withBad = append(withBad, webhookRound(t, dm, rcv, n))
		raw = append(raw, rawDeliveryRound(t, rcv, n, 16))
	}
	rRaw := median(ratios(healthy, raw))
	rBad := median(ratios(withBad, healthy))
	ok := rBad >= 0.9
	violations := rcv.violations.Load()
	okRaw := rRaw >= 0.3 && violations == 0
	row5 := Row{Figure: "5", Name: "Webhook delivery to a local receiver, per-invoice order checked", Payd: median(healthy), Baseline: median(raw), Unit: "events/s", Ratio: rRaw,
		Goal: "≥ 0.3× baseline, no order violation", Met: met(okRaw)}
	if violations > 0 {
		row5.Error = fmt.Sprintf("%d per-invoice order violations, first: %s", violations, rcv.firstViolation())
	}
	f.Rows = append(f.Rows,
		row5,
		Row{Figure: "5-timeout", Name: "… same, while a second endpoint times out on every call (baseline: the row above)", Payd: median(withBad), Baseline: median(healthy), Unit: "events/s", Ratio: rBad, Goal: "drop < 10 % (≥ 0.9×)", Met: met(ok)},
	)
	f.value("timeout_endpoint_calls", float64(rcv.badCalls.Load()))
	f.value("order_violations", float64(violations))
	f.note("timeout_endpoint_calls is how many calls the never-answering endpoint received during the whole figure (each ends by the %s timeout).", timeout)
	f.note("The real `payd run` (events [\"*\"], webhooks.timeout %s, concurrency 16, endpoint_concurrency at its default, retries pushed out to 1 h so none fall inside the run), two daemons on the same btcd: one with only the healthy endpoint, one with the healthy endpoint plus a second endpoint that never answers (every call to it ends by payd's timeout). Per round: the receiver holds every call to the healthy endpoint; %d invoices are created over the API (invoice.created), then a third of them are each cancelled, marked invalid and marked settled (invoice.expired, invoice.invalid, invoice.settled; 8 clients, one invoice's calls one after another), %d events in all; then the receiver lets go and the rate is events / (time from release until the last distinct event was answered).", timeout, n/2, n/2+3*(n/2/3))
	f.note("order_violations counts events that reached the receiver after a later event of the same invoice (a lower invoice.sequence than one already received; first arrival of each event id), over every round of both daemons; any makes row 5 fail.")
	f.note("%d pairs interleaved one-endpoint/two-endpoint; ratio = two-endpoint rate / one-endpoint rate, median.", e.pairs)
	f.note("Baseline of the first row (it shows the ceiling): the bench itself POSTing the same number of signed ~1.5 KB JSON bodies (HMAC-SHA256 Payd-Signature) to the same held-then-released receiver with 16 concurrent keep-alive clients.")
	if !ok || !okRaw || e.forceProf {
		// The delivery rounds themselves (creation while held, then delivery).
		f.Profile = e.profileDaemonLoad(t, "fig5", cfg, func(dm *daemon, stop <-chan struct{}) {
			defer func() { _ = recover() }() // a failed round (t.Fatalf) just ends the load
			for {
				select {
				case <-stop:
					return
				default:
					webhookRound(t, dm, rcv, n)
				}
			}
		})
	}
}

// fig5Timeout is figure 5's webhooks.timeout. The held call to the healthy
// endpoint must be released before it ends: a call that times out is retried
// only after an hour, and its invoice's later events wait for it.
const fig5Timeout = 20 * time.Second

// webhookRound makes about n events while the healthy endpoint is held, then
// releases it and returns the delivery rate (events/s). Half the events are
// invoice.created of n/2 new invoices; a third of those invoices are then
// cancelled (invoice.expired), marked invalid and marked settled, each
// invoice's three steps one after another while 8 clients work on different
// invoices, so an invoice's events sit close together in the queue, mixed
// with other invoices' events: the receiver checks they arrive in order.
func webhookRound(t *tb, dm *daemon, rcv *receiver, n int) float64 {
	rcv.reset()
	rcv.hold()
	held := time.Now()
	ids, err := createInvoices(dm, 8, n/2)
	if err != nil {
		rcv.release()
		t.Fatalf("create invoices: %v", err)
	}
	created := time.Since(held)
	changed := ids[:len(ids)/3]
	if err := changeInvoices(dm, 8, changed, []change{{"cancel", ""}, {"mark", `{"status":"invalid"}`}, {"mark", `{"status":"settled"}`}}); err != nil {
		rcv.release()
		t.Fatalf("change invoices: %v", err)
	}
	// Count exactly: the held calls already in flight are part of the batch.
	target := int64(len(ids) + 3*len(changed))
	start := time.Now()
	rcv.release()
	if setup := start.Sub(held); setup > fig5Timeout*8/10 {
		t.Fatalf("making %d events took %s (creating %d invoices %s): the held call may have timed out (webhooks.timeout %s)",
			target, setup.Round(time.Millisecond), len(ids), created.Round(time.Millisecond), fig5Timeout)
	}
	slog.Debug("webhook round", "events", target, "create", created, "setup", start.Sub(held))
	for rcv.okDone.Load() < target {
		if time.Since(start) > 60*time.Second {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	got := rcv.okDone.Load()
	return float64(min(got, target)) / el.Seconds()
}

// change is one API call on an invoice: POST /v1/invoices/{id}/<Path>.
type change struct{ Path, Body string }

// createInvoices creates n invoices over the API with c keep-alive clients
// and returns their ids.
func createInvoices(dm *daemon, c, n int) ([]string, error) {
	cl, done := apiClient(c)
	defer done()
	var mu sync.Mutex
	var ids []string
	var next atomic.Int64
	err := parallel(c, func() error {
		for i := next.Add(1); i <= int64(n); i = next.Add(1) {
			b, err := apiPost(cl, dm, "/v1/invoices", createBody(i))
			if err != nil {
				return err
			}
			var inv struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(b, &inv); err != nil || inv.ID == "" {
				return fmt.Errorf("create: no invoice id in %.100s", b)
			}
			mu.Lock()
			ids = append(ids, inv.ID)
			mu.Unlock()
		}
		return nil
	})
	return ids, err
}

// changeInvoices applies the changes to every invoice, in order per invoice,
// c invoices at a time.
func changeInvoices(dm *daemon, c int, ids []string, changes []change) error {
	cl, done := apiClient(c)
	defer done()
	var next atomic.Int64
	return parallel(c, func() error {
		for i := next.Add(1); i <= int64(len(ids)); i = next.Add(1) {
			for _, ch := range changes {
				if _, err := apiPost(cl, dm, "/v1/invoices/"+ids[i-1]+"/"+ch.Path, []byte(ch.Body)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func apiClient(c int) (*http.Client, func()) {
	tr := &http.Transport{MaxIdleConnsPerHost: c * 2, MaxIdleConns: c * 2, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr.CloseIdleConnections
}

// apiPost POSTs body to the daemon's API and returns the 2xx answer's body.
func apiPost(cl *http.Client, dm *daemon, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequest("POST", dm.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+dm.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: status %d: %.200s", path, resp.StatusCode, b)
	}
	return b, nil
}

// parallel runs f on c goroutines and returns the first error.
func parallel(c int, f func() error) error {
	var wg sync.WaitGroup
	errs := make(chan error, c)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// rawDeliveryRound is the delivery baseline: n signed POSTs to the held
// receiver, released at once, with c concurrent keep-alive clients.
func rawDeliveryRound(t *tb, rcv *receiver, n, c int) float64 {
	rcv.reset()
	secret := []byte("whsec_bench_healthy_0123456789")
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"id":"evt_raw%09d","type":"invoice.created","created_at":"2026-11-22T16:12:48Z","invoice":{"id":"inv_raw%09d","status":"new","exception":null,"amount":"25.00","currency":"USD","amount_paid":"0.00","order_id":"A-%d","description":"2 x T-shirt","metadata":{"customer":"42"},"created_at":"2026-11-22T16:12:48Z","expires_at":"2026-11-22T16:27:48Z","settled_at":null,"checkout_url":"http://127.0.0.1/i/inv_raw","redirect_url":"","sequence":1,"methods":[{"method":"bitcoin/btc","chain":"bitcoin","asset":"BTC","address":"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080","amount_due":"0.00041667","amount_received":"0","amount_confirmed":"0","rate":"60000","confirmations_required":1,"payment_uri":"bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00041667"}],"payments":[]},"pad":"%s"}`, i, i, i, strings.Repeat("x", 300))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: c * 2}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				b := body(i)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				m := hmac.New(sha256.New, secret)
				m.Write([]byte(ts + "."))
				m.Write(b)
				req, _ := http.NewRequest("POST", rcv.url+"/ok", bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Payd-Signature", "t="+ts+",v1="+hex.EncodeToString(m.Sum(nil)))
				resp, err := cl.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
