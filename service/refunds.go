package service

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/derive"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/store"
)

// Refund errors.
var (
	// ErrRefundNotFound: no such refund or sweep.
	ErrRefundNotFound = errors.New("refund not found")
)

// BitcoinNode is what refunds need of a Bitcoin node (*bitcoin.Backend).
type BitcoinNode interface {
	// FeeRate is the node's estimate in sat/vB for confirmation within
	// target blocks.
	FeeRate(ctx context.Context, target int) (int64, error)
	RawTransaction(ctx context.Context, txid string) (*wire.MsgTx, error)
	SendRawTransaction(ctx context.Context, tx *wire.MsgTx) (string, error)
}

// EVMNode is what refunds need of an EVM node (*evm.Backend).
type EVMNode interface {
	// Nonce is the address's next nonce (pending included).
	Nonce(ctx context.Context, addr string) (uint64, error)
	// Fees suggests EIP-1559 fees: max fee and priority fee per gas (wei).
	Fees(ctx context.Context) (maxFee, tip *big.Int, err error)
	// EstimateGas estimates a call's gas.
	EstimateGas(ctx context.Context, from, to string, value *big.Int, data []byte) (uint64, error)
	// Balance is an address's native balance (wei); TokenBalance its
	// ERC-20 balance (EVM sweeps).
	Balance(ctx context.Context, addr string) (*big.Int, error)
	TokenBalance(ctx context.Context, token, addr string) (*big.Int, error)
}

// RefundChain is one chain refunds and sweeps can be made on.
type RefundChain struct {
	Kind invoice.ChainKind
	// Params is the Bitcoin network (addresses are checked against it).
	Params  *chaincfg.Params
	Bitcoin BitcoinNode
	EVM     EVMNode
	ChainID uint64
	// Confirmations completes a refund (the chain's configured confirmations).
	Confirmations int
}

// RefundConfig tunes refunds.
type RefundConfig struct {
	// ClaimTTL is how long a claim link (/r/{id}) waits for an address
	// (default 7 days).
	ClaimTTL time.Duration
	// FeeTarget is the confirmation target in blocks for the node's fee
	// estimate (default 6).
	FeeTarget int
	// FallbackFeeRate in sat/vB is used when the node has no estimate
	// (default 2).
	FallbackFeeRate int64
	// ClaimPage says the claim page /r/{id} is served (cmd/payd mounts
	// checkout's), so refunds awaiting an address show claim_url.
	ClaimPage bool
}

// RefundRequest is POST /v1/invoices/{id}/refunds.
type RefundRequest struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency,omitempty"`
	Method   string `json:"method,omitempty"`
	Address  string `json:"address,omitempty"`
	Rate     string `json:"rate,omitempty"` // "original" (default) or "current"
	Reason   string `json:"reason,omitempty"`
	// FeeRate in sat/vB replaces the node's estimate (Bitcoin).
	FeeRate *int64 `json:"fee_rate,omitempty"`
	// Idempotency, when set, is stored in the refund's transaction.
	Idempotency *RefundIdempotency `json:"-"`
}

// RefundIdempotency is Idempotency for a refund or sweep.
type RefundIdempotency struct {
	APIKeyID, Key, RequestHash string
	Response                   func(*refund.Refund) ([]byte, error)
	ExpireBefore               time.Time
}

// SweepRequest is POST /v1/sweeps.
type SweepRequest struct {
	Chain            string `json:"chain"`
	ToAddress        string `json:"to_address,omitempty"`
	ToDescriptor     string `json:"to_descriptor,omitempty"`
	MinConfirmations *int   `json:"min_confirmations,omitempty"`
	MaxInputs        *int   `json:"max_inputs,omitempty"`
	FeeRate          *int64 `json:"fee_rate,omitempty"`
	// Idempotency, when set, is stored in the sweep's transaction.
	Idempotency *RefundIdempotency `json:"-"`
}

// Refunds is what the API, the claim page and the CLI use. *Service implements it.
type Refunds interface {
	CreateRefund(ctx context.Context, invoiceID string, req RefundRequest) (*refund.Refund, error)
	Refund(ctx context.Context, id string) (*refund.Refund, error)
	InvoiceRefunds(ctx context.Context, invoiceID string) ([]*refund.Refund, error)
	ProvideAddress(ctx context.Context, id, address string) (*refund.Refund, error)
	CancelRefund(ctx context.Context, id string) (*refund.Refund, error)
	Broadcast(ctx context.Context, id string, signed []byte) (*refund.Refund, error)
	CreateSweep(ctx context.Context, req SweepRequest) (*refund.Refund, error)
	RefundViewOptions() refund.ViewOptions
}

var _ Refunds = (*Service)(nil)

const (
	maxReason    = 500
	maxAddress   = 128
	maxFeeRate   = 10_000
	maxSweepIns  = 500
	defaultSweep = 100
)

