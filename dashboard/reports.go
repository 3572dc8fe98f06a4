package dashboard

import (
	"encoding/csv"
	"math/big"
	"net/http"
	"sort"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

type reportsData struct {
	From, To string
	Error    string
	Methods  []receivedData // confirmed, per method
	Days     []dayTotal
	Query    string
}

type dayTotal struct {
	Day      string
	Payments int
	Amounts  []string
}

// reportRange reads from/to (dates, UTC; to inclusive); default the last 30 days.
func reportRange(now time.Time, from, to string) (time.Time, time.Time, string, string, string) {
	today := now.UTC().Truncate(24 * time.Hour)
	f, t := today.AddDate(0, 0, -29), today.AddDate(0, 0, 1)
	if from != "" {
		x, err := time.Parse(time.DateOnly, from)
		if err != nil {
			return f, t, from, to, "report_bad_date"
		}
		f = x
	}
	if to != "" {
		x, err := time.Parse(time.DateOnly, to)
		if err != nil {
			return f, t, from, to, "report_bad_date"
		}
		t = x.AddDate(0, 0, 1)
	}
	if !f.Before(t) {
		return f, t, from, to, "report_bad_range"
	}
	return f, t, f.Format(time.DateOnly), t.AddDate(0, 0, -1).Format(time.DateOnly), ""
}

// reportsPage is GET /reports: totals per method and per day.
func (h *Handler) reportsPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := r.URL.Query()
	from, to, fs, ts, bad := reportRange(rq.now, q.Get("from"), q.Get("to"))
	d := &reportsData{From: fs, To: ts, Error: bad}
	if bad != "" {
		h.render(w, r, rq, "reports", http.StatusBadRequest, d)
		return nil
	}
	d.Query = "from=" + fs + "&to=" + ts
	type key struct{ day, asset string }
	sums := map[key]*big.Int{}
	decimals := map[string]int{}
	counts := map[string]int{}
	err := h.d.Store.PaymentsReport(r.Context(), from, to, func(p store.PaymentReportRow) error {
		if p.Status != string(invoice.PaymentConfirmed) {
			return nil
		}
		amt, ok := new(big.Int).SetString(p.Amount, 10)
		if !ok {
			return nil
		}
		k := key{p.SeenAt.Format(time.DateOnly), p.Asset}
		if sums[k] == nil {
			sums[k] = new(big.Int)
		}
		sums[k].Add(sums[k], amt)
		decimals[p.Asset] = p.AssetDecimals
		counts[k.day]++
		return nil
	})
	if err != nil {
		return err
	}
	rec, err := h.d.Store.ReceivedByMethod(r.Context(), from, to)
	if err != nil {
		return err
	}
	for _, x := range rec {
		rd := receivedData{Method: x.Method, Amount: invoice.FormatFor(x.Asset, x.Amount) + " " + x.Asset.Code, Payments: x.Payments}
		for c, v := range x.Value {
			rd.Values = append(rd.Values, invoice.FormatFor(x.Currencies[c], v)+" "+c)
		}
		sort.Strings(rd.Values)
		d.Methods = append(d.Methods, rd)
	}
	byDay := map[string]*dayTotal{}
	for k, v := range sums {
		dt := byDay[k.day]
		if dt == nil {
			dt = &dayTotal{Day: k.day, Payments: counts[k.day]}
			byDay[k.day] = dt
		}
		dt.Amounts = append(dt.Amounts, invoice.FormatFor(invoice.Asset{Code: k.asset, Decimals: decimals[k.asset]}, v)+" "+k.asset)
	}
	for _, dt := range byDay {
		sort.Strings(dt.Amounts)
		d.Days = append(d.Days, *dt)
	}
	sort.Slice(d.Days, func(i, j int) bool { return d.Days[i].Day > d.Days[j].Day })
	h.render(w, r, rq, "reports", http.StatusOK, d)
	return nil
}

// reportsCSV is GET /reports/payments.csv?from=&to=: the API's payments CSV.
func (h *Handler) reportsCSV(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := r.URL.Query()
	from, to, _, _, bad := reportRange(rq.now, q.Get("from"), q.Get("to"))
	if bad != "" {
		return pageErr(http.StatusBadRequest, bad)
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
	err := h.d.Store.PaymentsReport(r.Context(), from, to, func(p store.PaymentReportRow) error {
		start()
		return cw.Write(p.Record())
	})
	if err != nil {
		if cw == nil {
			return err
		}
		h.log.Error("payments report", "err", err)
		panic(http.ErrAbortHandler)
	}
	start()
	h.audit(r, rq, "report.export", "", from.Format(time.DateOnly)+".."+to.Format(time.DateOnly))
	cw.Flush()
	return cw.Error()
}
