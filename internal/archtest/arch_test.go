// Package archtest keeps payd's import direction true without anyone having to
// remember it (STYLE.md): leaves ← adapters ← orchestrators ← delivery ← cmd.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/payd/payd"

// layer of every package (path relative to the module). A package may import
// payd packages of a LOWER layer only, plus the pairs in allowed.
var layer = map[string]int{
	// leaves: pure, import nothing of payd's
	"invoice": 0, "derive": 0, "refund": 0, "chain": 0, "internal/httpx": 0, "internal/ratelimit": 0, "internal/metrics": 0, "internal/clock": 0,
	// adapters
	"internal/apikey": 1,
	"chain/bitcoin":   2, "chain/evm": 2, "chain/lightning": 2, "store": 2, "rates": 2, "config": 2,
	// orchestrators
	"watcher": 3, "service": 3, "webhook": 3,
	// delivery
	"api": 4, "api/greenfield": 4, "checkout": 4, "live": 4, "client": 4, "dashboard": 4,
	// wiring
	"cmd/payd": 5,
	// test and demo support: may import anything below cmd, never imported by payd itself
	"internal/testnode": 6, "chain/chaintest": 6, "chain/bitcoin/bitcointest": 6, "chain/evm/evmtest": 6,
	"cmd/demo": 7, "bench": 7, "internal/archtest": 7, "test": 7,
}

// allowed lists same-layer imports that are deliberate.
var allowed = map[[2]string]bool{
	{"checkout", "live"}:            true, // the checkout page serves the public websocket
	{"api", "live"}:                 true,
	{"config", "rates"}:             true, // config embeds the rates section
	{"config", "derive"}:            true,
	{"store", "chain"}:              true,
	{"store", "invoice"}:            true,
	{"internal/apikey", "invoice"}:  true,
	{"internal/metrics", "invoice"}: true, // counts events by method from their payload
	{"refund", "invoice"}:           true, // refunds are of invoices: money, assets, events
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		from := rel(p.ImportPath)
		lf, ok := layerOf(from)
		if !ok {
			t.Errorf("package %s has no layer: add it to internal/archtest's layer map", from)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			to := rel(imp)
			lt, ok := layerOf(to)
			if !ok {
				continue // reported on its own
			}
			if lt >= lf && !allowed[[2]string{from, to}] {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point to lower layers (STYLE.md)", from, lf, to, lt)
			}
		}
		if lf <= 5 {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, mod+"/internal/testnode") {
					t.Errorf("%s imports internal/testnode: only tests, the demo and benchmarks may", from)
				}
			}
		}
	}
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, mod), "/") }

func layerOf(p string) (int, bool) {
	for q := p; q != ""; {
		if l, ok := layer[q]; ok {
			return l, true
		}
		i := strings.LastIndex(q, "/")
		if i < 0 {
			break
		}
		q = q[:i]
	}
	return 0, false
}
