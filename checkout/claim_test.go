package checkout

import (
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/service"
)

const (
	ownAddr  = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080" // an invoice's deposit address
	goodAddr = "bcrt1qqyyq79says4nyw2qga892hrrdfchsluxx4hhfz"
	xssText  = `<script>alert("x")</script>`
)

// fakeClaims keeps refunds in memory; ProvideAddress checks the address
// with service.CheckAddress (the service's own rules and messages).
type fakeClaims struct {
	mu       sync.Mutex
	rs       map[string]*refund.Refund
	provided []string
	fail     error
}

func (f *fakeClaims) Refund(_ context.Context, id string) (*refund.Refund, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	r, ok := f.rs[id]
	if !ok {
		return nil, service.ErrRefundNotFound
	}
	c := *r
	return &c, nil
}

func (f *fakeClaims) ProvideAddress(_ context.Context, id, address string) (*refund.Refund, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rs[id]
	c := service.RefundChain{Kind: r.ChainKind, Params: &chaincfg.RegressionNetParams}
	a, err := service.CheckAddress(c, r.Chain, address)
	if err != nil {
		return nil, err
	}
	if a == ownAddr {
		return nil, &service.Error{Status: 400, Code: "invalid_field", Field: "address",
			Message: "address is one of payd's own deposit addresses (invoice inv_x); give the shopper's address"}
	}
	if r.Status != refund.StatusAwaitingAddress {
		return nil, &service.Error{Status: 409, Code: "conflict", Message: "refund status does not allow this"}
	}
	r.Address, r.Status, r.ExpiresAt = a, refund.StatusReady, time.Time{}
	r.Sequence++
	f.provided = append(f.provided, a)
	return r, nil
}

var claimIDs = map[refund.Status]string{
	refund.StatusAwaitingAddress: "rf_0000000000000000000000000001",
	refund.StatusReady:           "rf_0000000000000000000000000002",
	refund.StatusBroadcast:       "rf_0000000000000000000000000003",
	refund.StatusCompleted:       "rf_0000000000000000000000000004",
	refund.StatusCanceled:        "rf_0000000000000000000000000005",
	refund.StatusExpired:         "rf_0000000000000000000000000006",
}

const evmClaimID = "rf_0000000000000000000000000007"

func testRefund(id string, st refund.Status) *refund.Refund {
	r := &refund.Refund{ID: id, Kind: refund.KindRefund, InvoiceID: "inv_t1", Method: "bitcoin/btc", Chain: "regtest",
		ChainKind: invoice.KindBitcoin, Asset: invoice.BTC, Amount: big.NewInt(40_000), Sent: big.NewInt(39_700), Fee: big.NewInt(300),
		Currency: invoice.BTC, Requested: big.NewInt(40_000), Reason: xssText, Status: st, Sequence: 1, CreatedAt: testNow}
	if st == refund.StatusAwaitingAddress {
		r.Sent = big.NewInt(40_000)
		r.ExpiresAt = testNow.Add(7 * 24 * time.Hour)
	} else if st != refund.StatusCanceled && st != refund.StatusExpired {
		r.Address = goodAddr
	}
	return r
}

func newClaimServer(t *testing.T) (*httptest.Server, *fakeClaims) {
	t.Helper()
	f := &fakeClaims{rs: map[string]*refund.Refund{}}
	for st, id := range claimIDs {
		f.rs[id] = testRefund(id, st)
	}
	e := testRefund(evmClaimID, refund.StatusAwaitingAddress)
	e.Chain, e.ChainKind, e.Method, e.Asset = "ethereum", invoice.KindEVM, "ethereum/eth", invoice.Asset{Code: "ETH", Decimals: 18}
	f.rs[evmClaimID] = e
	h := newTestHandler(t, Config{}, newFake())
	mux := http.NewServeMux()
	h.Register(mux)
	if err := h.RegisterClaims(mux, f, ClaimOptions{Key: []byte("test key"), Views: 1000, Submits: 1000}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, f
}

var tokenRe = regexp.MustCompile(`name="token" value="([^"]+)"`)

// post submits the claim form as a same-origin browser would.
func post(t *testing.T, srv *httptest.Server, id string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/r/"+id, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func formToken(t *testing.T, srv *httptest.Server, id string) string {
	t.Helper()
	_, body := get(t, srv.URL+"/r/"+id+"?lang=en")
	m := tokenRe.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no form token on /r/%s:\n%s", id, body)
	}
	return m[1]
}

