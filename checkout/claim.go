package checkout

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/payd/payd/internal/ratelimit"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/service"
)

// Claims is what the refund claim page /r/{id} reads and writes.
// *service.Service satisfies it.
type Claims interface {
	Refund(ctx context.Context, id string) (*refund.Refund, error)
	// ProvideAddress validates and records the shopper's address (network,
	// checksum, EIP-55, not one of payd's own), builds the transaction and
	// emits refund.address_provided, or stores nothing.
	ProvideAddress(ctx context.Context, id, address string) (*refund.Refund, error)
}

// ClaimOptions tune the claim page.
type ClaimOptions struct {
	// Key signs the form tokens (HMAC-SHA256); nil = 32 random bytes made
	// at start, so a form opened before a restart asks to be sent again.
	Key []byte
	// Views is how many GET /r/{id} one client may make per minute (a token
	// bucket with that burst); 0 = 30.
	Views int
	// Submits is how many address submissions one client may make per ten
	// minutes; 0 = 10.
	Submits int
	// ClientIP names the client the limits apply to (api.(*API).ClientIP
	// honours the proxy setting); nil = the peer address.
	ClientIP func(*http.Request) string
}

// maxClaimForm bounds the form body (token + address + slack).
const maxClaimForm = 4 << 10

type claimHandler struct {
	h       *Handler
	c       Claims
	o       ClaimOptions
	views   *ratelimit.Set
	submits *ratelimit.Set
	csp     string
}

// claimData is the refund as the claim page shows it: only what the
// public view (refund.ViewOptions.Public) keeps, the reason never.
type claimData struct {
	ID         string
	State      string // form, ready, broadcast, completed, canceled, expired
	StateTitle string
	StateText  string
	Status     string
	Amount     string // "0.0004 BTC"
	Network    string // "BTC on Bitcoin regtest"
	Address    string // masked, once given
	ExpiresAt  string // RFC 3339 (form only)
	ExpiresTxt string
	Token      string
	Action     string
	Value      string // what the shopper typed, to correct it
	Error      string
	Example    string // placeholder (EVM only)
}

// RegisterClaims mounts the refund claim page: GET /r/{id} shows the
// refund and, while it awaits an address, the form; POST /r/{id} takes the
// address. See docs/refunds.md "Claim link" for the CSRF design.
func (h *Handler) RegisterClaims(mux *http.ServeMux, c Claims, o ClaimOptions) error {
	if c == nil {
		return errors.New("checkout: nil Claims")
	}
	if len(o.Key) == 0 {
		o.Key = make([]byte, 32)
		if _, err := rand.Read(o.Key); err != nil {
			return err
		}
	}
	if o.Views <= 0 {
		o.Views = 30
	}
	if o.Submits <= 0 {
		o.Submits = 10
	}
	if o.ClientIP == nil {
		o.ClientIP = peerIP
	}
	ch := &claimHandler{h: h, c: c, o: o,
		views:   ratelimit.New(rate.Every(time.Minute/time.Duration(o.Views)), o.Views, 2*time.Minute),
		submits: ratelimit.New(rate.Every(10*time.Minute/time.Duration(o.Submits)), o.Submits, 20*time.Minute),
		// The one difference to the checkout's policy: the form posts to itself.
		csp: strings.Replace(h.csp, "form-action 'none'", "form-action 'self'", 1),
	}
	mux.HandleFunc("GET /r/{id}", ch.serveGet)
	mux.HandleFunc("POST /r/{id}", ch.servePost)
	return nil
}

func (ch *claimHandler) headers(w http.ResponseWriter) {
	ch.h.setHeaders(w)
	w.Header().Set("Content-Security-Policy", ch.csp)
}

// limited answers 429 when the client is over the limit of set.
func (ch *claimHandler) limited(w http.ResponseWriter, r *http.Request, set *ratelimit.Set) bool {
	wait := set.Take(ch.o.ClientIP(r), ch.h.now())
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
	ch.h.renderError(w, r, ch.h.locale(r), http.StatusTooManyRequests)
	return true
}

