package testnode

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// Stack is a btcd regtest node and an anvil node with a 6-decimal test
// token ("USDC"), for end-to-end tests of the payd binary.
type Stack struct {
	BTC  *Btcd
	EVM  *EVMNode
	USDC string // token contract
}

// StartStack starts btcd and anvil in parallel and deploys the token.
func StartStack(t TB) *Stack {
	t.Helper()
	s := &Stack{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	rec := &recordingTB{TB: t, fail: func(msg string) { mu.Lock(); failed = append(failed, msg); mu.Unlock() }}
	wg.Add(2)
	go func() { defer wg.Done(); defer rec.recover(); s.BTC = StartBtcd(rec) }()
	go func() { defer wg.Done(); defer rec.recover(); s.EVM = StartAnvil(rec) }()
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("start nodes: %s", strings.Join(failed, "; "))
	}
	s.USDC = s.EVM.DeployToken(6)
	return s
}

// recordingTB turns Fatalf in a goroutine into a recorded failure.
type recordingTB struct {
	TB
	fail func(string)
}

type fatal struct{}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	panic(fatal{})
}

func (r *recordingTB) recover() {
	if v := recover(); v != nil {
		if _, ok := v.(fatal); !ok {
			r.fail(fmt.Sprint(v))
		}
	}
}

// ThrowAwayWallet makes a fresh random seed, derives the watch-only account
// keys payd needs — a regtest BIP84 descriptor and an EVM account xpub
// (m/44'/60'/0') — and forgets the seed.
func ThrowAwayWallet() (btcKey, evmKey string, err error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return "", "", err
	}
	defer clear(seed)
	account := func(params *chaincfg.Params, path ...uint32) (string, error) {
		k, err := hdkeychain.NewMaster(seed, params)
		if err != nil {
			return "", err
		}
		for _, i := range path {
			if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
				return "", err
			}
		}
		pub, err := k.Neuter()
		if err != nil {
			return "", err
		}
		return pub.String(), nil
	}
	tpub, err := account(&chaincfg.RegressionNetParams, 84, 1, 0)
	if err != nil {
		return "", "", err
	}
	xpub, err := account(&chaincfg.MainNetParams, 44, 60, 0)
	if err != nil {
		return "", "", err
	}
	return "wpkh(" + tpub + "/0/*)", xpub, nil
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// PaydBin builds cmd/payd once per test process and returns the binary,
// with the race detector when the test binary has it (`go test -race`).
func PaydBin(t TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "payd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "payd")
		args := []string{"build", "-o", buildPath}
		if RaceBuild {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/payd")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/payd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("testnode: %v", buildErr)
	}
	return buildPath
}

