// Package invoice is payd's pure domain: money in base units, assets, invoice
// and payment statuses, events, and the rules that move an invoice between
// statuses (see ../shared/API.md). It does no I/O, reads no clock (time is an
// argument) and imports nothing of payd's.
package invoice

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// Status is an invoice's status.
type Status string

// Invoice statuses (API.md "Status machine").
const (
	StatusNew        Status = "new"
	StatusProcessing Status = "processing"
	StatusSettled    Status = "settled"
	StatusExpired    Status = "expired"
	StatusInvalid    Status = "invalid"
)

// Statuses lists every Status.
var Statuses = []Status{StatusNew, StatusProcessing, StatusSettled, StatusExpired, StatusInvalid}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Final reports whether an invoice in this status can no longer change by
// itself (a reorg may still move a settled invoice back; see API.md).
func (s Status) Final() bool { return s == StatusSettled || s == StatusExpired || s == StatusInvalid }

// Exception qualifies a status; "" means none (JSON null).
type Exception string

// Exceptions.
const (
	ExceptionNone      Exception = ""
	ExceptionUnderpaid Exception = "underpaid"
	ExceptionOverpaid  Exception = "overpaid"
	ExceptionPaidLate  Exception = "paid_late"
	ExceptionMarked    Exception = "marked"
)

// PaymentStatus is a payment's status.
type PaymentStatus string

// Payment statuses.
const (
	PaymentPending   PaymentStatus = "pending"
	PaymentConfirmed PaymentStatus = "confirmed"
	PaymentOrphaned  PaymentStatus = "orphaned"
	PaymentReplaced  PaymentStatus = "replaced"
)

// ChainKind says which payment-URI scheme and address rules a chain uses.
type ChainKind string

// Chain kinds.
const (
	KindBitcoin ChainKind = "bitcoin"
	KindEVM     ChainKind = "evm"
	// KindLightning: a BOLT11 invoice from the merchant's LND; Address
	// holds the payment request (lnbc…), never handed to another invoice.
	KindLightning ChainKind = "lightning"
)

// Method is one way to pay an invoice: a chain/asset pair with its own deposit
// address and amount due, fixed when the invoice is created.
type Method struct {
	Method                string    // "bitcoin/btc", "ethereum/usdc"
	Chain                 string    // "bitcoin", "ethereum"
	Kind                  ChainKind // bitcoin or evm
	ChainID               uint64    // EVM chain id (0 for Bitcoin)
	Asset                 Asset     // BTC, USDC, …
	Token                 string    // ERC-20 contract (EIP-55), "" for a native coin
	Address               string    // deposit address (EIP-55 for EVM)
	DeriveIdx             uint32    // derivation index of Address
	AmountDue             *big.Int  // in Asset base units
	Rate                  string    // price of one Asset in the invoice currency, decimal string
	RateSource            string    // where Rate came from ("static", "coingecko", "identity", …)
	RateTime              time.Time // when the rate was observed
	ConfirmationsRequired int
}

// Payment is one transfer to a method's address.
type Payment struct {
	ID            string // pay_…
	Method        string // "bitcoin/btc"
	TxID          string
	OutputIndex   uint32 // vout, log index, or 0
	Amount        *big.Int
	BlockHeight   uint64 // 0 while unconfirmed
	BlockHash     string // "" while unconfirmed
	Confirmations int
	Status        PaymentStatus
	RBF           bool
	SeenAt        time.Time
	// ConfirmedAt is when the payment first reached its required
	// confirmations (zero until then).
	ConfirmedAt time.Time
}

