// Command demo is `make demo`: it starts real local nodes (btcd in regtest and
// anvil), a demo wallet (payd gets only its watch-only keys), payd with its embedded demo config,
// a webhook receiver that verifies every signature, then creates a BTC and a
// USDC invoice, pays them from the nodes, mines, and prints the webhooks as
// they arrive. It keeps everything running until Ctrl-C (so the checkout pages
// stay open in a browser) and stops everything it started on exit.
//
// The demo's wallet — a fresh seed every run — is kept in data/demo/wallet.seed
// so the refund walkthrough (docs/refunds.md) can sign what payd prepares:
// `payd-demo sign` stands in for the merchant's own wallet and `payd-demo
// mine` mines a block on the demo's btcd. DEMO ONLY: never send real coins
// to a demo address, and never use the demo's seed for anything else.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/payd/payd/internal/testnode"
)

func main() {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(tool(os.Args[1], os.Args[2:]))
	}
	listen := flag.String("listen", "127.0.0.1:8080", "address payd listens on")
	exitWhenDone := flag.Bool("exit", false, "exit when both invoices settled instead of waiting for Ctrl-C")
	flag.Parse()
	d := &demo{start: time.Now(), listen: *listen}
	code := 0
	if err := d.run(*exitWhenDone); err != nil {
		fmt.Fprintln(os.Stderr, "demo: "+err.Error())
		code = 1
	}
	d.cleanup()
	os.Exit(code)
}

type demo struct {
	start    time.Time
	listen   string
	dir      string
	cleanups []func()
	mu       sync.Mutex
	settled  map[string]bool
	events   chan webhookEvent
	secret   string
	apiKey   string
	baseURL  string
}

// The testnode.TB the nodes need, for a program instead of a test.
func (d *demo) Helper()                           {}
func (d *demo) Logf(format string, args ...any)   {}
func (d *demo) Cleanup(f func())                  { d.cleanups = append(d.cleanups, f) }
func (d *demo) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (d *demo) TempDir() string {
	p, err := os.MkdirTemp(d.dir, "node-")
	if err != nil {
		panic(err)
	}
	return p
}

func (d *demo) cleanup() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
}

