package e2e

import (
	"fmt"
	"context"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

type env struct {
	t     *testing.T
	stack *testnode.Stack
	payd  *testnode.Payd
	c     *client.Client
}

func newEnv(t *testing.T, stack *testnode.Stack, o testnode.PaydOptions) *env {
	t.Helper()
	p := stack.StartPayd(t, o)
	return &env{t: t, stack: stack, payd: p, c: client.New(p.URL, p.APIKey)}
}

// sub returns the env for a subtest (failures go to the subtest).
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) create(req client.CreateInvoiceRequest) *invoice.View {
	e.t.Helper()
	v, err := e.c.CreateInvoice(context.Background(), req, "")
	if err != nil {
		e.t.Fatalf("create invoice: %v\n%s", err, e.payd.Tail(30))
	}
	return v
}

func method(t *testing.T, v *invoice.View, name string) invoice.MethodView {
	t.Helper()
	for _, m := range v.Methods {
		if m.Method == name {
			return m
		}
	}
	t.Fatalf("invoice %s has no method %s: %+v", v.ID, name, v.Methods)
	return invoice.MethodView{}
}

// units parses a method's decimal amount into base units.
func units(t *testing.T, s string, decimals int) *big.Int {
	t.Helper()
	v, err := invoice.ParseAmount(s, decimals, "")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wait polls the invoice until it has status (and exception, "" = none).
func (e *env) wait(id string, status invoice.Status, exception string, timeout time.Duration) *invoice.View {
	e.t.Helper()
	return e.waitFor(id, fmt.Sprintf("%s/%q", status, exception), timeout, func(v *invoice.View) bool {
		ex := ""
		if v.Exception != nil {
			ex = *v.Exception
		}
		return v.Status == status && ex == exception
	})
}

// waitFor polls the invoice until ok holds for it; what names the condition
// in the failure message.
func (e *env) waitFor(id, what string, timeout time.Duration, ok func(*invoice.View) bool) *invoice.View {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *invoice.View
	for {
		v, err := e.c.GetInvoice(context.Background(), id)
		if err == nil {
			last = v
			if ok(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("invoice %s: not %s within %s; last: %+v\nevents: %v\nlog:\n%s", id, what, timeout, last, e.events(id), e.payd.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// events returns the types of the invoice's events, oldest first.
func (e *env) events(id string) []string {
	e.t.Helper()
	var out []string
	after := ""
	for {
		page, more, err := e.c.ListEvents(context.Background(), after, 200)
		if err != nil {
			e.t.Fatalf("list events: %v", err)
		}
		for _, ev := range page {
			if ev.Invoice.ID == id {
				out = append(out, string(ev.Type))
			}
			after = ev.ID
		}
		if !more {
			return out
		}
	}
}

func (e *env) wantEvents(id string, want ...invoice.EventType) {
	e.t.Helper()
	var w []string
	for _, t := range want {
		w = append(w, string(t))
	}
	// Webhook-visible events are committed with the change: no waiting.
	if got := e.events(id); !slices.Equal(got, w) {
		e.t.Fatalf("events of %s:\n got %s\nwant %s", id, strings.Join(got, " "), strings.Join(w, " "))
	}
}

// payBTC pays sats to the invoice's bitcoin address (in the mempool).
func (e *env) payBTC(v *invoice.View, sats int64) string {
	return e.stack.BTC.Pay(method(e.t, v, "bitcoin/btc").Address, sats, false)
}

const (
	created   = invoice.EventCreated
	received  = invoice.EventPaymentReceived
	confirmed = invoice.EventPaymentConfirmed
	reorged   = invoice.EventPaymentReorged
	process   = invoice.EventProcessing
	settled   = invoice.EventSettled
	expired   = invoice.EventExpired
)
