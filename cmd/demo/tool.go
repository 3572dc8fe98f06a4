package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/payd/payd/internal/testnode"
)

// The refund walkthrough's helpers (docs/refunds.md): while `make demo`
// runs, `payd-demo sign` plays the merchant's wallet and `payd-demo mine`
// the miners. They read data/demo/demo.json, which the demo writes.

// state is what a running demo leaves for the helpers.
type state struct {
	Wallet  string `json:"wallet"` // seed file
	BtcdRPC string `json:"btcd_rpc_url"`
	User    string `json:"btcd_rpc_user"`
	Pass    string `json:"btcd_rpc_password"`
}

const toolUsage = `usage:
  payd-demo                 run the demo (make demo)
  payd-demo sign FILE|-     sign a PSBT (binary or base64) with the demo's wallet; prints the signed transaction as hex
  payd-demo mine [N]        mine N blocks (default 1) on the demo's btcd`

func tool(name string, args []string) int {
	var err error
	switch name {
	case "sign":
		err = signCmd(args)
	case "mine":
		err = mineCmd(args)
	case "help":
		fmt.Println(toolUsage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "payd-demo: unknown command %q\n%s\n", name, toolUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "payd-demo "+name+": "+err.Error())
		return 1
	}
	return 0
}

// statePath is $PAYD_DEMO_STATE (data/demo/env sets it), else
// data/demo/demo.json of the checkout this binary was built into (bin/), else
// of the checkout around the working directory.
func statePath() (string, error) {
	if p := os.Getenv("PAYD_DEMO_STATE"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		root := filepath.Dir(filepath.Dir(exe))
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return filepath.Join(root, "data", "demo", "demo.json"), nil
		}
	}
	root, err := testnode.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "data", "demo", "demo.json"), nil
}

func loadState() (state, error) {
	var st state
	p, err := statePath()
	if err != nil {
		return st, err
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("%s is missing: start `make demo` first (and keep it running)", p)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("%s: %w", p, err)
	}
	return st, nil
}

func signCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("give the PSBT file (or - for standard input), e.g. `payd-demo sign refund.psbt`")
	}
	var raw []byte
	var err error
	if args[0] == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(args[0])
	}
	if err != nil {
		return err
	}
	b64 := !bytes.HasPrefix(raw, []byte("psbt\xff"))
	if b64 {
		raw = bytes.TrimSpace(raw)
	}
	p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), b64)
	if err != nil {
		return fmt.Errorf("not a PSBT: %w", err)
	}
	st, err := loadState()
	if err != nil {
		return err
	}
	w, err := testnode.LoadWallet(st.Wallet)
	if err != nil {
		return err
	}
	// What a wallet shows before it signs: what is spent, where it goes.
	var in int64
	for _, i := range p.Inputs {
		if i.WitnessUtxo != nil {
			in += i.WitnessUtxo.Value
		}
	}
	fmt.Fprintf(os.Stderr, "spending %d input(s) of the demo wallet, %s:\n", len(p.Inputs), btcutil.Amount(in))
	var out int64
	for i, o := range p.UnsignedTx.TxOut {
		out += o.Value
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(o.PkScript, &chaincfg.RegressionNetParams)
		to := "(unknown script)"
		if err == nil && len(addrs) == 1 {
			to = addrs[0].EncodeAddress()
		}
		mine := ""
		if len(p.Outputs[i].Bip32Derivation) > 0 {
			mine = " (change, back to the wallet)"
		}
		fmt.Fprintf(os.Stderr, "  → %s %s%s\n", to, btcutil.Amount(o.Value), mine)
	}
	fmt.Fprintf(os.Stderr, "  fee %s\n", btcutil.Amount(in-out))
	tx, err := w.SignPSBT(p)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "signed: txid %s\n", tx.TxHash())
	fmt.Println(hex.EncodeToString(b.Bytes()))
	return nil
}

func mineCmd(args []string) error {
	n := 1
	if len(args) > 1 {
		return errors.New("usage: payd-demo mine [N]")
	}
	if len(args) == 1 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 100 {
			return fmt.Errorf("N must be a number from 1 to 100, not %q", args[0])
		}
		n = v
	}
	st, err := loadState()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": "generate", "params": []any{n}})
	req, err := http.NewRequest(http.MethodPost, st.BtcdRPC, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(st.User, st.Pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("btcd is not reachable (is `make demo` still running?): %w", err)
	}
	defer resp.Body.Close()
	var r struct {
		Result []string `json:"result"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("btcd: http %d: %w", resp.StatusCode, err)
	}
	if r.Error != nil {
		return fmt.Errorf("btcd: %s", r.Error.Message)
	}
	for _, h := range r.Result {
		fmt.Println("mined block " + h)
	}
	return nil
}

// writeEnv writes the demo's state for the helpers and a shell file with
// what the CLI needs (docs/refunds.md), both readable by the owner only.
func (d *demo) writeEnv(envPath string, btc *testnode.Btcd, btcInvoice, usdcInvoice string) error {
	st := state{Wallet: filepath.Join(d.dir, "wallet.seed"), BtcdRPC: btc.RPCURL, User: btc.User, Pass: btc.Pass}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	sp, err := statePath()
	if err != nil {
		return err
	}
	if err := os.WriteFile(sp, raw, 0o600); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `make demo` for the refund walkthrough in docs/refunds.md. DEMO ONLY.\n")
	fmt.Fprintf(&b, "export PAYD_URL=%s\n", shellQuote(d.baseURL))
	fmt.Fprintf(&b, "export PAYD_API_KEY=%s\n", shellQuote(d.apiKey))
	fmt.Fprintf(&b, "# where `payd-demo sign` and `payd-demo mine` find the demo's wallet and btcd\n")
	fmt.Fprintf(&b, "export PAYD_DEMO_STATE=%s\n", shellQuote(sp))
	fmt.Fprintf(&b, "# the demo's invoices, and the shopper's address (btcd's wallet, which paid the BTC one)\n")
	fmt.Fprintf(&b, "export PAYD_DEMO_BTC_INVOICE=%s\n", shellQuote(btcInvoice))
	fmt.Fprintf(&b, "export PAYD_DEMO_USDC_INVOICE=%s\n", shellQuote(usdcInvoice))
	fmt.Fprintf(&b, "export PAYD_DEMO_SHOPPER=%s\n", shellQuote(btc.Address()))
	return os.WriteFile(envPath, []byte(b.String()), 0o600)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func relPath(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}