// RefundViewOptions returns how refunds are rendered.
func (s *Service) RefundViewOptions() refund.ViewOptions {
	return refund.ViewOptions{BaseURL: s.cfg.BaseURL, ClaimPage: s.cfg.Refunds.ClaimPage}
}

func (s *Service) refundCfg() RefundConfig {
	c := s.cfg.Refunds
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = 7 * 24 * time.Hour
	}
	if c.FeeTarget <= 0 {
		c.FeeTarget = 6
	}
	if c.FallbackFeeRate <= 0 {
		c.FallbackFeeRate = 2
	}
	return c
}

func conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf(format, args...)}
}

// refundErr maps the refund package's rule errors to API errors.
func refundErr(err error) error {
	var se *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, refund.ErrNotRefundable):
		return conflict("%v", err)
	case errors.Is(err, refund.ErrTooMuch):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_amount", Field: "amount", Message: err.Error()}
	case errors.Is(err, refund.ErrState):
		return conflict("%v", err)
	case errors.Is(err, refund.ErrInsufficient):
		return unprocessable("invalid_amount", "amount", "%v", err)
	case errors.Is(err, store.ErrConflict):
		return conflict("%v", err)
	}
	return err
}

var evmAddr = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// CheckAddress validates a destination address for a chain: the network
// and checksum (bech32/bech32m, base58check) for Bitcoin, the form and
// EIP-55 checksum (when mixed case) for EVM. It returns the canonical form.
func CheckAddress(c RefundChain, chainName, addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" || len(a) > maxAddress || !utf8.ValidString(a) {
		return "", invalid("address", "address is required (at most %d characters)", maxAddress)
	}
	switch c.Kind {
	case invoice.KindBitcoin:
		d, err := btcutil.DecodeAddress(a, c.Params)
		if err != nil {
			return "", invalid("address", "address is not a valid %s address (%s): %v", chainName, c.Params.Name, err)
		}
		if !d.IsForNet(c.Params) {
			return "", invalid("address", "address is for another network; %s is on %s", chainName, c.Params.Name)
		}
		if _, err := txscript.PayToAddrScript(d); err != nil {
			return "", invalid("address", "address cannot be paid: %v", err)
		}
		if strings.ToLower(a) == a || strings.ToUpper(a) == a {
			return d.EncodeAddress(), nil
		}
		return a, nil
	case invoice.KindEVM:
		if !evmAddr.MatchString(a) {
			return "", invalid("address", "address must be 0x followed by 40 hex digits")
		}
		sum, err := derive.ChecksumAddress(a)
		if err != nil {
			return "", invalid("address", "address: %v", err)
		}
		body := a[2:]
		if strings.ToLower(body) != body && strings.ToUpper(body) != body && sum != a {
			return "", invalid("address", "address has a bad EIP-55 checksum (expected %s)", sum)
		}
		if strings.Trim(body, "0") == "" {
			return "", invalid("address", "address is the zero address")
		}
		return sum, nil
	}
	return "", invalid("address", "chain %s has no address rules", chainName)
}

func (s *Service) refundChain(name string) (RefundChain, error) {
	c, ok := s.d.RefundChains[name]
	if !ok {
		return RefundChain{}, unprocessable("unknown_method", "method", "refunds are not available on chain %s (no node configured)", name)
	}
	return c, nil
}

// pickMethod chooses the method refunded: the one named, or the only one
// that received anything confirmed.
func pickMethod(inv *invoice.Invoice, name string) (*invoice.Method, error) {
	if name != "" {
		m, ok := inv.MethodByName(name)
		if !ok {
			return nil, unprocessable("unknown_method", "method", "invoice %s has no method %s", inv.ID, name)
		}
		return m, nil
	}
	var found *invoice.Method
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if inv.Confirmed(m.Method).Sign() > 0 {
			if found != nil {
				return nil, invalid("method", "the invoice was paid with several methods; say which to refund (method)")
			}
			found = m
		}
	}
	if found == nil {
		if len(inv.Methods) == 1 {
			return &inv.Methods[0], nil
		}
		return nil, conflict("invoice %s received nothing confirmed to refund", inv.ID)
	}
	return found, nil
}

