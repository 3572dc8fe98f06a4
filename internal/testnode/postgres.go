package testnode

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for CREATE/DROP DATABASE
)

// Postgres is a private PostgreSQL cluster: initdb into a fresh directory
// under $PAYD_CACHE/pg, the postgres server on a random 127.0.0.1 port with its
// unix socket in that directory, trust authentication for the superuser
// "payd". The server is a child of the test process (it dies with it:
// Pdeathsig) and Stop removes the directory.
//
// As root, initdb and postgres refuse to run: the cluster then runs as the
// unprivileged "postgres" user the Debian package creates (its directory is
// chowned to it).
type Postgres struct {
	Dir  string // cluster directory (data in Dir/data, socket in Dir)
	Port int
	bin  string
	uid  *syscall.Credential
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	n    int // databases created
}

var (
	sharedPG     *Postgres
	sharedPGErr  error
	sharedPGOnce sync.Once
	sharedPGMain bool // RunWithPostgres owns the shared cluster
)

// RunWithPostgres runs a test binary's tests (m.Run) and stops the shared
// cluster StartPostgres started, if any. Use it from TestMain so every test of
// the package shares one cluster:
//
//	func TestMain(m *testing.M) { os.Exit(testnode.RunWithPostgres(m.Run)) }
func RunWithPostgres(run func() int) int {
	sharedPGMain = true
	code := run()
	if sharedPG != nil {
		sharedPG.Stop()
	}
	return code
}

// StartPostgres returns the test binary's shared cluster (started on first
// use) when the package's TestMain uses RunWithPostgres, or else a cluster of
// the test's own, stopped at its cleanup. It fails the test when PostgreSQL
// cannot be had; it never skips.
func StartPostgres(t TB) *Postgres {
	t.Helper()
	if sharedPGMain {
		sharedPGOnce.Do(func() { sharedPG, sharedPGErr = NewPostgres(PostgresOptions{}) })
		if sharedPGErr != nil {
			t.Fatalf("%v", sharedPGErr)
		}
		return sharedPG
	}
	p, err := NewPostgres(PostgresOptions{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// PostgresOptions tune NewPostgres.
type PostgresOptions struct {
	// Durable keeps fsync on (benchmarks); tests run with fsync=off, which
	// only matters for an operating-system crash.
	Durable bool
}

// PostgresBinDir finds the PostgreSQL server binaries (Debian's
// /usr/lib/postgresql/<version>/bin, newest first, or pg_config --bindir),
// installing them with scripts/install-tools.sh postgres when missing.
func PostgresBinDir() (string, error) {
	if d := findPGBin(); d != "" {
		return d, nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if d := findPGBin(); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "install-tools.sh"), "postgres").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testnode: install postgres: %v\n%s", err, out)
	}
	if d := findPGBin(); d != "" {
		return d, nil
	}
	return "", errors.New("testnode: PostgreSQL server binaries (initdb, postgres) still missing after scripts/install-tools.sh postgres")
}

func findPGBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func pgVersion(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// NewPostgres creates and starts a private cluster. The caller stops it.
func NewPostgres(o PostgresOptions) (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	base := filepath.Join(cache, "pg")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("testnode: running as root and no unprivileged 'postgres' user to run initdb as (scripts/install-tools.sh postgres creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if !reachableBy(cache, uid, gid) {
			// The clone lives where the postgres user cannot go (root's
			// 0700 home, a mktemp -d): the clusters go to the system's
			// temporary directory instead, which everyone may traverse.
			base = filepath.Join(os.TempDir(), "payd-pg")
		}
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("testnode: %w", err)
	}
	_ = os.Chmod(base, 0o755)
	sweepStaleClusters(base)
	dir, err := os.MkdirTemp(base, "run-")
	if err != nil {
		return nil, fmt.Errorf("testnode: %w", err)
	}
	_ = os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	p := &Postgres{Dir: dir, bin: bin, log: filepath.Join(dir, "postgres.log"), uid: cred}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("testnode: %w", err)
		}
	}
	_ = os.Chmod(dir, 0o755)
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "payd",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir // not the test's package directory, which the postgres user may not reach
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.uid}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testnode: initdb: %v\n%s", err, out)
	}
	conf := "listen_addresses = '127.0.0.1'\n" +
		"unix_socket_directories = '" + dir + "'\n" +
		"max_connections = 200\n" +
		"shared_buffers = 32MB\n"
	if !o.Durable {
		conf += "fsync = off\nfull_page_writes = off\n"
	}
	f, err := os.OpenFile(filepath.Join(dir, "data", "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		f.Close()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testnode: postgresql.conf: %w", err)
	}
	for attempt := 0; ; attempt++ {
		if p.Port, err = FreePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err = p.Start(); err == nil {
			return p, nil
		}
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// reachableBy reports whether the user uid (group gid) may traverse every
// directory from / down to dir and dir itself (permission bits only).
func reachableBy(dir string, uid, gid int) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil {
			return false
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return true // not a Unix file system: assume so
		}
		var bit os.FileMode = 0o001
		switch {
		case int(sys.Uid) == uid:
			bit = 0o100
		case int(sys.Gid) == gid:
			bit = 0o010
		}
		if st.Mode().Perm()&bit == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// sweepStaleClusters removes cluster directories whose test process is gone
// (a test binary killed before its cleanup).
func sweepStaleClusters(base string) {
	runs, _ := filepath.Glob(filepath.Join(base, "run-*"))
	for _, d := range runs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			continue
		}
		os.RemoveAll(d)
	}
}

