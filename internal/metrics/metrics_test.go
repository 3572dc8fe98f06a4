package metrics

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

// scrape returns the exposition text of m's handler.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func event(t *testing.T, typ invoice.EventType, methods [][2]string, payments []string) invoice.Event {
	t.Helper()
	v := invoice.View{ID: "inv_x", Status: invoice.StatusNew}
	for _, m := range methods {
		v.Methods = append(v.Methods, invoice.MethodView{Method: m[0], AmountReceived: m[1]})
	}
	for _, p := range payments {
		v.Payments = append(v.Payments, invoice.PaymentView{Method: p})
	}
	b, err := json.Marshal(invoice.EventBody{ID: "evt_x", Type: typ, Invoice: v})
	if err != nil {
		t.Fatal(err)
	}
	return invoice.Event{ID: "evt_x", Type: typ, InvoiceID: "inv_x", Payload: b}
}

func TestObserveEvent(t *testing.T) {
	two := [][2]string{{"bitcoin/btc", "0"}, {"ethereum/usdc", "0"}}
	paidBTC := [][2]string{{"bitcoin/btc", "0.0004"}, {"ethereum/usdc", "0"}}
	tests := []struct {
		name string
		ev   invoice.Event
		want []string
	}{
		{"created counts every offered method", event(t, invoice.EventCreated, two, nil), []string{
			`payd_invoices_total{event="created",method="bitcoin/btc"} 1`,
			`payd_invoices_total{event="created",method="ethereum/usdc"} 1`,
			`payd_events_total{type="invoice.created"} 1`,
		}},
		{"settled counts the methods that received", event(t, invoice.EventSettled, paidBTC, []string{"bitcoin/btc"}), []string{
			`payd_invoices_total{event="settled",method="bitcoin/btc"} 1`,
		}},
		{"marked settled with nothing received counts the offers", event(t, invoice.EventSettled, two, nil), []string{
			`payd_invoices_total{event="settled",method="bitcoin/btc"} 1`,
			`payd_invoices_total{event="settled",method="ethereum/usdc"} 1`,
		}},
		{"expired", event(t, invoice.EventExpired, two[:1], nil), []string{
			`payd_invoices_total{event="expired",method="bitcoin/btc"} 1`,
		}},
		{"invalid", event(t, invoice.EventInvalid, two[1:], nil), []string{
			`payd_invoices_total{event="invalid",method="ethereum/usdc"} 1`,
		}},
		{"payment received uses the last payment", event(t, invoice.EventPaymentReceived, two, []string{"bitcoin/btc", "ethereum/usdc"}), []string{
			`payd_payments_total{event="received",method="ethereum/usdc"} 1`,
		}},
		{"payment confirmed", event(t, invoice.EventPaymentConfirmed, two, []string{"bitcoin/btc"}), []string{
			`payd_payments_total{event="confirmed",method="bitcoin/btc"} 1`,
		}},
		{"payment reorged", event(t, invoice.EventPaymentReorged, two, []string{"bitcoin/btc"}), []string{
			`payd_payments_total{event="reorged",method="bitcoin/btc"} 1`,
		}},
		{"processing counts only as an event", event(t, invoice.EventProcessing, two, []string{"bitcoin/btc"}), []string{
			`payd_events_total{type="invoice.processing"} 1`,
		}},
		{"undecodable payload counts as unknown", invoice.Event{Type: invoice.EventCreated, Payload: []byte("{")}, []string{
			`payd_invoices_total{event="created",method="unknown"} 1`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.ObserveEvent(tt.ev)
			out := scrape(t, m)
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("scrape lacks %q", w)
				}
			}
			if tt.ev.Type == invoice.EventSettled && tt.name == "settled counts the methods that received" &&
				strings.Contains(out, `event="settled",method="ethereum/usdc"`) {
				t.Errorf("settled counted a method that received nothing")
			}
			if tt.ev.Type == invoice.EventProcessing && (strings.Contains(out, "payd_invoices_total{") || strings.Contains(out, "payd_payments_total{")) {
				t.Errorf("processing counted as an invoice or payment")
			}
		})
	}
}

