package metrics

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
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
	dbUp       prometheus.Gauge         // payd_database_up
	dbPing     prometheus.Gauge         // payd_database_ping_seconds
	leases     *leaseCollector          // payd_instance_info, payd_lease_held, payd_lease_age_seconds

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
		dbUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "payd_database_up",
			Help: "1 when the database answered its last ping (every 5 s and on every /readyz), else 0.",
		}),
		dbPing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "payd_database_ping_seconds",
			Help: "Round trip of the last database ping (its 2 s timeout when it did not answer).",
		}),
		leases: &leaseCollector{},
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
		m.tip, m.processed, m.lag, m.up, m.gap, m.inbound, m.dbUp, m.dbPing, m.leases,
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

// DeleteChain drops a chain's series: another instance leads it (several
// payd on one database), so this one's figures would be stale.
func (m *Metrics) DeleteChain(name string) {
	if m == nil {
		return
	}
	for _, g := range []*prometheus.GaugeVec{m.tip, m.processed, m.lag, m.up} {
		g.DeleteLabelValues(name)
	}
}

// SetDatabase publishes the last database ping: answered or not, and its
// round trip.
func (m *Metrics) SetDatabase(up bool, ping time.Duration) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.dbUp.Set(v)
	m.dbPing.Set(ping.Seconds())
}

// LeaseState is one lease an instance runs a part under (several payd on
// one PostgreSQL database): held or not and, when held, its last renewal.
type LeaseState struct {
	Name    string
	Held    bool
	Renewed time.Time
}

// SetLeases publishes this instance's id (payd_instance_info) and, read at
// every scrape from states, its leases: payd_lease_held{lease} 1 or 0 and,
// for the held ones, payd_lease_age_seconds{lease} (time since the last
// renewal).
func (m *Metrics) SetLeases(instance string, states func() []LeaseState) {
	if m == nil {
		return
	}
	m.leases.set(instance, states)
}

var (
	instanceDesc = prometheus.NewDesc("payd_instance_info",
		"Always 1; instance is this payd's holder id in the lease table (several payd on one PostgreSQL database).", []string{"instance"}, nil)
	leaseHeldDesc = prometheus.NewDesc("payd_lease_held",
		"1 while this instance holds the lease (watcher:<chain>: it leads the chain), else 0.", []string{"lease"}, nil)
	leaseAgeDesc = prometheus.NewDesc("payd_lease_age_seconds",
		"Time since this instance last renewed a lease it holds (renewed every ~3 s; it runs out after 10 s).", []string{"lease"}, nil)
)

// leaseCollector reads the lease states at scrape time, so the ages are
// current; it collects nothing until SetLeases.
type leaseCollector struct {
	mu       sync.Mutex
	instance string
	states   func() []LeaseState
	now      func() time.Time
}

func (c *leaseCollector) set(instance string, states func() []LeaseState) {
	c.mu.Lock()
	c.instance, c.states = instance, states
	c.mu.Unlock()
}

func (c *leaseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instanceDesc
	ch <- leaseHeldDesc
	ch <- leaseAgeDesc
}

func (c *leaseCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	instance, states, now := c.instance, c.states, c.now
	c.mu.Unlock()
	if states == nil {
		return
	}
	if now == nil {
		now = time.Now
	}
	ch <- prometheus.MustNewConstMetric(instanceDesc, prometheus.GaugeValue, 1, instance)
	t := now()
	for _, st := range states() {
		held := 0.0
		if st.Held {
			held = 1
			ch <- prometheus.MustNewConstMetric(leaseAgeDesc, prometheus.GaugeValue, max(t.Sub(st.Renewed).Seconds(), 0), st.Name)
		}
		ch <- prometheus.MustNewConstMetric(leaseHeldDesc, prometheus.GaugeValue, held, st.Name)
	}
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