// refundAmount converts the request's amount into base units of m's asset.
func (s *Service) refundAmount(ctx context.Context, inv *invoice.Invoice, m *invoice.Method, req RefundRequest) (amount, requested *big.Int, cur invoice.Asset, mode refund.RateMode, rate string, err error) {
	code := strings.ToUpper(strings.TrimSpace(req.Currency))
	if code == "" {
		code = m.Asset.Code
	}
	mode = refund.RateMode(req.Rate)
	if mode == "" {
		mode = refund.RateOriginal
	}
	if mode != refund.RateOriginal && mode != refund.RateCurrent {
		return nil, nil, cur, "", "", invalid("rate", "rate must be \"original\" or \"current\"")
	}
	switch {
	case code == m.Asset.Code:
		cur = m.Asset
		v, err := m.Asset.Parse(req.Amount)
		if err != nil {
			return nil, nil, cur, "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_amount", Field: "amount", Message: err.Error()}
		}
		return v, v, cur, "", "", nil
	case code == inv.Currency.Code && mode == refund.RateOriginal:
		cur, rate = inv.Currency, m.Rate
	default:
		if code != inv.Currency.Code && (len(code) != 3 || strings.ContainsFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' })) {
			return nil, nil, cur, "", "", unprocessable("unknown_currency", "currency", "currency %s is neither %s nor the invoice's %s", code, m.Asset.Code, inv.Currency.Code)
		}
		cur = invoice.FiatAsset(code)
		if code == inv.Currency.Code {
			cur = inv.Currency
		}
		if s.d.Rates == nil {
			return nil, nil, cur, "", "", unprocessable("no_rate", "currency", "no rate source for %s/%s", m.Asset.Code, code)
		}
		r, err := s.d.Rates.Rate(ctx, m.Asset.Code, code)
		if err != nil {
			return nil, nil, cur, "", "", unprocessable("no_rate", "currency", "no %s/%s rate: %v", m.Asset.Code, code, err)
		}
		mode, rate = refund.RateCurrent, r.Value.FloatString(10)
	}
	if rate == "" {
		return nil, nil, cur, "", "", unprocessable("no_rate", "currency", "the invoice has no locked %s rate; give the amount in %s", m.Asset.Code, m.Asset.Code)
	}
	requested, err = cur.Parse(req.Amount)
	if err != nil {
		return nil, nil, cur, "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_amount", Field: "amount", Message: err.Error()}
	}
	amount, err = refund.Convert(requested, cur, m.Asset, rate)
	if err != nil {
		return nil, nil, cur, "", "", err
	}
	return amount, requested, cur, mode, strings.TrimRight(strings.TrimRight(rate, "0"), "."), nil
}

// CreateRefund validates and stores a refund of an invoice: with an
// address, the unsigned transaction is built at once (ready); without,
// the refund awaits the shopper's address on its claim page.
func (s *Service) CreateRefund(ctx context.Context, invoiceID string, req RefundRequest) (*refund.Refund, error) {
	if len(req.Reason) > maxReason || !utf8.ValidString(req.Reason) {
		return nil, invalid("reason", "reason is at most %d bytes of UTF-8", maxReason)
	}
	if req.FeeRate != nil && (*req.FeeRate < 1 || *req.FeeRate > maxFeeRate) {
		return nil, invalid("fee_rate", "fee_rate is sat/vB, 1…%d", maxFeeRate)
	}
	inv, err := s.Get(ctx, invoiceID)
	if err != nil {
		return nil, err
	}
	m, err := pickMethod(inv, req.Method)
	if err != nil {
		return nil, err
	}
	c, err := s.refundChain(m.Chain)
	if err != nil {
		return nil, err
	}
	amount, requested, cur, mode, rate, err := s.refundAmount(ctx, inv, m, req)
	if err != nil {
		return nil, err
	}
	addr := ""
	if strings.TrimSpace(req.Address) != "" {
		if addr, err = CheckAddress(c, m.Chain, req.Address); err != nil {
			return nil, err
		}
	}
	earlier, err := s.d.DB.InvoiceRefunds(ctx, inv.ID)
	if err != nil {
		return nil, err
	}
	if _, err := refund.Check(inv, m.Method, amount, earlier); err != nil {
		return nil, refundErr(err)
	}
	now := s.d.Now().UTC().Truncate(time.Second)
	r := &refund.Refund{ID: invoice.NewID(refund.PrefixRefund, now), Kind: refund.KindRefund, InvoiceID: inv.ID, Method: m.Method,
		Chain: m.Chain, ChainKind: m.Kind, ChainID: m.ChainID, Asset: m.Asset, Token: m.Token, Amount: amount, Sent: new(big.Int).Set(amount),
		Fee: new(big.Int), Currency: cur, Requested: requested, RateMode: mode, Rate: rate, Reason: req.Reason,
		Status: refund.StatusAwaitingAddress, ConfirmationsRequired: c.Confirmations, CreatedAt: now, UpdatedAt: now, Sequence: 1}
	if mode == "" {
		r.RateMode = ""
	}
	if m.Kind == invoice.KindEVM {
		r.From = m.Address
	}
	var prep *prepared
	if addr != "" {
		if prep, err = s.prepareRefund(ctx, c, inv, r, addr, req.FeeRate); err != nil {
			return nil, refundErr(err)
		}
	} else {
		r.ExpiresAt = now.Add(s.refundCfg().ClaimTTL)
	}
	var evs []invoice.Event
	err = s.d.DB.Write(ctx, func(tx *store.Tx) error {
		inv, err := tx.Invoice(ctx, inv.ID)
		if err != nil {
			return err
		}
		earlier, err := tx.InvoiceRefunds(ctx, inv.ID)
		if err != nil {
			return err
		}
		rest, err := refund.Check(inv, m.Method, amount, earlier)
		if err != nil {
			return err
		}
		if addr != "" {
			if err := s.finish(ctx, tx, c, r, addr, prep, amount.Cmp(rest) == 0); err != nil {
				return err
			}
			r.Status = refund.StatusReady
		}
		if err := tx.SaveRefund(ctx, r); err != nil {
			return err
		}
		ev, err := refund.NewEvent(refund.EventCreated, r, inv, s.d.Now(), s.RefundViewOptions(), s.ViewOptions())
		if err != nil {
			return err
		}
		evs = []invoice.Event{ev}
		if err := tx.InsertEvents(ctx, evs); err != nil {
			return err
		}
		return s.saveIdem(ctx, tx, req.Idempotency, r, now)
	})
	if err != nil {
		return nil, refundErr(err)
	}
	s.d.Log.Info("refund created", "refund", r.ID, "invoice", inv.ID, "status", r.Status, "amount", r.Asset.Format(r.Amount))
	s.afterRefund(r, evs)
	return r, nil
}

