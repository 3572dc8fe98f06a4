package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/payd/payd/invoice"
)

// chromiumPath finds Debian's Chromium (scripts/install-tools.sh chromium
// installs it with apt). A missing browser fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("chromium not found: run scripts/install-tools.sh chromium (or make tools)")
	return ""
}

// liveFake stands in for package live's /i/{id}/ws and api's /i/{id}/status:
// on connect it sends the public view, then one message per fake update.
type liveFake struct {
	f       *fakeInvoices
	baseURL string
	mu      sync.Mutex
	conns   map[*websocket.Conn]string
	opened  atomic.Int32
}

func (l *liveFake) view(inv *invoice.Invoice) invoice.View {
	return inv.View(invoice.ViewOptions{BaseURL: l.baseURL, Public: true})
}

func (l *liveFake) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	inv, err := l.f.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return
	}
	l.mu.Lock()
	if l.conns == nil {
		l.conns = make(map[*websocket.Conn]string)
	}
	l.conns[c] = inv.ID
	err = c.WriteJSON(map[string]any{"type": "invoice", "invoice": l.view(inv)})
	l.mu.Unlock()
	l.opened.Add(1)
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	for err == nil {
		_, _, err = c.ReadMessage()
	}
}

func (l *liveFake) publish(inv *invoice.Invoice) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, id := range l.conns {
		if id == inv.ID {
			_ = c.WriteJSON(map[string]any{"type": "invoice", "invoice": l.view(inv)})
		}
	}
}

func (l *liveFake) serveStatus(w http.ResponseWriter, r *http.Request) {
	inv, err := l.f.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(l.view(inv))
}

// consoleLog collects the console errors, exceptions and browser-log errors
// (CSP violations, failed loads) of a tab.
type consoleLog struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleLog) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				c.mu.Lock()
				c.msgs = append(c.msgs, m.String()+" ("+m.URL+")")
				c.mu.Unlock()
			}
		}
	}()
}

func (c *consoleLog) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		t.Errorf("browser console: %s", m)
	}
}

