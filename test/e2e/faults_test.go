package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// behindDetected says whether payd notices a node that stops advancing
// while it reports (getblockchaininfo headers > blocks, eth_syncing) that it
// is behind. The backends ask the node's sync state while running; with this
// false the "behind" fault would check only that payd stays up and catches
// up when the node does.
const behindDetected = true

// faultWindow is how long each fault lasts at least.
const faultWindow = 3 * time.Second

// TestNodeFaults puts a fault-injecting proxy between payd (polling, no
// websocket) and each real node. For every fault: /readyz answers 503 naming
// the chain while it lasts (except a merely slow node), payd stays up, an
// invoice paid and mined meanwhile is not settled on a node payd cannot
// read, and once the fault is lifted payd is ready again and catches up: the
// invoice settles with exactly one payment and no reorg.
func TestNodeFaults(t *testing.T) {
	stack := testnode.StartStack(t)
	btcProxy := newFaultProxy(t, stack.BTC.RPCURL)
	evmProxy := newFaultProxy(t, stack.EVM.HTTPURL)
	e := newEnv(t, stack, testnode.PaydOptions{BTCRPCURL: btcProxy.URL(), EVMRPCURL: evmProxy.URL(), NoWS: true})

	faults := []fault{faultDown, faultReset, faultSlow, fault500, faultTruncated, faultGarbage, faultBehind}
	chains := []struct {
		name  string
		proxy *faultProxy
		pay   func(e *env, v *invoice.View)
		req   client.CreateInvoiceRequest
	}{
		{"bitcoin", btcProxy, func(e *env, v *invoice.View) {
			e.payBTC(v, 100_000)
			stack.BTC.Generate(1)
		}, client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}}},
		{"ethereum", evmProxy, func(e *env, v *invoice.View) {
			stack.EVM.TransferToken(stack.USDC, method(e.t, v, "ethereum/usdc").Address, big.NewInt(2_000_000))
		}, client.CreateInvoiceRequest{Amount: "2.00", Currency: "USD", Methods: []string{"ethereum/usdc"}}},
	}
	// The chains are independent: fault them side by side.
	t.Run("chains", func(t *testing.T) {
		for _, ch := range chains {
			t.Run(ch.name, func(t *testing.T) {
				t.Parallel()
				for _, f := range faults {
					t.Run(f.String(), func(t *testing.T) {
						e := e.sub(t)
						v := e.create(ch.req)
						start := time.Now()
						ch.proxy.set(f)
						defer ch.proxy.set(faultPass)
						wantDown := f != faultSlow && (f != faultBehind || behindDetected)
						if f == faultBehind {
							// A Bitcoin node is behind only once a block exists
							// that it does not show (headers > blocks): pay, and
							// so mine, before waiting for payd to notice.
							ch.proxy.waitFrozen(10 * time.Second)
							ch.pay(e, v)
						}
						if wantDown {
							e.waitReady(false, "chain "+ch.name, 20*time.Second)
						}
						if f != faultBehind {
							ch.pay(e, v)
						}
						for time.Since(start) < faultWindow {
							e.alive()
							time.Sleep(200 * time.Millisecond)
						}
						e.alive()
						if f != faultSlow {
							if got := e.invoiceNow(v.ID); got.Status == invoice.StatusSettled {
								t.Fatalf("settled while payd could not read the node: %+v", got)
							}
						}
						ch.proxy.set(faultPass)
						e.waitReady(true, "", 45*time.Second)
						s := e.wait(v.ID, invoice.StatusSettled, "", 45*time.Second)
						if len(s.Payments) != 1 || s.AmountPaid != ch.req.Amount {
							t.Fatalf("after %s: payments %+v, amount_paid %s", f, s.Payments, s.AmountPaid)
						}
						for _, ev := range e.events(v.ID) {
							if ev == string(reorged) {
								t.Fatalf("after %s: spurious %s in %v", f, reorged, e.events(v.ID))
							}
						}
						t.Logf("%s/%s: settled %.1fs after the fault began", ch.name, f, time.Since(start).Seconds())
					})
				}
			})
		}
	})
	e.alive()
	log, err := os.ReadFile(e.payd.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"panic:", "DATA RACE", "fatal error:"} {
		if strings.Contains(string(log), bad) {
			t.Errorf("payd log contains %q:\n%s", bad, e.payd.Tail(60))
		}
	}
}

// readiness is GET /readyz.
func (e *env) readiness() (int, []string, error) {
	resp, err := http.Get(e.payd.URL + "/readyz")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Reasons []string `json:"reasons"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body.Reasons, nil
}

// waitReady polls /readyz until it is 200 (ready) or 503 with a reason
// containing reason.
func (e *env) waitReady(ready bool, reason string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastCode int
	var lastReasons []string
	for {
		code, reasons, err := e.readiness()
		if err == nil {
			lastCode, lastReasons = code, reasons
			if ready && code == http.StatusOK {
				return
			}
			if !ready && code == http.StatusServiceUnavailable && strings.Contains(strings.Join(reasons, "\n"), reason) {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/readyz: want ready=%v (%q) within %s; last %d %q\nlog:\n%s", ready, reason, timeout, lastCode, lastReasons, e.payd.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive checks the payd process runs and answers /healthz.
func (e *env) alive() {
	e.t.Helper()
	pid := e.payd.PID()
	if pid == 0 || errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		e.t.Fatalf("payd is not running; log:\n%s", e.payd.Tail(40))
	}
	resp, err := http.Get(e.payd.URL + "/healthz")
	if err != nil {
		e.t.Fatalf("/healthz: %v; log:\n%s", err, e.payd.Tail(40))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("/healthz: %d", resp.StatusCode)
	}
}

// invoiceNow returns the invoice as it is now.
func (e *env) invoiceNow(id string) *invoice.View {
	e.t.Helper()
	v, err := e.c.GetInvoice(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get invoice %s: %v", id, err)
	}
	return v
}
