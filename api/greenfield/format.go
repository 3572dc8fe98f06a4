package greenfield

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/webhook"
)

// WebhookFormat renders payd's events as Greenfield webhook bodies for the
// endpoints registered through /api/v1 (format webhook.FormatGreenfield),
// signed with BTCPay-Sig. It works from the event as stored, so a retry or
// redelivery sends the invoice as it was when the event happened.
type WebhookFormat struct {
	storeID string
	methods []Method
}

// NewWebhookFormat returns the format for the store (the same Config as New).
func NewWebhookFormat(cfg Config) *WebhookFormat {
	return &WebhookFormat{storeID: cfg.StoreID, methods: newMethods(cfg.Methods)}
}

var _ webhook.Format = (*WebhookFormat)(nil)

// webhookEvent is Greenfield's WebhookInvoiceEvent with the per-type fields.
type webhookEvent struct {
	DeliveryID         string          `json:"deliveryId"`
	WebhookID          string          `json:"webhookId"`
	OriginalDeliveryID string          `json:"originalDeliveryId"`
	IsRedelivery       bool            `json:"isRedelivery"`
	Type               string          `json:"type"`
	Timestamp          int64           `json:"timestamp"`
	StoreID            string          `json:"storeId"`
	InvoiceID          string          `json:"invoiceId"`
	Metadata           json.RawMessage `json:"metadata"`
	// InvoiceReceivedPayment, InvoicePaymentSettled
	AfterExpiration *bool        `json:"afterExpiration,omitempty"`
	PaymentMethodID string       `json:"paymentMethodId,omitempty"`
	PaymentMethod   string       `json:"paymentMethod,omitempty"`
	Payment         *paymentView `json:"payment,omitempty"`
	// InvoiceProcessing, InvoiceSettled
	OverPaid *bool `json:"overPaid,omitempty"`
	// InvoiceSettled, InvoiceInvalid
	ManuallyMarked *bool `json:"manuallyMarked,omitempty"`
	// InvoiceExpired
	PartiallyPaid *bool `json:"partiallyPaid,omitempty"`
}

// Render implements webhook.Format.
func (f *WebhookFormat) Render(d webhook.Delivery) ([]byte, http.Header, error) {
	var ev invoice.EventBody
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		return nil, nil, fmt.Errorf("greenfield: decode event %s: %w", d.EventID, err)
	}
	body, err := f.body(ev, d)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{}
	h.Set(webhook.HeaderGreenfield, webhook.SignGreenfield(d.Secret, body))
	return body, h, nil
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(invoice.TimeFormat, s)
	return t
}

func ptr[T any](v T) *T { return &v }

func (f *WebhookFormat) body(ev invoice.EventBody, d webhook.Delivery) ([]byte, error) {
	inv := ev.Invoice
	typ := EventType(ev.Type)
	if typ == "" {
		return nil, fmt.Errorf("greenfield: event %s has type %s, which Greenfield has no name for", d.EventID, ev.Type)
	}
	out := webhookEvent{DeliveryID: d.EventID, WebhookID: d.EndpointID, OriginalDeliveryID: d.EventID, IsRedelivery: d.Redelivery > 0,
		Type: typ, Timestamp: parseTime(ev.CreatedAt).Unix(), StoreID: f.storeID, InvoiceID: inv.ID, Metadata: inv.Metadata}
	if d.Redelivery > 0 {
		out.DeliveryID = d.EventID + "-" + strconv.FormatInt(d.Redelivery, 10)
	}
	if len(out.Metadata) == 0 {
		out.Metadata = json.RawMessage("{}")
		if inv.OrderID != "" {
			out.Metadata, _ = json.Marshal(map[string]string{"orderId": inv.OrderID})
		}
	}
	exception := ""
	if inv.Exception != nil {
		exception = *inv.Exception
	}
	switch ev.Type {
	case invoice.EventPaymentReceived, invoice.EventPaymentConfirmed:
		p, ok := pickPayment(inv, ev.Type == invoice.EventPaymentConfirmed)
		if ok {
			id := f.gfID(p.Method)
			out.PaymentMethodID, out.PaymentMethod = id, id
			out.AfterExpiration = ptr(parseTime(p.SeenAt).After(parseTime(inv.ExpiresAt)))
			addr := ""
			for _, m := range inv.Methods {
				if m.Method == p.Method {
					addr = m.Address
				}
			}
			out.Payment = &paymentView{ID: p.TxID + "-" + strconv.FormatUint(uint64(p.OutputIndex), 10), ReceivedDate: parseTime(p.SeenAt).Unix(),
				Value: p.Amount, Fee: "0", Status: paymentStatus(p.Status), Destination: addr}
		} else {
			out.AfterExpiration = ptr(false)
		}
	case invoice.EventProcessing, invoice.EventPaymentReorged:
		out.OverPaid = ptr(exception == string(invoice.ExceptionOverpaid))
	case invoice.EventSettled:
		out.OverPaid = ptr(exception == string(invoice.ExceptionOverpaid))
		out.ManuallyMarked = ptr(exception == string(invoice.ExceptionMarked))
	case invoice.EventInvalid:
		out.ManuallyMarked = ptr(exception == string(invoice.ExceptionMarked))
	case invoice.EventExpired:
		paid := false
		for _, p := range inv.Payments {
			paid = paid || p.Status == invoice.PaymentPending || p.Status == invoice.PaymentConfirmed
		}
		out.PartiallyPaid = ptr(paid)
	}
	return json.Marshal(out)
}

// pickPayment returns the payment an event is about: the newest seen one
// that counts (payment_received) or the newest confirmed one
// (payment_confirmed). payd's event carries the whole invoice, not the
// payment, so with several payments at once this is the latest.
func pickPayment(inv invoice.View, confirmed bool) (invoice.PaymentView, bool) {
	var best invoice.PaymentView
	found := false
	for _, p := range inv.Payments {
		ok := p.Status == invoice.PaymentConfirmed || (!confirmed && p.Status == invoice.PaymentPending)
		if ok && (!found || !parseTime(p.SeenAt).Before(parseTime(best.SeenAt))) {
			best, found = p, true
		}
	}
	return best, found
}

func (f *WebhookFormat) gfID(n string) string {
	a := API{methods: f.methods}
	return a.gfID(n)
}
