package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// rssKB reads VmRSS of pid from /proc (0 if unreadable).
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// goMetrics reads go_memstats_heap_alloc_bytes and go_goroutines from
// payd's /metrics (zeros if unavailable).
func goMetrics(base string) (heap, goroutines int64) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_memstats_heap_alloc_bytes":
			heap = int64(v)
		case "go_goroutines":
			goroutines = int64(v)
		}
	}
	return heap, goroutines
}

// TestSoak (only with PAYD_SOAK=1, see `make soak`) creates 10,000 invoices
// from 16 concurrent clients while 1,000 of them are paid on btcd and anvil;
// no request may fail with a 5xx or a transport error, every paid invoice
// must settle, and payd's resident memory must be flat at the end: the
// second half of the load may not grow it by more than half what it was
// at mid-run (a leak per invoice would double it). RSS after the checks
// (which list every invoice and event) is reported, not judged: Go returns
// memory to the OS lazily. PAYD_SOAK_INVOICES and PAYD_SOAK_PAID scale it.
func TestSoak(t *testing.T) {
	if os.Getenv("PAYD_SOAK") != "1" {
		t.Skip("soak test: set PAYD_SOAK=1 (make soak)")
	}
	total, toPay := 10_000, 1_000
	for name, p := range map[string]*int{"PAYD_SOAK_INVOICES": &total, "PAYD_SOAK_PAID": &toPay} {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q", name, s)
			}
			*p = n
		}
	}
	const clients = 16
	t.Setenv("PAYD_SERVER_API_RATE_LIMIT", "100000")
	stack := testnode.StartStack(t)
	e := newEnv(t, stack, testnode.PaydOptions{})
	pid := e.payd.PID()
	if pid == 0 {
		t.Fatal("payd has no pid")
	}

	// Sample RSS every second.
	type sample struct {
		at         time.Duration
		created    int64
		kb         int64
		heap       int64
		goroutines int64
	}
	var (
		samples   []sample
		sampleMu  sync.Mutex
		nCreated  atomic.Int64
		start     = time.Now()
		stopRSS   = make(chan struct{})
		rssDone   = make(chan struct{})
		latencyMu sync.Mutex
		maxLat    time.Duration
	)
	go func() {
		defer close(rssDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			sampleMu.Lock()
			heap, gr := goMetrics(e.payd.URL)
			samples = append(samples, sample{time.Since(start), nCreated.Load(), rssKB(pid), heap, gr})
			sampleMu.Unlock()
			select {
			case <-stopRSS:
				return
			case <-tick.C:
			}
		}
	}()

	// 16 clients create the invoices; the test goroutine pays every
	// (total/toPay)-th one as it arrives.
	var (
		errMu    sync.Mutex
		byStatus = map[int]int{}
		other    []string
	)
	next := atomic.Int64{}
	created := make(chan invoice.View, total)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				req := client.CreateInvoiceRequest{Amount: "0.0001", Currency: "BTC", Methods: []string{"bitcoin/btc"}, OrderID: fmt.Sprintf("soak-%d", i)}
				if i%2 == 1 {
					req = client.CreateInvoiceRequest{Amount: "1.00", Currency: "USD", Methods: []string{"ethereum/usdc"}, OrderID: fmt.Sprintf("soak-%d", i)}
				}
				t0 := time.Now()
				v, err := e.c.CreateInvoice(context.Background(), req, "")
				d := time.Since(t0)
				latencyMu.Lock()
				maxLat = max(maxLat, d)
				latencyMu.Unlock()
				if err != nil {
					var ae *client.Error
					errMu.Lock()
					if errors.As(err, &ae) {
						byStatus[ae.Status]++
					} else {
						other = append(other, err.Error())
					}
					errMu.Unlock()
					continue
				}
				nCreated.Add(1)
				created <- *v
			}
		}()
	}
	go func() { wg.Wait(); close(created) }()

	every := max(total/toPay, 1)
	var paid []string
	btcPaid := 0
	n := 0
	var midKB int64
	for v := range created {
		n++
		if n == total/2 {
			midKB = rssKB(pid)
		}
		if n%every != 0 || len(paid) >= toPay {
			continue
		}
		m := v.Methods[0]
		if m.Method == "bitcoin/btc" {
			stack.BTC.Pay(m.Address, 10_000, false)
			if btcPaid++; btcPaid%50 == 0 {
				stack.BTC.Generate(1)
			}
		} else {
			stack.EVM.TransferToken(stack.USDC, m.Address, big.NewInt(1_000_000))
		}
		paid = append(paid, v.ID)
	}
	loadTime := time.Since(start)
	endKB := rssKB(pid)
	stack.BTC.Generate(1)
	stack.EVM.Mine(1)

	errMu.Lock()
	for status, k := range byStatus {
		if status >= 500 {
			t.Errorf("%d requests answered %d", k, status)
		} else {
			t.Errorf("%d requests answered %d (the limits were raised for this test)", k, status)
		}
	}
	if len(other) > 0 {
		t.Errorf("%d transport errors, e.g. %s", len(other), other[0])
	}
	errMu.Unlock()

	// Every paid invoice settles.
	want := map[string]bool{}
	for _, id := range paid {
		want[id] = true
	}
	deadline := time.Now().Add(2 * time.Minute)
	var all map[string]invoice.View
	for {
		all = e.allInvoices()
		left := 0
		for id := range want {
			if all[id].Status != invoice.StatusSettled {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d paid invoices not settled after 2 minutes", left, len(paid))
		}
		time.Sleep(time.Second)
	}
	settledTime := time.Since(start)
	if len(all) != total {
		t.Errorf("%d invoices listed, want %d", len(all), total)
	}
	for id, v := range all {
		if !want[id] && (v.Status != invoice.StatusNew || len(v.Payments) != 0) {
			t.Errorf("unpaid invoice %s: %s with %d payments", id, v.Status, len(v.Payments))
		}
	}
	if bad := e.violations(nil); len(bad) > 0 {
		t.Errorf("invariants: %s", strings.Join(bad[:min(10, len(bad))], "\n"))
	}
	time.Sleep(5 * time.Second)
	idleKB := rssKB(pid)
	close(stopRSS)
	<-rssDone

	sampleMu.Lock()
	var peak int64
	var trace []string
	for i, s := range samples {
		peak = max(peak, s.kb)
		if i%10 == 0 || i == len(samples)-1 {
			trace = append(trace, fmt.Sprintf("%ds:%d/%dMB/%dMB/%d", int(s.at.Seconds()), s.created, s.kb>>10, s.heap>>20, s.goroutines))
		}
	}
	sampleMu.Unlock()
	t.Logf("soak: %d invoices by %d clients in %s (%.0f/s, slowest create %s), %d paid, all settled at %s; RSS mid %d MB, end of load %d MB, idle after %d MB, peak %d MB (%s)",
		total, clients, loadTime.Round(time.Second), float64(total)/loadTime.Seconds(), maxLat.Round(time.Millisecond),
		len(paid), settledTime.Round(time.Second), midKB>>10, endKB>>10, idleKB>>10, peak>>10, binaryKind())
	t.Logf("trace (elapsed:created/RSS/Go heap/goroutines): %s", strings.Join(trace, " "))
	// The spread of the 1-s samples over the second half of the load.
	var lo, hi int64
	for _, s := range samples {
		if s.created < int64(total/2) || s.at > loadTime {
			continue
		}
		if lo == 0 || s.kb < lo {
			lo = s.kb
		}
		hi = max(hi, s.kb)
	}
	if lo > 0 {
		t.Logf("RSS over the second half of the load (1-s samples): %d–%d MB (max %.1f %% above min)", lo>>10, hi>>10, 100*float64(hi-lo)/float64(lo))
	}
	if midKB == 0 || endKB == 0 {
		t.Fatalf("could not read VmRSS of pid %d", pid)
	}
	if first, last := samples[0], samples[len(samples)-1]; last.goroutines > first.goroutines+32 {
		t.Errorf("goroutines grew from %d to %d", first.goroutines, last.goroutines)
	}
	if endKB > midKB*3/2 {
		t.Errorf("RSS grew from %d MB at mid-run to %d MB at the end of the load: not flat", midKB>>10, endKB>>10)
	}
}

// binaryKind says how payd was built for the log (see testnode.PaydBin).
func binaryKind() string {
	if testnode.RaceBuild {
		return "race-instrumented binary"
	}
	return "binary built without -race"
}
