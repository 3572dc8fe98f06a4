package greenfield

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/payd/payd/internal/apikey"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
)

// Greenfield statuses (InvoiceStatus) and additional statuses
// (InvoiceExceptionStatus; BTCPay 2.0 dropped "Invalid" from the latter).
var (
	statusNames = map[invoice.Status]string{
		invoice.StatusNew: "New", invoice.StatusProcessing: "Processing", invoice.StatusSettled: "Settled",
		invoice.StatusExpired: "Expired", invoice.StatusInvalid: "Invalid",
	}
	additionalNames = map[invoice.Exception]string{
		invoice.ExceptionNone: "None", invoice.ExceptionUnderpaid: "PaidPartial", invoice.ExceptionOverpaid: "PaidOver",
		invoice.ExceptionPaidLate: "PaidLate", invoice.ExceptionMarked: "Marked",
	}
)

// Status returns the Greenfield name of a payd status ("Settled").
func Status(s invoice.Status) string { return statusNames[s] }

// AdditionalStatus returns the Greenfield additionalStatus of an exception.
func AdditionalStatus(e invoice.Exception) string {
	if n, ok := additionalNames[e]; ok {
		return n
	}
	return "None"
}

func parseStatus(s string) (invoice.Status, bool) {
	for st, n := range statusNames {
		if strings.EqualFold(n, s) {
			return st, true
		}
	}
	return "", false
}

// speedPolicies map BTCPay's speed policy to Bitcoin confirmations.
var speedPolicies = []struct {
	name  string
	confs int
}{{"HighSpeed", 0}, {"MediumSpeed", 1}, {"LowMediumSpeed", 2}, {"LowSpeed", 6}}

func speedPolicy(confs int) string {
	for _, p := range speedPolicies {
		if p.confs == confs {
			return p.name
		}
	}
	if confs > 6 {
		return "LowSpeed"
	}
	return "LowMediumSpeed"
}

// createRequest is Greenfield's CreateInvoiceRequest. Every field may be
// null or missing; unknown fields are ignored.
type createRequest struct {
	Amount   json.RawMessage  `json:"amount"` // string or number
	Currency *string          `json:"currency"`
	Metadata json.RawMessage  `json:"metadata"`
	Checkout *checkoutOptions `json:"checkout"`
}

type checkoutOptions struct {
	SpeedPolicy       *string         `json:"speedPolicy"`
	PaymentMethods    []string        `json:"paymentMethods"`
	ExpirationMinutes json.RawMessage `json:"expirationMinutes"`
	MonitoringMinutes json.RawMessage `json:"monitoringMinutes"`
	PaymentTolerance  json.RawMessage `json:"paymentTolerance"`
	RedirectURL       *string         `json:"redirectURL"`
}

const (
	maxMetadata  = 8 << 10
	maxOrderID   = 128
	maxDesc      = 1000
	maxMonitorMn = 30 * 24 * 60
)

