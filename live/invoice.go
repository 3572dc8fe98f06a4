package live

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
)

// invoiceMessage is what /i/{id}/ws sends.
type invoiceMessage struct {
	Type    string       `json:"type"` // "invoice"
	Invoice invoice.View `json:"invoice"`
}

func (h *Hub) invoiceMessage(inv *invoice.Invoice) ([]byte, error) {
	return json.Marshal(invoiceMessage{Type: "invoice", Invoice: inv.View(invoice.ViewOptions{BaseURL: h.o.BaseURL, Public: true})})
}

// ServeInvoice serves GET /i/{id}/ws: the invoice's public view on connect,
// then one message per change, and a normal closure after a final status. An
// unknown or malformed id is answered with 404 before upgrading.
func (h *Hub) ServeInvoice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !invoice.ValidID(id, invoice.PrefixInvoice) {
		httpx.WriteError(w, h.log, httpx.NotFound("invoice"))
		return
	}
	if !h.begin() {
		httpx.WriteError(w, h.log, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "", "shutting down"))
		return
	}
	defer h.end()

	// Subscribe before the first load so no change can fall between them.
	sub := h.subscribeInvoice(id)
	defer h.unsubscribeInvoice(sub)
	inv, err := h.o.Invoice(r.Context(), id)
	if err != nil {
		if h.o.IsNotFound(err) {
			httpx.WriteError(w, h.log, httpx.NotFound("invoice"))
		} else {
			httpx.WriteError(w, h.log, err)
		}
		return
	}
	msg, err := h.invoiceMessage(inv)
	if err != nil {
		httpx.WriteError(w, h.log, err)
		return
	}
	c, err := h.invUp.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	h.addClient(1)
	defer h.addClient(-1)
	cn := h.startConn(c)
	// The request context is not tied to a hijacked connection; own one.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	h.serveInvoice(ctx, cn, sub, inv, msg)
}

func (h *Hub) serveInvoice(ctx context.Context, cn *conn, sub *invSub, inv *invoice.Invoice, msg []byte) {
	log := h.log.With("invoice_id", inv.ID)
	if err := cn.write(websocket.TextMessage, msg); err != nil {
		cn.abort()
		return
	}
	if inv.Status.Final() {
		cn.close(websocket.CloseNormalClosure, "invoice "+string(inv.Status), true)
		return
	}
	last := inv.Sequence
	ping := time.NewTicker(h.o.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-h.done:
			cn.close(websocket.CloseGoingAway, "server shutting down", false)
			return
		case <-cn.readDone:
			cn.abort()
			return
		case <-ping.C:
			if err := cn.ping(); err != nil {
				cn.abort()
				return
			}
		case <-sub.notify:
			inv, err := h.o.Invoice(ctx, sub.id)
			if err != nil {
				if h.o.IsNotFound(err) {
					cn.close(websocket.CloseNormalClosure, "invoice gone", true)
					return
				}
				// A read failure is payd's problem, not the client's: keep the
				// connection; the next change (or a reconnect) catches up.
				log.Error("load invoice for websocket", "err", err)
				continue
			}
			if inv.Sequence <= last {
				continue
			}
			msg, err := h.invoiceMessage(inv)
			if err != nil {
				log.Error("render invoice for websocket", "err", err)
				continue
			}
			if err := cn.write(websocket.TextMessage, msg); err != nil {
				cn.abort()
				return
			}
			last = inv.Sequence
			if inv.Status.Final() {
				cn.close(websocket.CloseNormalClosure, "invoice "+string(inv.Status), true)
				return
			}
		}
	}
}
