package config

import (
	"strings"
	"testing"
	"time"
)

const dashChains = `
chains:
  bitcoin:
    type: bitcoin
    network: mainnet
    rpc_url: http://127.0.0.1:8332
    rpc_user: u
    rpc_password: p
    xpub: zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs
`

func TestDashboardConfig(t *testing.T) {
	c, err := LoadBytes([]byte(dashChains), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dashboard.Enabled || c.Dashboard.Path != "/dashboard" || c.Dashboard.SessionIdle != 30*time.Minute || c.Dashboard.SessionMax != 12*time.Hour {
		t.Fatalf("defaults %+v", c.Dashboard)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       string // "" = valid
	}{
		{"off by env", "", []string{"PAYD_DASHBOARD_ENABLED=false", "PAYD_DASHBOARD_PATH=/"}, ""},
		{"other path", "dashboard:\n  path: /admin\n", nil, ""},
		{"root path", "dashboard:\n  path: /\n", nil, "dashboard.path"},
		{"trailing slash", "dashboard:\n  path: /admin/\n", nil, "dashboard.path"},
		{"api path", "dashboard:\n  path: /v1\n", nil, "used by payd itself"},
		{"short idle", "dashboard:\n  session_idle: 10s\n", nil, "dashboard.session_idle"},
		{"max below idle", "dashboard:\n  session_idle: 2h\n  session_max: 1h\n", nil, "dashboard.session_idle"},
		{"explorer ok", "dashboard:\n  explorers:\n    bitcoin: https://mempool.space/tx/{txid}\n", nil, ""},
		{"explorer without txid", "dashboard:\n  explorers:\n    bitcoin: https://mempool.space/tx/\n", nil, "dashboard.explorers.bitcoin"},
		{"explorer of no chain", "dashboard:\n  explorers:\n    litecoin: https://x.example/tx/{txid}\n", nil, "names no configured chain"},
		{"explorer javascript", "dashboard:\n  explorers:\n    bitcoin: \"javascript:alert(1)//{txid}\"\n", nil, "dashboard.explorers.bitcoin"},
	} {
		c, err := LoadBytes([]byte(dashChains+tc.yaml), tc.env)
		if err == nil {
			err = c.Validate()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
