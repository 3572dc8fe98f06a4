package testnode

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// LND is a running lnd --bitcoin.regtest node on a btcd backend, with its
// REST API on loopback. Its wallet is created unencrypted at start
// (--noseedbackup).
type LND struct {
	// Name is the node's alias ("merchant", "payer").
	Name string
	// RESTURL is https://127.0.0.1:P (lnd's REST proxy).
	RESTURL string
	// P2PAddr is the peer-to-peer listen address.
	P2PAddr string
	// Dir is the node's lnddir.
	Dir string
	// TLSCert is the path of the node's tls.cert.
	TLSCert string
	// AdminMacaroon, InvoiceMacaroon and ReadonlyMacaroon are the paths of
	// the macaroons lnd bakes at first start.
	AdminMacaroon, InvoiceMacaroon, ReadonlyMacaroon string
	// PubKey is the node's identity public key (hex).
	PubKey string

	t       TB
	btcd    *Btcd
	bin     string
	args    []string
	client  *http.Client
	admin   string // admin macaroon, hex
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// StartLND starts one lnd on btcd (which must run with TLS: StartBtcdWith
// BtcdOptions{TLS: true, Blocks: 500}) and waits until its wallet is
// synced to the chain. The node stops at test cleanup.
func StartLND(t TB, btcd *Btcd, name string) *LND {
	t.Helper()
	if btcd.RPCCert == "" {
		t.Fatalf("testnode: lnd needs btcd with TLS (StartBtcdWith(t, BtcdOptions{TLS: true}))")
	}
	bin := MustBin(t, "lnd")
	MustBin(t, "lncli")
	dir := filepath.Join(t.TempDir(), name)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n := &LND{Name: name, Dir: dir, t: t, btcd: btcd, bin: bin}
		if lastErr = n.start(); lastErr == nil {
			t.Cleanup(n.Stop)
			return n
		}
		n.Stop()
		t.Logf("testnode: lnd %s start attempt %d: %v", name, attempt+1, lastErr)
		dir = filepath.Join(t.TempDir(), name)
	}
	t.Fatalf("testnode: lnd %s did not start: %v", name, lastErr)
	return nil
}

func (n *LND) start() error {
	ports := make([]int, 3)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	n.RESTURL = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	n.P2PAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	n.TLSCert = filepath.Join(n.Dir, "tls.cert")
	mac := filepath.Join(n.Dir, "data", "chain", "bitcoin", "regtest")
	n.AdminMacaroon = filepath.Join(mac, "admin.macaroon")
	n.InvoiceMacaroon = filepath.Join(mac, "invoice.macaroon")
	n.ReadonlyMacaroon = filepath.Join(mac, "readonly.macaroon")
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(n.Dir, "lnd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return err
	}
	rpcHost := n.btcd.RPCURL[len("https://"):]
	n.args = []string{
		"--lnddir=" + n.Dir, "--configfile=" + conf, "--noseedbackup", "--alias=" + n.Name,
		"--bitcoin.regtest", "--bitcoin.node=btcd",
		"--btcd.rpchost=" + rpcHost, "--btcd.rpcuser=" + n.btcd.User, "--btcd.rpcpass=" + n.btcd.Pass,
		"--btcd.rpccert=" + n.btcd.RPCCert,
		fmt.Sprintf("--restlisten=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--rpclisten=127.0.0.1:%d", ports[1]),
		"--listen=" + n.P2PAddr,
		"--tlsextraip=127.0.0.1", "--tlsextradomain=localhost",
		"--bitcoin.defaultchanconfs=1", "--trickledelay=50", "--nobootstrap",
		"--debuglevel=info", "--maxpendingchannels=10",
	}
	n.logPath = filepath.Join(n.Dir, "lnd.out")
	if err := n.launch(); err != nil {
		return err
	}
	return n.waitReady(90 * time.Second)
}

// launch starts the lnd process with n.args.
func (n *LND) launch() error {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", n.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	return nil
}

