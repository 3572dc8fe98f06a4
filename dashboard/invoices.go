package dashboard

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// listPageSize is how many invoices one page of the list shows.
const listPageSize = 50

// csvMax bounds one CSV export of the list.
const csvMax = 100_000

type listData struct {
	Q, Status, Method, From, To string
	Statuses, Methods           []string
	Rows                        []invoiceRow
	Next                        template.URL // query string of the next page (url.Values.Encode), "" = none
	CSV                         template.URL // query string of the CSV export (url.Values.Encode)
	Error                       string
}

type invoiceRow struct {
	ID, Status, Exception, Amount, Paid, OrderID, Description, Created string
	Methods                                                            []string
}

func rowOf(inv *invoice.Invoice) invoiceRow {
	v := inv.View(invoice.ViewOptions{})
	r := invoiceRow{ID: inv.ID, Status: string(inv.Status), Exception: string(inv.Exception), Amount: v.Amount + " " + v.Currency,
		Paid: v.AmountPaid, OrderID: inv.OrderID, Description: inv.Description, Created: fmtTime(inv.CreatedAt)}
	for _, m := range inv.Methods {
		r.Methods = append(r.Methods, m.Method)
	}
	return r
}

// parseSearch reads the list's filters from the query string; a bad date is
// a message (catalog key) and no filter.
func (h *Handler) parseSearch(q url.Values) (store.InvoiceSearch, *listData, string) {
	d := &listData{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Method: q.Get("method"), From: q.Get("from"), To: q.Get("to"),
		Methods: h.cfg.Methods}
	for _, s := range []invoice.Status{invoice.StatusNew, invoice.StatusProcessing, invoice.StatusSettled, invoice.StatusExpired, invoice.StatusInvalid} {
		d.Statuses = append(d.Statuses, string(s))
	}
	f := store.InvoiceSearch{Query: d.Q, Limit: listPageSize}
	if len(f.Query) > 256 {
		return f, d, "list_bad_query"
	}
	if d.Status != "" {
		if !slices.Contains(d.Statuses, d.Status) {
			return f, d, "list_bad_status"
		}
		f.Status = invoice.Status(d.Status)
	}
	if d.Method != "" {
		if !slices.Contains(h.cfg.Methods, d.Method) {
			return f, d, "list_bad_method"
		}
		f.Method = d.Method
	}
	if d.From != "" {
		t, err := time.Parse(time.DateOnly, d.From)
		if err != nil {
			return f, d, "list_bad_date"
		}
		f.From = t
	}
	if d.To != "" {
		t, err := time.Parse(time.DateOnly, d.To)
		if err != nil {
			return f, d, "list_bad_date"
		}
		f.To = t.AddDate(0, 0, 1)
	}
	if a := q.Get("after"); a != "" {
		if !invoice.ValidID(a, invoice.PrefixInvoice) {
			return f, d, "list_bad_cursor"
		}
		f.StartingAfter = a
	}
	return f, d, ""
}

// filterQuery is the list's filters as a query string (without the cursor).
func (d *listData) filterQuery() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"q": d.Q, "status": d.Status, "method": d.Method, "from": d.From, "to": d.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// invoiceList is GET /invoices: search, filters, newest first, paging.
func (h *Handler) invoiceList(w http.ResponseWriter, r *http.Request, rq *request) error {
	f, d, bad := h.parseSearch(r.URL.Query())
	d.CSV = template.URL(d.filterQuery().Encode())
	if bad != "" {
		d.Error = bad
		h.render(w, r, rq, "invoices", http.StatusBadRequest, d)
		return nil
	}
	invs, more, err := h.d.Store.SearchInvoices(r.Context(), f)
	if err != nil {
		return err
	}
	for _, inv := range invs {
		d.Rows = append(d.Rows, rowOf(inv))
	}
	if more && len(invs) > 0 {
		q := d.filterQuery()
		q.Set("after", invs[len(invs)-1].ID)
		d.Next = template.URL(q.Encode())
	}
	h.render(w, r, rq, "invoices", http.StatusOK, d)
	return nil
}

// invoiceCSVHeader is the invoice list export's header row.
var invoiceCSVHeader = []string{"invoice_id", "status", "exception", "amount", "currency", "amount_paid", "order_id", "description",
	"methods", "created_at", "expires_at", "settled_at"}

// invoiceCSV is GET /invoices.csv: the filtered list, every page.
func (h *Handler) invoiceCSV(w http.ResponseWriter, r *http.Request, rq *request) error {
	f, _, bad := h.parseSearch(r.URL.Query())
	if bad != "" {
		return pageErr(http.StatusBadRequest, bad)
	}
	f.Limit = 200
	var cw *csv.Writer
	n := 0
	for {
		invs, more, err := h.d.Store.SearchInvoices(r.Context(), f)
		if err != nil {
			if cw == nil {
				return err
			}
			h.log.Error("invoice export", "err", err)
			panic(http.ErrAbortHandler)
		}
		if cw == nil {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="invoices.csv"`)
			w.WriteHeader(http.StatusOK)
			cw = csv.NewWriter(w)
			_ = cw.Write(invoiceCSVHeader)
		}
		for _, inv := range invs {
			v := inv.View(invoice.ViewOptions{})
			var ms []string
			for _, m := range inv.Methods {
				ms = append(ms, m.Method)
			}
			settled := ""
			if inv.SettledAt != nil {
				settled = invoice.FormatTime(*inv.SettledAt)
			}
			_ = cw.Write([]string{inv.ID, string(inv.Status), string(inv.Exception), v.Amount, v.Currency, v.AmountPaid,
				store.CSVSafe(inv.OrderID), store.CSVSafe(inv.Description), strings.Join(ms, " "), v.CreatedAt, v.ExpiresAt, settled})
			n++
		}
		if !more || len(invs) == 0 || n >= csvMax {
			break
		}
		f.StartingAfter = invs[len(invs)-1].ID
	}
	h.audit(r, rq, "invoice.export", "", "")
	cw.Flush()
	return cw.Error()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}