func TestClaimPageStates(t *testing.T) {
	srv, _ := newClaimServer(t)
	tests := []struct {
		name    string
		id      string
		status  int
		want    []string
		notWant []string
	}{
		{"awaiting address: the form", claimIDs[refund.StatusAwaitingAddress], 200,
			[]string{"Enter your refund address", "0.0004 BTC", "BTC on Bitcoin regtest", `<form id="claim-form" method="post" action="/r/rf_0000000000000000000000000001?lang=en"`,
				`name="token"`, "Test Shop", "This link is valid until"}, []string{"refund-address"}},
		{"ready: masked address, on its way", claimIDs[refund.StatusReady], 200,
			[]string{"Address received", "on its way", "bcrt1q…hhfz", "0.000397 BTC"}, []string{goodAddr, "<form", `name="token"`}},
		{"broadcast", claimIDs[refund.StatusBroadcast], 200, []string{"Refund sent", "bcrt1q…hhfz"}, []string{"<form"}},
		{"completed", claimIDs[refund.StatusCompleted], 200, []string{"Refund completed", "in your wallet"}, []string{"<form"}},
		{"canceled", claimIDs[refund.StatusCanceled], 200, []string{"Refund canceled", "canceled this refund"}, []string{"<form"}},
		{"expired", claimIDs[refund.StatusExpired], 200, []string{"Link expired", "new one"}, []string{"<form"}},
		{"unknown id", "rf_00000000000000000000000000ff", 404, []string{"Refund not found"}, []string{"<form"}},
		{"not a refund id", "inv_0000000000000000000000000001", 404, []string{"Refund not found"}, nil},
		{"garbage id", "%3Cscript%3E", 404, []string{"Refund not found"}, []string{"<script>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, srv.URL+"/r/"+tc.id+"?lang=en")
			body := string(b)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range append(tc.notWant, xssText, "alert(", "returned item", "inv_t1") {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q", w)
				}
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("CSP %q", csp)
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", resp.Header)
			}
		})
	}
}

