// Package testnode starts the real local nodes payd's integration tests, the demo
// and the benchmarks run against: btcd in regtest, anvil, geth --dev, lnd (two
// nodes on btcd with a channel) and a private PostgreSQL cluster (postgres.go). The
// binaries are installed (pinned) into the repo's .cache/bin by
// scripts/install-tools.sh, which Bin runs on demand. A node that cannot be
// had fails the test; it never skips.
//
// Only for tests, benchmarks and the demo: payd itself never imports it.
package testnode

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TB is the part of testing.TB this package uses, so the demo can pass its own.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

var installMu sync.Mutex

// RepoRoot returns the directory holding payd's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(b), "module github.com/payd/payd\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testnode: go.mod of github.com/payd/payd not found above the working directory")
		}
		dir = parent
	}
}

// CacheDir is where tools are installed: $PAYD_CACHE or <repo>/.cache.
func CacheDir() (string, error) {
	if d := os.Getenv("PAYD_CACHE"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// Bin returns the path of tool (btcd, btcctl, anvil, geth, lnd, lncli), installing it with
// scripts/install-tools.sh when missing.
func Bin(tool string) (string, error) {
	installMu.Lock()
	defer installMu.Unlock()
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(cache, "bin", tool)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	installer := tool
	switch tool {
	case "btcctl":
		installer = "btcd"
	case "lncli":
		installer = "lnd"
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "install-tools.sh"), installer)
	cmd.Env = append(os.Environ(), "PAYD_CACHE="+cache)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testnode: install %s: %v\n%s", tool, err, out)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testnode: %s still missing after install: %v", tool, err)
	}
	return p, nil
}

// MustBin is Bin that fails the test.
func MustBin(t TB, tool string) string {
	t.Helper()
	p, err := Bin(tool)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts connections or timeout passes.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnode: %s not reachable after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startProcess starts cmd with its output in logPath and stops it at cleanup.
func startProcess(t TB, cmd *exec.Cmd, logPath string) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("testnode: start %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
}

// NodeModules returns the node_modules directory holding the npm package
// pkg that scripts/install-tools.sh installs under tool (e.g. tool
// "bolt11", pkg "light-bolt11-decoder"), installing it when missing.
func NodeModules(tool, pkg string) (string, error) {
	installMu.Lock()
	defer installMu.Unlock()
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err == nil {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "install-tools.sh"), tool)
	cmd.Env = append(os.Environ(), "PAYD_CACHE="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testnode: install %s: %v\n%s", tool, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
		return "", fmt.Errorf("testnode: npm package %s still missing after install: %v", pkg, err)
	}
	return dir, nil
}

// stopProcess sends sig to proc and waits until done is closed (the process
// was reaped), killing it if it has not exited within 30 s.
func stopProcess(proc *os.Process, done <-chan struct{}, sig os.Signal) {
	_ = proc.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = proc.Kill()
		<-done
	}
}