// Payd is a payd process started from a generated config.
type Payd struct {
	t      TB
	bin    string
	Dir    string
	Config string // path of the config file
	URL    string // http://127.0.0.1:port
	APIKey string
	Log    string // path of the log (appended across restarts)
	// BTCKey and EVMKey are the watch-only keys of its wallet (pass them to
	// another instance on the same database through PaydOptions).
	BTCKey, EVMKey string
	// PostgresURL is its database when it runs on PostgreSQL (PaydOptions,
	// or PAYD_TEST_DATABASE=postgres); "" = the SQLite file Dir/payd.db.
	PostgresURL string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// PaydOptions tune StartPayd.
type PaydOptions struct {
	// ExtraYAML is appended to the generated config (top-level sections
	// that the default does not set, e.g. "webhooks:" endpoints).
	ExtraYAML string
	// ExpiresIn is invoices.expires_in (default 15m).
	ExpiresIn string
	// Confirmations per chain (default bitcoin 1, ethereum 1).
	BTCConfirmations, EVMConfirmations int
	// BTCRPCURL and EVMRPCURL replace the nodes' HTTP RPC URLs (e.g. a
	// fault-injecting proxy in front of them); "" = the stack's.
	BTCRPCURL, EVMRPCURL string
	// NoWS leaves ws_url out, so payd polls both nodes.
	NoWS bool
	// ServerYAML is appended to the generated server: section (indented
	// keys such as "  api_rate_limit: 1\n").
	ServerYAML string
	// PostgresURL puts the database on PostgreSQL (database.driver
	// postgres) instead of a SQLite file in the payd's directory. When ""
	// and PAYD_TEST_DATABASE=postgres, the payd gets a fresh database on
	// the test binary's cluster (StartPostgres).
	PostgresURL string
	// BTCKey and EVMKey replace the throw-away wallet's keys (a test that
	// signs refunds holds the seed; several payd on one database share
	// them); APIKey reuses another instance's API key. "" = fresh ones.
	BTCKey, EVMKey, APIKey string
	// Chains, when set, replaces the generated chains: section's entries
	// (indented two spaces; see LightningChains). The stack's nodes are
	// then not used.
	Chains string
}

// LightningChains is a chains: section with the merchant lnd as chain
// "lightning" (invoice + readonly macaroons) and, when btc is not nil, btc
// (a --notls btcd) as chain "bitcoin" with a fresh throw-away key.
func LightningChains(t TB, l *Lightning, btc *Btcd) string {
	t.Helper()
	m := l.Merchant
	s := fmt.Sprintf(`  lightning:
    type: lightning
    network: regtest
    rpc_url: %s
    tls_cert: %s
    macaroon: %s
    readonly_macaroon: %s
    poll_interval: 200ms
`, m.RESTURL, m.TLSCert, m.InvoiceMacaroon, m.ReadonlyMacaroon)
	if btc != nil {
		key, _, err := ThrowAwayWallet()
		if err != nil {
			t.Fatalf("wallet: %v", err)
		}
		s += fmt.Sprintf(`  bitcoin:
    type: bitcoin
    network: regtest
    rpc_url: %s
    ws_url: %s
    rpc_user: %s
    rpc_password: %s
    xpub: %s
    confirmations: 1
    poll_interval: 200ms
`, btc.RPCURL, btc.WSURL, btc.User, btc.Pass, key)
	}
	return s
}

// StartPayd writes a config for the stack with a fresh throw-away wallet,
// creates an API key and starts `payd run`, waiting for /readyz. Its
// database is a SQLite file in its directory or, with PaydOptions.PostgresURL
// or PAYD_TEST_DATABASE=postgres, on PostgreSQL; Stop and Start keep it.
func (s *Stack) StartPayd(t TB, o PaydOptions) *Payd {
	t.Helper()
	btcKey, evmKey := o.BTCKey, o.EVMKey
	if btcKey == "" || evmKey == "" {
		var err error
		if btcKey, evmKey, err = ThrowAwayWallet(); err != nil {
			t.Fatalf("wallet: %v", err)
		}
	}
	if o.BTCKey != "" {
		btcKey = o.BTCKey
	}
	if o.EVMKey != "" {
		evmKey = o.EVMKey
	}
	port, err := FreePort()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if o.ExpiresIn == "" {
		o.ExpiresIn = "15m"
	}
	if o.BTCConfirmations == 0 {
		o.BTCConfirmations = 1
	}
	if o.EVMConfirmations == 0 {
		o.EVMConfirmations = 1
	}
	wsLine := func(u string) string {
		if o.NoWS {
			return ""
		}
		return "\n    ws_url: " + u
	}
	chains := o.Chains
	if chains == "" {
		btcRPC, evmRPC, btcWS, evmWS := s.BTC.RPCURL, s.EVM.HTTPURL, s.BTC.WSURL, s.EVM.WSURL
		if o.BTCRPCURL != "" {
			btcRPC = o.BTCRPCURL
		}
		if o.EVMRPCURL != "" {
			evmRPC = o.EVMRPCURL
		}
		chains = fmt.Sprintf(`  bitcoin:
    type: bitcoin
    network: regtest
    rpc_url: %s%s
    rpc_user: %s
    rpc_password: %s
    xpub: %s
    confirmations: %d
    poll_interval: 200ms
  ethereum:
    type: evm
    chain_id: %d
    rpc_url: %s%s
    xpub: %s
    confirmations: %d
    poll_interval: 200ms
    tokens:
      - symbol: USDC
        contract: "%s"
        decimals: 6
`, btcRPC, wsLine(btcWS), s.BTC.User, s.BTC.Pass, btcKey, o.BTCConfirmations,
			s.EVM.ChainID, evmRPC, wsLine(evmWS), evmKey, o.EVMConfirmations, s.USDC)
	}
	if o.PostgresURL == "" && UsePostgres(t) {
		o.PostgresURL = StartPostgres(t).NewDatabase(t)
	}
	dir := t.TempDir()
	p := &Payd{PostgresURL: o.PostgresURL, t: t, bin: PaydBin(t), Dir: dir, Config: filepath.Join(dir, "payd.yaml"),
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), Log: filepath.Join(dir, "payd.log"), BTCKey: btcKey, EVMKey: evmKey}
	dbYAML := "  path: " + filepath.Join(dir, "payd.db") + "\n"
	if o.PostgresURL != "" {
		dbYAML = "  driver: postgres\n  url: \"" + o.PostgresURL + "\"\n"
	}
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:%d
  public_url: %s
%sdatabase:
%slog:
  level: debug
invoices:
  expires_in: %s
  monitoring_window: 1h
chains:
%srates:
  sources: [static]
  static:
    btc/usd: "60000"
    eth/usd: "3000"
checkout:
  store_name: payd test
%s`, port, p.URL, o.ServerYAML, dbYAML, o.ExpiresIn, chains, o.ExtraYAML)
	if !strings.Contains(o.ExtraYAML, "webhooks:") {
		cfg += "webhooks:\n  allow_private: true\n"
	}
	if err := os.WriteFile(p.Config, []byte(cfg), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	if o.APIKey != "" {
		p.APIKey = o.APIKey
	} else {
		out, err := p.Run("apikey", "create", "--name", "test")
		if err != nil {
			t.Fatalf("payd apikey create: %v\n%s", err, out)
		}
		p.APIKey = lastLine(out)
	}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// TestDatabaseEnv is the environment variable that chooses the database of
// every payd StartPayd starts without PaydOptions.PostgresURL: "postgres"
// gives each a fresh database on the test binary's PostgreSQL cluster (one
// cluster for the whole binary when its TestMain uses RunWithPostgres); ""
// or "sqlite" keeps the SQLite file. `make test` runs test/e2e once each way.
const TestDatabaseEnv = "PAYD_TEST_DATABASE"

// UsePostgres reports whether PAYD_TEST_DATABASE=postgres; it fails the
// test on any other value than "", "sqlite" and "postgres".
func UsePostgres(t TB) bool {
	t.Helper()
	switch v := os.Getenv(TestDatabaseEnv); v {
	case "", "sqlite":
		return false
	case "postgres":
		return true
	default:
		t.Fatalf("testnode: %s=%q: want sqlite or postgres", TestDatabaseEnv, v)
		return false
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 0 && strings.HasPrefix(f[len(f)-1], "payd_") {
			return f[len(f)-1]
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// Run runs a payd CLI command with this config and returns its output.
func (p *Payd) Run(args ...string) (string, error) {
	cmd := exec.Command(p.bin, append(args, "--config", p.Config)...)
	cmd.Env = append(os.Environ(), "PAYD_URL="+p.URL, "PAYD_API_KEY="+p.APIKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Start starts `payd run` and waits until /readyz answers 200.
func (p *Payd) Start() {
	p.t.Helper()
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatalf("%v", err)
	}
	cmd := exec.Command(p.bin, "run", "--config", p.Config)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start payd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			p.t.Fatalf("payd exited during start; log:\n%s", p.Tail(40))
		default:
		}
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("payd not ready after 60s; log:\n%s", p.Tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops payd with SIGKILL (no chance to clean up) and waits for it.
func (p *Payd) Kill() { p.signal(syscall.SIGKILL) }

// Stop stops payd with SIGTERM (graceful) and waits for it.
func (p *Payd) Stop() { p.signal(syscall.SIGTERM) }

func (p *Payd) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	stopProcess(cmd.Process, done, sig)
}

// Pause freezes payd (SIGSTOP) so that node changes made meanwhile reach it
// all at once, as if they had happened between two of its polls. Resume
// lets it go on; a paused payd is resumed before it is stopped.
func (p *Payd) Pause() { p.sendOnly(syscall.SIGSTOP) }

// Resume continues a paused payd (SIGCONT).
func (p *Payd) Resume() { p.sendOnly(syscall.SIGCONT) }

func (p *Payd) sendOnly(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatalf("payd is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal payd: %v", err)
	}
}

// PID returns the process id of the running payd, or 0 if it is not running.
func (p *Payd) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Tail returns the last n lines of the log.
func (p *Payd) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
