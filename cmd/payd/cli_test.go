package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// runCLI runs payd in-process with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

const goodBitcoin = `
chains:
  bitcoin:
    type: bitcoin
    network: mainnet
    rpc_url: http://127.0.0.1:8332
    rpc_user: u
    rpc_password: p
    xpub: zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs
`

func TestCheckBadConfigs(t *testing.T) {
	evm := func(extra string) string {
		return `
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc_url: http://127.0.0.1:8545
    xpub: xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt
` + extra
	}
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"xprv", strings.Replace(goodBitcoin, "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs",
			"xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi", 1),
			[]string{"chains.bitcoin.xpub: this is a private key (xprv); payd is watch-only", "extended public key"}},
		{"mnemonic", strings.Replace(goodBitcoin, "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs",
			`"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"`, 1),
			[]string{"chains.bitcoin.xpub: this is a seed phrase; payd is watch-only"}},
		{"mnemonic in another key", goodBitcoin + "checkout:\n  store_name: abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about\n",
			[]string{"checkout.store_name: this is a seed phrase"}},
		{"wrong network prefix", strings.Replace(goodBitcoin, "network: mainnet", "network: regtest", 1),
			[]string{"chains.bitcoin.xpub:", "another network", "give a key for regtest"}},
		{"missing rpc url", strings.Replace(goodBitcoin, "    rpc_url: http://127.0.0.1:8332\n", "", 1),
			[]string{"chains.bitcoin.rpc_url: is missing"}},
		{"bad rpc url", strings.Replace(goodBitcoin, "http://127.0.0.1:8332", "127.0.0.1:8332", 1),
			[]string{"chains.bitcoin.rpc_url:", "is not an http(s) URL"}},
		{"negative confirmations", goodBitcoin + "    confirmations: -1\n",
			[]string{"chains.bitcoin.confirmations: is -1; use a number from 0 to 100"}},
		{"duplicated method", evm(`    tokens:
      - {symbol: USDC, contract: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}
      - {symbol: usdc, contract: "0xdAC17F958D2ee523a2206206994597C13D831ec7", decimals: 6}
`), []string{"chains.ethereum.tokens[1].symbol: duplicate payment method ethereum/usdc"}},
		{"evm without chain id", strings.Replace(evm(""), "chain_id: 1", "chain_id: 0", 1),
			[]string{"chains.ethereum.chain_id: is missing"}},
		{"unknown key", goodBitcoin + "    confirmation: 3\n", []string{"chains.bitcoin.confirmation: unknown key"}},
		{"unknown type", strings.Replace(goodBitcoin, "type: bitcoin", "type: litecoin", 1), []string{`chains.bitcoin.type: is "litecoin"; use bitcoin, evm or lightning`}},
		{"no chains", "log:\n  level: info\n", []string{"chains: no chain is configured"}},
		{"malformed yaml", "chains: [\n", []string{"is not valid YAML"}},
		{"bad duration", goodBitcoin + "invoices:\n  expires_in: soon\n", []string{"expires_in"}},
		{"tolerance too high", goodBitcoin + "invoices:\n  payment_tolerance: \"60\"\n", []string{"invoices.payment_tolerance:", "more than 50%"}},
		{"short webhook secret", goodBitcoin + "webhooks:\n  endpoints:\n    - {url: https://x.example/h, secret: short}\n", []string{"webhooks.endpoints[0].secret: is shorter than 16 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "payd.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := runCLI(t, nil, "check", "--offline", "--config", path)
			if err == nil {
				t.Fatalf("check passed; want an error containing %q", tt.want)
			}
			if code := exitCode(err); code == 0 {
				t.Fatalf("exit code 0")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err.Error(), w)
				}
			}
		})
	}
}

func TestCheckGoodConfigPrintsAddresses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payd.yaml")
	if err := os.WriteFile(path, []byte(goodBitcoin), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "check", "--offline", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	// BIP84 test vectors: first two receive addresses of the "abandon … about" zpub.
	for _, w := range []string{"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g", "all checks passed"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestCheckExampleConfigIsValid(t *testing.T) {
	out, _, err := runCLI(t, nil, "check", "--offline", "--config", "../../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml does not validate: %v\n%s", err, out)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payd.yaml")
	if err := os.WriteFile(path, []byte(goodBitcoin), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, map[string]string{"PAYD_CHAINS_BITCOIN_CONFIRMATIONS": "-5"}, "check", "--offline", "--config", path)
	if err == nil || !strings.Contains(err.Error(), "chains.bitcoin.confirmations: is -5") {
		t.Fatalf("env override not applied: %v", err)
	}
}

func TestAPIKeyCreateStoresOnlyHash(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "payd.db")
	env := map[string]string{"PAYD_DATABASE_PATH": dbPath}
	out, errOut, err := runCLI(t, env, "apikey", "create", "--name", "shop", "--scope", "invoices:read")
	if err != nil {
		t.Fatalf("apikey create: %v (%s)", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "payd_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("want exactly one line with the key, got %q", out)
	}
	if !strings.Contains(errOut, "shown once") {
		t.Errorf("stderr should warn the secret is shown once: %q", errOut)
	}
	db, err := sql.Open("sqlite3", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, name, hash, scopes FROM api_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var id, name, hash, scopes string
		if err := rows.Scan(&id, &name, &hash, &scopes); err != nil {
			t.Fatal(err)
		}
		_, sec, _ := strings.Cut(strings.TrimPrefix(secret, "payd_"), "_")
		for _, col := range []string{id, name, hash, scopes} {
			if strings.Contains(col, sec) {
				t.Fatalf("the secret is stored in the database")
			}
		}
		if len(hash) != 64 || scopes != "invoices:read" || name != "shop" {
			t.Fatalf("row = %q %q %q", name, hash, scopes)
		}
	}
	if n != 1 {
		t.Fatalf("%d rows", n)
	}
	// list shows the key without its secret; revoke works once.
	out, _, err = runCLI(t, env, "apikey", "list")
	if err != nil || strings.Contains(out, secret) || !strings.Contains(out, "shop") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	id := "key_" + strings.SplitN(strings.TrimPrefix(secret, "payd_"), "_", 2)[0]
	if _, _, err := runCLI(t, env, "apikey", "revoke", id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, env, "apikey", "revoke", id); err == nil {
		t.Fatal("second revoke succeeded")
	}
	if _, _, err := runCLI(t, env, "apikey", "create", "--name", "x", "--scope", "admin"); err == nil || !strings.Contains(err.Error(), "unknown scope") {
		t.Fatalf("bad scope: %v", err)
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	env := map[string]string{"PAYD_DATABASE_PATH": filepath.Join(t.TempDir(), "sub", "payd.db")}
	out, _, err := runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, "migrated from schema version 0") {
		t.Fatalf("first migrate: %v %q", err, out)
	}
	out, _, err = runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v %q", err, out)
	}
}

func TestUnreadableDatabasePath(t *testing.T) {
	env := map[string]string{"PAYD_DATABASE_PATH": "/proc/payd/x.db"}
	_, _, err := runCLI(t, env, "migrate")
	if err == nil || !strings.Contains(err.Error(), "database.path") {
		t.Fatalf("want a database.path error, got %v", err)
	}
}
