package invoice

import (
	"encoding/json"
	"math/big"
	"time"
)

// Received is what arrived for method m and still counts: pending and
// confirmed payments (not orphaned, not replaced).
func (inv *Invoice) Received(m string) *big.Int {
	sum := new(big.Int)
	for _, p := range inv.Payments {
		if p.Method == m && (p.Status == PaymentPending || p.Status == PaymentConfirmed) {
			sum.Add(sum, p.Amount)
		}
	}
	return sum
}

// Confirmed is what arrived for method m with enough confirmations.
func (inv *Invoice) Confirmed(m string) *big.Int {
	sum := new(big.Int)
	for _, p := range inv.Payments {
		if p.Method == m && p.Status == PaymentConfirmed {
			sum.Add(sum, p.Amount)
		}
	}
	return sum
}

// Paid converts per-method amounts to the invoice currency and adds them up:
// Σ amount(m) / due(m) × invoice amount, rounded down to the currency's unit.
// With amount = Received it is the contract's amount_paid.
func (inv *Invoice) Paid(amount func(m string) *big.Int) *big.Int {
	total := new(big.Rat)
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if m.AmountDue == nil || m.AmountDue.Sign() <= 0 {
			continue
		}
		r := new(big.Rat).SetFrac(amount(m.Method), m.AmountDue)
		total.Add(total, r)
	}
	total.Mul(total, new(big.Rat).SetInt(inv.Amount))
	return new(big.Int).Quo(total.Num(), total.Denom())
}

// FormatFor writes an amount of asset a as the API shows it: fiat with
// exactly 2 decimals ("25.00"), crypto trimmed of trailing zeros ("0.0005", "0").
func FormatFor(a Asset, v *big.Int) string {
	if a.Fiat {
		return FormatAmount(v, a.Decimals)
	}
	return FormatTrimmed(v, a.Decimals)
}