func (s *Service) saveIdem(ctx context.Context, tx *store.Tx, k *RefundIdempotency, r *refund.Refund, now time.Time) error {
	if k == nil {
		return nil
	}
	body, err := k.Response(r)
	if err != nil {
		return err
	}
	return tx.SaveIdempotency(ctx, store.IdempotencyRecord{APIKeyID: k.APIKeyID, Key: k.Key, RequestHash: k.RequestHash,
		StatusCode: http.StatusCreated, Response: body, CreatedAt: now}, k.ExpireBefore)
}

// afterRefund watches a refund's destination and tells about its events,
// after the commit.
func (s *Service) afterRefund(r *refund.Refund, evs []invoice.Event) {
	if r.Address != "" && r.Status == refund.StatusReady {
		s.d.Watch(r.Chain, r.Address)
	}
	if len(evs) > 0 {
		s.d.Notify(evs)
	}
}

// prepared is what building a refund's transaction needs from the node,
// asked before the write transaction (never inside it).
type prepared struct {
	feeRate int64
	inputs  []refund.Input
	prev    map[string]*wire.MsgTx
	evm     *refund.EVMTx
}

// prepareRefund asks the node what the transaction needs: Bitcoin the fee rate,
// the spendable outputs and their previous transactions; EVM the nonce,
// fees and gas.
func (s *Service) prepareRefund(ctx context.Context, c RefundChain, inv *invoice.Invoice, r *refund.Refund, addr string, feeRate *int64) (*prepared, error) {
	p := &prepared{prev: map[string]*wire.MsgTx{}}
	switch c.Kind {
	case invoice.KindBitcoin:
		if err := s.checkNotOurs(ctx, r.Chain, addr); err != nil {
			return nil, err
		}
		p.feeRate = s.feeRate(ctx, c, feeRate)
		ins, err := s.spendable(ctx, inv, r)
		if err != nil {
			return nil, err
		}
		p.inputs = ins
		for _, in := range ins {
			if tx, err := c.Bitcoin.RawTransaction(ctx, in.TxID); err == nil {
				p.prev[in.TxID] = tx
			} else {
				s.d.Log.Warn("previous transaction not available; the PSBT carries the witness UTXO only", "txid", in.TxID, "err", err)
			}
		}
	case invoice.KindEVM:
		if err := s.checkNotOurs(ctx, r.Chain, addr); err != nil {
			return nil, err
		}
		tx, err := s.evmTx(ctx, c, r, addr)
		if err != nil {
			return nil, err
		}
		p.evm = tx
	}
	return p, nil
}

func (s *Service) checkNotOurs(ctx context.Context, chainName, addr string) error {
	var owner string
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		owner, err = tx.AddressOwner(ctx, chainName, addr)
		return err
	})
	if err == nil {
		return invalid("address", "address is one of payd's own deposit addresses (invoice %s); give the shopper's address", owner)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Service) feeRate(ctx context.Context, c RefundChain, given *int64) int64 {
	if given != nil {
		return *given
	}
	cfg := s.refundCfg()
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rate, err := c.Bitcoin.FeeRate(qctx, cfg.FeeTarget)
	if err != nil {
		s.d.Log.Warn("no fee estimate from the node; using refunds.fallback_fee_rate", "err", err, "sat_per_vb", cfg.FallbackFeeRate)
		return cfg.FallbackFeeRate
	}
	return rate
}

