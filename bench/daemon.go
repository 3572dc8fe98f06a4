package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/payd/payd/internal/testnode"
)

// Watch-only test keys (public): the BIP84 test vector account key with
// vpub version bytes for regtest, and an account xpub for m/44'/60'/0'.
const (
	regtestVpub = "vpub5YvMuJNjRSYon44z9QmCfdf8SqJRVNvz6m55Qy5iVjZQxDfUgtiQjnc7CC1fAbED2tAGCZRERUfvtn2DstZGU6HMns6dXXH2wujSc2wfi2x"
	evmXpub     = "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
)

var buildMu sync.Mutex

// paydBin builds cmd/payd once into the work directory and checks that it
// has the `run` subcommand.
func (e *env) paydBin() string {
	buildMu.Lock()
	defer buildMu.Unlock()
	if e.payd == "" && e.paydErr == nil {
		p := filepath.Join(e.work, "payd")
		src, err := e.snapshot()
		if err != nil {
			e.paydErr = err
			panic(fatal{err.Error()})
		}
		out, err := runCmd(src, "go", "build", "-o", p, "./cmd/payd")
		if err != nil {
			e.paydErr = fmt.Errorf("go build ./cmd/payd: %v: %s", err, strings.TrimSpace(out))
		} else if out, err := runCmd("", p, "run", "--help"); err != nil {
			e.paydErr = fmt.Errorf("payd has no working `run` subcommand yet: %s", firstLine(out))
		} else {
			e.payd = p
		}
	}
	if e.paydErr != nil {
		panic(fatal{e.paydErr.Error()})
	}
	return e.payd
}

// profBin builds payd with one extra file (through -overlay, nothing in the
// tree changes) that serves /debug/pprof/profile on $PAYD_BENCH_PPROF. Only
// profiling runs use it; every figure is measured with the plain binary.
func (e *env) profBin() (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if e.prof != "" || e.profErr != nil {
		return e.prof, e.profErr
	}
	src := filepath.Join(e.work, "benchpprof.go")
	code := `package main

import (
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("PAYD_BENCH_PPROF")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go func() { _ = http.ListenAndServe(addr, mux) }()
}
`
	root, err := e.snapshot()
	if err != nil {
		e.profErr = err
		return "", err
	}
	overlay := filepath.Join(e.work, "overlay.json")
	ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "cmd", "payd", "zz_benchpprof.go"): src}})
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		e.profErr = err
		return "", err
	}
	if err := os.WriteFile(overlay, ov, 0o644); err != nil {
		e.profErr = err
		return "", err
	}
	p := filepath.Join(e.work, "payd-prof")
	out, err := runCmd(root, "go", "build", "-overlay", overlay, "-o", p, "./cmd/payd")
	if err != nil {
		e.profErr = fmt.Errorf("build profiling payd: %v: %s", err, out)
		return "", e.profErr
	}
	e.prof = p
	return p, nil
}

