package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
)

// TestLinks drives payment links through the real payd: created with the
// CLI, each visit of /l/{id} makes a fresh invoice and redirects to it,
// max_uses and deletion answer 410, and the per-client limit answers 429.
func TestLinks(t *testing.T) {
	stack := testnode.StartStack(t)
	e := newEnv(t, stack, testnode.PaydOptions{})
	ctx := context.Background()
	noRedirect := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// visit GETs a link URL without following the redirect.
	visit := func(t *testing.T, url string) (int, http.Header, string) {
		t.Helper()
		resp, err := noRedirect.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	createLink := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := e.payd.Run(append([]string{"link", "create"}, args...)...)
		if err != nil {
			t.Fatalf("payd link create: %v\n%s", err, out)
		}
		url := strings.TrimSpace(out)
		if !strings.HasPrefix(url, e.payd.URL+"/l/lnk_") {
			t.Fatalf("output %q is not a link URL", out)
		}
		return url
	}
	linkID := func(url string) string { return url[strings.LastIndex(url, "/")+1:] }

	t.Run("every visit makes a fresh invoice", func(t *testing.T) {
		e := e.sub(t)
		url := createLink(t, "--amount", "0.001", "--currency", "BTC", "--method", "bitcoin/btc", "--description", "Sticker pack")
		var invs []*invoice.View
		for i := range 2 {
			st, h, body := visit(t, url)
			loc := h.Get("Location")
			if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/i/inv_") {
				t.Fatalf("visit %d: %d Location %q %s\n%s", i, st, loc, body, e.payd.Tail(20))
			}
			v, err := e.c.GetInvoice(ctx, strings.TrimPrefix(loc, "/i/"))
			if err != nil {
				t.Fatal(err)
			}
			if v.Amount != "0.001" || v.Currency != "BTC" || v.Description != "Sticker pack" || len(v.Methods) != 1 || v.Status != invoice.StatusNew {
				t.Fatalf("visit %d: invoice %+v", i, v)
			}
			invs = append(invs, v)
		}
		if invs[0].ID == invs[1].ID || method(t, invs[0], "bitcoin/btc").Address == method(t, invs[1], "bitcoin/btc").Address {
			t.Fatalf("two visits share an invoice or an address: %s %s", invs[0].ID, invs[1].ID)
		}
		// The redirect target is the checkout page.
		resp, err := http.Get(e.payd.URL + "/i/" + invs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), method(t, invs[0], "bitcoin/btc").Address) {
			t.Fatalf("checkout page: %d", resp.StatusCode)
		}
		// A linked invoice is an ordinary invoice: it settles.
		e.payBTC(invs[0], 100_000)
		stack.BTC.Generate(1)
		e.wait(invs[0].ID, invoice.StatusSettled, "", 20*time.Second)

		out, err := e.payd.Run("link", "get", linkID(url), "--json")
		if err != nil {
			t.Fatalf("payd link get: %v\n%s", err, out)
		}
		var l client.Link
		if err := json.Unmarshal([]byte(out), &l); err != nil || l.Uses != 2 || l.URL != url || l.MaxUses != nil || l.ExpiresAt != nil {
			t.Fatalf("link get: %v %s", err, out)
		}
	})

	t.Run("max_uses 1: the second visit is 410", func(t *testing.T) {
		url := createLink(t, "--amount", "25.00", "--currency", "USD", "--max-uses", "1",
			"--expires-at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if st, h, _ := visit(t, url); st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/i/inv_") {
			t.Fatalf("first visit: %d %q", st, h.Get("Location"))
		}
		st, h, body := visit(t, url)
		if st != http.StatusGone || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "no longer available") {
			t.Fatalf("second visit: %d %s %s", st, h.Get("Content-Type"), body)
		}
		l, err := e.c.GetLink(ctx, linkID(url))
		if err != nil || l.Uses != 1 || l.MaxUses == nil || *l.MaxUses != 1 || l.ExpiresAt == nil || l.Amount != "25.00" {
			t.Fatalf("link: %+v %v", l, err)
		}
	})

	t.Run("a deleted link is 410", func(t *testing.T) {
		url := createLink(t, "--amount", "0.002", "--currency", "BTC")
		if out, err := e.payd.Run("link", "delete", linkID(url)); err != nil {
			t.Fatalf("payd link delete: %v\n%s", err, out)
		}
		if st, _, _ := visit(t, url); st != http.StatusGone {
			t.Fatalf("visit after delete: %d", st)
		}
		if _, err := e.c.GetLink(ctx, linkID(url)); !client.IsCode(err, "not_found") {
			t.Fatalf("get after delete: %v", err)
		}
		if out, err := e.payd.Run("link", "create", "--amount", "1.001", "--currency", "USD"); err == nil || !strings.Contains(out, "invalid_amount") {
			t.Fatalf("invalid amount accepted: %v %s", err, out)
		}
	})

	t.Run("too many visits from one client are 429", func(t *testing.T) {
		unknown := e.payd.URL + "/l/" + invoice.NewID(invoice.PrefixLink, time.Now())
		for i := range 12 {
			st, h, body := visit(t, unknown)
			if st == http.StatusTooManyRequests {
				if h.Get("Retry-After") == "" || !strings.Contains(body, "Too many requests") {
					t.Fatalf("429 without Retry-After or page: %v %s", h, body)
				}
				return
			}
			if st != http.StatusNotFound {
				t.Fatalf("visit %d of an unknown link: %d", i, st)
			}
		}
		t.Fatal("12 visits in a row were never rate limited")
	})
}
