package checkout

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/png"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/payd/payd/invoice"
)

func serve(t *testing.T, h *Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestStates(t *testing.T) {
	btcDue := units("0.00041234", 8)
	tests := []struct {
		name    string
		change  func(*invoice.Invoice)
		want    []string
		notWant []string
	}{
		{
			name: "waiting",
			want: []string{"Waiting for payment", `id="countdown"`, "14:30", "0.00041234", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
				`>25</code><span class="unit">USDC</span>`, "BTC on Bitcoin", "USDC on Ethereum", "Open in wallet", `href="bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00041234"`,
				`/i/inv_t1/qr/bitcoin/btc.png?v=`, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "25.00 USD", "A-1001",
				`<meta http-equiv="refresh" content="15">`},
			notWant: []string{"Payment received", "Send 0"},
		},
		{
			name: "partial",
			change: func(inv *invoice.Invoice) {
				inv.Exception = invoice.ExceptionUnderpaid
				inv.Payments = []invoice.Payment{testPayment("bitcoin/btc", units("0.0002", 8), 0, invoice.PaymentPending)}
			},
			want: []string{"Partially paid", "Received 0.0002 BTC of 0.00041234 BTC. Send 0.00021234 BTC more to the same address.",
				`href="bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00021234"`, `id="countdown"`,
				// USDC: 25 × (1 − 20000/41234) = 12.8740845… → rounded up
				`>12.874085</code>`},
			notWant: []string{"Waiting for payment"},
		},
		{
			name: "processing",
			change: func(inv *invoice.Invoice) {
				inv.Status = invoice.StatusProcessing
				inv.Payments = []invoice.Payment{testPayment("ethereum/usdc", units("25", 6), 3, invoice.PaymentPending)}
			},
			want:    []string{"Payment received", "Confirmations: 3 of 12", "25 USDC", "USDC on Ethereum", "<progress max=\"12\" value=\"3\""},
			notWant: []string{`id="countdown"`, "Open in wallet", "Waiting for payment"},
		},
		{
			name: "settled",
			change: func(inv *invoice.Invoice) {
				inv.Status = invoice.StatusSettled
				inv.Payments = []invoice.Payment{testPayment("bitcoin/btc", btcDue, 1, invoice.PaymentConfirmed)}
			},
			want:    []string{"Paid", "Thank you! Your payment is confirmed.", `href="https://shop.example/thanks"`, "Return to Test Shop", "Confirmations: 1 of 1"},
			notWant: []string{`http-equiv="refresh"`, "Open in wallet", "You sent more"},
		},
		{
			name: "settled overpaid",
			change: func(inv *invoice.Invoice) {
				inv.Status, inv.Exception = invoice.StatusSettled, invoice.ExceptionOverpaid
				inv.Payments = []invoice.Payment{testPayment("bitcoin/btc", units("0.0005", 8), 1, invoice.PaymentConfirmed)}
			},
			want: []string{"You sent more than was due", "inv_t1"},
		},
		{
			name:    "expired",
			change:  func(inv *invoice.Invoice) { inv.Status = invoice.StatusExpired },
			want:    []string{"Invoice expired", "Do not send a payment to it.", "If you sent a payment just now"},
			notWant: []string{"Open in wallet", "bitcoin:", `http-equiv="refresh"`},
		},
		{
			name: "expired underpaid",
			change: func(inv *invoice.Invoice) {
				inv.Status, inv.Exception = invoice.StatusExpired, invoice.ExceptionUnderpaid
				inv.Payments = []invoice.Payment{testPayment("bitcoin/btc", units("0.0001", 8), 2, invoice.PaymentConfirmed)}
			},
			want: []string{"Invoice expired", "Only 0.0001 BTC arrived before the invoice expired", "inv_t1"},
		},
		{
			name: "expired paid late",
			change: func(inv *invoice.Invoice) {
				inv.Status, inv.Exception = invoice.StatusExpired, invoice.ExceptionPaidLate
				inv.Payments = []invoice.Payment{testPayment("bitcoin/btc", btcDue, 1, invoice.PaymentConfirmed)}
			},
			want: []string{"Your payment arrived after the invoice expired"},
		},
		{
			name:    "invalid",
			change:  func(inv *invoice.Invoice) { inv.Status = invoice.StatusInvalid },
			want:    []string{"Invoice invalid", "could not be confirmed", "inv_t1"},
			notWant: []string{"Open in wallet"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := testInvoice("inv_t1")
			if tc.change != nil {
				tc.change(inv)
			}
			srv := serve(t, newTestHandler(t, Config{}, newFake(inv)))
			resp, body := get(t, srv.URL+"/i/inv_t1")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			page := string(body)
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(page, w) {
					t.Errorf("page has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", page)
			}
		})
	}
}

func TestXSSEscaped(t *testing.T) {
	inv := testInvoice("inv_x")
	inv.Description = `<script>alert(1)</script>`
	inv.OrderID = `"><img src=x onerror=alert(2)>`
	inv.RedirectURL = "javascript:alert(3)"
	inv.Status = invoice.StatusSettled
	srv := serve(t, newTestHandler(t, Config{StoreName: `<b>Shop</b>`}, newFake(inv)))
	_, body := get(t, srv.URL+"/i/inv_x")
	page := string(body)
	for _, bad := range []string{"<script>alert", "<img src=x", "javascript:alert", "<b>Shop</b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;Shop&lt;/b&gt;"} {
		if !strings.Contains(page, good) {
			t.Errorf("page lacks escaped %q", good)
		}
	}
	// the only script is the external one
	if n := strings.Count(page, "<script"); n != 1 || !regexp.MustCompile(`<script src="/static/[0-9a-f]{16}/checkout.js" defer></script>`).MatchString(page) {
		t.Errorf("want exactly the external checkout.js script, got %d <script tags", n)
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<style") {
		t.Error("page has inline style (CSP style-src 'self' forbids it)")
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFake(testInvoice("inv_h"))
	tests := []struct {
		name, path string
		cfg        Config
		wantFA     string
	}{
		{"page default", "/i/inv_h", Config{}, "frame-ancestors 'none'"},
		{"page embeddable", "/i/inv_h", Config{FrameAncestors: "'self' https://shop.example"}, "frame-ancestors 'self' https://shop.example"},
		{"not found", "/i/inv_nope", Config{}, "frame-ancestors 'none'"},
		{"qr", "/i/inv_h/qr/bitcoin/btc.png", Config{}, "frame-ancestors 'none'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, newTestHandler(t, tc.cfg, f))
			resp, _ := get(t, srv.URL+tc.path)
			csp := resp.Header.Get("Content-Security-Policy")
			for _, w := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "base-uri 'none'", tc.wantFA} {
				if !strings.Contains(csp, w) {
					t.Errorf("CSP %q lacks %q", csp, w)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows unsafe: %q", csp)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q", got)
			}
		})
	}
}