func (ch *claimHandler) load(w http.ResponseWriter, r *http.Request, loc *locale) *refund.Refund {
	id := r.PathValue("id")
	if !invoice.ValidID(id, refund.PrefixRefund) {
		ch.renderNotFound(w, r, loc)
		return nil
	}
	rf, err := ch.c.Refund(r.Context(), id)
	switch {
	case err == nil && rf.Kind == refund.KindRefund:
		return rf
	case err == nil, errors.Is(err, service.ErrRefundNotFound):
		ch.renderNotFound(w, r, loc)
	default:
		ch.h.failure(w, r, loc, err, "get refund", "refund", id)
	}
	return nil
}

func (ch *claimHandler) renderNotFound(w http.ResponseWriter, r *http.Request, loc *locale) {
	data := ch.h.basePage(r, loc)
	data.Err = &errorData{Status: http.StatusNotFound, Title: loc.T("claim_not_found_title"), Text: loc.T("claim_not_found_text")}
	data.Title = data.Err.Title
	ch.h.render(w, "error", http.StatusNotFound, data)
}

func (ch *claimHandler) serveGet(w http.ResponseWriter, r *http.Request) {
	ch.headers(w)
	loc := ch.h.locale(r)
	if ch.limited(w, r, ch.views) {
		return
	}
	rf := ch.load(w, r, loc)
	if rf == nil {
		return
	}
	ch.renderClaim(w, r, loc, rf, http.StatusOK, "", "")
}

