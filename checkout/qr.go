package checkout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/payd/payd/invoice"
)

// qrModulePixels is the PNG's pixels per QR module: crisp, no resampling.
const qrModulePixels = 8

// contentTag is a stable hex digest of a QR payload, used for ETags and the
// ?v= cache buster of QR URLs.
func contentTag(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// qrCache keeps recently rendered QR images; it forgets everything when full.
type qrCache struct {
	mu  sync.Mutex
	max int
	m   map[string][]byte
}

func newQRCache(max int) *qrCache { return &qrCache{max: max, m: make(map[string][]byte)} }

func (c *qrCache) get(key string, render func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	b, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := render()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string][]byte)
	}
	c.m[key] = b
	c.mu.Unlock()
	return b, nil
}

// QRPNG renders content as a PNG QR code (error correction M, 4-module quiet
// zone, qrModulePixels pixels per module).
func QRPNG(content string) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode qr: %w", err)
	}
	b, err := q.PNG(-qrModulePixels)
	if err != nil {
		return nil, fmt.Errorf("encode qr png: %w", err)
	}
	return b, nil
}

// QRSVG renders content as an SVG QR code from the same bitmap as QRPNG: one
// path of unit squares (runs of dark modules merged per row) on a white
// background.
func QRSVG(content string) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode qr: %w", err)
	}
	bm := q.Bitmap()
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`,
		n, n, n*qrModulePixels, n*qrModulePixels)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			b.WriteString("M" + strconv.Itoa(start) + " " + strconv.Itoa(y) + "h" + strconv.Itoa(x-start) + "v1h-" + strconv.Itoa(x-start) + "z")
		}
	}
	b.WriteString(`"/></svg>` + "\n")
	return []byte(b.String()), nil
}

// serveQR serves GET /i/{id}/qr/{chain}/{file}, file = <asset>.png or .svg.
func (h *Handler) serveQR(w http.ResponseWriter, r *http.Request) {
	h.setHeaders(w)
	file := r.PathValue("file")
	asset, format, ok := strings.Cut(file, ".")
	if !ok || (format != "png" && format != "svg") || asset == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	inv, err := h.inv.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		if h.isNotFound(err) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		st := failureStatus(w, err)
		h.log.Error("get invoice", "invoice", r.PathValue("id"), "err", err)
		http.Error(w, http.StatusText(st), st)
		return
	}
	m, ok := inv.MethodByName(r.PathValue("chain") + "/" + strings.ToLower(asset))
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	v := inv.View(invoice.ViewOptions{BaseURL: h.cfg.BaseURL, Public: true})
	var mv invoice.MethodView
	for _, x := range v.Methods {
		if x.Method == m.Method {
			mv = x
		}
	}
	uri, _, _ := qrContent(inv, m, mv)
	etag := `"` + format + "-" + contentTag(uri)[:32] + `"`
	hd := w.Header()
	hd.Set("ETag", etag)
	// Private: the address belongs to one shopper's invoice. The page links
	// to ?v=<digest of the content>, so a changed amount gets a new URL.
	hd.Set("Cache-Control", "private, max-age=600")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	render, ctype := QRPNG, "image/png"
	if format == "svg" {
		render, ctype = QRSVG, "image/svg+xml"
	}
	body, err := h.qr.get(format+"\x00"+uri, func() ([]byte, error) { return render(uri) })
	if err != nil {
		h.log.Error("render qr", "invoice", inv.ID, "method", m.Method, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match header lists etag (or is "*").
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
