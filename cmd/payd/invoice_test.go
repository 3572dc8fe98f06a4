package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/payd/payd/invoice"
)

// fakeAPIRequest is one request the fake payd API saw.
type fakeAPIRequest struct {
	method, path, query, auth, body string
}

// fakeAPI answers the invoice endpoints with canned JSON, on 127.0.0.1.
type fakeAPI struct {
	mu   sync.Mutex
	seen []fakeAPIRequest
	srv  *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	inv, err := os.ReadFile("testdata/invoice/invoice.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/invoices", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Amount string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		if strings.Count(req.Amount, "0") > 8 {
			w.WriteHeader(422)
			io.WriteString(w, `{"error":{"code":"invalid_amount","message":"amount has 9 decimals; BTC allows 8","field":"amount"}}`)
			return
		}
		w.WriteHeader(201)
		w.Write(inv)
	})
	mux.HandleFunc("GET /v1/invoices/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "inv_8w1n3m0k6q2t9v4r7c5x" {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"invoice not found"}}`)
			return
		}
		w.Write(inv)
	})
	mux.HandleFunc("GET /v1/invoices", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":[`+string(inv)+`],"has_more":true}`)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		f.mu.Lock()
		f.seen = append(f.seen, fakeAPIRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), string(b)})
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer payd_test_key" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"missing or unknown API key"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) last(t *testing.T) fakeAPIRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the fake API saw no request")
	}
	return f.seen[len(f.seen)-1]
}

func TestInvoiceCommands(t *testing.T) {
	f := newFakeAPI(t)
	env := map[string]string{"PAYD_URL": f.srv.URL, "PAYD_API_KEY": "payd_test_key", "PAYD_CONFIG": ""}
	tests := []struct {
		name      string
		args      []string
		wantOut   []string // substrings of stdout
		wantExact string   // whole stdout, if set
		wantReq   fakeAPIRequest
		check     func(t *testing.T, out string)
	}{
		{"create prints only the checkout URL",
			[]string{"invoice", "create", "--amount", "0.001", "--currency", "BTC", "--method", "bitcoin/btc", "--method", "ethereum/eth",
				"--order-id", "A-1001", "--description", "2 × T-shirt", "--expires-in", "15m", "--metadata", `{"customer":"42"}`},
			nil, "https://pay.example/i/inv_8w1n3m0k6q2t9v4r7c5x\n",
			fakeAPIRequest{method: "POST", path: "/v1/invoices",
				body: `{"amount":"0.001","currency":"BTC","methods":["bitcoin/btc","ethereum/eth"],"order_id":"A-1001","description":"2 × T-shirt","metadata":{"customer":"42"},"expires_in":900}`},
			nil},
		{"create --json",
			[]string{"invoice", "create", "--amount", "25.00", "--currency", "USD", "--json"},
			nil, "",
			fakeAPIRequest{method: "POST", path: "/v1/invoices", body: `{"amount":"25.00","currency":"USD"}`},
			func(t *testing.T, out string) {
				var v invoice.View
				if err := json.Unmarshal([]byte(out), &v); err != nil || v.ID != "inv_8w1n3m0k6q2t9v4r7c5x" || v.Methods[0].Address == "" {
					t.Errorf("not the invoice as JSON (%v):\n%s", err, out)
				}
			}},
		{"get",
			[]string{"invoice", "get", "inv_8w1n3m0k6q2t9v4r7c5x"},
			[]string{"inv_8w1n3m0k6q2t9v4r7c5x", "new", "25.00 USD (paid 0.00)", "A-1001", "https://pay.example/i/inv_8w1n3m0k6q2t9v4r7c5x",
				"bitcoin/btc", "0.00041234 BTC", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "pay_1", "confirmed"}, "",
			fakeAPIRequest{method: "GET", path: "/v1/invoices/inv_8w1n3m0k6q2t9v4r7c5x"}, nil},
		{"get --json",
			[]string{"invoice", "get", "inv_8w1n3m0k6q2t9v4r7c5x", "--json"},
			[]string{`"id": "inv_8w1n3m0k6q2t9v4r7c5x"`, `"metadata": {`}, "",
			fakeAPIRequest{method: "GET", path: "/v1/invoices/inv_8w1n3m0k6q2t9v4r7c5x"}, nil},
		{"list",
			[]string{"invoice", "list", "--status", "settled", "--limit", "5"},
			[]string{"ID", "STATUS", "inv_8w1n3m0k6q2t9v4r7c5x", "25.00 USD", "A-1001"}, "",
			fakeAPIRequest{method: "GET", path: "/v1/invoices", query: "limit=5&status=settled"}, nil},
		{"list --json",
			[]string{"invoice", "list", "--json"},
			[]string{`"has_more": true`, `"data": [`}, "",
			fakeAPIRequest{method: "GET", path: "/v1/invoices"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, env, tt.args...)
			if err != nil {
				t.Fatalf("%v (stderr %s)", err, errOut)
			}
			if tt.wantExact != "" && out != tt.wantExact {
				t.Errorf("stdout %q, want %q", out, tt.wantExact)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.check != nil {
				tt.check(t, out)
			}
			r := f.last(t)
			tt.wantReq.auth = "Bearer payd_test_key"
			if r != tt.wantReq {
				t.Errorf("request\n got %+v\nwant %+v", r, tt.wantReq)
			}
		})
	}
}