// View is the invoice object of API.md, ready for encoding/json. Metadata is
// left out of the public view.
type View struct {
	ID          string          `json:"id"`
	Status      Status          `json:"status"`
	Exception   *string         `json:"exception"`
	Amount      string          `json:"amount"`
	Currency    string          `json:"currency"`
	AmountPaid  string          `json:"amount_paid"`
	OrderID     string          `json:"order_id"`
	Description string          `json:"description"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	CreatedAt   string          `json:"created_at"`
	ExpiresAt   string          `json:"expires_at"`
	SettledAt   *string         `json:"settled_at"`
	CheckoutURL string          `json:"checkout_url"`
	RedirectURL string          `json:"redirect_url"`
	Sequence    int64           `json:"sequence"`
	Methods     []MethodView    `json:"methods"`
	Payments    []PaymentView   `json:"payments"`
}

// MethodView is one entry of the invoice object's "methods".
type MethodView struct {
	Method                string `json:"method"`
	Chain                 string `json:"chain"`
	Asset                 string `json:"asset"`
	Address               string `json:"address"`
	AmountDue             string `json:"amount_due"`
	AmountReceived        string `json:"amount_received"`
	AmountConfirmed       string `json:"amount_confirmed"`
	Rate                  string `json:"rate"`
	RateSource            string `json:"rate_source,omitempty"`
	RateTime              string `json:"rate_time,omitempty"`
	ConfirmationsRequired int    `json:"confirmations_required"`
	Token                 string `json:"token_contract,omitempty"`
	ChainID               uint64 `json:"chain_id,omitempty"`
	PaymentURI            string `json:"payment_uri"`
}

// PaymentView is one entry of the invoice object's "payments".
type PaymentView struct {
	ID            string        `json:"id"`
	Method        string        `json:"method"`
	TxID          string        `json:"txid"`
	OutputIndex   uint32        `json:"output_index"`
	Amount        string        `json:"amount"`
	BlockHeight   *uint64       `json:"block_height"`
	BlockHash     *string       `json:"block_hash"`
	Confirmations int           `json:"confirmations"`
	Status        PaymentStatus `json:"status"`
	SeenAt        string        `json:"seen_at"`
}

// TimeFormat is RFC 3339 UTC with seconds, as every API timestamp.
const TimeFormat = "2006-01-02T15:04:05Z"

// FormatTime writes t as the API does.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ViewOptions say how to render an invoice.
type ViewOptions struct {
	// BaseURL is the public base URL (no trailing slash) for checkout_url.
	BaseURL string
	// Public leaves out merchant-private fields (metadata).
	Public bool
	// Label is the BIP21 label (usually the store name); empty = none.
	Label string
}

// View renders the invoice as the API shows it.
func (inv *Invoice) View(o ViewOptions) View {
	v := View{
		ID:          inv.ID,
		Status:      inv.Status,
		Amount:      FormatFor(inv.Currency, inv.Amount),
		Currency:    inv.Currency.Code,
		AmountPaid:  FormatFor(inv.Currency, inv.Paid(inv.Received)),
		OrderID:     inv.OrderID,
		Description: inv.Description,
		CreatedAt:   FormatTime(inv.CreatedAt),
		ExpiresAt:   FormatTime(inv.ExpiresAt),
		CheckoutURL: o.BaseURL + "/i/" + inv.ID,
		RedirectURL: inv.RedirectURL,
		Sequence:    inv.Sequence,
		Methods:     make([]MethodView, 0, len(inv.Methods)),
		Payments:    make([]PaymentView, 0, len(inv.Payments)),
	}
	if inv.Exception != ExceptionNone {
		e := string(inv.Exception)
		v.Exception = &e
	}
	if inv.SettledAt != nil {
		s := FormatTime(*inv.SettledAt)
		v.SettledAt = &s
	}
	if !o.Public && len(inv.Metadata) > 0 {
		v.Metadata = inv.Metadata
	}
	for i := range inv.Methods {
		m := &inv.Methods[i]
		mv := MethodView{
			Method:                m.Method,
			Chain:                 m.Chain,
			Asset:                 m.Asset.Code,
			Address:               m.Address,
			AmountDue:             FormatFor(m.Asset, m.AmountDue),
			AmountReceived:        FormatFor(m.Asset, inv.Received(m.Method)),
			AmountConfirmed:       FormatFor(m.Asset, inv.Confirmed(m.Method)),
			Rate:                  m.Rate,
			RateSource:            m.RateSource,
			ConfirmationsRequired: m.ConfirmationsRequired,
			Token:                 m.Token,
			ChainID:               m.ChainID,
			PaymentURI:            m.PaymentURI(m.AmountDue, o.Label),
		}
		if ln := inv.LightningFor(m); ln != nil {
			mv.PaymentURI = Unified(mv.PaymentURI, ln.Address)
		}
		if !m.RateTime.IsZero() {
			mv.RateTime = FormatTime(m.RateTime)
		}
		v.Methods = append(v.Methods, mv)
	}
	for _, p := range inv.Payments {
		pv := PaymentView{
			ID:            p.ID,
			Method:        p.Method,
			TxID:          p.TxID,
			OutputIndex:   p.OutputIndex,
			Confirmations: p.Confirmations,
			Status:        p.Status,
			SeenAt:        FormatTime(p.SeenAt),
		}
		if m, ok := inv.MethodByName(p.Method); ok {
			pv.Amount = FormatFor(m.Asset, p.Amount)
		} else {
			pv.Amount = p.Amount.String()
		}
		if p.BlockHash != "" {
			h, bh := p.BlockHeight, p.BlockHash
			pv.BlockHeight, pv.BlockHash = &h, &bh
		}
		v.Payments = append(v.Payments, pv)
	}
	return v
}

// EventBody is an event as stored, sent as a webhook body and listed by the
// events API: {"id","type","created_at","invoice"}.
type EventBody struct {
	ID        string    `json:"id"`
	Type      EventType `json:"type"`
	CreatedAt string    `json:"created_at"`
	Invoice   View      `json:"invoice"`
}

// NewEvent renders an event of type t for the invoice as it is now (metadata
// included), with a fresh id.
func NewEvent(t EventType, inv *Invoice, now time.Time, o ViewOptions) (Event, error) {
	o.Public = false
	e := Event{ID: NewID(PrefixEvent, now), Type: t, InvoiceID: inv.ID, CreatedAt: now.UTC().Truncate(time.Second)}
	body, err := json.Marshal(EventBody{ID: e.ID, Type: t, CreatedAt: FormatTime(now), Invoice: inv.View(o)})
	if err != nil {
		return Event{}, err
	}
	e.Payload = body
	return e, nil
}
