package checkout

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the pages New must find; each is parsed with layout.html.
var pageNames = []string{"invoice", "error", "claim"}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(template.FuncMap{
			"add": func(a, b int) int { return a + b },
		}).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		if t.Lookup("layout") == nil || t.Lookup("content") == nil {
			return nil, fmt.Errorf("page %s: templates \"layout\" and \"content\" must both be defined", name)
		}
		pages[name] = t
	}
	return pages, nil
}

// asset is one static file with its fingerprint.
type asset struct {
	body  []byte
	ctype string
	hash  string // first 16 hex digits of its SHA-256
}

// assets are the embedded static files plus the theme stylesheet generated
// from the configured accent colour.
type assets struct {
	files map[string]*asset
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
}

func loadAssets(accent string) (*assets, error) {
	a := &assets{files: make(map[string]*asset)}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		a.add(strings.TrimPrefix(p, "static/"), b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read static assets: %w", err)
	}
	a.add("theme.css", themeCSS(accent))
	for _, need := range []string{"checkout.css", "checkout.js", "icon.svg", "theme.css"} {
		if a.files[need] == nil {
			return nil, fmt.Errorf("static asset %s is missing", need)
		}
	}
	return a, nil
}

func (a *assets) add(name string, b []byte) {
	sum := sha256.Sum256(b)
	ct := contentTypes[path.Ext(name)]
	if ct == "" {
		ct = "application/octet-stream"
	}
	a.files[name] = &asset{body: b, ctype: ct, hash: hex.EncodeToString(sum[:8])}
}

// url is the fingerprinted URL of a static file: /static/<hash>/<name>.
func (a *assets) url(name string) string {
	f := a.files[name]
	if f == nil {
		return "/static/missing/" + name
	}
	return "/static/" + f.hash + "/" + name
}

// serveStatic serves GET /static/{path...}. A URL with the file's current
// fingerprint is cached for a year as immutable; any other fingerprint still
// gets the file, revalidated every time.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	h.setHeaders(w)
	hash, name, ok := strings.Cut(r.PathValue("path"), "/")
	f := h.static.files[name]
	if !ok || f == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", `"`+f.hash+`"`)
	if hash == f.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if etagMatch(r.Header.Get("If-None-Match"), `"`+f.hash+`"`) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}

// themeCSS sets the accent colour and the text colour that reads best on it.
func themeCSS(accent string) []byte {
	hexs := strings.TrimPrefix(accent, "#")
	if len(hexs) == 3 {
		hexs = string([]byte{hexs[0], hexs[0], hexs[1], hexs[1], hexs[2], hexs[2]})
	}
	on := "#ffffff"
	if rgb, err := strconv.ParseUint(hexs, 16, 32); err == nil {
		l := luminance(uint8(rgb>>16), uint8(rgb>>8), uint8(rgb))
		// white text when it meets WCAG AA (4.5:1), else whichever contrasts more
		white, black := 1.05/(l+0.05), (l+0.05)/0.05
		if white < 4.5 && black > white {
			on = "#000000"
		}
	}
	return []byte(":root{--accent:#" + strings.ToLower(hexs) + ";--on-accent:" + on + "}\n")
}

// luminance is the WCAG relative luminance of an sRGB colour (colour maths,
// not money: floats are fine here).
func luminance(r, g, b uint8) float64 {
	lin := func(c uint8) float64 {
		v := float64(c) / 255
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}