// toService translates a Greenfield create request to payd's.
func (a *API) toService(body []byte) (service.CreateRequest, error) {
	var req createRequest
	var out service.CreateRequest
	if err := decode(body, &req); err != nil {
		return out, err
	}
	amt, err := decimalText(req.Amount, "amount")
	if err != nil {
		return out, err
	}
	if amt == "" {
		return out, invalid("amount", "amount is required: payd does not create top-up invoices without an amount")
	}
	out.Amount = amt
	out.Currency = a.cfg.DefaultCurrency
	if req.Currency != nil && strings.TrimSpace(*req.Currency) != "" {
		out.Currency = strings.TrimSpace(*req.Currency)
	}
	if !isNull(req.Metadata) {
		md := bytes.TrimSpace(req.Metadata)
		if len(md) > maxMetadata {
			return out, invalid("metadata", "metadata is larger than %d bytes", maxMetadata)
		}
		var fields map[string]json.RawMessage
		if md[0] != '{' || json.Unmarshal(md, &fields) != nil {
			return out, invalid("metadata", "metadata must be a JSON object")
		}
		out.Metadata = json.RawMessage(slices.Clone(md))
		if v, ok := fields["orderId"]; ok && !isNull(v) {
			id, err := scalarText(v)
			if err != nil || len(id) > maxOrderID {
				return out, invalid("metadata.orderId", "orderId must be a string of at most %d bytes", maxOrderID)
			}
			out.OrderID = id
		}
		if v, ok := fields["itemDesc"]; ok && !isNull(v) {
			var d string
			if json.Unmarshal(v, &d) == nil {
				out.Description = truncate(d, maxDesc)
			}
		}
	}
	c := req.Checkout
	if c == nil {
		return out, nil
	}
	for _, pm := range c.PaymentMethods {
		m, ok := a.parseMethod(pm)
		if !ok {
			return out, invalid("checkout.paymentMethods", "unknown payment method %q (see GET /api/v1/stores/%s/payment-methods)", pm, a.cfg.StoreID)
		}
		if !slices.Contains(out.Methods, m.Name) {
			out.Methods = append(out.Methods, m.Name)
		}
	}
	if s, err := decimalText(c.ExpirationMinutes, "checkout.expirationMinutes"); err != nil {
		return out, err
	} else if s != "" {
		r, ok := rat(s)
		if !ok || r.Sign() <= 0 {
			return out, invalid("checkout.expirationMinutes", "expirationMinutes must be a positive number of minutes")
		}
		secs := new(big.Rat).Mul(r, big.NewRat(60, 1))
		n := new(big.Int).Quo(secs.Num(), secs.Denom())
		if !n.IsInt64() {
			return out, invalid("checkout.expirationMinutes", "expirationMinutes is too large")
		}
		v := n.Int64()
		out.ExpiresIn = &v
	}
	if s, err := decimalText(c.MonitoringMinutes, "checkout.monitoringMinutes"); err != nil {
		return out, err
	} else if s != "" {
		r, ok := rat(s)
		if !ok || r.Sign() < 0 || r.Cmp(big.NewRat(maxMonitorMn, 1)) > 0 {
			return out, invalid("checkout.monitoringMinutes", "monitoringMinutes must be 0…%d minutes", maxMonitorMn)
		}
		secs := new(big.Rat).Mul(r, big.NewRat(60, 1))
		d := time.Duration(new(big.Int).Quo(secs.Num(), secs.Denom()).Int64()) * time.Second
		out.MonitoringWindow = &d
	}
	if s, err := decimalText(c.PaymentTolerance, "checkout.paymentTolerance"); err != nil {
		return out, err
	} else if s != "" {
		out.PaymentTolerance = &s
	}
	if c.SpeedPolicy != nil && *c.SpeedPolicy != "" {
		confs := -1
		for _, p := range speedPolicies {
			if strings.EqualFold(p.name, *c.SpeedPolicy) {
				confs = p.confs
			}
		}
		if confs < 0 {
			return out, invalid("checkout.speedPolicy", "speedPolicy must be HighSpeed, MediumSpeed, LowMediumSpeed or LowSpeed")
		}
		out.Confirmations = map[string]int{}
		for _, m := range a.methods {
			if m.Bitcoin {
				out.Confirmations[m.Chain] = confs
			}
		}
	}
	if c.RedirectURL != nil && *c.RedirectURL != "" {
		u, err := url.Parse(*c.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return out, invalid("checkout.redirectURL", "redirectURL must be an absolute http(s) URL")
		}
		out.RedirectURL = *c.RedirectURL
	}
	return out, nil
}

// scalarText reads a JSON string or number as text.
func scalarText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// invoiceView is Greenfield's InvoiceData.
type invoiceView struct {
	ID                                string          `json:"id"`
	StoreID                           string          `json:"storeId"`
	Amount                            string          `json:"amount"`
	Currency                          string          `json:"currency"`
	Type                              string          `json:"type"`
	CheckoutLink                      string          `json:"checkoutLink"`
	Status                            string          `json:"status"`
	AdditionalStatus                  string          `json:"additionalStatus"`
	CreatedTime                       int64           `json:"createdTime"`
	ExpirationTime                    int64           `json:"expirationTime"`
	MonitoringExpiration              int64           `json:"monitoringExpiration"`
	MonitoringTime                    int64           `json:"monitoringTime"`
	Archived                          bool            `json:"archived"`
	AvailableStatusesForManualMarking []string        `json:"availableStatusesForManualMarking"`
	Metadata                          json.RawMessage `json:"metadata"`
	Checkout                          checkoutView    `json:"checkout"`
	Receipt                           receiptView     `json:"receipt"`
}