func TestOperationalMetrics(t *testing.T) {
	m := New()
	m.ObserveDelivery("success", 30*time.Millisecond)
	m.ObserveDelivery("success", 40*time.Millisecond)
	m.ObserveDelivery("retry", 10*time.Second)
	m.ObserveHTTP("GET /v1/invoices/{id}", 200, 3*time.Millisecond)
	m.ObserveHTTP("POST /v1/invoices", 422, 7*time.Millisecond)
	m.ObserveHTTP("", 404, time.Millisecond)
	m.SetChain("bitcoin", 870010, 870007, true)
	m.SetChain("ethereum", 100, 120, false) // processed ahead of a lagging node: lag 0
	m.SetGap("bitcoin/btc", 7)
	out := scrape(t, m)
	for _, w := range []string{
		`payd_webhook_deliveries_total{outcome="success"} 2`,
		`payd_webhook_deliveries_total{outcome="retry"} 1`,
		`payd_webhook_delivery_duration_seconds_count{outcome="success"} 2`,
		`payd_webhook_delivery_duration_seconds_bucket{outcome="success",le="0.05"} 2`,
		`payd_webhook_delivery_duration_seconds_bucket{outcome="retry",le="5"} 0`,
		`payd_http_request_duration_seconds_count{code="2xx",route="GET /v1/invoices/{id}"} 1`,
		`payd_http_request_duration_seconds_count{code="4xx",route="POST /v1/invoices"} 1`,
		`payd_http_request_duration_seconds_count{code="4xx",route="unmatched"} 1`,
		`payd_chain_tip_height{chain="bitcoin"} 870010`,
		`payd_chain_processed_height{chain="bitcoin"} 870007`,
		`payd_chain_lag_blocks{chain="bitcoin"} 3`,
		`payd_chain_up{chain="bitcoin"} 1`,
		`payd_chain_lag_blocks{chain="ethereum"} 0`,
		`payd_chain_up{chain="ethereum"} 0`,
		`payd_address_gap{method="bitcoin/btc"} 7`,
		`go_goroutines `,
		`process_`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("scrape lacks %q", w)
		}
	}
	// SetChain overwrites, it does not add.
	m.SetChain("bitcoin", 870011, 870011, true)
	if out := scrape(t, m); !strings.Contains(out, `payd_chain_lag_blocks{chain="bitcoin"} 0`+"\n") {
		t.Errorf("lag not updated")
	}
}

// The database's ping and, with several instances, the leases: read at
// scrape time, so a lease given up shows 0 and has no age.
func TestDatabaseAndLeaseMetrics(t *testing.T) {
	m := New()
	if out := scrape(t, m); strings.Contains(out, "payd_lease_held") || strings.Contains(out, "payd_instance_info") {
		t.Fatalf("lease metrics before SetLeases (SQLite: one instance):\n%s", out)
	}
	t0 := time.Unix(1700000000, 0)
	m.leases.now = func() time.Time { return t0 }
	held := true
	m.SetLeases("h-1-ab", func() []LeaseState {
		return []LeaseState{
			{Name: "expirer"},
			{Name: "watcher:bitcoin", Held: held, Renewed: t0.Add(-1500 * time.Millisecond)},
		}
	})
	m.SetDatabase(true, 2500*time.Microsecond)
	m.SetChain("bitcoin", 10, 10, true)
	tests := []struct {
		name       string
		change     func()
		want, lack []string
	}{
		{"leader of bitcoin", func() {}, []string{
			`payd_instance_info{instance="h-1-ab"} 1`,
			`payd_lease_held{lease="expirer"} 0`,
			`payd_lease_held{lease="watcher:bitcoin"} 1`,
			`payd_lease_age_seconds{lease="watcher:bitcoin"} 1.5`,
			`payd_database_up 1`,
			`payd_database_ping_seconds 0.0025`,
			`payd_chain_up{chain="bitcoin"} 1`,
		}, []string{`payd_lease_age_seconds{lease="expirer"}`}},
		{"cut off: lease given up, database down", func() {
			held = false
			m.SetDatabase(false, 2*time.Second)
			m.DeleteChain("bitcoin")
		}, []string{
			`payd_lease_held{lease="watcher:bitcoin"} 0`,
			`payd_database_up 0`,
			`payd_database_ping_seconds 2`,
		}, []string{`payd_lease_age_seconds{lease="watcher:bitcoin"}`, `payd_chain_up{chain="bitcoin"}`, `payd_chain_tip_height{chain="bitcoin"}`}},
	}
	for _, tt := range tests {
		tt.change()
		out := scrape(t, m)
		for _, w := range tt.want {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("%s: scrape lacks %q", tt.name, w)
			}
		}
		for _, l := range tt.lack {
			if strings.Contains(out, l) {
				t.Errorf("%s: scrape has %q", tt.name, l)
			}
		}
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{200: "2xx", 201: "2xx", 304: "3xx", 404: "4xx", 503: "5xx", 0: "other", 999: "other"} {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestNilMetricsObserveNothing(t *testing.T) {
	var m *Metrics
	m.ObserveEvent(invoice.Event{Type: invoice.EventCreated})
	m.ObserveDelivery("success", time.Second)
	m.ObserveHTTP("GET /", 200, time.Second)
	m.SetChain("bitcoin", 1, 1, true)
	m.SetGap("bitcoin/btc", 1)
	m.DeleteChain("bitcoin")
	m.SetDatabase(true, time.Millisecond)
	m.SetLeases("h", func() []LeaseState { return nil })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("nil handler: %d", rec.Code)
	}
}