func TestInvoiceCommandErrors(t *testing.T) {
	f := newFakeAPI(t)
	base := map[string]string{"PAYD_URL": f.srv.URL, "PAYD_API_KEY": "payd_test_key", "PAYD_CONFIG": ""}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"API error shows the API's message", base,
			[]string{"invoice", "create", "--amount", "0.000000001", "--currency", "BTC"},
			[]string{"create invoice", "amount has 9 decimals; BTC allows 8", "amount"}},
		{"unknown invoice", base, []string{"invoice", "get", "inv_nope"}, []string{"invoice not found"}},
		{"wrong key", with("PAYD_API_KEY", "payd_other"), []string{"invoice", "list"}, []string{"missing or unknown API key"}},
		{"no key", with("PAYD_API_KEY", ""), []string{"invoice", "list"}, []string{"PAYD_API_KEY is not set"}},
		{"missing amount", base, []string{"invoice", "create", "--currency", "BTC"}, []string{"amount"}},
		{"fractional expiry", base, []string{"invoice", "create", "--amount", "1", "--currency", "BTC", "--expires-in", "1500ms"}, []string{"--expires-in"}},
		{"metadata not an object", base, []string{"invoice", "create", "--amount", "1", "--currency", "BTC", "--metadata", "[1]"}, []string{"--metadata"}},
		{"payd not running", with("PAYD_URL", "http://127.0.0.1:1"), []string{"invoice", "get", "inv_x"}, []string{"get invoice inv_x", "127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, tt.env, tt.args...)
			if err == nil {
				t.Fatal("succeeded; want an error")
			}
			if exitCode(err) == 0 {
				t.Error("exit code 0")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestInvoiceURLResolution(t *testing.T) {
	f := newFakeAPI(t)
	cfg := filepath.Join(t.TempDir(), "payd.yaml")
	listen := strings.TrimPrefix(f.srv.URL, "http://")
	if err := os.WriteFile(cfg, []byte("server:\n  listen: "+listen+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"PAYD_API_KEY": "payd_test_key", "PAYD_URL": "", "PAYD_CONFIG": ""}
	t.Run("config server.listen", func(t *testing.T) {
		if _, _, err := runCLI(t, key, "--config", cfg, "invoice", "list"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("--url wins over PAYD_URL", func(t *testing.T) {
		env := map[string]string{"PAYD_API_KEY": "payd_test_key", "PAYD_URL": "http://127.0.0.1:1"}
		if _, _, err := runCLI(t, env, "invoice", "list", "--url", f.srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
	})
	for listen, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:8080": "127.0.0.1:8080", "[::]:8080": "[::1]:8080",
		"10.0.0.2:8080": "10.0.0.2:8080", "localhost:9": "localhost:9",
	} {
		if got := dialAddr(listen); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", listen, got, want)
		}
	}
	t.Run("default", func(t *testing.T) {
		g := &globals{configPath: filepath.Join(t.TempDir(), "missing.yaml")}
		t.Setenv("PAYD_URL", "")
		if got := g.apiURL(""); got != defaultAPIURL {
			t.Errorf("apiURL = %q, want %q", got, defaultAPIURL)
		}
	})
}