func TestLogoInCSP(t *testing.T) {
	f := newFake(testInvoice("inv_l"))
	srv := serve(t, newTestHandler(t, Config{LogoURL: "https://cdn.shop.example/logo.png?x=1"}, f))
	resp, body := get(t, srv.URL+"/i/inv_l")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https://cdn.shop.example;") {
		t.Errorf("CSP %q does not allow the logo's origin", csp)
	}
	if !strings.Contains(string(body), `src="https://cdn.shop.example/logo.png?x=1"`) {
		t.Error("logo not shown")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	f := newFake()
	for _, cfg := range []Config{
		{AccentColor: "red;}body{display:none"},
		{FrameAncestors: "'none'; script-src *"},
		{FrameAncestors: "x\r\nSet-Cookie: a=b"},
		{Language: "de"},
		{LogoURL: "javascript:alert(1)"},
	} {
		if _, err := New(cfg, f, isNotFound, nil); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
	if _, err := New(Config{}, nil, isNotFound, nil); err == nil {
		t.Error("New accepted nil Invoices")
	}
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("binary bitmap: %v", err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("decode qr: %v", err)
	}
	return res.GetText()
}

func TestQRPNGDecodesToPaymentURI(t *testing.T) {
	waiting := testInvoice("inv_q")
	partial := testInvoice("inv_p")
	partial.Exception = invoice.ExceptionUnderpaid
	partial.Payments = []invoice.Payment{testPayment("bitcoin/btc", units("0.0002", 8), 0, invoice.PaymentPending)}
	h := newTestHandler(t, Config{}, newFake(waiting, partial))
	srv := serve(t, h)
	view := waiting.View(invoice.ViewOptions{BaseURL: "https://pay.example", Public: true})
	tests := []struct {
		path, want string
	}{
		{"/i/inv_q/qr/bitcoin/btc.png", view.Methods[0].PaymentURI},
		{"/i/inv_q/qr/ethereum/usdc.png", view.Methods[1].PaymentURI},
		{"/i/inv_q/qr/ethereum/USDC.png", view.Methods[1].PaymentURI},
		{"/i/inv_p/qr/bitcoin/btc.png", "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00021234"},
		{"/i/inv_p/qr/ethereum/usdc.png", "ethereum:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48@1/transfer?address=0x52908400098527886E0F7030069857D2E4169EE7&uint256=12874085"},
	}
	if view.Methods[0].PaymentURI != "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00041234" {
		t.Fatalf("fixture payment URI changed: %s", view.Methods[0].PaymentURI)
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tc.path)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			img, _, err := image.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("decode png: %v", err)
			}
			if got := decodeQR(t, img); got != tc.want {
				t.Errorf("QR = %q, want %q", got, tc.want)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
				t.Errorf("not cacheable: ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
			}
			resp2, body2 := get(t, srv.URL+tc.path, "If-None-Match", etag)
			if resp2.StatusCode != http.StatusNotModified || len(body2) != 0 {
				t.Errorf("If-None-Match: status %d, %d bytes", resp2.StatusCode, len(body2))
			}
		})
	}
}

