package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the pages New must find; each is parsed with layout.html.
var pageNames = []string{"login", "error", "overview", "invoices", "invoice", "create", "webhooks", "apikeys", "reports", "audit", "account"}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"statusClass": func(s string) string { return "st-" + s },
		"join":        strings.Join,
		"contains": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
	}
}

func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
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
	hash  string
}

type assets struct{ files map[string]*asset }

var contentTypes = map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("static file %s: unknown type", p)
		}
		sum := sha256.Sum256(b)
		a.files[path.Base(p)] = &asset{body: b, ctype: ct, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	return a, err
}

// url returns the template function mapping a file name to its
// fingerprinted URL under base.
func (a *assets) url(base string) func(string) string {
	return func(name string) string {
		f, ok := a.files[name]
		if !ok {
			return base + "/static/missing/" + name
		}
		return base + "/static/" + f.hash + "/" + name
	}
}

// serveStatic serves GET /static/{hash}/{file}; the fingerprint makes it
// immutable.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := h.static.files[r.PathValue("file")]
	if !ok || f.hash != r.PathValue("hash") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(f.body)
}