// spendable lists the outputs a Bitcoin refund of inv may spend: its
// confirmed payments, and the change of its earlier sent refunds, that no
// other refund or sweep spends.
func (s *Service) spendable(ctx context.Context, inv *invoice.Invoice, r *refund.Refund) ([]refund.Input, error) {
	m, _ := inv.MethodByName(r.Method)
	var cands []refund.Input
	for _, p := range inv.Payments {
		if p.Method == r.Method && p.Status == invoice.PaymentConfirmed && p.Amount.IsInt64() {
			cands = append(cands, refund.Input{TxID: p.TxID, Vout: p.OutputIndex, Amount: p.Amount.Int64(), Address: m.Address,
				Branch: derive.BranchReceive, Index: m.DeriveIdx, InvoiceID: inv.ID})
		}
	}
	earlier, err := s.d.DB.InvoiceRefunds(ctx, inv.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range earlier {
		if e.Change != nil && e.TxID != "" && (e.Status == refund.StatusBroadcast || e.Status == refund.StatusCompleted) {
			cands = append(cands, refund.Input{TxID: e.TxID, Vout: e.Change.Vout, Amount: e.Change.Amount, Address: e.Change.Address,
				Branch: derive.BranchChange, Index: e.Change.Index, InvoiceID: inv.ID})
		}
	}
	var ops []string
	for _, c := range cands {
		ops = append(ops, c.Outpoint())
	}
	var spent map[string]bool
	err = s.d.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		spent, err = tx.SpentOutpoints(ctx, r.Chain, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []refund.Input
	for _, c := range cands {
		if !spent[c.Outpoint()] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		var holders []string
		for _, e := range earlier {
			if e.Status == refund.StatusReady || e.Status == refund.StatusAwaitingAddress {
				holders = append(holders, e.ID)
			}
		}
		if len(holders) > 0 {
			return nil, conflict("the invoice's outputs are spent by refund %s, which is not broadcast yet; broadcast or cancel it first", strings.Join(holders, ", "))
		}
		return nil, conflict("the invoice has no unspent outputs left to refund from")
	}
	return out, nil
}

// finish builds the refund's transaction inside the write transaction
// (pure work plus the change index): the PSBT for Bitcoin, the EVM fields.
func (s *Service) finish(ctx context.Context, tx *store.Tx, c RefundChain, r *refund.Refund, addr string, p *prepared, all bool) error {
	r.Address = addr
	switch c.Kind {
	case invoice.KindBitcoin:
		keys, ok := s.d.Derivers[r.Chain].(derive.Originer)
		if !ok {
			return fmt.Errorf("service: the %s key gives no key origins", r.Chain)
		}
		to, err := script(c.Params, addr)
		if err != nil {
			return err
		}
		var ins []refund.SpendInput
		for _, in := range p.inputs {
			o, err := keys.Origin(in.Branch, in.Index)
			if err != nil {
				return err
			}
			if o.Address != in.Address {
				return fmt.Errorf("service: the configured %s key derives %s at /%d/%d, not %s: was the key changed?", r.Chain, o.Address, in.Branch, in.Index, in.Address)
			}
			ins = append(ins, refund.SpendInput{Input: in, Key: keyInfo(o), PrevTx: p.prev[in.TxID]})
		}
		idx, err := tx.NextIndexes(ctx, r.Chain+"/change", 1)
		if err != nil {
			return err
		}
		co, err := keys.Origin(derive.BranchChange, idx)
		if err != nil {
			return err
		}
		ck := keyInfo(co)
		b, err := refund.Build(refund.Plan{Inputs: ins, To: to, Amount: r.Amount.Int64(), Change: &ck, FeeRate: p.feeRate, FeeFromAmount: all})
		if err != nil {
			return err
		}
		r.Inputs, r.PSBT, r.FeeRate = p.inputs, b.Raw, p.feeRate
		r.Sent, r.Fee = big.NewInt(b.Sent), big.NewInt(b.Fee)
		r.Change = nil
		if b.ChangeVout >= 0 {
			r.Change = &refund.Change{Address: co.Address, Amount: b.ChangeAmount, Index: idx, Vout: uint32(b.ChangeVout)}
		}
		// The inputs spent and their amounts are what was kept out of the
		// refundable rest: a later refund spends this one's change.
	case invoice.KindEVM:
		r.EVM = p.evm
	}
	return nil
}

func keyInfo(o derive.Origin) refund.KeyInfo {
	return refund.KeyInfo{Script: o.Script, PubKey: o.PubKey, Fingerprint: o.Fingerprint, Path: o.Path}
}

func script(params *chaincfg.Params, addr string) ([]byte, error) {
	a, err := btcutil.DecodeAddress(addr, params)
	if err != nil {
		return nil, invalid("address", "address: %v", err)
	}
	return txscript.PayToAddrScript(a)
}

// transferSelector is ERC-20 transfer(address,uint256).
const transferSelector = "a9059cbb"

// transferCall is the calldata of ERC-20 transfer(to, amount).
func transferCall(to string, amount *big.Int) []byte {
	data, _ := hex.DecodeString(transferSelector + fmt.Sprintf("%064s", strings.ToLower(to[2:])) + fmt.Sprintf("%064x", amount))
	return data
}

// evmTx asks the node for the nonce, fees and gas of the refund's
// transaction from the deposit address.
func (s *Service) evmTx(ctx context.Context, c RefundChain, r *refund.Refund, to string) (*refund.EVMTx, error) {
	if c.EVM == nil {
		return nil, unprocessable("unknown_method", "method", "chain %s has no node for refunds", r.Chain)
	}
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	t := &refund.EVMTx{ChainID: c.ChainID, From: r.From, To: to, Value: r.Amount.String(), Data: "0x"}
	var data []byte
	value := new(big.Int).Set(r.Amount)
	if r.Token != "" {
		t.To, t.Value = r.Token, "0"
		data = transferCall(to, r.Amount)
		t.Data = "0x" + hex.EncodeToString(data)
		value.SetInt64(0)
		t.URI = invoice.EIP681Token(r.Token, c.ChainID, to, r.Amount)
	} else {
		t.URI = invoice.EIP681Native(to, c.ChainID, r.Amount)
	}
	nonce, err := c.EVM.Nonce(qctx, r.From)
	if err != nil {
		return nil, fmt.Errorf("service: nonce of %s: %w", r.From, err)
	}
	maxFee, tip, err := c.EVM.Fees(qctx)
	if err != nil {
		return nil, fmt.Errorf("service: fees on %s: %w", r.Chain, err)
	}
	gas := uint64(21_000)
	if r.Token != "" {
		g, err := c.EVM.EstimateGas(qctx, r.From, t.To, value, data)
		if err != nil {
			s.d.Log.Warn("gas estimate failed; suggesting 100000", "refund", r.ID, "err", err)
			g = 100_000
		} else {
			g += g / 5 // 20 % headroom
		}
		gas = g
	}
	t.Nonce, t.Gas, t.MaxFeePerGas, t.MaxPriorityFeePerGas = nonce, gas, maxFee.String(), tip.String()
	return t, nil
}

// Refund returns a refund or sweep.
func (s *Service) Refund(ctx context.Context, id string) (*refund.Refund, error) {
	if !invoice.ValidID(id, refund.PrefixRefund) && !invoice.ValidID(id, refund.PrefixSweep) {
		return nil, ErrRefundNotFound
	}
	r, err := s.d.DB.Refund(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRefundNotFound
	}
	return r, err
}

// InvoiceRefunds returns an invoice's refunds, oldest first.
func (s *Service) InvoiceRefunds(ctx context.Context, invoiceID string) ([]*refund.Refund, error) {
	if _, err := s.Get(ctx, invoiceID); err != nil {
		return nil, err
	}
	return s.d.DB.InvoiceRefunds(ctx, invoiceID)
}

// ProvideAddress is the claim page's form: the shopper's address for a
// refund awaiting one. The transaction is built and the merchant told
// (refund.address_provided).
func (s *Service) ProvideAddress(ctx context.Context, id, address string) (*refund.Refund, error) {
	r, err := s.Refund(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != refund.KindRefund {
		return nil, ErrRefundNotFound
	}
	now := s.d.Now().UTC().Truncate(time.Second)
	if err := refund.ProvideAddress(&refund.Refund{Status: r.Status, ExpiresAt: r.ExpiresAt}, "x", now, func(*refund.Refund) error { return nil }); err != nil {
		return nil, refundErr(err)
	}
	c, err := s.refundChain(r.Chain)
	if err != nil {
		return nil, err
	}
	addr, err := CheckAddress(c, r.Chain, address)
	if err != nil {
		return nil, err
	}
	inv, err := s.Get(ctx, r.InvoiceID)
	if err != nil {
		return nil, err
	}
	prep, err := s.prepareRefund(ctx, c, inv, r, addr, nil)
	if err != nil {
		return nil, refundErr(err)
	}
	var evs []invoice.Event
	err = s.d.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.Refund(ctx, id)
		if err != nil {
			return err
		}
		inv, err := tx.Invoice(ctx, cur.InvoiceID)
		if err != nil {
			return err
		}
		earlier, err := tx.InvoiceRefunds(ctx, inv.ID)
		if err != nil {
			return err
		}
		var others []*refund.Refund
		for _, e := range earlier {
			if e.ID != cur.ID {
				others = append(others, e)
			}
		}
		rest, err := refund.Check(inv, cur.Method, cur.Amount, others)
		if err != nil {
			return err
		}
		if err := refund.ProvideAddress(cur, addr, now, func(x *refund.Refund) error {
			return s.finish(ctx, tx, c, x, addr, prep, cur.Amount.Cmp(rest) == 0)
		}); err != nil {
			return err
		}
		cur.ExpiresAt = time.Time{}
		if err := tx.SaveRefund(ctx, cur); err != nil {
			return err
		}
		ev, err := refund.NewEvent(refund.EventAddressProvided, cur, inv, s.d.Now(), s.RefundViewOptions(), s.ViewOptions())
		if err != nil {
			return err
		}
		evs = []invoice.Event{ev}
		r = cur
		return tx.InsertEvents(ctx, evs)
	})
	if err != nil {
		return nil, refundErr(err)
	}
	s.d.Log.Info("refund address provided", "refund", r.ID, "invoice", r.InvoiceID)
	s.afterRefund(r, evs)
	return r, nil
}

// CancelRefund cancels a refund (or sweep) nothing was sent for; its
// outputs are free again.
func (s *Service) CancelRefund(ctx context.Context, id string) (*refund.Refund, error) {
	if _, err := s.Refund(ctx, id); err != nil {
		return nil, err
	}
	var r *refund.Refund
	var evs []invoice.Event
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = tx.Refund(ctx, id); err != nil {
			return err
		}
		now := s.d.Now().UTC().Truncate(time.Second)
		if err := refund.Cancel(r, now); err != nil {
			return err
		}
		if err := tx.SaveRefund(ctx, r); err != nil {
			return err
		}
		if r.Kind != refund.KindRefund {
			return nil
		}
		inv, err := tx.Invoice(ctx, r.InvoiceID)
		if err != nil {
			return err
		}
		ev, err := refund.NewEvent(refund.EventCanceled, r, inv, s.d.Now(), s.RefundViewOptions(), s.ViewOptions())
		if err != nil {
			return err
		}
		evs = []invoice.Event{ev}
		return tx.InsertEvents(ctx, evs)
	})
	if err != nil {
		return nil, refundErr(err)
	}
	s.afterRefund(r, evs)
	return r, nil
}

