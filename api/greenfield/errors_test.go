package greenfield

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payd/payd/internal/apikey"
)

// TestErrors: every failure answers in Greenfield's shape — [{path, message}]
// for 422, {code, message} otherwise — and changes nothing.
func TestErrors(t *testing.T) {
	h := newHarness(t)
	ro := newHarness(t, apikey.ScopeInvoicesRead)
	tests := []struct {
		name          string
		h             *harness
		auth          string // "" = the harness key as "token …"
		method, path  string
		body          string
		status        int
		code, path422 string
	}{
		{"no key", h, "-", "GET", "/api/v1/stores", "", 401, "unauthenticated", ""},
		{"wrong scheme", h, "Basic Zm9vOmJhcg==", "GET", "/api/v1/stores", "", 401, "unauthenticated", ""},
		{"unknown key", h, "token payd_038hvvncmq0s5w12bzezxmdcmhc8e_" + strings.Repeat("a", 52), "GET", "/api/v1/stores", "", 401, "unauthenticated", ""},
		{"not a payd key", h, "token abcdef", "GET", "/api/v1/stores", "", 401, "unauthenticated", ""},
		{"missing scope", ro, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD"}`, 403, "missing-permission", ""},
		{"missing webhook scope", ro, "", "GET", "/api/v1/stores/StoreABC/webhooks", "", 403, "missing-permission", ""},
		{"other store", h, "", "GET", "/api/v1/stores/Other/invoices", "", 404, "store-not-found", ""},
		{"unknown invoice", h, "", "GET", "/api/v1/stores/StoreABC/invoices/INVcbd9fcf9bb1d", "", 404, "invoice-not-found", ""},
		{"unknown webhook", h, "", "GET", "/api/v1/stores/StoreABC/webhooks/wh_e9fc3ec8", "", 404, "webhook-not-found", ""},
		{"unsupported route", h, "", "POST", "/api/v1/stores/StoreABC/pull-payments", `{}`, 404, "not-found", ""},
		{"no amount", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"currency":"USD","amount":null}`, 422, "", "amount"},
		{"amount as object", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":{},"currency":"USD"}`, 422, "", "amount"},
		{"too many decimals", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"10.001","currency":"USD"}`, 422, "", "amount"},
		{"float exponent", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":1e3,"currency":"USD"}`, 422, "", "amount"},
		{"negative", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"-1","currency":"USD"}`, 422, "", "amount"},
		{"unknown currency", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"XYZ"}`, 422, "", "currency"},
		{"unknown method", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD","checkout":{"paymentMethods":["BTC-LN"]}}`, 422, "", "checkout.paymentMethods"},
		{"bad speed policy", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD","checkout":{"speedPolicy":"Warp"}}`, 422, "", "checkout.speedPolicy"},
		{"tolerance over 50", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD","checkout":{"paymentTolerance":60}}`, 422, "", "checkout.paymentTolerance"},
		{"expiration too short", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD","checkout":{"expirationMinutes":0.5}}`, 422, "", "checkout.expirationMinutes"},
		{"metadata not object", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD","metadata":[1]}`, 422, "", "metadata"},
		{"redirect not http", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":"1","currency":"USD","checkout":{"redirectURL":"javascript:alert(1)"}}`, 422, "", "checkout.redirectURL"},
		{"not json", h, "", "POST", "/api/v1/stores/StoreABC/invoices", `{"amount":`, 422, "", "body"},
		{"mark as New", h, "", "POST", "/api/v1/stores/StoreABC/invoices/inv_x/status", `{"status":"New"}`, 422, "", "status"},
		{"webhook without url", h, "", "POST", "/api/v1/stores/StoreABC/webhooks", `{"enabled":true}`, 422, "", "url"},
		{"webhook ftp url", h, "", "POST", "/api/v1/stores/StoreABC/webhooks", `{"url":"ftp://x"}`, 422, "", "url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.h.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			switch tc.auth {
			case "":
				req.Header.Set("Authorization", "token "+tc.h.key)
			case "-":
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var raw json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.status == 422 {
				var fe []FieldError
				if err := json.Unmarshal(raw, &fe); err != nil || len(fe) != 1 || fe[0].Path != tc.path422 || fe[0].Message == "" {
					t.Fatalf("422 body %s, want [{path: %q, message}]", raw, tc.path422)
				}
				return
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(raw, &e); err != nil || e.Code != tc.code || e.Message == "" {
				t.Fatalf("body %s, want {code: %q, message}", raw, tc.code)
			}
			if strings.Contains(e.Message, "store:") || strings.Contains(e.Message, "sql") {
				t.Errorf("message leaks internals: %s", e.Message)
			}
		})
	}
	// Nothing above created anything.
	invs, _, err := h.svc.List(t.Context(), serviceListAll())
	if err != nil || len(invs) != 0 {
		t.Errorf("failed requests created %d invoices (%v)", len(invs), err)
	}
	if code, b := h.do("GET", "/api/v1/stores/StoreABC/webhooks", ""); code != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("failed requests created webhooks: %s", b)
	}
}

// TestBearerAndReadOnlyPermissions: Bearer works as well as token, and a key
// with fewer scopes lists fewer permissions (so a plugin refuses it early).
func TestBearerAndReadOnlyPermissions(t *testing.T) {
	h := newHarness(t, apikey.ScopeInvoicesRead)
	req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/api-keys/current", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var k struct{ Permissions []string }
	_ = json.NewDecoder(resp.Body).Decode(&k)
	want := "btcpay.store.canviewinvoices:StoreABC btcpay.store.canviewstoresettings:StoreABC"
	if resp.StatusCode != 200 || strings.Join(k.Permissions, " ") != want {
		t.Fatalf("%d %v, want %s", resp.StatusCode, k.Permissions, want)
	}
	if _, ok := wooAccepts(k.Permissions); ok {
		t.Error("the WooCommerce check accepts a read-only key")
	}
	keys, err := h.db.APIKeys(t.Context())
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Errorf("key use not recorded: %+v %v", keys, err)
	}
}

// TestCreateTranslation: Greenfield's checkout options reach payd, nulls and
// unknown fields are tolerated, amounts may be JSON numbers (read as text).
func TestCreateTranslation(t *testing.T) {
	h := newHarness(t)
	inv := h.createInvoice(`{"amount":25.5,"currency":"usd","additionalSearchTerms":["x"],"metadata":{"orderId":1001,"itemDesc":"2 × T-shirt"},
		"checkout":{"speedPolicy":"HighSpeed","paymentMethods":["btc"],"expirationMinutes":30,"monitoringMinutes":60,"paymentTolerance":"1.5",
		"redirectURL":null,"redirectAutomatically":true,"defaultLanguage":"de","unknown":{}},"receipt":{"enabled":true}}`)
	p, err := h.svc.Get(t.Context(), inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.OrderID != "1001" || p.Description != "2 × T-shirt" || p.Amount.String() != "2550" || p.ToleranceBP != 150 ||
		len(p.Methods) != 1 || p.Methods[0].Method != "bitcoin/btc" || p.Methods[0].ConfirmationsRequired != 0 ||
		p.ExpiresAt.Sub(p.CreatedAt).Minutes() != 30 || p.MonitorUntil.Sub(p.ExpiresAt).Minutes() != 60 {
		t.Errorf("payd invoice %+v", p)
	}
	c := inv.Checkout
	if inv.Amount != "25.50" || c.SpeedPolicy != "HighSpeed" || c.ExpirationMinutes != 30 || c.MonitoringMinutes != 60 ||
		c.PaymentTolerance.String() != "1.5" || c.RedirectURL != nil || len(c.PaymentMethods) != 1 || c.PaymentMethods[0] != "BTC-CHAIN" {
		t.Errorf("greenfield invoice %+v", inv)
	}
	// The list filters the plugins use.
	code, b := h.do("GET", "/api/v1/stores/StoreABC/invoices?orderId=1001&orderId=nope&status=New&status=Settled", "")
	list := decodeJSON[[]invoiceView](t, b)
	if code != 200 || len(list) != 1 || list[0].ID != inv.ID {
		t.Errorf("list: %d %s", code, b)
	}
	code, b = h.do("GET", "/api/v1/stores/StoreABC/invoices?status=Expired", "")
	if code != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("list expired: %d %s", code, b)
	}
}

func TestMethodIDs(t *testing.T) {
	ms := newMethods([]Method{
		{Name: "bitcoin/btc", Chain: "bitcoin", Asset: "BTC", Bitcoin: true},
		{Name: "ethereum/eth", Chain: "ethereum", Asset: "ETH", Native: "ETH"},
		{Name: "ethereum/usdc", Chain: "ethereum", Asset: "USDC", Token: true, Native: "ETH"},
		{Name: "arbitrum/usdc", Chain: "arbitrum", Asset: "USDC", Token: true, Native: "ETH"},
		{Name: "polygon/usdt", Chain: "polygon", Asset: "USDT", Token: true, Native: "POL"},
		{Name: "base_2/usdc", Chain: "base_2", Asset: "USDC", Token: true, Native: "E_TH"},
	})
	want := map[string]string{"bitcoin/btc": "BTC-CHAIN", "ethereum/eth": "ETH-CHAIN", "ethereum/usdc": "USDC-ETHEREUM",
		"arbitrum/usdc": "USDC-ARBITRUM", "polygon/usdt": "USDT-POL", "base_2/usdc": "USDC-BASE2"}
	a := &API{methods: ms}
	for _, m := range ms {
		if m.ID != want[m.Name] || !methodIDRe.MatchString(m.ID) {
			t.Errorf("%s: id %q, want %q", m.Name, m.ID, want[m.Name])
		}
		for _, form := range []string{m.ID, strings.ReplaceAll(m.ID, "-", "_"), strings.ToLower(m.ID), m.Name} {
			if got, ok := a.parseMethod(form); !ok || got.Name != m.Name {
				t.Errorf("parseMethod(%q) = %v, %v", form, got.Name, ok)
			}
		}
	}
	for _, bad := range []string{"", "BTC-LN", "DOGE", "BTC-CHAIN-X"} {
		if m, ok := a.parseMethod(bad); ok {
			t.Errorf("parseMethod(%q) = %s", bad, m.Name)
		}
	}
	if m, ok := a.parseMethod("BTC"); !ok || m.Name != "bitcoin/btc" {
		t.Errorf("legacy BTC: %v %v", m.Name, ok)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t)
	g := New(Config{StoreID: storeID, APIRateLimit: 1}, Deps{Keys: h.db})
	mux := http.NewServeMux()
	g.Register(mux)
	codes := map[int]int{}
	for range 5 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/stores", nil)
		req.Header.Set("Authorization", "token "+h.key)
		mux.ServeHTTP(rec, req)
		codes[rec.Code]++
		if rec.Code == 429 && (rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"code":"rate-limited"`)) {
			t.Errorf("429 without Retry-After or code: %v %s", rec.Header(), rec.Body)
		}
	}
	if codes[200] != 2 || codes[429] != 3 {
		t.Errorf("codes %v, want burst 2 then 429", codes)
	}
}

// The database away (PostgreSQL restarting, the network cut) is a 503
// "unavailable" with Retry-After, as BTCPay answers while it cannot serve;
// a fault of payd's stays a 500 "server-error". Neither body shows the error.
func TestDatabaseOutageIs503(t *testing.T) {
	a := New(testConfig(), Deps{})
	for _, tt := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"refused", fmt.Errorf("store: begin: dial 10.9.9.9: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 503, "unavailable"},
		{"server shutting down", fmt.Errorf("store: x 10.9.9.9: %w", &pgconn.PgError{Code: "57P01"}), 503, "unavailable"},
		{"a fault of payd's", errors.New("store: scan 10.9.9.9: invalid amount"), 500, "server-error"},
	} {
		w := httptest.NewRecorder()
		a.writeError(w, httptest.NewRequest("GET", "/api/v1/stores/StoreABC/invoices/x", nil), "req_1", tt.err)
		var body struct{ Code, Message string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, w.Body)
		}
		retry := w.Header().Get("Retry-After")
		if w.Code != tt.status || body.Code != tt.code || (tt.status == 503) != (retry == "1") {
			t.Errorf("%s: %d %s, Retry-After %q; want %d %s", tt.name, w.Code, w.Body, retry, tt.status, tt.code)
		}
		if strings.Contains(w.Body.String(), "10.9.9.9") {
			t.Errorf("%s: the body shows the error: %s", tt.name, w.Body)
		}
	}
}
