package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/rates"
	"github.com/payd/payd/store"
)

// MethodSpec is one enabled payment method (config.MethodSpec, copied so
// service does not depend on the config file's shape).
type MethodSpec struct {
	Name          string // "bitcoin/btc"
	Chain         string
	Kind          invoice.ChainKind
	ChainID       uint64
	Asset         invoice.Asset
	Token         string
	Confirmations int
}

// Config holds the invoice defaults and the enabled methods.
type Config struct {
	Methods          []MethodSpec
	ExpiresIn        time.Duration // default expiry
	ToleranceBP      int64         // default payment tolerance, hundredths of a percent
	MonitoringWindow time.Duration // watch addresses this long after expiry
	BaseURL          string        // public base URL for checkout_url
	Label            string        // BIP21 label (the store's name)
	// Spreads is a markup in percent per method name ("bitcoin/btc": "1.5",
	// rates.spreads), applied with rates.ApplySpread to the rate of an invoice
	// in another currency; an invoice in the method's own asset gets none.
	Spreads map[string]string
	// Refunds tunes refunds and sweeps.
	Refunds RefundConfig
}

// Deriver hands out deposit addresses of one chain (derive.Deriver).
type Deriver interface {
	Address(i uint32) (address, path string, err error)
}

// RateSource prices one unit of base in quote (*rates.Service).
type RateSource interface {
	Rate(ctx context.Context, base, quote string) (rates.Rate, error)
}

// BOLT11 is a Lightning invoice the merchant's node created.
type BOLT11 struct {
	PaymentRequest string // lnbc…
	PaymentHash    string // hex r_hash
	AddIndex       uint64
}

// Invoicer asks a Lightning node for a BOLT11 invoice of sats, expiring
// after expiry (lightning.Backend).
type Invoicer interface {
	CreateInvoice(ctx context.Context, sats *big.Int, memo string, expiry time.Duration) (BOLT11, error)
}

// Deps are the parts the service drives.
type Deps struct {
	DB       *store.DB
	Rates    RateSource
	Derivers map[string]Deriver // by chain name
	// RefundChains are the chains refunds and sweeps can be made on, by
	// name (nil: no refunds).
	RefundChains map[string]RefundChain
	// Lightning creates the BOLT11 of each lightning method, by chain name.
	// It is called before the invoice enters the single writer.
	Lightning map[string]Invoicer
	// Watch starts watching deposit addresses on a chain; Create calls it
	// after the commit and before returning.
	Watch func(chain string, addrs ...string)
	// Notify is called after every commit that stored events (webhooks,
	// websockets, the expiry timer).
	Notify func(evs []invoice.Event)
	Now    func() time.Time
	Log    *slog.Logger
}

// Service implements Invoices on the store.
type Service struct {
	cfg    Config
	d      Deps
	commit committer
	addrs  addrCache
}

var _ Invoices = (*Service)(nil)

// New returns the invoice service.
func New(cfg Config, d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Watch == nil {
		d.Watch = func(string, ...string) {}
	}
	if d.Notify == nil {
		d.Notify = func([]invoice.Event) {}
	}
	return &Service{cfg: cfg, d: d}
}

// ViewOptions returns how this service renders invoices (for events and the API).
func (s *Service) ViewOptions() invoice.ViewOptions {
	return invoice.ViewOptions{BaseURL: s.cfg.BaseURL, Label: s.cfg.Label}
}

// Limits of the create request (API.md).
const (
	maxOrderID     = 128
	maxDescription = 1000
	maxMetadata    = 8 << 10
	minExpiresIn   = 60
	maxExpiresIn   = 604800
	maxConfs       = 100
	maxRedirectURL = 2048
)

func invalid(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: field, Message: fmt.Sprintf(format, args...)}
}