func (d *demo) say(format string, args ...any) {
	fmt.Printf("[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) run(exitWhenDone bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	root, err := testnode.RepoRoot()
	if err != nil {
		return err
	}
	d.dir = filepath.Join(root, "data", "demo")
	// A fresh chain every run, so a fresh database too.
	if err := os.RemoveAll(d.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("payd demo — DEMO ONLY: a demo wallet on local regtest/anvil chains")
	d.say("starting btcd (regtest) and anvil …")
	var btc *testnode.Btcd
	var evm *testnode.EVMNode
	var wg sync.WaitGroup
	var nodeErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				nodeErr = fmt.Errorf("btcd: %v", r)
			}
		}()
		btc = testnode.StartBtcd(d)
	}()
	go func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				nodeErr = fmt.Errorf("anvil: %v", r)
			}
		}()
		evm = testnode.StartAnvil(d)
	}()
	wg.Wait()
	if nodeErr != nil {
		return nodeErr
	}
	d.say("btcd at %s (height %d), anvil at %s", btc.RPCURL, btc.Height(), evm.HTTPURL)
	usdc := evm.DeployToken(6)
	d.say("deployed a demo USDC (6 decimals) at %s", usdc)

	// Lightning when lnd is installed (scripts/install-tools.sh lnd): two
	// lnd nodes on their own btcd, the payer with a channel to the merchant.
	var ln *testnode.Lightning
	if cache, err := testnode.CacheDir(); err == nil {
		if _, err := os.Stat(filepath.Join(cache, "bin", "lnd")); err == nil {
			d.say("starting two lnd nodes (merchant, payer) on a btcd with TLS and opening a channel …")
			ln = testnode.StartLightning(d, 1_000_000)
			d.say("lnd merchant %s, payer %s: channel active", short(ln.Merchant.PubKey), short(ln.Payer.PubKey))
		} else {
			d.say("lnd is not installed (scripts/install-tools.sh lnd): no Lightning in this demo")
		}
	}

	wallet, err := testnode.NewWallet()
	if err != nil {
		return err
	}
	if err := wallet.Save(filepath.Join(d.dir, "wallet.seed")); err != nil {
		return err
	}
	btcKey, evmKey := wallet.BTC, wallet.EVM
	d.say("generated a demo wallet; payd gets only its watch-only keys:\n           bitcoin %s\n           evm     %s\n           (the seed is in %s for `payd-demo sign`, DEMO ONLY)",
		short(btcKey), short(evmKey), filepath.Join(d.dir, "wallet.seed"))

	// Webhook receiver.
	d.secret = "whsec_demo_" + randHex(16)
	d.events = make(chan webhookEvent, 64)
	d.settled = map[string]bool{}
	recv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(d.receive), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(recv) }()
	d.Cleanup(func() { _ = srv.Close() })
	hookURL := "http://" + recv.Addr().String() + "/webhook"

	// payd.
	bin := filepath.Join(root, "bin", "payd")
	if _, err := os.Stat(bin); err != nil {
		d.say("building payd …")
		b := exec.Command("go", "build", "-o", bin, "./cmd/payd")
		b.Dir, b.Stdout, b.Stderr = root, os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("build payd: %w", err)
		}
	}
	env := append(os.Environ(),
		"PAYD_DATABASE_PATH="+filepath.Join(d.dir, "payd.db"),
		"PAYD_SERVER_LISTEN="+d.listen,
		"PAYD_SERVER_PUBLIC_URL=http://"+d.listen,
		"PAYD_CHAINS_BITCOIN_RPC_URL="+btc.RPCURL,
		"PAYD_CHAINS_BITCOIN_WS_URL="+btc.WSURL,
		"PAYD_CHAINS_BITCOIN_RPC_USER="+btc.User,
		"PAYD_CHAINS_BITCOIN_RPC_PASSWORD="+btc.Pass,
		"PAYD_CHAINS_BITCOIN_XPUB="+btcKey,
		"PAYD_CHAINS_ETHEREUM_RPC_URL="+evm.HTTPURL,
		"PAYD_CHAINS_ETHEREUM_WS_URL="+evm.WSURL,
		"PAYD_CHAINS_ETHEREUM_XPUB="+evmKey,
		"PAYD_DEMO_USDC_CONTRACT="+usdc,
	)
	if ln != nil {
		env = append(env,
			"PAYD_CHAINS_LIGHTNING_TYPE=lightning",
			"PAYD_CHAINS_LIGHTNING_NETWORK=regtest",
			"PAYD_CHAINS_LIGHTNING_RPC_URL="+ln.Merchant.RESTURL,
			"PAYD_CHAINS_LIGHTNING_TLS_CERT="+ln.Merchant.TLSCert,
			"PAYD_CHAINS_LIGHTNING_MACAROON="+ln.Merchant.InvoiceMacaroon,
			"PAYD_CHAINS_LIGHTNING_READONLY_MACAROON="+ln.Merchant.ReadonlyMacaroon,
			"PAYD_CHAINS_LIGHTNING_POLL_INTERVAL=1s",
		)
	}
	key, err := runPayd(bin, env, "apikey", "create", "--demo", "--name", "demo")
	if err != nil {
		return fmt.Errorf("payd apikey create: %w", err)
	}
	d.apiKey = strings.TrimSpace(key)
	d.say("created an API key with `payd apikey create` (stored hashed)")
	adminPassword := "demo-" + randHex(8)
	if _, err := runPaydStdin(bin, env, adminPassword+"\n", "admin", "create", "--demo", "--name", "demo", "--password-stdin"); err != nil {
		return fmt.Errorf("payd admin create: %w", err)
	}
	d.say("created a throw-away dashboard admin with `payd admin create` (stored as an argon2id hash)")

	logPath := filepath.Join(d.dir, "payd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", "--demo")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	d.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	d.baseURL = "http://" + d.listen
	if err := d.waitReady(ctx, exited, logPath); err != nil {
		return err
	}
	d.say("payd is ready at %s (log: %s)", d.baseURL, logPath)
	dashboardLine := fmt.Sprintf("dashboard: %s/dashboard/  sign in as demo / %s (throw-away login)", d.baseURL, adminPassword)
	d.say("%s", dashboardLine)

	var wh struct {
		ID string `json:"id"`
	}
	if err := d.api("POST", "/v1/webhooks", map[string]any{"url": hookURL, "events": []string{"*"}}, &wh); err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	// The API generates its own secret; the receiver verifies with it.
	d.say("registered webhook %s → %s", wh.ID, hookURL)

	type inv struct {
		ID          string `json:"id"`
		CheckoutURL string `json:"checkout_url"`
		Methods     []struct {
			Method    string `json:"method"`
			Address   string `json:"address"`
			AmountDue string `json:"amount_due"`
		} `json:"methods"`
	}
	var btcInv, usdcInv inv
	if err := d.api("POST", "/v1/invoices", map[string]any{"amount": "0.0015", "currency": "BTC", "methods": []string{"bitcoin/btc"},
		"order_id": "demo-btc", "description": "Demo: 1 × payd sticker (BTC)"}, &btcInv); err != nil {
		return fmt.Errorf("create BTC invoice: %w", err)
	}
	if err := d.api("POST", "/v1/invoices", map[string]any{"amount": "25.00", "currency": "USDC", "methods": []string{"ethereum/usdc"},
		"order_id": "demo-usdc", "description": "Demo: 1 × payd T-shirt (USDC)"}, &usdcInv); err != nil {
		return fmt.Errorf("create USDC invoice: %w", err)
	}
	d.say("BTC invoice  %s: pay %s BTC to %s\n           checkout: %s", btcInv.ID, btcInv.Methods[0].AmountDue, btcInv.Methods[0].Address, btcInv.CheckoutURL)
	d.say("USDC invoice %s: pay %s USDC to %s\n           checkout: %s", usdcInv.ID, usdcInv.Methods[0].AmountDue, usdcInv.Methods[0].Address, usdcInv.CheckoutURL)

	var lnInv inv
	if ln != nil {
		if err := d.api("POST", "/v1/invoices", map[string]any{"amount": "0.0002", "currency": "BTC", "methods": []string{"bitcoin/btc", "lightning/btc"},
			"order_id": "demo-ln", "description": "Demo: 1 × payd mug (Lightning)"}, &lnInv); err != nil {
			return fmt.Errorf("create Lightning invoice: %w", err)
		}
		var bolt11, due string
		for _, m := range lnInv.Methods {
			if m.Method == "lightning/btc" {
				bolt11, due = m.Address, m.AmountDue
			}
		}
		d.say("Lightning invoice %s: one unified QR (BIP21 with lightning=) for %s BTC\n           BOLT11 %s\n           checkout: %s",
			lnInv.ID, due, short(bolt11), lnInv.CheckoutURL)
		if err := ln.Payer.PayErr(bolt11); err != nil {
			return fmt.Errorf("pay the Lightning invoice: %w", err)
		}
		d.say("paid the Lightning invoice from the payer's lnd over the channel")
	}

	sats, err := decimalUnits(btcInv.Methods[0].AmountDue, 8)
	if err != nil {
		return err
	}
	units, err := decimalUnits(usdcInv.Methods[0].AmountDue, 6)
	if err != nil {
		return err
	}
	txid := btc.Pay(btcInv.Methods[0].Address, sats.Int64(), false)
	d.say("paid the BTC invoice from btcd: tx %s (in the mempool)", txid)
	tx := evm.TransferToken(usdc, usdcInv.Methods[0].Address, units)
	d.say("paid the USDC invoice from anvil: tx %s (mined at once)", tx)

	mined := false
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case ev := <-d.events:
			d.say("webhook %-28s %s status=%-10s signature %s", ev.Type, ev.InvoiceID, ev.Status, ev.Verified)
			if ev.Type == "invoice.payment_received" && ev.InvoiceID == btcInv.ID && !mined {
				mined = true
				hashes := btc.Generate(1)
				d.say("mined block %s on btcd", short(hashes[0]))
			}
		case <-deadline:
			return errors.New("the invoices did not settle within 3 minutes; see " + logPath)
		case err := <-exited:
			return fmt.Errorf("payd exited: %v; see %s", err, logPath)
		case <-ctx.Done():
			return nil
		}
		d.mu.Lock()
		done := d.settled[btcInv.ID] && d.settled[usdcInv.ID] && (ln == nil || d.settled[lnInv.ID])
		d.mu.Unlock()
		if done {
			break
		}
	}
	d.say("the invoices settled in %.1fs. Open the checkout pages:\n           %s\n           %s", time.Since(d.start).Seconds(), btcInv.CheckoutURL, usdcInv.CheckoutURL)
	if ln != nil {
		d.say("           %s (Lightning, paid)", lnInv.CheckoutURL)
	}
	d.say("follow them in the %s", dashboardLine)
	envPath := filepath.Join(d.dir, "env")
	if err := d.writeEnv(envPath, btc, btcInv.ID, usdcInv.ID); err != nil {
		return err
	}
	d.say("refund the BTC invoice from the CLI (docs/refunds.md, \"Walkthrough\"): in another terminal\n           source %s\n           bin/payd refund create $PAYD_DEMO_BTC_INVOICE --amount 0.0005 --address $PAYD_DEMO_SHOPPER --reason \"returned item\"",
		relPath(root, envPath))
	if exitWhenDone {
		return nil
	}
	fmt.Println("payd and the nodes keep running (webhooks are still shown here); press Ctrl-C to stop them.")
	for wait := true; wait; {
		select {
		case ev := <-d.events:
			d.say("webhook %-28s %s status=%-10s signature %s", ev.Type, ev.InvoiceID, ev.Status, ev.Verified)
		case <-ctx.Done():
			wait = false
		case err := <-exited:
			// Ctrl-C in a terminal reaches payd (same process group) as well:
			// its exit is then part of the stop, not a failure.
			time.Sleep(100 * time.Millisecond)
			if ctx.Err() == nil {
				return fmt.Errorf("payd exited: %v", err)
			}
			wait = false
		}
	}
	fmt.Println("\nstopping payd and the nodes …")
	return nil
}

