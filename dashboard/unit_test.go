package dashboard

import (
	"encoding/base32"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTOTPVectors checks the RFC 6238 appendix B SHA-1 vectors (the last six
// of their eight digits).
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		now := time.Unix(tc.unix, 0)
		if got := TOTPCode(secret, now); got != tc.code {
			t.Errorf("T=%d: code %s, want %s", tc.unix, got, tc.code)
		}
		if !VerifyTOTP(secret, tc.code, now) || !VerifyTOTP(secret, tc.code, now.Add(30*time.Second)) {
			t.Errorf("T=%d: the code (or one step of skew) is refused", tc.unix)
		}
		if VerifyTOTP(secret, tc.code, now.Add(2*time.Minute)) {
			t.Errorf("T=%d: a code two minutes old is accepted", tc.unix)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if VerifyTOTP(secret, bad, time.Unix(59, 0)) {
			t.Errorf("code %q accepted", bad)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("a long enough password")
	if h == h2 || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hashes %q %q: want distinct salted argon2id", h, h2)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"a long enough password", true}, {"a long enough passworD", false}, {"", false}} {
		if ok, err := VerifyPassword(tc.pw, h); ok != tc.want || err != nil {
			t.Errorf("verify %q: %v %v, want %v", tc.pw, ok, err, tc.want)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	for _, bad := range []string{"", "plain", "$2a$10$bcrypt", "$argon2id$v=19$m=0,t=0,p=0$AA$AA"} {
		if ok, err := VerifyPassword("x", bad); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

var verbRe = regexp.MustCompile(`%[a-z]`)

// TestCatalogComplete: every language has every English key, with the same
// format verbs, and every key the templates and code use exists.
func TestCatalogComplete(t *testing.T) {
	en := catalog["en"]
	for _, lang := range languages {
		for k, v := range en {
			tr, ok := catalog[lang][k]
			if !ok || tr == "" {
				t.Errorf("%s lacks %q", lang, k)
				continue
			}
			if strings.Join(verbRe.FindAllString(tr, -1), "") != strings.Join(verbRe.FindAllString(v, -1), "") {
				t.Errorf("%s %q has verbs %q, en %q", lang, k, tr, v)
			}
		}
		if len(catalog[lang]) != len(en) {
			t.Errorf("%s has %d keys, en %d", lang, len(catalog[lang]), len(en))
		}
	}
	used := regexp.MustCompile(`\.T "([a-z0-9_]+)"|T\("([a-z0-9_]+)"|pageErr\([^,]+, "([a-z0-9_]+)"\)|Message = "([a-z0-9_]+)"`)
	files, _ := os.ReadDir("templates")
	var srcs []string
	for _, f := range files {
		b, _ := os.ReadFile("templates/" + f.Name())
		srcs = append(srcs, string(b))
	}
	gos, _ := os.ReadDir(".")
	for _, f := range gos {
		if strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go") {
			b, _ := os.ReadFile(f.Name())
			srcs = append(srcs, string(b))
		}
	}
	n := 0
	for _, s := range srcs {
		for _, m := range used.FindAllStringSubmatch(s, -1) {
			k := m[1] + m[2] + m[3] + m[4]
			n++
			if _, ok := en[k]; !ok && !strings.HasSuffix(k, "_") {
				t.Errorf("key %q is used but not in the catalog", k)
			}
		}
	}
	if n < 100 {
		t.Errorf("found only %d key uses; the pattern is broken", n)
	}
	for _, p := range pageNames {
		if _, ok := en["title_"+p]; !ok {
			t.Errorf("page %s has no title_%s", p, p)
		}
	}
	for f := range flashKeys {
		if _, ok := en["flash_"+f]; !ok {
			t.Errorf("flash %s has no flash_%s", f, f)
		}
	}
}