// waitReady waits for the TLS cert and admin macaroon, then for getinfo to
// report the node synced to the chain.
func (n *LND) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("lnd exited: %s", n.Tail(20))
		default:
		}
		if n.client == nil {
			n.loadCreds()
		}
		if n.client != nil {
			var info struct {
				PubKey string `json:"identity_pubkey"`
				Synced bool   `json:"synced_to_chain"`
			}
			if err := n.call("GET", "/v1/getinfo", nil, &info); err == nil && info.Synced {
				n.PubKey = info.PubKey
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lnd %s not synced after %s; log:\n%s", n.Name, timeout, n.Tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *LND) loadCreds() {
	pem, err := os.ReadFile(n.TLSCert)
	if err != nil {
		return
	}
	mac, err := os.ReadFile(n.AdminMacaroon)
	if err != nil || len(mac) == 0 {
		return
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return
	}
	n.admin = hex.EncodeToString(mac)
	n.client = &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// Stop stops the node (SIGINT, then SIGKILL after 10 s) and waits for it.
func (n *LND) Stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts a stopped node again on the same ports and data, and
// waits until it is synced.
func (n *LND) Restart() {
	n.t.Helper()
	if err := n.launch(); err != nil {
		n.t.Fatalf("testnode: restart lnd %s: %v", n.Name, err)
	}
	if err := n.waitReady(90 * time.Second); err != nil {
		n.t.Fatalf("testnode: restart lnd %s: %v", n.Name, err)
	}
}

// Tail returns the last lines of the node's output.
func (n *LND) Tail(lines int) string {
	b, _ := os.ReadFile(n.logPath)
	return tailLines(string(b), lines)
}

func tailLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// call does one REST request with the admin macaroon; v (if not nil)
// receives the JSON answer.
func (n *LND) call(method, path string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.RESTURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Grpc-Metadata-macaroon", n.admin)
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("lnd %s %s %s: http %d: %s", n.Name, method, path, resp.StatusCode, truncate(raw))
	}
	if v != nil {
		return json.Unmarshal(raw, v)
	}
	return nil
}

// Call is call that fails the test.
func (n *LND) Call(method, path string, body, v any) {
	n.t.Helper()
	if err := n.call(method, path, body, v); err != nil {
		n.t.Fatalf("testnode: %v", err)
	}
}

// Pay pays a BOLT11 invoice and returns lnd's payment_error ("" on success).
func (n *LND) Pay(bolt11 string) string {
	n.t.Helper()
	var r struct {
		Error string `json:"payment_error"`
	}
	n.Call("POST", "/v1/channels/transactions", map[string]any{"payment_request": bolt11}, &r)
	return r.Error
}

// PayErr pays a BOLT11 invoice and returns any failure, the HTTP call's or
// lnd's payment_error.
func (n *LND) PayErr(bolt11 string) error {
	var r struct {
		Error string `json:"payment_error"`
	}
	if err := n.call("POST", "/v1/channels/transactions", map[string]any{"payment_request": bolt11}, &r); err != nil {
		return err
	}
	if r.Error != "" {
		return fmt.Errorf("%s", r.Error)
	}
	return nil
}

// AddInvoice creates an invoice on this node (admin macaroon) and returns
// its BOLT11.
func (n *LND) AddInvoice(sats int64, memo string) string {
	n.t.Helper()
	var r struct {
		PayReq string `json:"payment_request"`
	}
	n.Call("POST", "/v1/invoices", map[string]any{"value": strconv.FormatInt(sats, 10), "memo": memo}, &r)
	return r.PayReq
}

// ActiveChannels is how many of the node's channels are active.
func (n *LND) ActiveChannels() int {
	n.t.Helper()
	var r struct {
		Channels []json.RawMessage `json:"channels"`
	}
	n.Call("GET", "/v1/channels?active_only=true", nil, &r)
	return len(r.Channels)
}

// Lightning is two lnd nodes on one btcd: Payer opened a channel to
// Merchant (so Merchant has inbound capacity) and it is active.
type Lightning struct {
	BTC      *Btcd
	Merchant *LND
	Payer    *LND
}

// StartLightning starts btcd (TLS, segwit active) and two lnd nodes in
// parallel, funds the payer, opens a channel of capacity sats from the
// payer to the merchant and mines it until both sides see it active.
func StartLightning(t TB, capacity int64) *Lightning {
	t.Helper()
	btcd := StartBtcdWith(t, BtcdOptions{TLS: true, Blocks: 500})
	l := &Lightning{BTC: btcd}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	rec := &recordingTB{TB: t, fail: func(msg string) { mu.Lock(); failed = append(failed, msg); mu.Unlock() }}
	wg.Add(2)
	go func() { defer wg.Done(); defer rec.recover(); l.Merchant = StartLND(rec, btcd, "merchant") }()
	go func() { defer wg.Done(); defer rec.recover(); l.Payer = StartLND(rec, btcd, "payer") }()
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("start lnd: %v", failed)
	}
	l.Merchant.t, l.Payer.t = t, t
	l.OpenChannel(capacity)
	return l
}

