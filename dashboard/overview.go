package dashboard

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

type overviewData struct {
	Windows  []windowData
	Chart    template.HTML // server-drawn SVG
	Chains   []ChainHealth
	Failing  []failingData
	Received []receivedData // last 30 days
}

type windowData struct {
	Key                       string // catalog key: today, 7d, 30d
	Created, Settled, Expired int
}

type receivedData struct {
	Method, Amount string
	Payments       int
	Values         []string // "1234.56 USD"
}

type failingData struct {
	ID, URL, LastError, LastAt string
	Pending, Failed, LastCode  int
}

func (h *Handler) viewOpts() invoice.ViewOptions { return invoice.ViewOptions{BaseURL: h.cfg.BaseURL} }

// overview is GET /: counts, received amounts, a chart, chain health and
// failing webhook endpoints.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	end := rq.now.Add(time.Second)
	today := rq.now.Truncate(24 * time.Hour)
	d := &overviewData{}
	for _, win := range []struct {
		key  string
		from time.Time
	}{{"win_today", today}, {"win_7d", today.AddDate(0, 0, -6)}, {"win_30d", today.AddDate(0, 0, -29)}} {
		c, err := h.d.Store.CountInvoices(ctx, win.from, end)
		if err != nil {
			return err
		}
		d.Windows = append(d.Windows, windowData{Key: win.key, Created: c.Created, Settled: c.Settled, Expired: c.Expired})
	}
	rec, err := h.d.Store.ReceivedByMethod(ctx, today.AddDate(0, 0, -29), end)
	if err != nil {
		return err
	}
	for _, x := range rec {
		rd := receivedData{Method: x.Method, Amount: invoice.FormatFor(x.Asset, x.Amount) + " " + x.Asset.Code, Payments: x.Payments}
		codes := make([]string, 0, len(x.Value))
		for c := range x.Value {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, c := range codes {
			rd.Values = append(rd.Values, invoice.FormatFor(x.Currencies[c], x.Value[c])+" "+c)
		}
		d.Received = append(d.Received, rd)
	}
	days, err := h.d.Store.InvoicesPerDay(ctx, today.AddDate(0, 0, -29), end)
	if err != nil {
		return err
	}
	d.Chart = chartSVG(days, rq.loc)
	if h.d.Health != nil {
		d.Chains = h.d.Health(ctx)
	}
	fs, err := h.d.Store.FailingWebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		d.Failing = append(d.Failing, failingData{ID: f.ID, URL: f.URL, LastError: snippet(f.LastError, 200), LastAt: fmtTime(f.LastAt),
			Pending: f.Pending, Failed: f.Failed, LastCode: f.LastStatus})
	}
	h.render(w, r, rq, "overview", http.StatusOK, d)
	return nil
}

// chartSVG draws invoices created and settled per day as grouped bars,
// server-side (no script, no library). Every text in it is escaped.
func chartSVG(days []store.DayCount, loc *locale) template.HTML {
	const w, hgt, pad, top = 1000, 200, 34, 12
	maxN := 2
	for _, d := range days {
		maxN = max(maxN, d.Created, d.Settled)
	}
	maxN += maxN % 2 // an even top, so the middle line is a whole number
	n := max(len(days), 1)
	slot := float64(w-pad) / float64(n)
	bar := slot * 0.38
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		w, hgt+20, esc(loc.T("chart_label")))
	// grid: 0, half, max
	for _, f := range []int{0, 1, 2} {
		y := top + (hgt-top)*(2-f)/2
		v := maxN * f / 2
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%d" x2="%d" y2="%d"/><text class="axis" x="0" y="%d">%d</text>`, pad, y, w, y, y+4, v)
	}
	for i, d := range days {
		x := float64(pad) + float64(i)*slot + slot*0.1
		for j, v := range []int{d.Created, d.Settled} {
			bh := float64(hgt-top) * float64(v) / float64(maxN)
			cls := [2]string{"created", "settled"}[j]
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
				cls, x+float64(j)*bar, float64(hgt)-bh, bar, bh, esc(d.Day.Format("2006-01-02")+" "+loc.T("chart_"+cls)), v)
		}
		if i%7 == 0 || (i == len(days)-1 && i%7 >= 3) {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d">%s</text>`, x, hgt+16, esc(d.Day.Format("01-02")))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