type checkoutView struct {
	SpeedPolicy           string      `json:"speedPolicy"`
	PaymentMethods        []string    `json:"paymentMethods"`
	DefaultPaymentMethod  *string     `json:"defaultPaymentMethod"`
	ExpirationMinutes     int64       `json:"expirationMinutes"`
	MonitoringMinutes     int64       `json:"monitoringMinutes"`
	PaymentTolerance      json.Number `json:"paymentTolerance"`
	RedirectURL           *string     `json:"redirectURL"`
	RedirectAutomatically bool        `json:"redirectAutomatically"`
	RequiresRefundEmail   *bool       `json:"requiresRefundEmail"`
	DefaultLanguage       *string     `json:"defaultLanguage"`
	CheckoutType          *string     `json:"checkoutType"`
}

type receiptView struct {
	Enabled      *bool `json:"enabled"`
	ShowQR       *bool `json:"showQR"`
	ShowPayments *bool `json:"showPayments"`
}

func (a *API) viewInvoice(inv *invoice.Invoice) invoiceView {
	v := invoiceView{
		ID: inv.ID, StoreID: a.cfg.StoreID, Amount: invoice.FormatFor(inv.Currency, inv.Amount), Currency: inv.Currency.Code,
		Type: "Standard", CheckoutLink: a.cfg.BaseURL + "/i/" + inv.ID,
		Status: Status(inv.Status), AdditionalStatus: AdditionalStatus(inv.Exception),
		CreatedTime: inv.CreatedAt.Unix(), ExpirationTime: inv.ExpiresAt.Unix(),
		MonitoringExpiration: inv.MonitorUntil.Unix(), MonitoringTime: inv.MonitorUntil.Unix(),
		AvailableStatusesForManualMarking: []string{"Settled", "Invalid"},
		Metadata:                          metadata(inv),
	}
	switch inv.Status {
	case invoice.StatusSettled:
		v.AvailableStatusesForManualMarking = []string{"Invalid"}
	case invoice.StatusInvalid:
		v.AvailableStatusesForManualMarking = []string{"Settled"}
	}
	c := &v.Checkout
	c.SpeedPolicy = "MediumSpeed"
	c.PaymentMethods = []string{}
	for _, m := range inv.Methods {
		c.PaymentMethods = append(c.PaymentMethods, a.gfID(m.Method))
		if m.Kind == invoice.KindBitcoin {
			c.SpeedPolicy = speedPolicy(m.ConfirmationsRequired)
		}
	}
	c.ExpirationMinutes = int64(inv.ExpiresAt.Sub(inv.CreatedAt) / time.Minute)
	c.MonitoringMinutes = int64(inv.MonitorUntil.Sub(inv.ExpiresAt) / time.Minute)
	c.PaymentTolerance = json.Number(ratString(big.NewRat(inv.ToleranceBP, 100), 2))
	if inv.RedirectURL != "" {
		u := inv.RedirectURL
		c.RedirectURL = &u
	}
	return v
}

// metadata is the invoice's metadata verbatim; for an invoice created
// without metadata (through /v1), {"orderId": order_id} or {}.
func metadata(inv *invoice.Invoice) json.RawMessage {
	if len(inv.Metadata) > 0 {
		return inv.Metadata
	}
	if inv.OrderID != "" {
		b, _ := json.Marshal(map[string]string{"orderId": inv.OrderID})
		return b
	}
	return json.RawMessage("{}")
}

