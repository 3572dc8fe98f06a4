package metrics

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/payd/payd/invoice"
)

// Metrics holds payd's collectors and the registry they are registered in.
type Metrics struct {
	reg *prometheus.Registry

	events     *prometheus.CounterVec   // payd_events_total{type}
	invoices   *prometheus.CounterVec   // payd_invoices_total{event,method}
	payments   *prometheus.CounterVec   // payd_payments_total{event,method}
	deliveries *prometheus.CounterVec   // payd_webhook_deliveries_total{outcome}
	delivDur   *prometheus.HistogramVec // payd_webhook_delivery_duration_seconds{outcome}
	httpDur    *prometheus.HistogramVec // payd_http_request_duration_seconds{route,code}
	tip        *prometheus.GaugeVec     // payd_chain_tip_height{chain}
	processed  *prometheus.GaugeVec     // payd_chain_processed_height{chain}
	lag        *prometheus.GaugeVec     // payd_chain_lag_blocks{chain}
	up         *prometheus.GaugeVec     // payd_chain_up{chain}
	gap        *prometheus.GaugeVec     // payd_address_gap{method}
	inbound    *prometheus.GaugeVec     // payd_lightning_inbound_sats{chain}

	// the merchant console (package dashboard)
	consoleFail *prometheus.CounterVec // payd_console_login_failures_total{reason}
	consoleAct  *prometheus.CounterVec // payd_console_actions_total{action}
}

// New returns Metrics registered in a fresh registry of their own, together
// with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payd_events_total",
			Help: "Events produced, by event type.",
		}, []string{"type"}),
		invoices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payd_invoices_total",
			Help: "Invoices created, settled, expired or invalidated, by payment method. " +
				"created/expired/invalid count once per method offered; settled once per method that received funds.",
		}, []string{"event", "method"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payd_payments_total",
			Help: "Payments received, confirmed or reorged out, by payment method.",
		}, []string{"event", "method"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payd_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome.",
		}, []string{"outcome"}),
		delivDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "payd_webhook_delivery_duration_seconds",
			Help:    "Duration of webhook delivery attempts, by outcome.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		httpDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "payd_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		tip: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payd_chain_tip_height",
			Help: "Best block height reported by the chain's node.",
		}, []string{"chain"}),
		processed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payd_chain_processed_height",
			Help: "Height of the last block payd has processed.",
		}, []string{"chain"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payd_chain_lag_blocks",
			Help: "Blocks between the node's tip and the last processed block.",
		}, []string{"chain"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payd_chain_up",
			Help: "1 when the chain's node is reachable and within max_lag, else 0.",
		}, []string{"chain"}),
		inbound: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payd_lightning_inbound_sats",
			Help: "Inbound capacity of the Lightning node's active channels, in satoshis.",
		}, []string{"chain"}),
		gap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payd_address_gap",
			Help: "Consecutive handed-out addresses without a payment, by payment method.",
		}, []string{"method"}),
	}
	m.consoleFail = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payd_console_login_failures_total",
		Help: "Refused sign-ins to the merchant console, by reason (password, totp, locked, rate_limited, csrf).",
	}, []string{"reason"})
	m.consoleAct = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payd_console_actions_total",
		Help: "Write actions done through the merchant console, by action.",
	}, []string{"action"})
	m.reg.MustRegister(m.consoleFail, m.consoleAct)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.events, m.invoices, m.payments, m.deliveries, m.delivDur, m.httpDur,
		m.tip, m.processed, m.lag, m.up, m.gap, m.inbound,
	)
	return m
}

// ObserveConsoleLoginFailure counts a refused console sign-in.
func (m *Metrics) ObserveConsoleLoginFailure(reason string) {
	m.consoleFail.WithLabelValues(reason).Inc()
}

// ObserveConsoleAction counts a console write action.
func (m *Metrics) ObserveConsoleAction(action string) { m.consoleAct.WithLabelValues(action).Inc() }

// Registry returns the registry, for callers that add collectors of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// unknownMethod labels an event whose payload names no method.
const unknownMethod = "unknown"

