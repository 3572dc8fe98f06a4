package refund

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/payd/payd/invoice"
)

// View is the refund (or sweep) object of the API and of event payloads.
// Amounts are decimal strings of the asset ("0.00041234").
type View struct {
	ID            string         `json:"id"`
	Object        Kind           `json:"object"`
	InvoiceID     string         `json:"invoice_id,omitempty"`
	Invoices      []string       `json:"invoices,omitempty"`
	Status        Status         `json:"status"`
	Method        string         `json:"method"`
	Chain         string         `json:"chain"`
	Asset         string         `json:"asset"`
	Amount        string         `json:"amount"`
	AmountSent    string         `json:"amount_sent"`
	Fee           string         `json:"fee"`
	Currency      string         `json:"currency"`
	CurrencyAmt   string         `json:"currency_amount"`
	RateMode      RateMode       `json:"rate_mode,omitempty"`
	Rate          string         `json:"rate,omitempty"`
	Reason        string         `json:"reason,omitempty"`
	Address       *string        `json:"address"`
	From          string         `json:"from,omitempty"`
	FeeRate       int64          `json:"fee_rate,omitempty"`
	ClaimURL      string         `json:"claim_url,omitempty"`
	PSBTURL       string         `json:"psbt_url,omitempty"`
	PSBT          string         `json:"psbt,omitempty"` // base64
	Inputs        []Input        `json:"inputs,omitempty"`
	Change        *Change        `json:"change,omitempty"`
	Transaction   *EVMTx         `json:"transaction,omitempty"`
	Transactions  []TransferView `json:"transactions,omitempty"`
	TxID          *string        `json:"txid"`
	BlockHeight   *uint64        `json:"block_height"`
	Confirmations int            `json:"confirmations"`
	ConfsRequired int            `json:"confirmations_required"`
	CreatedAt     string         `json:"created_at"`
	ExpiresAt     *string        `json:"expires_at"`
	CompletedAt   *string        `json:"completed_at"`
	Sequence      int64          `json:"sequence"`
}

// TransferView is one transaction of an EVM sweep in the API.
type TransferView struct {
	InvoiceID   string  `json:"invoice_id"`
	Asset       string  `json:"asset"`
	Token       string  `json:"token,omitempty"`
	Amount      string  `json:"amount"`
	Transaction EVMTx   `json:"transaction"`
	TxID        *string `json:"txid"`
	BlockHeight *uint64 `json:"block_height"`
}

// ViewOptions say how to render a refund.
type ViewOptions struct {
	BaseURL string // public base URL, for claim_url and psbt_url
	// ClaimPage says /r/{id} is served, so claim_url is shown
	// (docs/refunds.md "Claim link").
	ClaimPage bool
	// Public leaves out what the claim page must not show: the reason,
	// inputs, change, the PSBT and, once given, the address itself is
	// shown only masked (docs/refunds.md "Claim link").
	Public bool
}

// View renders r.
func (r *Refund) View(o ViewOptions) View {
	v := View{ID: r.ID, Object: r.Kind, InvoiceID: r.InvoiceID, Invoices: r.Invoices, Status: r.Status, Method: r.Method,
		Chain: r.Chain, Asset: r.Asset.Code, Amount: invoice.FormatFor(r.Asset, r.Amount), AmountSent: invoice.FormatFor(r.Asset, r.Sent),
		Fee: invoice.FormatFor(r.Asset, r.Fee), Currency: r.Currency.Code, CurrencyAmt: invoice.FormatFor(r.Currency, r.Requested),
		RateMode: r.RateMode, Rate: r.Rate, Reason: r.Reason, From: r.From, FeeRate: r.FeeRate, Inputs: r.Inputs, Change: r.Change,
		Transaction: r.EVM, Confirmations: r.Confirmations, ConfsRequired: r.ConfirmationsRequired,
		CreatedAt: invoice.FormatTime(r.CreatedAt), Sequence: r.Sequence}
	for _, t := range r.Transfers {
		tv := TransferView{InvoiceID: t.InvoiceID, Asset: t.Asset.Code, Token: t.Token, Amount: invoice.FormatFor(t.Asset, t.Amount), Transaction: t.Tx}
		if t.TxID != "" {
			id := t.TxID
			tv.TxID = &id
		}
		if t.BlockHash != "" {
			h := t.BlockHeight
			tv.BlockHeight = &h
		}
		v.Transactions = append(v.Transactions, tv)
	}
	if r.Address != "" {
		a := r.Address
		v.Address = &a
	}
	if r.Kind == KindRefund && r.Status == StatusAwaitingAddress && o.BaseURL != "" && o.ClaimPage {
		v.ClaimURL = o.BaseURL + "/r/" + r.ID
	}
	if len(r.PSBT) > 0 {
		v.PSBT = base64.StdEncoding.EncodeToString(r.PSBT)
		if r.Kind == KindSweep {
			v.PSBTURL = "/v1/sweeps/" + r.ID + "/psbt"
		} else {
			v.PSBTURL = "/v1/refunds/" + r.ID + "/psbt"
		}
	}
	if r.TxID != "" {
		t := r.TxID
		v.TxID = &t
	}
	if r.BlockHash != "" {
		h := r.BlockHeight
		v.BlockHeight = &h
	}
	if !r.ExpiresAt.IsZero() && r.Status == StatusAwaitingAddress {
		s := invoice.FormatTime(r.ExpiresAt)
		v.ExpiresAt = &s
	}
	if r.CompletedAt != nil {
		s := invoice.FormatTime(*r.CompletedAt)
		v.CompletedAt = &s
	}
	if o.Public {
		v.Reason, v.Inputs, v.Change, v.PSBT, v.PSBTURL, v.Transaction, v.From, v.FeeRate, v.Rate = "", nil, nil, "", "", nil, "", 0, ""
		v.Transactions = nil
		if v.Address != nil {
			m := Mask(*v.Address)
			v.Address = &m
		}
	}
	return v
}

// Mask shows the start and end of an address only ("bcrt1q…x7k2"): the
// claim page confirms which address was given without showing it whole.
func Mask(a string) string {
	if len(a) <= 12 {
		return a
	}
	return a[:6] + "…" + a[len(a)-4:]
}

// EventBody is a refund or sweep event as stored and sent.
type EventBody struct {
	ID        string            `json:"id"`
	Type      invoice.EventType `json:"type"`
	CreatedAt string            `json:"created_at"`
	Refund    *View             `json:"refund,omitempty"`
	Sweep     *View             `json:"sweep,omitempty"`
	Invoice   *invoice.View     `json:"invoice,omitempty"`
}

// NewEvent renders an event of type t for r as it is now, with the refund's
// invoice (metadata included) when inv is not nil.
func NewEvent(t invoice.EventType, r *Refund, inv *invoice.Invoice, now time.Time, o ViewOptions, io invoice.ViewOptions) (invoice.Event, error) {
	o.Public = false
	e := invoice.Event{ID: invoice.NewID(invoice.PrefixEvent, now), Type: t, InvoiceID: r.InvoiceID, CreatedAt: now.UTC().Truncate(time.Second)}
	v := r.View(o)
	v.PSBT = "" // the payload stays small; psbt_url has it
	body := EventBody{ID: e.ID, Type: t, CreatedAt: invoice.FormatTime(now)}
	if r.Kind == KindSweep {
		body.Sweep = &v
	} else {
		body.Refund = &v
	}
	if inv != nil {
		io.Public = false
		iv := inv.View(io)
		body.Invoice = &iv
	}
	b, err := json.Marshal(body)
	if err != nil {
		return invoice.Event{}, err
	}
	e.Payload = b
	return e, nil
}