// createInvoice is POST /api/v1/stores/{storeId}/invoices → 200 (not 201:
// the official clients accept 200 only).
func (a *API) createInvoice(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, err := a.toService(body)
	if err != nil {
		return err
	}
	inv, err := a.d.Invoices.Create(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.viewInvoice(inv))
	return nil
}

func (a *API) invoiceFromPath(r *http.Request) (*invoice.Invoice, error) {
	return a.d.Invoices.Get(r.Context(), r.PathValue("invoiceId"))
}

// getInvoice is GET …/invoices/{invoiceId}.
func (a *API) getInvoice(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	inv, err := a.invoiceFromPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.viewInvoice(inv))
	return nil
}

// archiveInvoice is POST …/archive and DELETE …/invoices/{id}: payd keeps
// every invoice, so archiving is accepted and changes nothing.
func (a *API) archiveInvoice(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	if _, err := a.invoiceFromPath(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// markInvoice is POST …/invoices/{id}/status {"status":"Settled"|"Invalid"}.
func (a *API) markInvoice(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Status *string `json:"status"`
	}
	if err := decode(body, &req); err != nil {
		return err
	}
	var st invoice.Status
	if req.Status != nil {
		st, _ = parseStatus(*req.Status)
	}
	if st != invoice.StatusSettled && st != invoice.StatusInvalid {
		return invalid("status", "status must be \"Settled\" or \"Invalid\"")
	}
	inv, err := a.d.Invoices.Mark(r.Context(), r.PathValue("invoiceId"), st)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.viewInvoice(inv))
	return nil
}

// maxListWindow bounds skip+take of a list (payd pages with a cursor; skip
// is emulated).
const maxListWindow = 1000

