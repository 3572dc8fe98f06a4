package api

import (
	"encoding/csv"
	"net/http"
	"time"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/store"
)

// parseReportTime reads an RFC 3339 time or a date (YYYY-MM-DD, UTC). A date
// as `to` means the end of that day.
func parseReportTime(field, s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, httpx.InvalidField(field, "%s must be an RFC 3339 time or a date (YYYY-MM-DD)", field)
}

// paymentsReport is GET /v1/reports/payments.csv?from=&to=: one row per
// payment first seen in [from, to) (default: everything until now), with its
// value in the invoice currency at the rate locked when the invoice was made.
func (a *API) paymentsReport(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "from", "to")
	if err != nil {
		return err
	}
	from, to := time.Unix(0, 0).UTC(), a.d.Now().UTC().Add(time.Second)
	if s := q.Get("from"); s != "" {
		if from, err = parseReportTime("from", s, false); err != nil {
			return err
		}
	}
	if s := q.Get("to"); s != "" {
		if to, err = parseReportTime("to", s, true); err != nil {
			return err
		}
	}
	if !from.Before(to) {
		return httpx.InvalidField("to", "to must be after from")
	}
	var cw *csv.Writer
	start := func() {
		if cw != nil {
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="payments.csv"`)
		w.WriteHeader(http.StatusOK)
		cw = csv.NewWriter(w)
		_ = cw.Write(store.PaymentReportHeader)
	}
	err = a.d.Reports.PaymentsReport(r.Context(), from, to, func(p store.PaymentReportRow) error {
		start()
		return cw.Write(p.Record())
	})
	if err != nil {
		if cw == nil {
			return err
		}
		// Headers are gone; cut the response short so the client sees an
		// incomplete body rather than a silently short report.
		a.log.Error("payments report", "err", err, "request_id", w.Header().Get("X-Request-Id"))
		panic(http.ErrAbortHandler)
	}
	start()
	cw.Flush()
	return cw.Error()
}
