package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/payd/payd/internal/httpx"
	"github.com/payd/payd/invoice"
)

// FuzzDecodeCreate: any body either decodes into a request that passed the
// edge checks or fails with a 4xx in the contract's codes; never a panic.
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{createBody, `{}`, `{"amount":1}`, `{"amount":"1","currency":"USD","metadata":null}`,
		`{"amount":"1","currency":"USD","confirmations":{"bitcoin":-1}}`, `[`, `{"amount":"1","currency":"USD"} x`,
		`{"amount":"1","currency":"USD","expires_in":1e400}`, "\x00", `{"amount":"1","currency":"USD","metadata":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreate(body)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 || he.Code == "" {
				t.Fatalf("error %v is not a 4xx contract error", err)
			}
			return
		}
		if req.Amount == "" || req.Currency == "" || len(req.OrderID) > maxOrderID || len(req.Metadata) > maxMetadata {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzPathID: any {id} on every id-taking route answers 2xx only for a
// well-formed id of the right type, else 4xx; never 5xx, and a malformed id
// never reaches the service.
func FuzzPathID(f *testing.F) {
	a := New(Config{}, Deps{})
	fake := &fakeInvoices{byID: map[string]*invoice.Invoice{}}
	a.d.Invoices = fake
	mux := http.NewServeMux()
	a.Register(mux)
	for _, s := range []string{"inv_0123456789abcdefgh", "evt_0123456789abcdefgh", "", "..", "%00", "inv_\u00e9", "wh_x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for _, p := range []string{"/i/%s/status", "/v1/invoices/%s"} {
			r := &http.Request{Method: "GET", URL: &url.URL{Path: strings.Replace(p, "%s", id, 1)}, Header: http.Header{}, RemoteAddr: "127.0.0.1:1"}
			r = r.WithContext(t.Context())
			w := httptest.NewRecorder()
			before := fake.calls.Load()
			mux.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s: %d %s", r.URL.Path, w.Code, w.Body)
			}
			if fake.calls.Load() != before && !invoice.ValidID(id, invoice.PrefixInvoice) {
				t.Fatalf("%q reached the service", id)
			}
		}
	})
}