// listInvoices is GET …/invoices?orderId=&status=&startDate=&endDate=&skip=&take=
// (orderId and status repeatable), newest first.
func (a *API) listInvoices(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalid("query", "malformed query string")
	}
	if q.Get("textSearch") != "" {
		return invalid("textSearch", "textSearch is not supported by payd; filter by orderId or status")
	}
	num := func(k string, def int64) (int64, error) {
		s := q.Get(k)
		if s == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, invalid(k, "%s must be a non-negative integer", k)
		}
		return n, nil
	}
	skip, err := num("skip", 0)
	if err != nil {
		return err
	}
	take, err := num("take", 50)
	if err != nil {
		return err
	}
	start, err := num("startDate", 0)
	if err != nil {
		return err
	}
	end, err := num("endDate", 0)
	if err != nil {
		return err
	}
	if skip+take > maxListWindow {
		return invalid("skip", "skip + take must be at most %d", maxListWindow)
	}
	var statuses []invoice.Status
	for _, s := range q["status"] {
		st, ok := parseStatus(s)
		if !ok {
			return invalid("status", "unknown status %q (New, Processing, Settled, Expired, Invalid)", s)
		}
		statuses = append(statuses, st)
	}
	orderIDs := q["orderId"]
	for _, o := range orderIDs {
		if len(o) > maxOrderID {
			return invalid("orderId", "orderId is longer than %d bytes", maxOrderID)
		}
	}
	if len(statuses) == 0 {
		statuses = []invoice.Status{""}
	}
	if len(orderIDs) == 0 {
		orderIDs = []string{""}
	}
	want := int(skip + take)
	seen := map[string]bool{}
	var all []*invoice.Invoice
	for _, o := range orderIDs {
		for _, st := range statuses {
			f := service.ListFilter{Status: st, OrderID: o, Limit: 200}
			got, older := 0, false
			for got < want && !older {
				invs, more, err := a.d.Invoices.List(r.Context(), f)
				if err != nil {
					return err
				}
				for _, inv := range invs {
					f.StartingAfter = inv.ID
					if start > 0 && inv.CreatedAt.Unix() < start {
						older = true // newest first: the rest is older still
						break
					}
					if (end > 0 && inv.CreatedAt.Unix() > end) || seen[inv.ID] {
						continue
					}
					seen[inv.ID] = true
					all = append(all, inv)
					got++
				}
				if !more || len(invs) == 0 {
					break
				}
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.After(all[j].CreatedAt)
		}
		return all[i].ID > all[j].ID
	})
	out := []invoiceView{}
	for i := int(skip); i < len(all) && i < want; i++ {
		out = append(out, a.viewInvoice(all[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// methodView is Greenfield's InvoicePaymentMethodDataModel, with BTCPay
// 1.x's names (paymentMethod, networkFee, cryptoCode) beside 2.0's.
type methodView struct {
	PaymentMethodID   string        `json:"paymentMethodId"`
	PaymentMethod     string        `json:"paymentMethod"`
	CryptoCode        string        `json:"cryptoCode"`
	Currency          string        `json:"currency"`
	Destination       string        `json:"destination"`
	PaymentLink       string        `json:"paymentLink"`
	Rate              string        `json:"rate"`
	PaymentMethodPaid string        `json:"paymentMethodPaid"`
	TotalPaid         string        `json:"totalPaid"`
	Due               string        `json:"due"`
	Amount            string        `json:"amount"`
	PaymentMethodFee  string        `json:"paymentMethodFee"`
	NetworkFee        string        `json:"networkFee"`
	Payments          []paymentView `json:"payments"`
	Activated         bool          `json:"activated"`
	AdditionalData    struct{}      `json:"additionalData"`
}

// paymentView is Greenfield's payment: id "<txid>-<vout or log index>".
type paymentView struct {
	ID           string `json:"id"`
	ReceivedDate int64  `json:"receivedDate"`
	Value        string `json:"value"`
	Fee          string `json:"fee"`
	Status       string `json:"status"`
	Destination  string `json:"destination"`
}

func paymentStatus(s invoice.PaymentStatus) string {
	switch s {
	case invoice.PaymentConfirmed:
		return "Settled"
	case invoice.PaymentPending:
		return "Processing"
	}
	return "Invalid"
}

// invoiceMethods is GET …/invoices/{id}/payment-methods.
func (a *API) invoiceMethods(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	inv, err := a.invoiceFromPath(r)
	if err != nil {
		return err
	}
	// The fraction of the invoice paid, over every method.
	frac := new(big.Rat)
	for _, m := range inv.Methods {
		if m.AmountDue != nil && m.AmountDue.Sign() > 0 {
			frac.Add(frac, new(big.Rat).SetFrac(inv.Received(m.Method), m.AmountDue))
		}
	}
	out := []methodView{}
	for i := range inv.Methods {
		m := &inv.Methods[i]
		total := new(big.Rat).Mul(frac, new(big.Rat).SetInt(m.AmountDue))
		totalPaid := new(big.Int).Quo(total.Num(), total.Denom())
		due := new(big.Int).Sub(m.AmountDue, totalPaid)
		if due.Sign() < 0 {
			due.SetInt64(0)
		}
		id := a.gfID(m.Method)
		v := methodView{PaymentMethodID: id, PaymentMethod: id, CryptoCode: m.Asset.Code, Currency: m.Asset.Code,
			Destination: m.Address, PaymentLink: m.PaymentURI(m.AmountDue, ""), Rate: m.Rate,
			PaymentMethodPaid: invoice.FormatFor(m.Asset, inv.Received(m.Method)), TotalPaid: invoice.FormatFor(m.Asset, totalPaid),
			Due: invoice.FormatFor(m.Asset, due), Amount: invoice.FormatFor(m.Asset, m.AmountDue),
			PaymentMethodFee: "0", NetworkFee: "0", Payments: []paymentView{}, Activated: true}
		for _, p := range inv.Payments {
			if p.Method == m.Method {
				v.Payments = append(v.Payments, viewPayment(p, m))
			}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func viewPayment(p invoice.Payment, m *invoice.Method) paymentView {
	return paymentView{ID: p.TxID + "-" + strconv.FormatUint(uint64(p.OutputIndex), 10), ReceivedDate: p.SeenAt.Unix(),
		Value: invoice.FormatFor(m.Asset, p.Amount), Fee: "0", Status: paymentStatus(p.Status), Destination: m.Address}
}
