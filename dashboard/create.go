package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/service"
	"github.com/payd/payd/store"
)

type createData struct {
	Kind, Amount, Currency, OrderID, Description, Metadata, ExpiresIn, MaxUses string
	// FormID makes the invoice form idempotent: a second submission of the
	// same form (a double click, a reload of the POST) shows the invoice the
	// first one created instead of creating another.
	FormID       string
	Methods      []methodChoice
	Error, Field string
	// set after creation
	Created   bool
	ID, Link  string
	QR        template.URL // data: URL of the link's QR PNG
	IsInvoice bool
}

type methodChoice struct {
	Name    string
	Checked bool
}

func (h *Handler) createForm(r *http.Request) *createData {
	d := &createData{Kind: r.PostFormValue("kind"), Amount: strings.TrimSpace(r.PostFormValue("amount")),
		Currency: strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))), OrderID: r.PostFormValue("order_id"),
		Description: r.PostFormValue("description"), Metadata: strings.TrimSpace(r.PostFormValue("metadata")),
		ExpiresIn: strings.TrimSpace(r.PostFormValue("expires_in")), MaxUses: strings.TrimSpace(r.PostFormValue("max_uses")),
		FormID: r.PostFormValue("form_id")}
	if !validFormID(d.FormID) {
		d.FormID = newFormID()
	}
	if d.Kind != "link" {
		d.Kind = "invoice"
	}
	chosen := r.PostForm["method"]
	for _, m := range h.cfg.Methods {
		c := false
		for _, x := range chosen {
			c = c || x == m
		}
		d.Methods = append(d.Methods, methodChoice{Name: m, Checked: c})
	}
	return d
}

// createPage is GET /new.
func (h *Handler) createPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	d := &createData{Kind: "invoice", Currency: "USD", FormID: newFormID()}
	if r.URL.Query().Get("kind") == "link" {
		d.Kind = "link"
	}
	for _, m := range h.cfg.Methods {
		d.Methods = append(d.Methods, methodChoice{Name: m})
	}
	h.render(w, r, rq, "create", http.StatusOK, d)
	return nil
}

// createSubmit is POST /new: an invoice or a payment link, validated by the
// service with the API's rules and messages.
func (h *Handler) createSubmit(w http.ResponseWriter, r *http.Request, rq *request) error {
	d := h.createForm(r)
	var methods []string
	for _, m := range d.Methods {
		if m.Checked {
			methods = append(methods, m.Name)
		}
	}
	fail := func(field, msg string) error {
		d.Field, d.Error = field, msg
		h.render(w, r, rq, "create", http.StatusBadRequest, d)
		return nil
	}
	var meta json.RawMessage
	if d.Metadata != "" {
		if !json.Valid([]byte(d.Metadata)) {
			return fail("metadata", "metadata must be a JSON object")
		}
		meta = json.RawMessage(d.Metadata)
	}
	var err error
	var id, link string
	if d.Kind == "link" {
		req := service.LinkRequest{Amount: d.Amount, Currency: d.Currency, Methods: methods, Description: d.Description, Metadata: meta}
		if d.MaxUses != "" {
			n, perr := strconv.ParseInt(d.MaxUses, 10, 64)
			if perr != nil {
				return fail("max_uses", "max_uses must be a whole number")
			}
			req.MaxUses = &n
		}
		l, cerr := h.d.Invoices.CreateLink(r.Context(), req)
		err, id, link = cerr, l.ID, h.cfg.BaseURL+"/l/"+l.ID
	} else {
		req := service.CreateRequest{Amount: d.Amount, Currency: d.Currency, Methods: methods, OrderID: d.OrderID,
			Description: d.Description, Metadata: meta}
		if d.ExpiresIn != "" {
			n, perr := strconv.ParseInt(d.ExpiresIn, 10, 64)
			if perr != nil {
				return fail("expires_in", "expires_in must be a whole number of seconds")
			}
			req.ExpiresIn = &n
		}
		inv, cerr := h.createOnce(r, rq, d, req)
		if cerr == nil {
			id, link = inv.ID, inv.View(h.viewOpts()).CheckoutURL
		}
		err = cerr
	}
	if err != nil {
		var se *service.Error
		if errors.As(err, &se) {
			return fail(se.Field, se.Message)
		}
		return err
	}
	h.audit(r, rq, "create."+d.Kind, id, d.Amount+" "+d.Currency)
	d.Created, d.ID, d.Link, d.IsInvoice = true, id, link, d.Kind == "invoice"
	if png, err := qrcode.Encode(link, qrcode.Medium, 256); err == nil {
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	h.render(w, r, rq, "create", http.StatusCreated, d)
	return nil
}

// formIDLen is a form id's length: 16 random bytes in hex.
const formIDLen = 32

func newFormID() string {
	var b [formIDLen / 2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validFormID(s string) bool {
	if len(s) != formIDLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// formIdemTTL is how long a submitted form is remembered (as the API's
// Idempotency-Key).
const formIdemTTL = 24 * time.Hour

// createOnce creates the invoice of a form once: its form id is an
// Idempotency-Key owned by the signed-in admin, stored in the invoice's own
// transaction. The same form sent again shows the invoice it created; sent
// again with other values it is refused.
func (h *Handler) createOnce(r *http.Request, rq *request, d *createData, req service.CreateRequest) (*invoice.Invoice, error) {
	owner := "console:" + rq.admin.ID
	sum := sha256.New()
	for _, v := range []string{d.Amount, d.Currency, d.OrderID, d.Description, d.Metadata, d.ExpiresIn, strings.Join(req.Methods, " ")} {
		sum.Write([]byte(v))
		sum.Write([]byte{0})
	}
	hash := hex.EncodeToString(sum.Sum(nil))
	h.createMu.Lock()
	defer h.createMu.Unlock()
	rec, err := h.d.Store.IdempotencyRecord(r.Context(), owner, d.FormID, rq.now.Add(-formIdemTTL))
	switch {
	case err == nil && rec.RequestHash == hash:
		return h.d.Invoices.Get(r.Context(), string(rec.Response))
	case err == nil:
		d.FormID = newFormID()
		return nil, &service.Error{Status: http.StatusConflict, Code: "conflict",
			Message: rq.loc.T("form_reused")}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	req.Idempotency = &service.Idempotency{APIKeyID: owner, Key: d.FormID, RequestHash: hash,
		Response:     func(inv *invoice.Invoice) ([]byte, error) { return []byte(inv.ID), nil },
		ExpireBefore: rq.now.Add(-formIdemTTL)}
	return h.d.Invoices.Create(r.Context(), req)
}
