package checkout

import (
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// pageData is what every page template gets.
type pageData struct {
	L        *locale
	Lang     string
	Title    string
	Store    string
	LogoURL  string
	CSS      string // fingerprinted URLs
	ThemeCSS string
	JS       string
	Icon     string
	Refresh  int // seconds of the <noscript> meta refresh; 0 = none
	Langs    []langLink
	Inv      *invoiceData
	Claim    *claimData
	Err      *errorData
}

type langLink struct {
	Code, Name, Href string
	Current          bool
}

type errorData struct {
	Status      int
	Title, Text string
}

// invoiceData is the invoice as the page shows it; every number is already a
// decimal string.
type invoiceData struct {
	ID          string
	State       string // waiting, partial, processing, settled, expired, invalid
	StateTitle  string
	Status      string
	Exception   string
	Sequence    int64
	Final       bool
	Amount      string // "25.00 USD"
	AmountPaid  string // "12.00 USD"
	OrderID     string
	Description string
	ExpiresAt   string // RFC 3339, for <time datetime>
	ExpiresText string // "16:27 UTC"
	SecondsLeft int64
	Countdown   string // "14:32"
	Methods     []methodData
	Payments    []paymentData
	RedirectURL string
	ReceivedAll string // what arrived, per method, "0.0002 BTC" (expired underpaid)
	PartialText string // "Received … of …. Send … more to the same address."
}

// methodData is one way to pay, as shown in its tab.
type methodData struct {
	Method     string // "ethereum/usdc"
	Anchor     string // "m-ethereum-usdc"
	Asset      string // "USDC"
	ChainName  string // "Ethereum"
	Network    string // "USDC on Ethereum"
	Address    string
	Amount     string // to send now: the whole due, or what is left when partial
	AmountDue  string
	Received   string
	Partial    bool
	PaymentURI template.URL // BIP21/EIP-681; checked to be one of ours
	QRPNG      string
	QRSVG      string
	Token      string
	Selected   bool
}

// paymentData is one payment in the payments list.
type paymentData struct {
	Amount        string // "0.0004 BTC"
	Network       string
	TxID          string
	Status        string
	StatusText    string
	Confirmations int
	Required      int
	InBlock       bool
}

// chainNames are display names of well-known chain names from the config;
// any other name is shown with its first letter upper-cased.
var chainNames = map[string]string{
	"bitcoin":   "Bitcoin",
	"ethereum":  "Ethereum",
	"polygon":   "Polygon",
	"bsc":       "BNB Smart Chain",
	"arbitrum":  "Arbitrum One",
	"optimism":  "OP Mainnet",
	"base":      "Base",
	"avalanche": "Avalanche C-Chain",
	"sepolia":   "Sepolia",
	"regtest":   "Bitcoin regtest",
	"testnet":   "Bitcoin testnet",
}

// chainName returns the display name of a chain.
func chainName(chain string) string {
	if n, ok := chainNames[chain]; ok {
		return n
	}
	if chain == "" {
		return ""
	}
	return strings.ToUpper(chain[:1]) + chain[1:]
}

func (h *Handler) basePage(r *http.Request, loc *locale) *pageData {
	d := &pageData{
		L:        loc,
		Lang:     loc.Lang,
		Store:    h.storeName(loc),
		LogoURL:  h.cfg.LogoURL,
		CSS:      h.static.url("checkout.css"),
		ThemeCSS: h.static.url("theme.css"),
		JS:       h.static.url("checkout.js"),
		Icon:     h.static.url("icon.svg"),
	}
	for _, code := range languages {
		q := url.Values{"lang": {code}}
		d.Langs = append(d.Langs, langLink{Code: code, Name: languageNames[code], Href: r.URL.Path + "?" + q.Encode(), Current: code == loc.Lang})
	}
	return d
}

// remainingFraction is 1 − Σ received(m)/due(m) over the methods, exactly:
// the share of the invoice still to pay.
func remainingFraction(inv *invoice.Invoice) *big.Rat {
	left := big.NewRat(1, 1)
	for i := range inv.Methods {
		m := &inv.Methods[i]
		if m.AmountDue == nil || m.AmountDue.Sign() <= 0 {
			continue
		}
		left.Sub(left, new(big.Rat).SetFrac(inv.Received(m.Method), m.AmountDue))
	}
	return left
}

// ceilMul returns ⌈v × r⌉ for v ≥ 0 and r ≥ 0.
func ceilMul(v *big.Int, r *big.Rat) *big.Int {
	num := new(big.Int).Mul(v, r.Num())
	q, rem := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// qrContent is what a method's QR code and wallet link carry: the method's
// payment URI for the whole amount due, or for what is left to pay while the
// invoice is partially paid.
func qrContent(inv *invoice.Invoice, m *invoice.Method, view invoice.MethodView) (uri string, amount *big.Int, partial bool) {
	if inv.Status == invoice.StatusNew {
		left := remainingFraction(inv)
		anything := false
		for i := range inv.Methods {
			if inv.Received(inv.Methods[i].Method).Sign() > 0 {
				anything = true
			}
		}
		if anything && left.Sign() > 0 && m.AmountDue != nil {
			rest := ceilMul(m.AmountDue, left)
			return m.PaymentURI(rest, ""), rest, true
		}
	}
	return view.PaymentURI, m.AmountDue, false
}

// safeURI reports whether a payment URI may go into an href: one of the
// schemes payd itself writes.
func safeURI(s string) bool {
	return strings.HasPrefix(s, "bitcoin:") || strings.HasPrefix(s, "ethereum:") || strings.HasPrefix(s, "lightning:")
}

func (h *Handler) invoiceData(inv *invoice.Invoice, loc *locale) *invoiceData {
	v := inv.View(invoice.ViewOptions{BaseURL: h.cfg.BaseURL, Public: true})
	now := h.now()
	d := &invoiceData{
		ID:          v.ID,
		Status:      string(v.Status),
		Sequence:    v.Sequence,
		Final:       inv.Status.Final(),
		Amount:      v.Amount + " " + v.Currency,
		AmountPaid:  v.AmountPaid + " " + v.Currency,
		OrderID:     v.OrderID,
		Description: v.Description,
		ExpiresAt:   v.ExpiresAt,
		ExpiresText: inv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"),
		RedirectURL: v.RedirectURL,
	}
	if v.Exception != nil {
		d.Exception = *v.Exception
	}
	left := inv.ExpiresAt.Sub(now)
	if left < 0 {
		left = 0
	}
	d.SecondsLeft = int64(left / time.Second)
	d.Countdown = formatCountdown(d.SecondsLeft)

	var received []string
	for i, mv := range v.Methods {
		m := &inv.Methods[i]
		uri, amount, partial := qrContent(inv, m, mv)
		md := methodData{
			Method:    mv.Method,
			Anchor:    "m-" + strings.ReplaceAll(mv.Method, "/", "-"),
			Asset:     mv.Asset,
			ChainName: chainName(mv.Chain),
			Address:   mv.Address,
			Amount:    invoice.FormatFor(m.Asset, amount),
			AmountDue: mv.AmountDue,
			Received:  mv.AmountReceived,
			Partial:   partial,
			Token:     mv.Token,
			Selected:  i == 0,
		}
		md.Network = loc.T("network_of", mv.Asset, md.ChainName)
		if safeURI(uri) {
			md.PaymentURI = template.URL(uri)
		}
		base := "/i/" + url.PathEscape(v.ID) + "/qr/" + url.PathEscape(mv.Chain) + "/" + url.PathEscape(strings.ToLower(mv.Asset))
		ver := "?v=" + contentTag(uri)[:12]
		md.QRPNG, md.QRSVG = base+".png"+ver, base+".svg"+ver
		d.Methods = append(d.Methods, md)
		if inv.Received(m.Method).Sign() > 0 {
			received = append(received, mv.AmountReceived+" "+mv.Asset)
		}
	}
	d.ReceivedAll = strings.Join(received, " + ")
	for _, p := range v.Payments {
		pd := paymentData{TxID: p.TxID, Status: string(p.Status), StatusText: loc.T("payment_" + string(p.Status)), Confirmations: p.Confirmations, InBlock: p.BlockHeight != nil}
		if m, ok := inv.MethodByName(p.Method); ok {
			pd.Amount = p.Amount + " " + m.Asset.Code
			pd.Network = loc.T("network_of", m.Asset.Code, chainName(m.Chain))
			pd.Required = m.ConfirmationsRequired
		} else {
			pd.Amount = p.Amount
		}
		if pd.Confirmations > pd.Required {
			pd.Confirmations = pd.Required
		}
		d.Payments = append(d.Payments, pd)
	}

	switch inv.Status {
	case invoice.StatusNew:
		d.State = "waiting"
		if len(d.Methods) > 0 && d.Methods[0].Partial {
			d.State = "partial"
			d.PartialText = partialText(inv, d.Methods, loc)
		}
	case invoice.StatusProcessing:
		d.State = "processing"
	case invoice.StatusSettled:
		d.State = "settled"
	case invoice.StatusExpired:
		d.State = "expired"
	default:
		d.State = "invalid"
	}
	d.StateTitle = loc.T("state_" + d.State)
	return d
}

// formatCountdown writes seconds as "m:ss" or "h:mm:ss".
func formatCountdown(s int64) string {
	h, m, sec := s/3600, (s/60)%60, s%60
	pad := func(n int64) string {
		if n < 10 {
			return "0" + strconv.FormatInt(n, 10)
		}
		return strconv.FormatInt(n, 10)
	}
	if h > 0 {
		return strconv.FormatInt(h, 10) + ":" + pad(m) + ":" + pad(sec)
	}
	return strconv.FormatInt(m, 10) + ":" + pad(sec)
}

// partialText says what arrived and what is left, in the first method that
// received something.
func partialText(inv *invoice.Invoice, methods []methodData, loc *locale) string {
	for _, md := range methods {
		if m, ok := inv.MethodByName(md.Method); ok && inv.Received(m.Method).Sign() > 0 {
			return loc.T("partial_text", md.Received+" "+md.Asset, md.AmountDue+" "+md.Asset, md.Amount+" "+md.Asset)
		}
	}
	return ""
}