// OpenChannel funds the payer on chain, connects it to the merchant, opens
// a channel of capacity sats and mines until both see it active.
func (l *Lightning) OpenChannel(capacity int64) {
	t := l.Merchant.t
	t.Helper()
	p, m := l.Payer, l.Merchant
	var addr struct {
		Address string `json:"address"`
	}
	p.Call("GET", "/v1/newaddress?type=WITNESS_PUBKEY_HASH", nil, &addr)
	l.BTC.Pay(addr.Address, 2*capacity+100_000, false)
	l.BTC.Generate(1)
	waitFor(t, 60*time.Second, "payer's wallet sees its funds", func() bool {
		var bal struct {
			Confirmed string `json:"confirmed_balance"`
		}
		if err := p.call("GET", "/v1/balance/blockchain", nil, &bal); err != nil {
			return false
		}
		v, _ := strconv.ParseInt(bal.Confirmed, 10, 64)
		return v > capacity
	})
	// Connect (idempotent enough: "already connected" is an error we ignore).
	// lnd answers "server is still in the process of starting" for a while
	// after getinfo already works: connect until the peer shows up.
	waitFor(t, 60*time.Second, "payer connected to merchant", func() bool {
		_ = p.call("POST", "/v1/peers", map[string]any{"addr": map[string]any{"pubkey": m.PubKey, "host": m.P2PAddr}, "perm": false}, nil)
		var r struct {
			Peers []struct {
				PubKey string `json:"pub_key"`
			} `json:"peers"`
		}
		if err := p.call("GET", "/v1/peers", nil, &r); err != nil {
			return false
		}
		for _, x := range r.Peers {
			if x.PubKey == m.PubKey {
				return true
			}
		}
		return false
	})
	pk, err := hex.DecodeString(m.PubKey)
	if err != nil {
		t.Fatalf("testnode: merchant pubkey %q: %v", m.PubKey, err)
	}
	var openErr error
	waitFor(t, 30*time.Second, "channel opening", func() bool {
		openErr = p.call("POST", "/v1/channels", map[string]any{
			"node_pubkey": base64.StdEncoding.EncodeToString(pk), "local_funding_amount": strconv.FormatInt(capacity, 10),
			"sat_per_vbyte": "2",
		}, nil)
		if openErr != nil {
			t.Logf("testnode: open channel: %v (retrying)", openErr)
		}
		return openErr == nil
	})
	waitFor(t, 30*time.Second, "funding transaction in btcd's mempool", func() bool { return len(l.BTC.Mempool()) > 0 })
	l.BTC.Generate(6)
	waitFor(t, 90*time.Second, "channel active on both nodes", func() bool {
		return p.ActiveChannels() > 0 && m.ActiveChannels() > 0
	})
	// "Active" comes a moment before the link may carry HTLCs (lnd answers
	// insufficient_balance meanwhile): pay 1 sat until one gets through.
	var payErr error
	waitFor(t, 60*time.Second, "a first payment over the channel", func() bool {
		payErr = p.PayErr(m.AddInvoice(1, "testnode probe"))
		if payErr != nil {
			time.Sleep(200 * time.Millisecond)
		}
		return payErr == nil
	})
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testnode: %s: not after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