func unprocessable(code, field, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// currency resolves the request's currency: an asset of an enabled method
// (priced without a rate by its methods) or an ISO 4217 fiat code.
func (s *Service) currency(code string) (invoice.Asset, error) {
	if code == "" {
		return invoice.Asset{}, invalid("currency", "currency is required")
	}
	up := strings.ToUpper(code)
	for _, m := range s.cfg.Methods {
		if m.Asset.Code == up {
			return m.Asset, nil
		}
	}
	if isFiat(up) {
		return invoice.FiatAsset(up), nil
	}
	return invoice.Asset{}, unprocessable("unknown_currency", "currency", "unknown currency %q: use an ISO 4217 code (USD, EUR, …) or the asset of an enabled method", code)
}

// plan is a validated create request.
type plan struct {
	amount    *big.Int
	cur       invoice.Asset
	methods   []invoice.Method
	expiresIn time.Duration
	tolBP     int64
	metadata  json.RawMessage
}

func (s *Service) validate(ctx context.Context, req CreateRequest) (*plan, error) {
	p := &plan{expiresIn: s.cfg.ExpiresIn, tolBP: s.cfg.ToleranceBP}
	if req.Amount == "" {
		return nil, invalid("amount", "amount is required")
	}
	cur, err := s.currency(req.Currency)
	if err != nil {
		return nil, err
	}
	p.cur = cur
	amount, err := cur.Parse(req.Amount)
	if err != nil {
		var ae *invoice.AmountError
		msg := err.Error()
		if errors.As(err, &ae) {
			msg = ae.Problem
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_amount", Field: "amount", Message: msg}
	}
	if amount.Sign() <= 0 {
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_amount", Field: "amount", Message: "amount must be greater than 0"}
	}
	p.amount = amount
	if utf8.RuneCountInString(req.OrderID) > maxOrderID {
		return nil, invalid("order_id", "order_id is longer than %d characters", maxOrderID)
	}
	if utf8.RuneCountInString(req.Description) > maxDescription {
		return nil, invalid("description", "description is longer than %d characters", maxDescription)
	}
	if !utf8.ValidString(req.OrderID) || !utf8.ValidString(req.Description) {
		return nil, invalid("description", "text must be valid UTF-8")
	}
	if len(req.Metadata) > 0 && string(req.Metadata) != "null" {
		if len(req.Metadata) > maxMetadata {
			return nil, invalid("metadata", "metadata is larger than %d bytes", maxMetadata)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(req.Metadata, &obj); err != nil || obj == nil {
			return nil, invalid("metadata", "metadata must be a JSON object")
		}
		p.metadata = slices.Clone(req.Metadata)
	}
	if req.ExpiresIn != nil {
		if *req.ExpiresIn < minExpiresIn || *req.ExpiresIn > maxExpiresIn {
			return nil, invalid("expires_in", "expires_in must be between %d and %d seconds", minExpiresIn, maxExpiresIn)
		}
		p.expiresIn = time.Duration(*req.ExpiresIn) * time.Second
	}
	if req.PaymentTolerance != nil {
		v, err := invoice.ParseAmount(*req.PaymentTolerance, 2, "payment_tolerance")
		if err != nil || v.Cmp(big.NewInt(5000)) > 0 {
			return nil, invalid("payment_tolerance", "payment_tolerance must be a percentage between \"0\" and \"50\" with at most 2 decimals")
		}
		p.tolBP = v.Int64()
	}
	if req.RedirectURL != "" {
		u, err := url.Parse(req.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(req.RedirectURL) > maxRedirectURL {
			return nil, invalid("redirect_url", "redirect_url must be an absolute http(s) URL of at most %d characters", maxRedirectURL)
		}
	}
	chains := map[string]bool{}
	for _, m := range s.cfg.Methods {
		chains[m.Chain] = true
	}
	for c, n := range req.Confirmations {
		if !chains[c] {
			return nil, invalid("confirmations."+c, "unknown chain %q in confirmations", c)
		}
		if n < 0 || n > maxConfs {
			return nil, invalid("confirmations."+c, "confirmations must be between 0 and %d", maxConfs)
		}
	}

	// Methods and their prices.
	explicit := len(req.Methods) > 0
	specs := s.cfg.Methods
	if explicit {
		specs = nil
		seen := map[string]bool{}
		for i, name := range req.Methods {
			name = strings.ToLower(name)
			if seen[name] {
				return nil, invalid(fmt.Sprintf("methods[%d]", i), "method %q is listed twice", name)
			}
			seen[name] = true
			k := slices.IndexFunc(s.cfg.Methods, func(m MethodSpec) bool { return m.Name == name })
			if k < 0 {
				return nil, unprocessable("unknown_method", fmt.Sprintf("methods[%d]", i), "unknown payment method %q; enabled: %s", req.Methods[i], s.methodNames())
			}
			specs = append(specs, s.cfg.Methods[k])
		}
	}
	var noRate error
	for _, spec := range specs {
		m, err := s.price(ctx, spec, amount, cur)
		if err != nil {
			if explicit || !errors.Is(err, rates.ErrNoRate) {
				return nil, err
			}
			noRate = err
			continue
		}
		m.ConfirmationsRequired = spec.Confirmations
		if n, ok := req.Confirmations[spec.Chain]; ok && spec.Kind != invoice.KindLightning {
			m.ConfirmationsRequired = n
		}
		p.methods = append(p.methods, m)
	}
	if len(p.methods) == 0 {
		if noRate != nil {
			return nil, unprocessable("no_rate", "currency", "no payment method can be priced in %s: %v", cur.Code, noRate)
		}
		return nil, unprocessable("unknown_method", "methods", "no payment method is enabled")
	}
	return p, nil
}

func (s *Service) methodNames() string {
	var names []string
	for _, m := range s.cfg.Methods {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// price locks the rate of one method and computes its amount due.
func (s *Service) price(ctx context.Context, spec MethodSpec, amount *big.Int, cur invoice.Asset) (invoice.Method, error) {
	m := invoice.Method{Method: spec.Name, Chain: spec.Chain, Kind: spec.Kind, ChainID: spec.ChainID, Asset: spec.Asset, Token: spec.Token}
	now := s.d.Now()
	if spec.Asset.Code == cur.Code {
		m.Rate, m.RateSource, m.RateTime = "1", "identity", now
		m.AmountDue = invoice.DueFor(amount, cur, spec.Asset, big.NewRat(1, 1))
		return m, nil
	}
	if s.d.Rates == nil {
		return m, unprocessable("no_rate", "methods", "no rate source is configured to price %s in %s", spec.Asset.Code, cur.Code)
	}
	r, err := s.d.Rates.Rate(ctx, spec.Asset.Code, cur.Code)
	if err != nil {
		if errors.Is(err, rates.ErrNoRate) {
			return m, fmt.Errorf("%w", err)
		}
		return m, unprocessable("no_rate", "methods", "cannot price %s in %s: %v", spec.Asset.Code, cur.Code, err)
	}
	if pct := s.cfg.Spreads[spec.Name]; pct != "" {
		if r, err = rates.ApplySpread(r, pct); err != nil {
			return m, fmt.Errorf("spread of %s: %w", spec.Name, err)
		}
	}
	due := invoice.DueFor(amount, cur, spec.Asset, r.Value)
	if due == nil || due.Sign() <= 0 {
		return m, unprocessable("no_rate", "methods", "the rate of %s in %s is not usable", spec.Asset.Code, cur.Code)
	}
	m.AmountDue, m.Rate, m.RateSource, m.RateTime = due, r.String(), r.Source, r.Time
	return m, nil
}

// Create validates the request, locks the rates, allocates one fresh address
// per chain and stores the invoice with its invoice.created event in one
// transaction; then it starts watching the addresses and returns.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*invoice.Invoice, error) {
	p, err := s.checked(ctx, req)
	if err != nil {
		return nil, err
	}
	now := s.d.Now().UTC().Truncate(time.Second)
	inv := &invoice.Invoice{
		ID:          invoice.NewID(invoice.PrefixInvoice, s.d.Now()),
		Status:      invoice.StatusNew,
		Amount:      p.amount,
		Currency:    p.cur,
		OrderID:     req.OrderID,
		Description: req.Description,
		Metadata:    p.metadata,
		CreatedAt:   now,
		ExpiresAt:   now.Add(p.expiresIn),
		RedirectURL: req.RedirectURL,
		ToleranceBP: p.tolBP,
		Sequence:    1,
		Methods:     p.methods,
		LinkID:      req.LinkID,
	}
	inv.MonitorUntil = inv.ExpiresAt.Add(s.cfg.MonitoringWindow)
	if req.MonitoringWindow != nil && *req.MonitoringWindow >= 0 {
		inv.MonitorUntil = inv.ExpiresAt.Add(*req.MonitoringWindow)
	}
	bolts, err := s.bolt11s(ctx, inv, len(req.Methods) > 0)
	if err != nil {
		return nil, err
	}
	ev, err := s.insert(ctx, inv, req.Idempotency, bolts)
	if err != nil {
		return nil, fmt.Errorf("create invoice: %w", err)
	}
	done := map[string]bool{}
	for _, m := range inv.Methods {
		if !done[m.Chain] {
			done[m.Chain] = true
			s.d.Watch(m.Chain, m.Address)
		}
	}
	s.d.Log.Info("invoice created", "invoice", inv.ID, "amount", invoice.FormatFor(inv.Currency, inv.Amount), "currency", inv.Currency.Code, "methods", len(inv.Methods))
	s.d.Notify([]invoice.Event{ev})
	return inv, nil
}

// bolt11s asks the Lightning node of every lightning method for its BOLT11
// invoice (amount due, the invoice's expiry, its description or id as the
// memo) and sets it as the method's address — before the invoice is queued
// for the single writer, so a slow node never holds the writer. A method
// whose node fails is dropped when the methods were the defaults (the
// shopper still pays on chain) and fails the request with 503 unavailable
// when the request named it.
func (s *Service) bolt11s(ctx context.Context, inv *invoice.Invoice, explicit bool) ([]store.LightningInvoice, error) {
	var rows []store.LightningInvoice
	kept := inv.Methods[:0:0]
	for _, m := range inv.Methods {
		if m.Kind != invoice.KindLightning {
			kept = append(kept, m)
			continue
		}
		ln, ok := s.d.Lightning[m.Chain]
		var b BOLT11
		err := fmt.Errorf("no lightning node for chain %s", m.Chain)
		if ok {
			memo := inv.Description
			if memo == "" {
				memo = "payd " + inv.ID
			}
			if len(memo) > 600 {
				memo = memo[:600] // BOLT11 descriptions are limited (639 bytes)
			}
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			b, err = ln.CreateInvoice(cctx, m.AmountDue, memo, inv.ExpiresAt.Sub(inv.CreatedAt))
			cancel()
		}
		if err != nil {
			if explicit || len(inv.Methods) == 1 {
				return nil, &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Field: "methods",
					Message: fmt.Sprintf("%s is unavailable: the Lightning node did not create an invoice", m.Method)}
			}
			s.d.Log.Warn("lightning invoice not created; method left out", "method", m.Method, "invoice", inv.ID, "err", err)
			continue
		}
		m.Address = b.PaymentRequest
		kept = append(kept, m)
		rows = append(rows, store.LightningInvoice{Chain: m.Chain, PaymentHash: b.PaymentHash, InvoiceID: inv.ID, Method: m.Method,
			PaymentRequest: b.PaymentRequest, AddIndex: b.AddIndex, CreatedAt: inv.CreatedAt})
	}
	if len(kept) == 0 {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Field: "methods", Message: "no payment method is available"}
	}
	inv.Methods = kept
	return rows, nil
}