// Broadcast checks a signed transaction (raw hex, or a signed PSBT in
// base64 or binary) pays the refund's address the agreed amount from the
// refund's inputs, hands it to the node and marks the refund broadcast.
func (s *Service) Broadcast(ctx context.Context, id string, signed []byte) (*refund.Refund, error) {
	r, err := s.Refund(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.ChainKind != invoice.KindBitcoin {
		return nil, conflict("only Bitcoin refunds are broadcast through payd; send the EVM transaction from your wallet")
	}
	if r.Status != refund.StatusReady && r.Status != refund.StatusBroadcast {
		return nil, conflict("the refund is %s; only a ready refund can be broadcast", r.Status)
	}
	c, err := s.refundChain(r.Chain)
	if err != nil {
		return nil, err
	}
	tx, err := decodeSigned(signed)
	if err != nil {
		return nil, err
	}
	to, err := script(c.Params, r.Address)
	if err != nil {
		return nil, err
	}
	if err := refund.CheckPays(tx, r.Inputs, to, r.Sent.Int64()); err != nil {
		return nil, unprocessable("invalid_transaction", "tx", "%v", err)
	}
	txid, err := c.Bitcoin.SendRawTransaction(ctx, tx)
	if err != nil {
		return nil, unprocessable("invalid_transaction", "tx", "the node refused the transaction: %v", err)
	}
	err = s.d.DB.Write(ctx, func(dbtx *store.Tx) error {
		cur, err := dbtx.Refund(ctx, id)
		if err != nil {
			return err
		}
		refund.Seen(cur, txid, 0, "", s.d.Now().UTC().Truncate(time.Second))
		r = cur
		return dbtx.SaveRefund(ctx, cur)
	})
	if err != nil {
		return nil, err
	}
	s.d.Log.Info("refund broadcast", "refund", r.ID, "txid", txid)
	return r, nil
}

// decodeSigned reads a raw transaction (hex) or a signed PSBT.
func decodeSigned(b []byte) (*wire.MsgTx, error) {
	t := strings.TrimSpace(string(b))
	if t == "" {
		return nil, invalid("tx", "give the signed transaction (hex) or the signed PSBT (base64)")
	}
	if raw, err := hex.DecodeString(t); err == nil {
		tx := new(wire.MsgTx)
		if err := tx.Deserialize(strings.NewReader(string(raw))); err != nil {
			return nil, invalid("tx", "not a Bitcoin transaction: %v", err)
		}
		return tx, nil
	}
	p, err := refund.Decode([]byte(t))
	if err != nil {
		return nil, invalid("tx", "neither a hex transaction nor a PSBT: %v", err)
	}
	tx, err := refund.Finalize(p)
	if err != nil {
		return nil, invalid("tx", "%v", err)
	}
	return tx, nil
}

// ExpireClaims expires claim links past their deadline (refund.expired has
// no event of its own in the contract; the refund's status tells).
func (s *Service) ExpireClaims(ctx context.Context) (int, error) {
	n := 0
	err := s.d.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.d.Now().UTC().Truncate(time.Second)
		rs, err := tx.ExpiredClaims(ctx, now, 200)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if refund.Expire(r, now) {
				if err := tx.SaveRefund(ctx, r); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// CreateSweep builds one PSBT that moves settled invoices' confirmed
// outputs to the merchant's cold storage (Bitcoin).
func (s *Service) CreateSweep(ctx context.Context, req SweepRequest) (*refund.Refund, error) {
	c, err := s.refundChain(req.Chain)
	if err != nil {
		return nil, err
	}
	minConf, maxIns := c.Confirmations, defaultSweep
	if req.MinConfirmations != nil {
		if *req.MinConfirmations < 0 || *req.MinConfirmations > 1000 {
			return nil, invalid("min_confirmations", "min_confirmations is 0…1000")
		}
		minConf = *req.MinConfirmations
	}
	if req.MaxInputs != nil {
		if *req.MaxInputs < 1 || *req.MaxInputs > maxSweepIns {
			return nil, invalid("max_inputs", "max_inputs is 1…%d", maxSweepIns)
		}
		maxIns = *req.MaxInputs
	}
	if c.Kind == invoice.KindEVM {
		return s.createEVMSweep(ctx, c, req, minConf, maxIns)
	}
	if req.FeeRate != nil && (*req.FeeRate < 1 || *req.FeeRate > maxFeeRate) {
		return nil, invalid("fee_rate", "fee_rate is sat/vB, 1…%d", maxFeeRate)
	}
	var addr string
	switch {
	case req.ToAddress != "" && req.ToDescriptor != "":
		return nil, invalid("to_address", "give to_address or to_descriptor, not both")
	case req.ToAddress != "":
		if addr, err = CheckAddress(c, req.Chain, req.ToAddress); err != nil {
			return nil, err
		}
	case req.ToDescriptor != "":
		d, err := derive.ParseBitcoin(req.ToDescriptor, networkName(c.Params))
		if err != nil {
			return nil, invalid("to_descriptor", "to_descriptor: %v", err)
		}
		if addr, _, err = d.Address(0); err != nil {
			return nil, invalid("to_descriptor", "to_descriptor: %v", err)
		}
	default:
		return nil, invalid("to_address", "to_address (or to_descriptor) is required")
	}
	if err := s.checkNotOurs(ctx, req.Chain, addr); err != nil {
		return nil, err
	}
	ins, err := s.d.DB.SettledUnspent(ctx, req.Chain, minConf, maxIns)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, conflict("no unspent outputs of settled invoices with at least %d confirmation(s) on %s", minConf, req.Chain)
	}
	rate := s.feeRate(ctx, c, req.FeeRate)
	keys, ok := s.d.Derivers[req.Chain].(derive.Originer)
	if !ok {
		return nil, fmt.Errorf("service: the %s key gives no key origins", req.Chain)
	}
	var spend []refund.SpendInput
	var invs []string
	total := new(big.Int)
	for _, in := range ins {
		o, err := keys.Origin(derive.BranchReceive, in.Index)
		if err != nil {
			return nil, err
		}
		if o.Address != in.Address {
			return nil, fmt.Errorf("service: the configured key derives %s at /0/%d, not %s", o.Address, in.Index, in.Address)
		}
		si := refund.SpendInput{Input: in, Key: keyInfo(o)}
		if tx, err := c.Bitcoin.RawTransaction(ctx, in.TxID); err == nil {
			si.PrevTx = tx
		}
		spend = append(spend, si)
		total.Add(total, big.NewInt(in.Amount))
		if !slices.Contains(invs, in.InvoiceID) {
			invs = append(invs, in.InvoiceID)
		}
	}
	to, err := script(c.Params, addr)
	if err != nil {
		return nil, err
	}
	b, err := refund.Build(refund.Plan{Inputs: spend, To: to, SweepAll: true, FeeRate: rate})
	if err != nil {
		return nil, refundErr(err)
	}
	now := s.d.Now().UTC().Truncate(time.Second)
	asset := invoice.BTC
	r := &refund.Refund{ID: invoice.NewID(refund.PrefixSweep, now), Kind: refund.KindSweep, Invoices: invs, Method: req.Chain + "/btc",
		Chain: req.Chain, ChainKind: invoice.KindBitcoin, Asset: asset, Amount: total, Sent: big.NewInt(b.Sent), Fee: big.NewInt(b.Fee),
		Currency: asset, Requested: total, Status: refund.StatusReady, Address: addr, FeeRate: rate, Inputs: ins, PSBT: b.Raw,
		ConfirmationsRequired: c.Confirmations, CreatedAt: now, UpdatedAt: now, Sequence: 1}
	err = s.d.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SaveRefund(ctx, r); err != nil {
			return err
		}
		return s.saveIdem(ctx, tx, req.Idempotency, r, now)
	})
	if err != nil {
		return nil, refundErr(err)
	}
	s.d.Log.Info("sweep created", "sweep", r.ID, "inputs", len(ins), "invoices", len(invs), "sats", b.Sent)
	s.afterRefund(r, nil)
	return r, nil
}

func networkName(p *chaincfg.Params) string {
	switch p.Name {
	case chaincfg.MainNetParams.Name:
		return "mainnet"
	case chaincfg.RegressionNetParams.Name:
		return "regtest"
	case chaincfg.SigNetParams.Name:
		return "signet"
	}
	return "testnet"
}