// Start starts the server (again, after Stop or Kill keeps the data: see
// Restart) and waits until it accepts connections.
func (p *Postgres) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("testnode: %w", err)
	}
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), "-D", filepath.Join(p.Dir, "data"), "-p", strconv.Itoa(p.Port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = p.Dir
	// SIGQUIT is PostgreSQL's immediate shutdown: the cluster never outlives
	// the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.uid, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("testnode: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("pgx", p.URL("postgres"))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-done:
			p.cmd = nil
			b, _ := os.ReadFile(p.log)
			return fmt.Errorf("testnode: postgres exited on start (port %d): %s", p.Port, tail(string(b), 2000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnode: postgres not ready after 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stop sends sig to the server and waits for it to exit.
func (p *Postgres) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	stopProcess(cmd.Process, done, sig)
}

// Shutdown stops the server (fast shutdown: open sessions are terminated)
// and keeps the data; Start brings it back on the same port.
func (p *Postgres) Shutdown() { p.stop(syscall.SIGINT) }

// Crash stops the server as a crash would (immediate shutdown: no checkpoint,
// recovery on the next Start).
func (p *Postgres) Crash() { p.stop(syscall.SIGQUIT) }

// Stop shuts the server down and removes the cluster directory.
func (p *Postgres) Stop() {
	p.stop(syscall.SIGINT)
	os.RemoveAll(p.Dir)
}

// Addr is the server's host:port.
func (p *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// URL returns the connection URL of database name (superuser payd, no password).
func (p *Postgres) URL(name string) string {
	return p.URLAt(p.Addr(), name)
}

// URLAt is URL through another address (a proxy in front of the server).
func (p *Postgres) URLAt(addr, name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("payd"), Host: addr, Path: "/" + name}
	q := url.Values{}
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// NewDatabase creates an empty database for one test, drops it at the test's
// cleanup, and returns its URL.
func (p *Postgres) NewDatabase(t TB) string {
	t.Helper()
	p.mu.Lock()
	p.n++
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("t%d_%s", p.n, hex.EncodeToString(rnd[:]))
	p.mu.Unlock()
	if err := p.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("testnode: create database: %v", err)
	}
	t.Cleanup(func() { _ = p.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	return p.URL(name)
}

func (p *Postgres) exec(q string) error {
	db, err := sql.Open("pgx", p.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, q)
	return err
}
