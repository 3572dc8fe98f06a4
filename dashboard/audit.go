package dashboard

import (
	"net/http"
	"strconv"
)

type auditData struct {
	Entries []auditRow
	Next    int64
}

type auditRow struct {
	At, Admin, Action, Target, Detail, IP string
}

// auditPage is GET /audit: who did what, when, newest first.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	es, err := h.d.Store.AuditLog(r.Context(), before, 101)
	if err != nil {
		return err
	}
	d := &auditData{}
	if len(es) > 100 {
		es = es[:100]
		d.Next = es[99].ID
	}
	for _, e := range es {
		d.Entries = append(d.Entries, auditRow{At: fmtTime(e.At), Admin: e.Admin, Action: e.Action, Target: e.Target, Detail: e.Detail, IP: e.IP})
	}
	h.render(w, r, rq, "audit", http.StatusOK, d)
	return nil
}
