package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// dashHooks counts webhook deliveries per event id.
type dashHooks struct {
	mu    sync.Mutex
	count map[string]int // event id → deliveries
	types map[string]string
	inv   map[string]string // event id → invoice id
}

func (h *dashHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Invoice struct {
			ID string `json:"id"`
		} `json:"invoice"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	h.mu.Lock()
	h.count[body.ID]++
	h.types[body.ID], h.inv[body.ID] = body.Type, body.Invoice.ID
	h.mu.Unlock()
}

// settledEvent returns the id and delivery count of the invoice's
// invoice.settled event ("" while none arrived).
func (h *dashHooks) settledEvent(invID string) (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, t := range h.types {
		if t == "invoice.settled" && h.inv[id] == invID {
			return id, h.count[id]
		}
	}
	return "", 0
}

// TestDashboardBrowser drives the merchant console of the real payd binary
// (btcd regtest + anvil) in headless Chromium: sign in, create an invoice
// from the form, pay it on the node, watch the detail page reach settled,
// re-deliver its webhook and see the second delivery arrive, export the
// CSV, and revoke an API key made in the console and see the API refuse it.
func TestDashboardBrowser(t *testing.T) {
	br := newBrowser(t, 110*time.Second)
	stack := testnode.StartStack(t)
	recv := &dashHooks{count: map[string]int{}, types: map[string]string{}, inv: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	e := newEnv(t, stack, testnode.PaydOptions{ExtraYAML: fmt.Sprintf(`webhooks:
  allow_private: true
  endpoints:
    - url: http://%s/hook
      secret: e2e-dashboard-secret-0123456789
      events: ["*"]
dashboard:
  explorers:
    bitcoin: https://mempool.space/tx/{txid}
`, ln.Addr())})
	const admin, password = "merchant", "a long e2e password"
	cmd := exec.Command(testnode.PaydBin(t), "admin", "create", "--name", admin, "--password-stdin", "--config", e.payd.Config)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "/dashboard/") {
		t.Fatalf("payd admin create: %v\n%s", err, out)
	}
	base := e.payd.URL + "/dashboard"
	tb := openTab(t, br, false)
	setVal := func(id, v string) chromedp.Action[chromedp.Void] {
		b, _ := json.Marshal(v)
		return chromedp.Evaluate[chromedp.Void](`document.getElementById('` + id + `').value = ` + string(b))
	}

	// Sign in: the console sends an anonymous visitor to the sign-in page.
	tb.do(t, "sign in", chromedp.Navigate(base+"/invoices"), chromedp.WaitVisible(chromedp.ID("login-form")),
		setVal("name", admin), setVal("password", password), chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("invoice-list")))
	if got := pageText(t, tb, "who"); got != admin {
		t.Errorf("signed in as %q, want %q", got, admin)
	}

	// Create an invoice from the form: a bad amount first (the API's message), then a good one.
	tb.do(t, "create form", chromedp.Navigate(base+"/new"), chromedp.WaitVisible(chromedp.ID("create-form")),
		setVal("f-amount", "0.000000001"), setVal("f-currency", "BTC"),
		chromedp.Click(chromedp.CSS(`input[name=method][value="bitcoin/btc"]`)), chromedp.Click(chromedp.ID("create")),
		chromedp.WaitVisible(chromedp.ID("form-error")))
	if got := pageText(t, tb, "form-error"); !strings.Contains(got, "decimals") {
		t.Errorf("bad amount message %q, want the API's decimals message", got)
	}
	// The browser logs the form's 400 answer as a console error: expected here.
	tb.mu.Lock()
	tb.console = nil
	tb.mu.Unlock()
	tb.do(t, "create invoice", setVal("f-amount", "0.001"), setVal("f-order", "dash-1"), setVal("f-description", xss),
		chromedp.Click(chromedp.ID("create")), chromedp.WaitVisible(chromedp.ID("created-qr")))
	link := pageEval(t, tb, "checkout link", chromedp.Evaluate[string](`document.getElementById('created-link').href`))
	id := link[strings.LastIndex(link, "/")+1:]
	if !strings.HasPrefix(link, e.payd.URL+"/i/inv_") {
		t.Fatalf("created link %q", link)
	}
	v, err := e.c.GetInvoice(context.Background(), id)
	if err != nil || v.OrderID != "dash-1" || v.Description != xss || v.Amount != "0.001" {
		t.Fatalf("the API sees the console's invoice as %+v (%v)", v, err)
	}

	if got := pageEval(t, tb, "detail link", chromedp.Evaluate[string](`document.getElementById('created-detail').href`)); got != base+"/invoices/"+id {
		t.Errorf("the created page links to %q", got)
	}

	// A payment link from the form: a visit makes an invoice.
	tb.do(t, "create link", chromedp.Navigate(base+"/new?kind=link"), chromedp.WaitVisible(chromedp.ID("create-form")),
		setVal("f-amount", "0.0005"), setVal("f-currency", "BTC"), setVal("f-max-uses", "1"),
		chromedp.Click(chromedp.ID("create")), chromedp.WaitVisible(chromedp.ID("created-qr")))
	plink := pageEval(t, tb, "payment link", chromedp.Evaluate[string](`document.getElementById('created-link').href`))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(plink); err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/i/inv_") {
		t.Errorf("visit %s: %v %+v", plink, err, resp)
	} else {
		resp.Body.Close()
	}
	tb.do(t, "detail page", chromedp.Navigate(base+"/invoices?q=dash-1"), chromedp.WaitVisible(chromedp.ID("invoice-list")),
		chromedp.Click(chromedp.CSS(`#invoice-list a[href$="`+id+`"]`)))
	tb.do(t, "on the detail", chromedp.WaitVisible(chromedp.CSS(`#invoice-status[data-status="new"]`)))

	// Pay it on the node and watch the detail page reach settled (it reloads itself).
	if got := pageText(t, tb, "invoice-id"); got != id {
		t.Errorf("detail page of %q, want %s", got, id)
	}
	if got := pageText(t, tb, "description"); got != xss {
		t.Errorf("description shown as %q", got)
	}
	m := method(t, v, "bitcoin/btc")
	txid := stack.BTC.Pay(m.Address, units(t, m.AmountDue, 8).Int64(), false)
	e.wait(id, invoice.StatusProcessing, "", 15*time.Second)
	stack.BTC.Generate(1)
	tb.within(t, 20*time.Second, "settled on the page", chromedp.WaitVisible(chromedp.CSS(`#invoice-status[data-status="settled"]`)))
	if got := pageEval(t, tb, "explorer link", chromedp.Evaluate[string](`document.querySelector('.txid a').href`)); got != "https://mempool.space/tx/"+txid {
		t.Errorf("explorer link %q", got)
	}
	if got := pageEval(t, tb, "confirmations", chromedp.Text(chromedp.CSS(`.payment .confs`))); got != "1 / 1" {
		t.Errorf("confirmations %q, want 1 / 1", got)
	}

	// Re-deliver its invoice.settled webhook and see a second delivery arrive.
	evID, n := "", 0
	for deadline := time.Now().Add(15 * time.Second); n == 0; time.Sleep(100 * time.Millisecond) {
		if evID, n = recv.settledEvent(id); time.Now().After(deadline) {
			t.Fatalf("no invoice.settled webhook for %s", id)
		}
	}
	tb.do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr.delivery[data-event="`+evID+`"]`)))
	tb.do(t, "redeliver", chromedp.Click(chromedp.CSS(`li[data-event="`+evID+`"] button.redeliver`)), chromedp.WaitVisible(chromedp.ID("flash")))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, n2 := recv.settledEvent(id); n2 >= n+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the re-delivered %s did not arrive (still %d deliveries)", evID, n)
		}
	}
	tb.within(t, 10*time.Second, "second delivery listed", chromedp.Reload(),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('tr.delivery[data-event="`+evID+`"]').length >= 2`, chromedp.WithPollingTimeout(8*time.Second)))

	// Send a test event to the endpoint from the webhooks page.
	before := 0
	recv.mu.Lock()
	for _, n := range recv.count {
		before += n
	}
	recv.mu.Unlock()
	tb.do(t, "test event", chromedp.Navigate(base+"/webhooks"), chromedp.Click(chromedp.CSS(`button.send-test`)),
		chromedp.WaitVisible(chromedp.ID("test-result")))
	if got := pageText(t, tb, "test-status"); got != "200" {
		t.Errorf("test event answered %q, want 200", got)
	}
	recv.mu.Lock()
	after, sawTest := 0, false
	for id, n := range recv.count {
		after += n
		sawTest = sawTest || recv.types[id] == "webhook.test"
	}
	recv.mu.Unlock()
	if after != before+1 || !sawTest {
		t.Errorf("deliveries %d → %d, test event seen %v", before, after, sawTest)
	}

	// Add an endpoint in the console (secret shown once), rotate its secret, delete it.
	tb.do(t, "add endpoint", setVal("w-url", "http://"+ln.Addr().String()+"/other"), chromedp.Click(chromedp.ID("add-endpoint")),
		chromedp.WaitVisible(chromedp.ID("secret")))
	first := pageText(t, tb, "secret")
	hooks, err := e.c.ListWebhooks(context.Background())
	if err != nil || len(hooks) != 2 || !strings.HasPrefix(first, "whsec_") {
		t.Fatalf("after adding in the console the API lists %+v (%v), secret %q", hooks, err, first)
	}
	sel := `section.endpoint[data-id="` + func() string {
		for _, h := range hooks {
			if strings.HasSuffix(h.URL, "/other") {
				return h.ID
			}
		}
		return ""
	}() + `"]`
	tb.do(t, "rotate", chromedp.Click(chromedp.CSS(sel+` details:nth-of-type(1) summary`)),
		chromedp.Click(chromedp.CSS(sel+` details:nth-of-type(1) input[name=confirm]`)), chromedp.Click(chromedp.CSS(sel+` button.rotate`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-secret[data-rotated="true"] #secret`)))
	if second := pageText(t, tb, "secret"); second == first || !strings.HasPrefix(second, "whsec_") {
		t.Errorf("rotated secret %q, first %q", second, first)
	}
	tb.do(t, "delete endpoint", chromedp.Click(chromedp.CSS(sel+` details:nth-of-type(2) summary`)),
		chromedp.Click(chromedp.CSS(sel+` details:nth-of-type(2) input[name=confirm]`)), chromedp.Click(chromedp.CSS(sel+` details:nth-of-type(2) button.danger`)),
		chromedp.WaitVisible(chromedp.ID("flash")))
	if hooks, _ := e.c.ListWebhooks(context.Background()); len(hooks) != 1 {
		t.Errorf("after deleting, the API lists %d endpoints", len(hooks))
	}

	// Export the filtered list as CSV (in the page, with its session).
	csvText := pageEval(t, tb, "csv", chromedp.Evaluate[string](`fetch('`+base+`/invoices.csv?q=dash-1').then(r => r.text())`, chromedp.EvalAwaitPromise))
	rows, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV %v:\n%s", err, csvText)
	}
	if got := rows[1]; got[0] != id || got[1] != "settled" || got[3] != "0.001" || got[4] != "BTC" || got[6] != "dash-1" || got[7] != xss {
		t.Errorf("CSV row %q", got)
	}
	report := pageEval(t, tb, "payments csv", chromedp.Evaluate[string](`fetch('`+base+`/reports/payments.csv').then(r => r.text())`, chromedp.EvalAwaitPromise))
	if !strings.Contains(report, id) || !strings.Contains(report, txid) {
		t.Errorf("payments CSV lacks the payment:\n%s", report)
	}

	// Create an API key in the console, use it, revoke it, see the API refuse it.
	tb.do(t, "create key", chromedp.Navigate(base+"/apikeys"), chromedp.WaitVisible(chromedp.ID("key-form")),
		setVal("k-name", "from-console"), chromedp.Click(chromedp.ID("create-key")), chromedp.WaitVisible(chromedp.ID("secret")))
	secret := pageText(t, tb, "secret")
	kc := client.New(e.payd.URL, secret)
	if _, err := kc.GetInvoice(context.Background(), id); err != nil {
		t.Fatalf("the console's new key does not work: %v", err)
	}
	keyID := pageEval(t, tb, "key id", chromedp.Evaluate[string](`document.querySelector('#new-key h2 .mono').textContent`))
	tb.do(t, "revoke", chromedp.Click(chromedp.CSS(`tr[data-id="`+keyID+`"] summary`)),
		chromedp.Click(chromedp.CSS(`tr[data-id="`+keyID+`"] input[name=confirm]`)),
		chromedp.Click(chromedp.CSS(`tr[data-id="`+keyID+`"] button.revoke`)), chromedp.WaitVisible(chromedp.ID("flash")))
	_, err = kc.GetInvoice(context.Background(), id)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("the revoked key: %v, want 401", err)
	}

	// The audit log shows every action.
	tb.do(t, "audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	audit := pageEval(t, tb, "audit", chromedp.Text(chromedp.ID("audit")))
	for _, a := range []string{"session.sign_in", "create.invoice", "event.redeliver", "invoice.export", "webhook.test", "webhook.create", "webhook.rotate_secret", "webhook.delete", "apikey.create", "apikey.revoke"} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s:\n%s", a, audit)
		}
	}
	// /metrics counts the console's actions.
	if body := httpGet(t, e.payd.URL+"/metrics"); !strings.Contains(body, `payd_console_actions_total{action="apikey.revoke"} 1`) {
		t.Errorf("/metrics lacks the console action counter")
	}
	tb.check(t)

	t.Run("screenshots", func(t *testing.T) { dashboardScreenshots(t, tb, base, id) })

	// Every other page renders without console errors, fits a phone, and
	// (with PAYD_SCREENSHOT_DIR set) is captured there for a look.
	t.Run("other pages", func(t *testing.T) {
		dir := os.Getenv("PAYD_SCREENSHOT_DIR")
		for _, pg := range []struct{ name, path, ready string }{
			{"create", "/new", "create-form"}, {"link", "/new?kind=link", "create-form"}, {"webhooks", "/webhooks", "webhook-form"},
			{"apikeys", "/apikeys", "key-form"}, {"reports", "/reports", "per-method"}, {"audit", "/audit", "audit"},
			{"account", "/account", "totp-code"}, {"notfound-ru", "/nope?lang=ru", "error"},
		} {
			for _, w := range []int64{1280, 390} {
				tb.do(t, pg.name, chromedp.EmulateViewport(w, 844, chromedp.EmulateScale(1)), chromedp.Navigate(base+pg.path),
					chromedp.WaitVisible(chromedp.ID(pg.ready)))
				if sw := pageEval(t, tb, "overflow", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); int64(sw) > w {
					t.Errorf("%s: the page is %dpx wide on a %dpx screen", pg.name, sw, w)
				}
				if dir != "" {
					img := pageEval(t, tb, "screenshot", chromedp.FullScreenshot(100))
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", pg.name, w)), img, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		tb.mu.Lock()
		tb.console = slices.DeleteFunc(tb.console, func(m string) bool { return strings.Contains(m, "404") && strings.Contains(m, "/dashboard/nope") })
		tb.mu.Unlock()
		tb.check(t)
	})
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// dashboardScreenshots takes the overview, list and detail pages at desktop
// and phone sizes in light and dark; PAYD_UPDATE_SCREENSHOTS=1 writes them to
// docs/screenshots.
func dashboardScreenshots(t *testing.T, tb *tab, base, id string) {
	write := os.Getenv("PAYD_UPDATE_SCREENSHOTS") == "1"
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"mobile", 390, 844, true}} {
		for _, scheme := range []string{"light", "dark"} {
			for _, pg := range []struct{ name, path, ready string }{
				{"overview", "/", "stat-win_today"}, {"invoices", "/invoices", "invoice-list"}, {"invoice", "/invoices/" + id, "events"},
			} {
				name := fmt.Sprintf("dashboard-%s-%s-%s", pg.name, size.name, scheme)
				opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
				if size.mobile {
					opts = append(opts, chromedp.EmulateMobile)
				}
				tb.do(t, name, chromedp.EmulateViewport(size.width, size.height, opts...),
					chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
						_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
							Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
						return err
					}),
					chromedp.Navigate(base+pg.path+"?lang=en"), chromedp.WaitVisible(chromedp.ID(pg.ready)),
					chromedp.Poll[chromedp.Void](imagesLoaded, chromedp.WithPollingTimeout(10*time.Second)))
				dark := pageEval(t, tb, "scheme", chromedp.Evaluate[bool](`matchMedia('(prefers-color-scheme: dark)').matches`))
				if dark != (scheme == "dark") {
					t.Errorf("%s: prefers dark %v", name, dark)
				}
				if sw := pageEval(t, tb, "overflow", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); int64(sw) > size.width {
					t.Errorf("%s: the page is %dpx wide on a %dpx screen", name, sw, size.width)
				}
				img := pageEval(t, tb, "screenshot", chromedp.FullScreenshot(100))
				cfg, err := png.DecodeConfig(bytes.NewReader(img))
				if err != nil || int64(cfg.Width) != size.width {
					t.Errorf("%s: screenshot %dx%d, err %v", name, cfg.Width, cfg.Height, err)
				}
				if write {
					dir := filepath.Join("..", "..", "docs", "screenshots")
					if err := os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}
