package e2e

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
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

// browser is headless Chromium, started in the background by newBrowser.
type browser struct {
	ctx   context.Context // its first tab; chromedp.NewContext on it opens more
	ready chan struct{}
	err   error
}

// newBrowser starts headless Chromium in the background (it takes seconds,
// as do the nodes) and fails the test at once when there is no Chromium.
func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"))
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	b := &browser{ctx: bctx, ready: make(chan struct{})}
	go func() {
		defer close(b.ready)
		b.err = chromedp.Do(bctx) // launches the browser and its first tab
	}()
	t.Cleanup(func() { <-b.ready; cancelBrowser(); cancelAlloc(); cancel() })
	return b
}

// tab is one browser tab with what the test watches on it: console errors,
// warnings and exceptions (also CSP violations and failed loads, which the
// browser logs), JavaScript dialogs (an injected alert), and the websockets
// the page opens with the frames they receive.
type tab struct {
	ctx context.Context

	mu      sync.Mutex
	console []string
	dialogs []string
	sockets map[network.RequestID]string // request id → URL
	frames  map[string]int               // URL → frames received
}

// openTab opens a new tab in the browser and starts watching it.
func openTab(t *testing.T, b *browser, scriptDisabled bool) *tab {
	t.Helper()
	<-b.ready
	if b.err != nil {
		t.Fatalf("start chromium: %v", b.err)
	}
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx, sockets: map[network.RequestID]string{}, frames: map[string]int{}}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				tb.mu.Lock()
				tb.console = append(tb.console, m.String()+" ("+m.URL+")")
				tb.mu.Unlock()
			}
		}
	}()
	// A dialog stalls the page until it is handled: dismiss it from another
	// goroutine (Listen callbacks must not run commands) and record it.
	dialogs := make(chan struct{}, 16)
	err := chromedp.Listen(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			tb.dialogs = append(tb.dialogs, string(e.Type)+": "+e.Message)
			select {
			case dialogs <- struct{}{}:
			default:
			}
		case *network.EventWebSocketCreated:
			tb.sockets[e.RequestID] = e.URL
		case *network.EventWebSocketFrameReceived:
			if u, ok := tb.sockets[e.RequestID]; ok {
				tb.frames[u]++
			}
		}
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-dialogs:
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}
		}
	}()
	if scriptDisabled {
		tb.do(t, "disable javascript", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	return tb
}

// wsFrames returns how many frames the tab's websockets whose URL ends in
// suffix have received.
func (tb *tab) wsFrames(suffix string) int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for u, f := range tb.frames {
		if strings.HasSuffix(u, suffix) {
			n += f
		}
	}
	return n
}

// check fails the test for every console message and dialog seen so far.
func (tb *tab) check(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, m := range tb.console {
		t.Errorf("browser console: %s", m)
	}
	for _, d := range tb.dialogs {
		t.Errorf("the page opened a JavaScript dialog: %s", d)
	}
}

func (tb *tab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// within runs steps with a deadline of its own.
func (tb *tab) within(t *testing.T, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s (within %s): %v", what, d, err)
	}
}

func pageEval[T any](t *testing.T, tb *tab, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func pageText(t *testing.T, tb *tab, id string) string {
	t.Helper()
	return pageEval(t, tb, "text of #"+id, chromedp.Text(chromedp.ID(id)))
}

const imagesLoaded = `Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)`

// decodeQRPNG fetches a QR PNG over HTTP and decodes it.
func decodeQRPNG(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("get %s: %s %q\n%s", url, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decode png %s: %v", url, err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("binary bitmap: %v", err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("decode qr %s: %v", url, err)
	}
	return res.GetText()
}
