package checkout

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/payd/payd/internal/ratelimit"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
)

// LinkVisitor turns payment links into invoices. *service.Service satisfies it.
type LinkVisitor interface {
	// VisitLink creates a fresh invoice from the link, counting the use.
	VisitLink(ctx context.Context, id string) (*invoice.Invoice, error)
	// LinkStatus reports whether a visit would succeed without using the link.
	LinkStatus(ctx context.Context, id string) error
}

// LinkOptions tune the payment-link handler.
type LinkOptions struct {
	// Visits is how many visits one client may make per Per (a token bucket
	// with that burst); 0 = 10.
	Visits int
	// Per is the refill period of Visits; 0 = one minute.
	Per time.Duration
	// ClientIP names the client the limit applies to (api.(*API).ClientIP
	// honours the proxy setting); nil = the peer address.
	ClientIP func(*http.Request) string
}

// Links returns the handler of GET /l/{id}, to pass to Register: each visit
// creates a fresh invoice through v and answers 303 See Other to its checkout
// page /i/{invoice id}. An unknown link is a 404 page; a deleted, expired or
// used-up one a 410 page; a client over its visit limit a 429 page with
// Retry-After. A HEAD request (link previews, crawlers) only reports the
// link's state and never creates an invoice.
func (h *Handler) Links(v LinkVisitor, o LinkOptions) http.Handler {
	if o.Visits <= 0 {
		o.Visits = 10
	}
	if o.Per <= 0 {
		o.Per = time.Minute
	}
	if o.ClientIP == nil {
		o.ClientIP = peerIP
	}
	return &linkHandler{h: h, v: v, o: o, limits: ratelimit.New(rate.Every(o.Per/time.Duration(o.Visits)), o.Visits, 2*o.Per)}
}

type linkHandler struct {
	h *Handler
	v LinkVisitor
	o LinkOptions

	limits *ratelimit.Set // per client, forgotten after 2×Per idle
}

func (lh *linkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if wait := lh.limits.Take(lh.o.ClientIP(r), lh.h.now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		lh.h.RenderError(w, r, http.StatusTooManyRequests)
		return
	}
	id := r.PathValue("id")
	if !invoice.ValidID(id, invoice.PrefixLink) {
		lh.h.RenderError(w, r, http.StatusNotFound)
		return
	}
	if r.Method == http.MethodHead {
		if err := lh.v.LinkStatus(r.Context(), id); err != nil {
			lh.fail(w, r, id, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	inv, err := lh.v.VisitLink(r.Context(), id)
	if err != nil {
		lh.fail(w, r, id, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/i/"+inv.ID, http.StatusSeeOther)
}

// fail renders the page for a link error, logging what is payd's or the
// merchant's to fix.
func (lh *linkHandler) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	var se *service.Error
	switch {
	case errors.Is(err, service.ErrLinkNotFound):
		lh.h.RenderError(w, r, http.StatusNotFound)
	case errors.Is(err, service.ErrLinkGone):
		lh.h.RenderError(w, r, http.StatusGone)
	case errors.As(err, &se):
		// The link no longer validates (no rate right now, a method removed
		// from the config): not the shopper's fault, try again later.
		lh.h.log.Warn("payment link cannot create an invoice", "link", id, "code", se.Code, "err", err)
		w.Header().Set("Retry-After", "60")
		lh.h.RenderError(w, r, http.StatusServiceUnavailable)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		lh.h.log.Debug("payment link visit cancelled by client", "link", id)
	default:
		lh.h.setHeaders(w)
		lh.h.failure(w, r, lh.h.locale(r), err, "payment link visit", "link", id)
	}
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