// svgImage parses the SVG QR, checks it is well-formed XML, and draws its
// path (M x y h w v1 h-w z squares) back into an image.
func svgImage(t *testing.T, body []byte) image.Image {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	var size int
	var d string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not valid XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				switch {
				case se.Name.Local == "svg" && a.Name.Local == "viewBox":
					f := strings.Fields(a.Value)
					size, _ = strconv.Atoi(f[2])
				case se.Name.Local == "path" && a.Name.Local == "d":
					d = a.Value
				}
			}
		}
	}
	if size == 0 || d == "" {
		t.Fatal("SVG has no viewBox or path")
	}
	const scale = 4
	img := image.NewGray(image.Rect(0, 0, size*scale, size*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	re := regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
	for _, m := range re.FindAllStringSubmatch(d, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+w)*scale; px++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	return img
}

func TestQRSVG(t *testing.T) {
	inv := testInvoice("inv_s")
	srv := serve(t, newTestHandler(t, Config{}, newFake(inv)))
	view := inv.View(invoice.ViewOptions{Public: true})
	for i, m := range []string{"bitcoin/btc", "ethereum/usdc"} {
		resp, body := get(t, srv.URL+"/i/inv_s/qr/"+m+".svg")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("%s: status %d, type %q", m, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := decodeQR(t, svgImage(t, body)); got != view.Methods[i].PaymentURI {
			t.Errorf("%s: SVG QR = %q, want %q", m, got, view.Methods[i].PaymentURI)
		}
	}
}

func TestNotFound(t *testing.T) {
	srv := serve(t, newTestHandler(t, Config{}, newFake(testInvoice("inv_n"))))
	tests := []struct {
		path, accept, want string
		html               bool
	}{
		{"/i/inv_missing", "", "Invoice not found", true},
		{"/i/inv_missing", "ru", "Счёт не найден", true},
		{"/i/inv_missing/qr/bitcoin/btc.png", "", "not found", false},
		{"/i/inv_n/qr/polygon/usdt.png", "", "not found", false},
		{"/i/inv_n/qr/bitcoin/btc.gif", "", "not found", false},
		{"/static/0000/checkout.css.map", "", "not found", false},
	}
	for _, tc := range tests {
		resp, body := get(t, srv.URL+tc.path, "Accept-Language", tc.accept)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", tc.path, resp.StatusCode)
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: body lacks %q", tc.path, tc.want)
		}
		if isHTML := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"); isHTML != tc.html {
			t.Errorf("%s: Content-Type %q", tc.path, resp.Header.Get("Content-Type"))
		}
	}
}