// Invoice is the aggregate the API, watcher and checkout work on.
type Invoice struct {
	ID          string // inv_…
	Status      Status
	Exception   Exception
	Amount      *big.Int // in Currency base units
	Currency    Asset
	OrderID     string
	Description string
	Metadata    json.RawMessage // verbatim JSON object, or nil
	CreatedAt   time.Time
	ExpiresAt   time.Time
	SettledAt   *time.Time
	RedirectURL string
	// ToleranceBP is payment_tolerance in hundredths of a percent (0.5% = 50).
	ToleranceBP int64
	// MonitorUntil is when payd stops watching the invoice's addresses
	// (expires_at + monitoring_window, pushed on by late activity).
	MonitorUntil time.Time
	Sequence     int64
	// LinkID is the payment link that created the invoice ("" for none).
	LinkID   string
	Methods  []Method
	Payments []Payment
}

// MethodByName returns the invoice's method named m.
func (inv *Invoice) MethodByName(m string) (*Method, bool) {
	for i := range inv.Methods {
		if inv.Methods[i].Method == m {
			return &inv.Methods[i], true
		}
	}
	return nil, false
}

// LightningFor returns the invoice's Lightning method that a unified
// BIP21 URI of on-chain method m carries (lightning=): for a Bitcoin method,
// the first Lightning method of the same asset; nil otherwise.
func (inv *Invoice) LightningFor(m *Method) *Method {
	if m.Kind != KindBitcoin {
		return nil
	}
	for i := range inv.Methods {
		l := &inv.Methods[i]
		if l.Kind == KindLightning && l.Asset.Code == m.Asset.Code && l.Address != "" {
			return l
		}
	}
	return nil
}

// EventType is the type of an event (API.md "Events and webhooks").
type EventType string

// Event types.
const (
	EventCreated          EventType = "invoice.created"
	EventPaymentReceived  EventType = "invoice.payment_received"
	EventPaymentConfirmed EventType = "invoice.payment_confirmed"
	EventPaymentReorged   EventType = "invoice.payment_reorged"
	EventProcessing       EventType = "invoice.processing"
	EventSettled          EventType = "invoice.settled"
	EventExpired          EventType = "invoice.expired"
	EventInvalid          EventType = "invoice.invalid"

	// Refund and sweep events (package refund, docs/refunds.md). Their
	// payload is {"id","type","created_at","refund"|"sweep":{…},"invoice":{…}}.
	EventRefundCreated         EventType = "refund.created"
	EventRefundAddressProvided EventType = "refund.address_provided"
	EventRefundCompleted       EventType = "refund.completed"
	EventRefundCanceled        EventType = "refund.canceled"
	EventSweepCompleted        EventType = "sweep.completed"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventCreated, EventPaymentReceived, EventPaymentConfirmed,
	EventPaymentReorged, EventProcessing, EventSettled, EventExpired, EventInvalid,
	EventRefundCreated, EventRefundAddressProvided, EventRefundCompleted, EventRefundCanceled, EventSweepCompleted}

// StatusOf returns the status a status event announces (invoice.created →
// new, invoice.settled → settled, …); ok is false for the payment events.
// The invoice in a status event's payload is always in that status.
func (t EventType) StatusOf() (s Status, ok bool) {
	switch t {
	case EventCreated:
		return StatusNew, true
	case EventProcessing:
		return StatusProcessing, true
	case EventSettled:
		return StatusSettled, true
	case EventExpired:
		return StatusExpired, true
	case EventInvalid:
		return StatusInvalid, true
	}
	return "", false
}

// ValidEventType reports whether s names an event type.
func ValidEventType(s string) bool {
	for _, t := range EventTypes {
		if string(t) == s {
			return true
		}
	}
	return false
}

// Event is something that happened to an invoice. Its payload (the webhook
// body) is rendered from the invoice as it was right after the change, in the
// same transaction.
type Event struct {
	ID        string // evt_…
	Type      EventType
	InvoiceID string
	CreatedAt time.Time
	Payload   json.RawMessage // {"id":…,"type":…,"created_at":…,"invoice":{…}}
	// Seq is the event's place in the global order, set by the store when it
	// reads the event back (0 before the event is stored).
	Seq int64
}

// String returns the event for logs.
func (e Event) String() string { return fmt.Sprintf("%s %s %s", e.ID, e.Type, e.InvoiceID) }