func (ch *claimHandler) servePost(w http.ResponseWriter, r *http.Request) {
	ch.headers(w)
	loc := ch.h.locale(r)
	if ch.limited(w, r, ch.submits) {
		return
	}
	if !ch.sameOrigin(r) {
		ch.h.log.Warn("claim form posted from another origin", "refund", r.PathValue("id"), "origin", r.Header.Get("Origin"), "fetch_site", r.Header.Get("Sec-Fetch-Site"))
		ch.h.renderError(w, r, loc, http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxClaimForm)
	if err := r.ParseForm(); err != nil {
		ch.h.renderError(w, r, loc, http.StatusBadRequest)
		return
	}
	rf := ch.load(w, r, loc)
	if rf == nil {
		return
	}
	addr := strings.TrimSpace(r.PostForm.Get("address"))
	if rf.Status != refund.StatusAwaitingAddress {
		ch.seeOther(w, r, rf.ID)
		return
	}
	// A refused form is the page again with its message, 200 like any page
	// (a 4xx would be a console error in the shopper's browser).
	if !hmac.Equal([]byte(r.PostForm.Get("token")), []byte(ch.token(rf))) {
		ch.renderClaim(w, r, loc, rf, http.StatusOK, addr, loc.T("claim_stale_form"))
		return
	}
	if addr == "" {
		ch.renderClaim(w, r, loc, rf, http.StatusOK, "", loc.T("addr_required"))
		return
	}
	_, err := ch.c.ProvideAddress(r.Context(), rf.ID, addr)
	var se *service.Error
	switch {
	case err == nil:
		ch.h.log.Info("refund address given on the claim page", "refund", rf.ID)
		ch.seeOther(w, r, rf.ID)
	case errors.As(err, &se) && se.Field == "address":
		ch.renderClaim(w, r, loc, rf, http.StatusOK, addr, addressProblem(loc, se.Message, rf))
	case errors.As(err, &se) && se.Code == "conflict":
		// expired or changed meanwhile: the page tells its state
		ch.seeOther(w, r, rf.ID)
	case errors.Is(err, service.ErrRefundNotFound):
		ch.renderNotFound(w, r, loc)
	default:
		ch.h.failure(w, r, loc, err, "refund claim", "refund", rf.ID)
	}
}

// seeOther sends the browser back to the page (post/redirect/get), in the
// language it was using.
func (ch *claimHandler) seeOther(w http.ResponseWriter, r *http.Request, id string) {
	u := "/r/" + url.PathEscape(id)
	if l := normalizeLang(r.URL.Query().Get("lang")); l != "" {
		u += "?lang=" + l
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// sameOrigin refuses a cross-site form post: Sec-Fetch-Site, when the
// browser sends it, must be same-origin; else Origin, when sent, must be
// the public URL's or the request's own origin.
func (ch *claimHandler) sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser, or an old one: the form token still applies
	}
	if o == "null" {
		return false
	}
	if b, err := url.Parse(ch.h.cfg.BaseURL); err == nil && b.Host != "" && strings.EqualFold(o, b.Scheme+"://"+b.Host) {
		return true
	}
	return strings.EqualFold(o, "http://"+r.Host) || strings.EqualFold(o, "https://"+r.Host)
}

// token is the form token of a refund in its current state: an HMAC of
// its id and sequence, so a form is good for this refund only and only
// until the refund changes.
func (ch *claimHandler) token(rf *refund.Refund) string {
	m := hmac.New(sha256.New, ch.o.Key)
	m.Write([]byte("payd claim\x00" + rf.ID + "\x00" + strconv.FormatInt(rf.Sequence, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// addressProblem turns the service's address error into a sentence for
// the shopper (the service's own message may name payd's invoices).
func addressProblem(loc *locale, msg string, rf *refund.Refund) string {
	net := loc.T("network_of", rf.Asset.Code, chainName(rf.Chain))
	switch {
	case strings.Contains(msg, "another network"):
		return loc.T("addr_network", net)
	case strings.Contains(msg, "EIP-55"):
		return loc.T("addr_eip55")
	case strings.Contains(msg, "checksum"):
		return loc.T("addr_checksum")
	case strings.Contains(msg, "own deposit"):
		return loc.T("addr_ours")
	}
	return loc.T("addr_invalid", net)
}

func (ch *claimHandler) renderClaim(w http.ResponseWriter, r *http.Request, loc *locale, rf *refund.Refund, status int, value, problem string) {
	v := rf.View(refund.ViewOptions{Public: true})
	d := &claimData{ID: v.ID, Status: string(v.Status), Network: loc.T("network_of", v.Asset, chainName(v.Chain)),
		Amount: v.Amount + " " + v.Asset, Value: value, Error: problem, Action: "/r/" + url.PathEscape(v.ID)}
	if l := normalizeLang(r.URL.Query().Get("lang")); l != "" {
		d.Action += "?lang=" + l
	}
	if v.Address != nil {
		d.Address = *v.Address
	}
	switch rf.Status {
	case refund.StatusAwaitingAddress:
		d.State = "form"
		if !rf.ExpiresAt.IsZero() && !ch.h.now().Before(rf.ExpiresAt) {
			d.State = "expired" // the expirer has not run yet
		}
	case refund.StatusReady, refund.StatusBroadcast, refund.StatusCompleted, refund.StatusCanceled, refund.StatusExpired:
		d.State = string(rf.Status)
	default:
		d.State = "ready"
	}
	if rf.Status != refund.StatusAwaitingAddress {
		d.Amount = v.AmountSent + " " + v.Asset
	}
	if d.State == "form" {
		d.Token = ch.token(rf)
		if v.ExpiresAt != nil {
			d.ExpiresAt = *v.ExpiresAt
			d.ExpiresTxt = rf.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		if rf.ChainKind == invoice.KindEVM {
			d.Example = "0x…" // Bitcoin's prefix depends on the network: none
		}
	}
	d.StateTitle = loc.T("claim_state_" + d.State)
	if d.State == "form" {
		d.StateText = loc.T("claim_text_form", d.Network)
	} else {
		d.StateText = loc.T("claim_text_" + d.State)
	}
	data := ch.h.basePage(r, loc)
	data.Claim = d
	data.Title = loc.T("claim_title", d.Amount)
	ch.h.render(w, "claim", status, data)
}
