package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
)

// docsVerify is the Go verifier of docs/webhooks.md, verbatim but for its
// name (TestDocsVerifiers checks the copy there matches).
func docsVerify(secret, header string, body []byte, now time.Time) bool {
	f := map[string]string{}
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	sec, err := strconv.ParseInt(f["t"], 10, 64)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(f["t"] + "." + string(body)))
	got, _ := hex.DecodeString(f["v1"])
	return err == nil && now.Sub(time.Unix(sec, 0)).Abs() <= 5*time.Minute && hmac.Equal(got, mac.Sum(nil))
}

// TestDocsVerifiers runs the three verifiers of docs/webhooks.md against a
// real delivery: the Go one must be docsVerify, the Node.js and Python ones
// are run with node and python3 and must accept the delivery and reject it
// with a wrong secret, a tampered body and an old timestamp.
func TestDocsVerifiers(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```(go|js|python) verifier\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		blocks[m[1]] = m[2]
	}
	src, err := os.ReadFile("docs_test.go")
	if err != nil {
		t.Fatal(err)
	}
	goFn := regexp.MustCompile(`(?s)func docsVerify\(.*?\n}\n`).FindString(string(src))
	if goFn == "" || !strings.Contains(blocks["go"], strings.Replace(goFn, "docsVerify", "verify", 1)) {
		t.Fatalf("the Go verifier in docs/webhooks.md differs from docsVerify:\n%s", blocks["go"])
	}

	// one real delivery
	db := openDB(t, "")
	rc := newReceiver(t, nil)
	m, err := New(testConfig(), db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.CreateEndpoint(context.Background(), rc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	insertEvents(t, db, 1, invoice.EventSettled)
	m.Wake()
	waitFor(t, 3*time.Second, "a delivery", func() bool { return len(rc.deliveries()) == 1 })
	d := rc.deliveries()[0]
	header := d.header.Get("Payd-Signature")
	old := Sign(ep.Secret, time.Now().Add(-6*time.Minute), d.body)

	dir := t.TempDir()
	harness := map[string][2]string{
		"js": {"node", blocks["js"] + "\nconst fs = require('fs');\n" +
			"process.stdout.write(verify(process.env.SECRET, process.env.HEADER, fs.readFileSync(process.env.BODY)) ? 'ok' : 'bad');\n"},
		"python": {"python3", blocks["python"] + "\nimport os, sys\n" +
			"sys.stdout.write('ok' if verify(os.environ['SECRET'], os.environ['HEADER'], open(os.environ['BODY'], 'rb').read()) else 'bad')\n"},
	}
	for lang, h := range harness {
		t.Run(lang, func(t *testing.T) {
			if blocks[lang] == "" {
				t.Fatalf("no %s verifier block in docs/webhooks.md", lang)
			}
			if n := strings.Count(strings.TrimSpace(blocks[lang]), "\n") + 1; n > 10 {
				t.Errorf("the %s verifier has %d lines, want ≤ 10", lang, n)
			}
			bin, err := exec.LookPath(h[0])
			if err != nil {
				t.Skipf("%s not installed", h[0])
			}
			script := filepath.Join(dir, "verify."+lang)
			if err := os.WriteFile(script, []byte(h[1]), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, secret, header string
				body                 []byte
				want                 string
			}{
				{"real delivery", ep.Secret, header, d.body, "ok"},
				{"wrong secret", ep.Secret + "x", header, d.body, "bad"},
				{"tampered body", ep.Secret, header, append([]byte(" "), d.body...), "bad"},
				{"6 min old", ep.Secret, old, d.body, "bad"},
				{"garbage header", ep.Secret, "nonsense", d.body, "bad"},
			} {
				body := filepath.Join(dir, "body")
				if err := os.WriteFile(body, tc.body, 0o600); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(bin, script)
				cmd.Env = append(os.Environ(), "SECRET="+tc.secret, "HEADER="+tc.header, "BODY="+body)
				out, err := cmd.CombinedOutput()
				if string(out) != tc.want {
					t.Errorf("%s: got %q (%v), want %q", tc.name, out, err, tc.want)
				}
			}
		})
	}
}
