package metrics

import (
	"strings"
	"testing"
)

func TestConsoleCounters(t *testing.T) {
	m := New()
	m.ObserveConsoleLoginFailure("password")
	m.ObserveConsoleLoginFailure("password")
	m.ObserveConsoleLoginFailure("locked")
	m.ObserveConsoleAction("invoice.cancel")
	out := scrape(t, m)
	for _, want := range []string{
		`payd_console_login_failures_total{reason="password"} 2`,
		`payd_console_login_failures_total{reason="locked"} 1`,
		`payd_console_actions_total{action="invoice.cancel"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