func TestClaimPageSubmit(t *testing.T) {
	awaiting := claimIDs[refund.StatusAwaitingAddress]
	bad := []byte(goodAddr)
	bad[len(bad)-1] = 'p'
	tests := []struct {
		name    string
		id      string
		address string
		token   string // "" = the page's
		header  []string
		status  int
		want    string
	}{
		{"mainnet address on regtest", awaiting, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "", nil, 200, "This address is for another network. Give an address for BTC on Bitcoin regtest."},
		{"bad bech32 checksum", awaiting, string(bad), "", nil, 200, "its checksum does not match"},
		{"payd's own deposit address", awaiting, ownAddr, "", nil, 200, "the store&#39;s own payment address"},
		{"not an address", awaiting, xssText, "", nil, 200, "This is not a valid address for BTC on Bitcoin regtest."},
		{"empty", awaiting, "  ", "", nil, 200, "Enter your address."},
		{"EIP-55 mixed case error", evmClaimID, "0x" + strings.Repeat("Ab", 20), "", nil, 200, "checksum (EIP-55)"},
		{"bitcoin address on an EVM refund", evmClaimID, goodAddr, "", nil, 200, "This is not a valid address for ETH on Ethereum."},
		{"stale or forged token", awaiting, goodAddr, "forged", nil, 200, "The form was out of date"},
		{"cross-site post", awaiting, goodAddr, "", []string{"Sec-Fetch-Site", "cross-site"}, 403, "Something went wrong"},
		{"foreign origin without fetch metadata", awaiting, goodAddr, "", []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, 403, ""},
		{"unknown refund", "rf_00000000000000000000000000ff", goodAddr, "x", nil, 404, "Refund not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, f := newClaimServer(t)
			tok := tc.token
			if tok == "" {
				tok = formToken(t, srv, tc.id)
			}
			resp, body := post(t, srv, tc.id, url.Values{"address": {tc.address}, "token": {tok}}, tc.header...)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (want %d), body lacks %q:\n%s", resp.StatusCode, tc.status, tc.want, body)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "inv_x") {
				t.Fatalf("body shows a payload or an invoice id:\n%s", body)
			}
			if len(f.provided) != 0 {
				t.Fatalf("stored %v", f.provided)
			}
			if r := f.rs[tc.id]; r != nil && r.Status != refund.StatusAwaitingAddress {
				t.Fatalf("refund became %s", r.Status)
			}
			if tc.status == 200 && tc.address != xssText && strings.TrimSpace(tc.address) != "" && !strings.Contains(body, `value="`+tc.address+`"`) {
				t.Errorf("the form does not keep what was typed")
			}
		})
	}

	t.Run("good address: stored, redirected, confirmation", func(t *testing.T) {
		srv, f := newClaimServer(t)
		tok := formToken(t, srv, awaiting)
		resp, _ := post(t, srv, awaiting+"?lang=ru", url.Values{"address": {" " + goodAddr + " "}, "token": {tok}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/r/"+awaiting+"?lang=ru" {
			t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if len(f.provided) != 1 || f.provided[0] != goodAddr {
			t.Fatalf("provided %v", f.provided)
		}
		_, b := get(t, srv.URL+"/r/"+awaiting+"?lang=en")
		if body := string(b); !strings.Contains(body, "Address received") || !strings.Contains(body, "bcrt1q…hhfz") || strings.Contains(body, goodAddr) {
			t.Fatalf("after the claim:\n%s", body)
		}
		// The old form again: the refund moved on, so the page just shows it.
		resp, _ = post(t, srv, awaiting, url.Values{"address": {goodAddr}, "token": {tok}})
		if resp.StatusCode != http.StatusSeeOther || len(f.provided) != 1 {
			t.Fatalf("second post: %d, provided %v", resp.StatusCode, f.provided)
		}
	})

	t.Run("token is bound to the refund", func(t *testing.T) {
		srv, f := newClaimServer(t)
		tok := formToken(t, srv, evmClaimID)
		resp, _ := post(t, srv, awaiting, url.Values{"address": {goodAddr}, "token": {tok}})
		if resp.StatusCode != http.StatusOK || len(f.provided) != 0 {
			t.Fatalf("another refund's token: %d, provided %v", resp.StatusCode, f.provided)
		}
	})
}

func TestClaimPageLanguages(t *testing.T) {
	srv, _ := newClaimServer(t)
	for lang, want := range map[string]string{"en": "Enter your refund address", "ru": "Укажите адрес для возврата", "id": "Masukkan alamat pengembalian dana"} {
		_, b := get(t, srv.URL+"/r/"+claimIDs[refund.StatusAwaitingAddress], "Accept-Language", lang)
		if !strings.Contains(string(b), want) || !strings.Contains(string(b), `<html lang="`+lang+`">`) {
			t.Errorf("%s: page lacks %q", lang, want)
		}
	}
}

func TestClaimPageRateLimited(t *testing.T) {
	f := &fakeClaims{rs: map[string]*refund.Refund{claimIDs[refund.StatusAwaitingAddress]: testRefund(claimIDs[refund.StatusAwaitingAddress], refund.StatusAwaitingAddress)}}
	h := newTestHandler(t, Config{}, newFake())
	mux := http.NewServeMux()
	if err := h.RegisterClaims(mux, f, ClaimOptions{Views: 2, Submits: 1}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id := claimIDs[refund.StatusAwaitingAddress]
	for i, want := range []int{200, 200, 429} {
		resp, _ := get(t, srv.URL+"/r/"+id)
		if resp.StatusCode != want {
			t.Fatalf("visit %d: %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
	}
	for i, want := range []int{200, 429} {
		resp, _ := post(t, srv, id, url.Values{"address": {goodAddr}, "token": {"x"}})
		if resp.StatusCode != want {
			t.Fatalf("post %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

func TestClaimPageInternalError(t *testing.T) {
	srv, f := newClaimServer(t)
	f.fail = errors.New("disk on fire")
	resp, b := get(t, srv.URL+"/r/"+claimIDs[refund.StatusReady])
	if resp.StatusCode != 500 || strings.Contains(string(b), "disk on fire") {
		t.Fatalf("%d\n%s", resp.StatusCode, b)
	}
}