// snapshot exports the committed tree (git archive HEAD) into the work
// directory once and returns its path: payd is built from what is committed,
// not from whatever is being edited in the checkout at that moment.
func (e *env) snapshot() (string, error) {
	if e.src != "" {
		return e.src, nil
	}
	dir := filepath.Join(e.work, "src")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("sh", "-c", `git -C "$1" archive --format=tar HEAD | tar -x -C "$2"`, "sh", e.root, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("export HEAD: %v: %s", err, out)
	}
	e.src = dir
	return dir, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// hook is a webhook endpoint in the daemon's config.
type hook struct {
	URL    string
	Secret string
}

// daemonCfg is what a generated config file says.
type daemonCfg struct {
	DB      string
	BTC     *testnode.Btcd
	BTCWS   bool
	BTCPoll time.Duration
	EVM     *testnode.EVMNode
	EVMWS   bool
	EVMPoll time.Duration
	Token   string // ERC-20 contract on EVM ("" none)
	// BTCConf and EVMConf are the chains' confirmations (default 1).
	BTCConf, EVMConf int
	Hooks            []hook
	HookTimeout      time.Duration
	Concurrency      int
	// PostgresURL puts the database on PostgreSQL (database.driver
	// postgres) instead of the SQLite file DB.
	PostgresURL string
}

func (c daemonCfg) yaml(listen string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  listen: %s\n  public_url: http://%s\n  api_rate_limit: 0\n  public_rate_limit: 0\n  shutdown_timeout: 5s\n", listen, listen)
	if c.PostgresURL != "" {
		fmt.Fprintf(&b, "database:\n  driver: postgres\n  url: %q\n", c.PostgresURL)
	} else {
		fmt.Fprintf(&b, "database:\n  path: %s\n  synchronous: NORMAL\n", c.DB)
	}
	b.WriteString("log:\n  level: warn\n  format: text\n")
	b.WriteString("invoices:\n  expires_in: 24h\n  monitoring_window: 24h\n")
	b.WriteString("chains:\n")
	if c.BTC != nil {
		poll := c.BTCPoll
		if poll == 0 {
			poll = time.Second
		}
		ws := ""
		if c.BTCWS {
			ws = c.BTC.WSURL
		}
		fmt.Fprintf(&b, "  bitcoin:\n    type: bitcoin\n    network: regtest\n    rpc_url: %s\n    rpc_user: %s\n    rpc_password: %s\n    ws_url: %q\n    xpub: %s\n    confirmations: %d\n    poll_interval: %s\n",
			c.BTC.RPCURL, c.BTC.User, c.BTC.Pass, ws, regtestVpub, max(c.BTCConf, 1), poll)
	}
	if c.EVM != nil {
		poll := c.EVMPoll
		if poll == 0 {
			poll = time.Second
		}
		ws := ""
		if c.EVMWS {
			ws = c.EVM.WSURL
		}
		fmt.Fprintf(&b, "  ethereum:\n    type: evm\n    chain_id: %d\n    rpc_url: %s\n    ws_url: %q\n    xpub: %s\n    confirmations: %d\n    poll_interval: %s\n    native:\n      symbol: ETH\n",
			c.EVM.ChainID, c.EVM.HTTPURL, ws, evmXpub, max(c.EVMConf, 1), poll)
		if c.Token != "" {
			fmt.Fprintf(&b, "    tokens:\n      - symbol: USDC\n        contract: %q\n        decimals: 6\n", c.Token)
		} else {
			b.WriteString("    tokens: []\n")
		}
	}
	timeout := c.HookTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	conc := c.Concurrency
	if conc == 0 {
		conc = 16
	}
	fmt.Fprintf(&b, "webhooks:\n  allow_private: true\n  timeout: %s\n  retry_schedule: [1h]\n  concurrency: %d\n  endpoints:", timeout, conc)
	if len(c.Hooks) == 0 {
		b.WriteString(" []\n")
	} else {
		b.WriteString("\n")
		for _, h := range c.Hooks {
			fmt.Fprintf(&b, "    - url: %s\n      secret: %s\n      events: [\"*\"]\n", h.URL, h.Secret)
		}
	}
	b.WriteString("rates:\n  sources: [static]\n  pairs: [BTC/USD, ETH/USD]\n  static:\n    btc/usd: \"60000\"\n    eth/usd: \"3000\"\n")
	return b.String()
}

// daemon is a running `payd run`.
type daemon struct {
	bin     string
	cfgPath string
	logPath string
	url     string
	key     string
	cmd     *exec.Cmd
	done    chan struct{}
	// Startup is the time from exec to /readyz answering 200.
	Startup time.Duration
	// Started is when the process was started.
	Started time.Time
	client  *http.Client
}

// newDaemon writes the config, creates an API key (which also migrates the
// database) and returns a daemon ready to start.
func newDaemon(e *env, t *tb, name string, c daemonCfg, bin string) *daemon {
	port, err := testnode.FreePort()
	if err != nil {
		t.Fatalf("%v", err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	if c.DB == "" {
		c.DB = filepath.Join(dir, "payd.db")
	}
	d := &daemon{bin: bin, cfgPath: filepath.Join(dir, name+".yaml"), logPath: filepath.Join(dir, name+".log"), url: "http://" + listen,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxIdleConns: 128}}}
	if err := os.WriteFile(d.cfgPath, []byte(c.yaml(listen)), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	out, err := exec.Command(bin, "apikey", "create", "--name", "bench", "--config", d.cfgPath).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("payd apikey create: %v: %s", err, stderr)
	}
	d.key = strings.TrimSpace(string(out))
	return d
}

// start runs the daemon and waits until /readyz answers 200.
func (d *daemon) start(t *tb, extraEnv ...string) {
	d.stop() // never two processes on one database
	f, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("%v", err)
	}
	d.cmd = exec.Command(d.bin, "run", "--config", d.cfgPath)
	d.cmd.Env = append(os.Environ(), extraEnv...)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	start := time.Now()
	d.Started = start
	if err := d.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start payd: %v", err)
	}
	d.done = make(chan struct{})
	go func() { _ = d.cmd.Wait(); f.Close(); close(d.done) }()
	t.Cleanup(d.stop)
	deadline := start.Add(90 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("payd exited during startup: %s", tail(d.logPath, 15))
		default:
		}
		resp, err := d.client.Get(d.url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				d.Startup = time.Since(start)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("payd not ready after 90s (last: %v): %s", err, tail(d.logPath, 15))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// rssMB returns the daemon's resident set size in MB (VmRSS).
func (d *daemon) rssMB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// apiInvoice is the part of the invoice object the bench reads.
type apiInvoice struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Methods []struct {
		Method    string `json:"method"`
		Address   string `json:"address"`
		AmountDue string `json:"amount_due"`
	} `json:"methods"`
}

func (inv *apiInvoice) address(method string) string {
	for _, m := range inv.Methods {
		if m.Method == method {
			return m.Address
		}
	}
	return ""
}

// do sends one API request and decodes a 2xx JSON answer into out.
func (d *daemon) do(ctx context.Context, c *http.Client, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+d.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// mustCreate creates one invoice or fails the figure.
func (d *daemon) mustCreate(t *tb, body string) *apiInvoice {
	var inv apiInvoice
	if _, err := d.do(context.Background(), d.client, "POST", "/v1/invoices", []byte(body), &inv); err != nil {
		t.Fatalf("create invoice: %v (log: %s)", err, tail(d.logPath, 5))
	}
	return &inv
}