// payload is the part of an event body (the webhook JSON) ObserveEvent reads.
type payload struct {
	Invoice struct {
		Methods []struct {
			Method         string `json:"method"`
			AmountReceived string `json:"amount_received"`
		} `json:"methods"`
		Payments []struct {
			Method string `json:"method"`
		} `json:"payments"`
	} `json:"invoice"`
}

// ObserveEvent counts a committed event: every type in payd_events_total,
// invoice lifecycle events in payd_invoices_total and payment events in
// payd_payments_total, labelled with the method(s) read from the payload.
func (m *Metrics) ObserveEvent(e invoice.Event) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(string(e.Type)).Inc()
	var p payload
	_ = json.Unmarshal(e.Payload, &p) // a bad payload still counts, as "unknown"
	switch e.Type {
	case invoice.EventCreated, invoice.EventExpired, invoice.EventInvalid, invoice.EventSettled:
		name := map[invoice.EventType]string{
			invoice.EventCreated: "created", invoice.EventExpired: "expired",
			invoice.EventInvalid: "invalid", invoice.EventSettled: "settled",
		}[e.Type]
		var methods []string
		for _, mv := range p.Invoice.Methods {
			if e.Type == invoice.EventSettled && !nonZero(mv.AmountReceived) {
				continue
			}
			methods = append(methods, mv.Method)
		}
		if len(methods) == 0 && e.Type == invoice.EventSettled {
			// marked settled by the merchant: nothing received, count the offers
			for _, mv := range p.Invoice.Methods {
				methods = append(methods, mv.Method)
			}
		}
		if len(methods) == 0 {
			methods = []string{unknownMethod}
		}
		for _, meth := range methods {
			m.invoices.WithLabelValues(name, label(meth)).Inc()
		}
	case invoice.EventPaymentReceived, invoice.EventPaymentConfirmed, invoice.EventPaymentReorged:
		name := map[invoice.EventType]string{
			invoice.EventPaymentReceived: "received", invoice.EventPaymentConfirmed: "confirmed",
			invoice.EventPaymentReorged: "reorged",
		}[e.Type]
		meth := unknownMethod
		if n := len(p.Invoice.Payments); n > 0 {
			meth = p.Invoice.Payments[n-1].Method
		}
		m.payments.WithLabelValues(name, label(meth)).Inc()
	}
}

func label(method string) string {
	if method == "" {
		return unknownMethod
	}
	return method
}

// nonZero reports whether a decimal string is a non-zero amount.
func nonZero(s string) bool {
	for _, c := range s {
		if c >= '1' && c <= '9' {
			return true
		}
	}
	return false
}

// ObserveDelivery records one webhook delivery attempt with its outcome
// (e.g. "success", "retry", "failed") and how long it took.
func (m *Metrics) ObserveDelivery(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	m.delivDur.WithLabelValues(outcome).Observe(d.Seconds())
}

// ObserveHTTP records one HTTP request: route is the mux pattern (e.g.
// "GET /v1/invoices/{id}", never the raw path, to bound cardinality) and the
// status is reduced to its class ("2xx", "4xx", …).
func (m *Metrics) ObserveHTTP(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpDur.WithLabelValues(route, statusClass(status)).Observe(d.Seconds())
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// SetChain publishes a chain's state: the node's tip, the last processed
// height, the lag between them and whether the chain is ready (up).
func (m *Metrics) SetChain(name string, tip, processed uint64, ready bool) {
	if m == nil {
		return
	}
	m.tip.WithLabelValues(name).Set(float64(tip))
	m.processed.WithLabelValues(name).Set(float64(processed))
	var lag uint64
	if tip > processed {
		lag = tip - processed
	}
	m.lag.WithLabelValues(name).Set(float64(lag))
	up := 0.0
	if ready {
		up = 1
	}
	m.up.WithLabelValues(name).Set(up)
}

// SetGap publishes the number of consecutive handed-out addresses of a
// method that received nothing (wallets stop scanning past their gap limit).
func (m *Metrics) SetGap(method string, n int) {
	if m == nil {
		return
	}
	m.gap.WithLabelValues(method).Set(float64(n))
}

// SetInbound publishes a Lightning node's inbound capacity in sats.
func (m *Metrics) SetInbound(chain string, sats int64) {
	if m == nil {
		return
	}
	m.inbound.WithLabelValues(chain).Set(float64(sats))
}