func must[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func emulateScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

const imagesLoaded = `Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)`

func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)

	live := testInvoice("inv_browser")
	live.Description = `<script>alert(1)</script>`
	live.ExpiresAt = time.Now().Add(15 * time.Minute)
	shot := testInvoice("inv_shot")
	shot.ExpiresAt = time.Now().Add(14*time.Minute + 32*time.Second)
	nojs := testInvoice("inv_nojs")
	nojs.ExpiresAt = time.Now().Add(15 * time.Minute)
	poll := testInvoice("inv_poll")
	poll.ExpiresAt = time.Now().Add(15 * time.Minute)
	f := newFake(live, shot, nojs, poll)

	h, err := New(Config{BaseURL: "http://127.0.0.1", StoreName: "Demo Shop"}, f, isNotFound, nil)
	if err != nil {
		t.Fatal(err)
	}
	lf := &liveFake{f: f, baseURL: "http://127.0.0.1"}
	f.onUpdate = lf.publish
	var qrHits atomic.Int32
	mux := http.NewServeMux()
	h.Register(mux)
	mux.HandleFunc("GET /i/{id}/ws", lf.serveWS)
	mux.HandleFunc("GET /i/{id}/status", lf.serveStatus)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/qr/") {
			qrHits.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	t.Run("live", func(t *testing.T) {
		var console consoleLog
		console.watch(bctx)
		do(t, bctx, "open page", chromedp.Navigate(srv.URL+"/i/inv_browser?lang=en"),
			chromedp.WaitVisible(chromedp.CSS(`button.copy`)))

		view := live.View(invoice.ViewOptions{Public: true})
		if got := must(t, bctx, "amount", chromedp.Text(chromedp.ID("amount-m-bitcoin-btc"))); got != view.Methods[0].AmountDue {
			t.Errorf("shown BTC amount %q, invoice has %q", got, view.Methods[0].AmountDue)
		}
		if got := must(t, bctx, "address", chromedp.Text(chromedp.ID("address-m-bitcoin-btc"))); got != view.Methods[0].Address {
			t.Errorf("shown BTC address %q, invoice has %q", got, view.Methods[0].Address)
		}
		if got := must(t, bctx, "invoice amount", chromedp.Text(chromedp.ID("invoice-amount"))); got != "25.00 USD" {
			t.Errorf("invoice amount %q", got)
		}
		// XSS renders as text, and no script but ours exists
		if got := must(t, bctx, "description", chromedp.Text(chromedp.ID("description"))); got != `<script>alert(1)</script>` {
			t.Errorf("description shown as %q", got)
		}
		if n := must(t, bctx, "scripts", chromedp.Evaluate[int](`document.scripts.length`)); n != 1 {
			t.Errorf("%d script elements, want 1", n)
		}
		// tabs: the second method shows on click, the first hides
		do(t, bctx, "click usdc tab", chromedp.Click(chromedp.ID("tab-m-ethereum-usdc")),
			chromedp.WaitVisible(chromedp.ID("address-m-ethereum-usdc")),
			chromedp.WaitNotVisible(chromedp.ID("address-m-bitcoin-btc")))
		if got := must(t, bctx, "usdc address", chromedp.Text(chromedp.ID("address-m-ethereum-usdc"))); got != view.Methods[1].Address {
			t.Errorf("shown USDC address %q, invoice has %q", got, view.Methods[1].Address)
		}
		do(t, bctx, "qr loaded", chromedp.Poll[chromedp.Void](imagesLoaded, chromedp.WithPollingTimeout(10*time.Second)))
		// the countdown ticks
		c1 := must(t, bctx, "countdown", chromedp.Text(chromedp.ID("countdown")))
		do(t, bctx, "wait", chromedp.Sleep(1200*time.Millisecond))
		if c2 := must(t, bctx, "countdown", chromedp.Text(chromedp.ID("countdown"))); c1 == c2 || !strings.HasPrefix(c1, "14:") && !strings.HasPrefix(c1, "15:") {
			t.Errorf("countdown %q then %q", c1, c2)
		}

		// wait for the websocket, mark the document, then pay
		deadline := time.Now().Add(10 * time.Second)
		for lf.opened.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if lf.opened.Load() == 0 {
			t.Fatal("the page never opened /i/{id}/ws")
		}
		do(t, bctx, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 42`))
		f.Update("inv_browser", func(inv *invoice.Invoice) {
			inv.Status = invoice.StatusProcessing
			inv.Payments = []invoice.Payment{testPayment("bitcoin/btc", inv.Methods[0].AmountDue, 0, invoice.PaymentPending)}
		})
		do(t, bctx, "processing", chromedp.WaitVisible(chromedp.CSS(`#checkout[data-status="processing"] .payments`)))
		if got := must(t, bctx, "state", chromedp.Text(chromedp.ID("state-title"))); got != "Payment received" {
			t.Errorf("processing title %q", got)
		}
		if got := must(t, bctx, "confs", chromedp.Text(chromedp.CSS(".payment .confs"))); !strings.Contains(got, "Confirmations: 0 of 1") {
			t.Errorf("confirmations %q", got)
		}
		f.Update("inv_browser", func(inv *invoice.Invoice) {
			now := time.Now()
			inv.Status, inv.SettledAt = invoice.StatusSettled, &now
			inv.Payments[0].Status, inv.Payments[0].Confirmations = invoice.PaymentConfirmed, 1
			inv.Payments[0].BlockHeight, inv.Payments[0].BlockHash = 102, "00ab"
		})
		do(t, bctx, "settled", chromedp.WaitVisible(chromedp.ID("redirect")))
		if got := must(t, bctx, "state", chromedp.Text(chromedp.ID("state-title"))); got != "Paid" {
			t.Errorf("settled title %q", got)
		}
		if n := must(t, bctx, "marker", chromedp.Evaluate[int](`window.__noReload || 0`)); n != 42 {
			t.Error("the page reloaded instead of updating in place")
		}
		if got := must(t, bctx, "announce", chromedp.Text(chromedp.ID("announce"))); got != "Paid" {
			t.Errorf("screen-reader announcement %q, want Paid", got)
		}
		if got := must(t, bctx, "description", chromedp.Text(chromedp.ID("description"))); got != `<script>alert(1)</script>` {
			t.Errorf("description after update shown as %q", got)
		}
		console.check(t)
	})

	t.Run("screenshots", func(t *testing.T) {
		tab, cancelTab := chromedp.NewContext(bctx)
		defer cancelTab()
		var console consoleLog
		console.watch(tab)
		write := os.Getenv("PAYD_UPDATE_SCREENSHOTS") == "1"
		for _, s := range []struct {
			name          string
			width, height int64
			mobile        bool
			scheme        string
		}{
			{"checkout-desktop-light", 1280, 900, false, "light"},
			{"checkout-desktop-dark", 1280, 900, false, "dark"},
			{"checkout-mobile-light", 390, 844, true, "light"},
			{"checkout-mobile-dark", 390, 844, true, "dark"},
		} {
			opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
			if s.mobile {
				opts = append(opts, chromedp.EmulateMobile)
			}
			do(t, tab, s.name,
				chromedp.EmulateViewport(s.width, s.height, opts...),
				emulateScheme(s.scheme),
				chromedp.Navigate(srv.URL+"/i/inv_shot?lang=en"),
				chromedp.WaitVisible(chromedp.CSS(`button.copy`)),
				chromedp.Poll[chromedp.Void](imagesLoaded, chromedp.WithPollingTimeout(10*time.Second)))
			dark := must(t, tab, "scheme", chromedp.Evaluate[bool](`matchMedia('(prefers-color-scheme: dark)').matches`))
			if dark != (s.scheme == "dark") {
				t.Errorf("%s: prefers-color-scheme dark = %v", s.name, dark)
			}
			bg := must(t, tab, "background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
			if (bg == "rgb(15, 17, 20)") != (s.scheme == "dark") {
				t.Errorf("%s: body background %s", s.name, bg)
			}
			img := must(t, tab, "screenshot", chromedp.FullScreenshot(100))
			cfg, err := png.DecodeConfig(bytes.NewReader(img))
			if err != nil || int64(cfg.Width) != s.width {
				t.Errorf("%s: screenshot %dx%d, err %v", s.name, cfg.Width, cfg.Height, err)
			}
			if write {
				dir := filepath.Join("..", "docs", "screenshots")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, s.name+".png"), img, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		console.check(t)
	})

	t.Run("polling fallback", func(t *testing.T) {
		// no websocket route: the page must fall back to /i/{id}/status
		pmux := http.NewServeMux()
		h.Register(pmux)
		pmux.HandleFunc("GET /i/{id}/status", lf.serveStatus)
		psrv := httptest.NewServer(pmux)
		defer psrv.Close()
		tab, cancelTab := chromedp.NewContext(bctx)
		defer cancelTab()
		do(t, tab, "open", chromedp.Navigate(psrv.URL+"/i/inv_poll"), chromedp.WaitVisible(chromedp.CSS(`button.copy`)))
		f.Update("inv_poll", func(inv *invoice.Invoice) {
			inv.Status = invoice.StatusProcessing
			inv.Payments = []invoice.Payment{testPayment("ethereum/usdc", inv.Methods[1].AmountDue, 2, invoice.PaymentPending)}
		})
		wctx, cancelWait := context.WithTimeout(tab, 20*time.Second)
		defer cancelWait()
		do(t, wctx, "processing by polling", chromedp.WaitVisible(chromedp.CSS(`#checkout[data-status="processing"] .payments`)))
		if got := must(t, tab, "confs", chromedp.Text(chromedp.CSS(".payment .confs"))); !strings.Contains(got, "Confirmations: 2 of 12") {
			t.Errorf("confirmations %q", got)
		}
	})

	t.Run("no javascript", func(t *testing.T) {
		tab, cancelTab := chromedp.NewContext(bctx)
		defer cancelTab()
		before := qrHits.Load()
		do(t, tab, "disable js", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
		do(t, tab, "open", chromedp.Navigate(srv.URL+"/i/inv_nojs"),
			chromedp.WaitVisible(chromedp.ID("address-m-ethereum-usdc")))
		if n := must(t, tab, "ran", chromedp.Evaluate[int](`document.querySelectorAll('.tab[role=tab]').length`)); n != 0 {
			t.Fatalf("script ran with JavaScript disabled (%d enhanced tabs)", n)
		}
		view := nojs.View(invoice.ViewOptions{Public: true})
		for i, anchor := range []string{"m-bitcoin-btc", "m-ethereum-usdc"} {
			if got := must(t, tab, "amount", chromedp.Text(chromedp.ID("amount-"+anchor))); got != view.Methods[i].AmountDue {
				t.Errorf("%s amount %q, want %q", anchor, got, view.Methods[i].AmountDue)
			}
			if got := must(t, tab, "address", chromedp.Text(chromedp.ID("address-"+anchor))); got != view.Methods[i].Address {
				t.Errorf("%s address %q, want %q", anchor, got, view.Methods[i].Address)
			}
		}
		do(t, tab, "qr images", chromedp.Poll[chromedp.Void](imagesLoaded, chromedp.WithPollingTimeout(10*time.Second)))
		if n := must(t, tab, "images", chromedp.Evaluate[int](`document.querySelectorAll('a.qr img').length`)); n != 2 {
			t.Errorf("%d QR images, want 2", n)
		}
		if got := qrHits.Load() - before; got < 2 {
			t.Errorf("QR images fetched %d times, want 2", got)
		}
		if got := must(t, tab, "wallet link", chromedp.Evaluate[string](`document.querySelector('#m-bitcoin-btc a.wallet').href`)); got != view.Methods[0].PaymentURI {
			t.Errorf("wallet link %q, want %q", got, view.Methods[0].PaymentURI)
		}
		if n := must(t, tab, "visible copy", chromedp.Evaluate[int](`Array.from(document.querySelectorAll('button.copy')).filter(b => !b.hidden).length`)); n != 0 {
			t.Errorf("%d copy buttons shown without JavaScript", n)
		}
	})
}