// A fault of payd's is a 500; the database away (PostgreSQL restarting,
// the network cut) is a 503 with Retry-After. The shopper sees "try again"
// and nothing of the error either way.
func TestInternalError(t *testing.T) {
	for _, tt := range []struct {
		name  string
		err   error
		want  int
		retry string
	}{
		{"a fault of payd's", errors.New("disk on fire"), 500, ""},
		{"database refused", fmt.Errorf("store: begin: disk on fire: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 503, "5"},
		{"database shutting down", fmt.Errorf("store: disk on fire: %w", &pgconn.PgError{Code: "57P01"}), 503, "5"},
	} {
		h := newTestHandler(t, Config{}, newFake())
		h.inv = errInvoices{tt.err}
		srv := serve(t, h)
		for _, path := range []string{"/i/inv_e", "/i/inv_e/qr/bitcoin/BTC.png"} {
			resp, body := get(t, srv.URL+path)
			if resp.StatusCode != tt.want || resp.Header.Get("Retry-After") != tt.retry {
				t.Errorf("%s %s: status %d, Retry-After %q, want %d %q", tt.name, path, resp.StatusCode, resp.Header.Get("Retry-After"), tt.want, tt.retry)
			}
			if path == "/i/inv_e" && !strings.Contains(string(body), "Something went wrong") {
				t.Errorf("%s: body %s", tt.name, body)
			}
			if strings.Contains(string(body), "disk on fire") {
				t.Errorf("%s %s: internal error leaked", tt.name, path)
			}
		}
	}
}

func TestLanguages(t *testing.T) {
	srv := serve(t, newTestHandler(t, Config{Language: "id"}, newFake(testInvoice("inv_lang"))))
	tests := []struct {
		query, accept, lang, want string
	}{
		{"", "en-US,en;q=0.9", "en", "Waiting for payment"},
		{"", "ru-RU,ru;q=0.9,en;q=0.5", "ru", "Ожидаем оплату"},
		{"", "de-DE,ru;q=0.3,en;q=0.7", "en", "Waiting for payment"},
		{"", "id", "id", "Menunggu pembayaran"},
		{"", "de", "id", "Menunggu pembayaran"}, // configured default
		{"?lang=ru", "en", "ru", "Ожидаем оплату"},
		{"?lang=id", "ru", "id", "USDC di jaringan Ethereum"},
		{"?lang=xx", "ru", "ru", "USDC в сети Ethereum"},
	}
	for _, tc := range tests {
		resp, body := get(t, srv.URL+"/i/inv_lang"+tc.query, "Accept-Language", tc.accept)
		if !strings.Contains(string(body), `<html lang="`+tc.lang+`">`) || !strings.Contains(string(body), tc.want) {
			t.Errorf("%q %q: want lang %s with %q", tc.query, tc.accept, tc.lang, tc.want)
		}
		if resp.Header.Get("Content-Language") != tc.lang || resp.Header.Get("Vary") != "Accept-Language" {
			t.Errorf("%q %q: Content-Language %q, Vary %q", tc.query, tc.accept, resp.Header.Get("Content-Language"), resp.Header.Get("Vary"))
		}
	}
}

func TestPickLanguage(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", ""},
		{"fr", ""},
		{"ru", "ru"},
		{"en;q=0.5, ru;q=0.8", "ru"},
		{"en, ru", "en"},
		{"in-ID", "id"},
		{"id_ID;q=1.0", "id"},
		{"ru;q=0, en;q=0.001", "en"},
		{"ru;q=abc", ""},
		{"*", ""},
	}
	for _, tc := range tests {
		if got := pickLanguage(tc.header); got != tc.want {
			t.Errorf("pickLanguage(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

var verbRe = regexp.MustCompile(`%[a-z]`)

func TestCatalogComplete(t *testing.T) {
	en := catalog["en"]
	for _, lang := range languages {
		c := catalog[lang]
		if c == nil {
			t.Fatalf("no catalog for %s", lang)
		}
		if languageNames[lang] == "" {
			t.Errorf("%s has no name", lang)
		}
		for k, v := range en {
			tr, ok := c[k]
			if !ok || tr == "" {
				t.Errorf("%s: missing %q", lang, k)
				continue
			}
			if a, b := fmt.Sprint(verbRe.FindAllString(v, -1)), fmt.Sprint(verbRe.FindAllString(tr, -1)); a != b {
				t.Errorf("%s %q: verbs %s, en has %s", lang, k, b, a)
			}
		}
		for k := range c {
			if _, ok := en[k]; !ok {
				t.Errorf("%s: key %q not in en", lang, k)
			}
		}
	}
}

func TestStatic(t *testing.T) {
	h := newTestHandler(t, Config{AccentColor: "#ffcc00"}, newFake(testInvoice("inv_st")))
	srv := serve(t, h)
	_, page := get(t, srv.URL+"/i/inv_st")
	for _, name := range []string{"checkout.css", "theme.css", "checkout.js", "icon.svg"} {
		u := h.static.url(name)
		if !strings.Contains(string(page), `"`+u+`"`) {
			t.Errorf("page does not link %s", u)
		}
		resp, body := get(t, srv.URL+u)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("%s: status %d", u, resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", u, cc)
		}
		stale, _ := get(t, srv.URL+"/static/0123456789abcdef/"+name)
		if cc := stale.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("stale %s: Cache-Control %q", name, cc)
		}
	}
	_, theme := get(t, srv.URL+h.static.url("theme.css"))
	if string(theme) != ":root{--accent:#ffcc00;--on-accent:#000000}\n" {
		t.Errorf("theme.css = %q", theme)
	}
	if got := string(themeCSS("#2f6fed")); !strings.Contains(got, "--on-accent:#ffffff") {
		t.Errorf("dark accent: %q", got)
	}
}

func TestLinkHook(t *testing.T) {
	h := newTestHandler(t, Config{}, newFake())
	mux := http.NewServeMux()
	h.Register(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "lnk_gone" {
			h.RenderError(w, r, http.StatusGone)
			return
		}
		http.Redirect(w, r, "/i/inv_new", http.StatusSeeOther)
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/l/lnk_1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("link: status %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	r2, body := get(t, srv.URL+"/l/lnk_gone", "Accept-Language", "id")
	if r2.StatusCode != http.StatusGone || !strings.Contains(string(body), "Tautan tidak tersedia lagi") {
		t.Errorf("gone: status %d", r2.StatusCode)
	}
}

func TestCeilMul(t *testing.T) {
	tests := []struct {
		v    int64
		r    *big.Rat
		want int64
	}{
		{100, big.NewRat(1, 2), 50},
		{101, big.NewRat(1, 2), 51},
		{41234, big.NewRat(21234, 41234), 21234},
		{0, big.NewRat(1, 3), 0},
	}
	for _, tc := range tests {
		if got := ceilMul(big.NewInt(tc.v), tc.r); got.Int64() != tc.want {
			t.Errorf("ceilMul(%d, %s) = %s, want %d", tc.v, tc.r, got, tc.want)
		}
	}
}

func TestFormatCountdown(t *testing.T) {
	for s, want := range map[int64]string{0: "0:00", 9: "0:09", 61: "1:01", 870: "14:30", 3600: "1:00:00", 86399: "23:59:59"} {
		if got := formatCountdown(s); got != want {
			t.Errorf("formatCountdown(%d) = %q, want %q", s, got, want)
		}
	}
}