type webhookEvent struct {
	Type, InvoiceID, Status, Verified string
}

// receive is a webhook receiver as a merchant writes one: verify the
// signature over the raw body, reject stale timestamps, then use the event.
func (d *demo) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	verified := "INVALID"
	d.mu.Lock()
	secret := d.secret
	d.mu.Unlock()
	if verify(secret, r.Header.Get("Payd-Signature"), body, time.Now()) {
		verified = "verified"
	}
	type object struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	var ev struct {
		Type    string `json:"type"`
		Invoice object `json:"invoice"`
		Refund  object `json:"refund"`
		Sweep   object `json:"sweep"`
	}
	_ = json.Unmarshal(body, &ev)
	if ev.Type == "invoice.settled" {
		d.mu.Lock()
		d.settled[ev.Invoice.ID] = true
		d.mu.Unlock()
	}
	shown := ev.Invoice
	switch {
	case ev.Refund.ID != "":
		shown = ev.Refund
	case ev.Sweep.ID != "":
		shown = ev.Sweep
	}
	select {
	case d.events <- webhookEvent{Type: ev.Type, InvoiceID: shown.ID, Status: shown.Status, Verified: verified}:
	default: // nobody is printing (stopping)
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks Payd-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>.
func verify(secret, header string, body []byte, now time.Time) bool {
	var t, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			v1 = v
		}
	}
	ts, err := strconv.ParseInt(t, 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(v1))
}

func (d *demo) api(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.baseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if path == "/v1/webhooks" {
		var w struct {
			Secret string `json:"secret"`
		}
		if json.Unmarshal(b, &w) == nil && w.Secret != "" {
			d.mu.Lock()
			d.secret = w.Secret
			d.mu.Unlock()
		}
	}
	return json.Unmarshal(b, out)
}

func (d *demo) waitReady(ctx context.Context, exited <-chan error, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(d.baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("payd exited: %v\n%s", err, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("payd not ready after 60s; see %s", logPath)
}

func runPayd(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

// runPaydStdin is runPayd with input on standard input (a password).
func runPaydStdin(bin string, env []string, stdin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

func decimalUnits(s string, decimals int) (*big.Int, error) {
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) > decimals {
		return nil, fmt.Errorf("amount %s has too many decimals", s)
	}
	v, ok := new(big.Int).SetString(intPart+frac+strings.Repeat("0", decimals-len(frac)), 10)
	if !ok {
		return nil, fmt.Errorf("bad amount %q", s)
	}
	return v, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func short(s string) string {
	if len(s) > 24 {
		return s[:14] + "…" + s[len(s)-8:]
	}
	return s
}
