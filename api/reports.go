package api

import (
	"encoding/csv"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/store"
)

// reportHeader is the payments CSV's header row.
var reportHeader = []string{"payment_id", "invoice_id", "order_id", "method", "asset", "amount", "currency",
	"rate", "fiat_value", "txid", "output_index", "status", "seen_at", "confirmed_at"}

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
		_ = cw.Write(reportHeader)
	}
	err = a.d.Reports.PaymentsReport(r.Context(), from, to, func(p store.PaymentReportRow) error {
		start()
		return cw.Write(reportRow(p))
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

func reportRow(p store.PaymentReportRow) []string {
	asset := invoice.Asset{Code: p.Asset, Decimals: p.AssetDecimals}
	cur := invoice.Asset{Code: p.Currency, Decimals: p.CurrencyDecimals, Fiat: p.CurrencyFiat}
	amount := p.Amount
	amt, ok := new(big.Int).SetString(p.Amount, 10)
	if ok {
		amount = invoice.FormatFor(asset, amt)
	}
	fiat := ""
	if ok {
		if v, ok := fiatValue(amt, p.AssetDecimals, p.Rate, p.CurrencyDecimals); ok {
			fiat = invoice.FormatFor(cur, v)
		}
	}
	confirmed := ""
	if p.ConfirmedAt != nil {
		confirmed = invoice.FormatTime(*p.ConfirmedAt)
	}
	return []string{p.PaymentID, p.InvoiceID, csvSafe(p.OrderID), p.Method, p.Asset, amount, p.Currency,
		p.Rate, fiat, p.TxID, strconv.FormatInt(p.OutputIndex, 10), p.Status, invoice.FormatTime(p.SeenAt), confirmed}
}

// fiatValue is amount (base units, assetDec decimals) × rate in base units of
// a currency with curDec decimals, rounded down.
func fiatValue(amount *big.Int, assetDec int, rate string, curDec int) (*big.Int, bool) {
	if rate == "" || strings.ContainsAny(rate, "eE") {
		return nil, false
	}
	rt, ok := new(big.Rat).SetString(rate)
	if !ok || rt.Sign() < 0 {
		return nil, false
	}
	v := new(big.Rat).SetInt(amount)
	v.Mul(v, rt)
	v.Mul(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(curDec)), nil)))
	v.Quo(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(assetDec)), nil)))
	return new(big.Int).Quo(v.Num(), v.Denom()), true
}

// csvSafe defuses spreadsheet formula injection in merchant-supplied text.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
