// Package store persists payd's state in SQLite (mattn/go-sqlite3, the
// embedded default) or PostgreSQL (pgx v5, postgres.go; several payd may
// share it): invoices, deposit addresses, payments, the event outbox,
// webhooks, API keys, idempotency keys and per-chain cursors. Both dialects
// run the same Go code and the same SQL text; postgres.go lists the few
// differences.
//
// Design (PERF.md): one writer connection (SetMaxOpenConns(1)) whose
// transactions begin IMMEDIATE, and a separate pool of read-only connections;
// WAL journal, synchronous=NORMAL by default (FULL by config), foreign keys on,
// busy_timeout so SQLITE_BUSY never reaches the code. Versioned migrations are
// embedded and applied by Migrate; a database newer than the binary is refused.
//
// store satisfies the small interfaces that watcher, service, webhook and api
// declare, without importing them. It imports invoice (domain types) and
// nothing else of payd's.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("store: not found")
	// ErrLocked: another payd holds the database.
	ErrLocked = errors.New("store: database in use by another payd")
	// ErrTooNew: the database was migrated by a newer payd.
	ErrTooNew = errors.New("store: database is newer than this payd")
	// ErrConflict: a uniqueness rule was violated.
	ErrConflict = errors.New("store: conflict")
)

// Options tune Open.
type Options struct {
	// Synchronous is SQLite's synchronous level: "NORMAL" (default; a power
	// loss may lose the last transactions but never corrupts, and a process
	// crash loses nothing committed) or "FULL" (fsync on every commit).
	Synchronous string
	// Exclusive takes an advisory lock on <path>.lock so two daemons cannot
	// share one database. CLI commands (apikey, backup) leave it off.
	Exclusive bool
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
}

// DB is payd's database: one writer connection and a read pool.
type DB struct {
	w    *sql.DB
	r    *sql.DB
	path string
	lock *os.File
	now  func() time.Time

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // hot write statements, prepared once on the writer
	wanted map[string]bool      // hot statements to prepare before the next write

	readMu    sync.Mutex
	readStmts map[string]*sql.Stmt // hot read statements, prepared once on the read pool

	claims memClaims // SQLite: webhook delivery claims (claims.go)

	pg       bool            // PostgreSQL (postgres.go) instead of SQLite
	pgConfig *pgx.ConnConfig // PostgreSQL: for the connections outside the pools (LISTEN)
	leases   *sql.DB         // PostgreSQL: the lease round trips' own connection (lease.go)
}

// queryRow runs a hot read statement, prepared once on the read pool
// (database/sql prepares it again on each pool connection as needed).
func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	db.readMu.Lock()
	st, ok := db.readStmts[q]
	if !ok {
		var err error
		if st, err = db.r.PrepareContext(ctx, q); err != nil {
			db.readMu.Unlock()
			return db.r.QueryRowContext(ctx, q, args...)
		}
		if db.readStmts == nil {
			db.readStmts = map[string]*sql.Stmt{}
		}
		db.readStmts[q] = st
	}
	db.readMu.Unlock()
	return st.QueryRowContext(ctx, args...)
}

// Open opens (creating if needed) the database at path. It does not migrate.
func Open(ctx context.Context, path string, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: database path is empty")
	}
	if o.Synchronous == "" {
		o.Synchronous = "NORMAL"
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory %s: %w", dir, err)
		}
	}
	db := &DB{path: path, now: time.Now}
	if o.Exclusive {
		f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: open lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			pid, _ := os.ReadFile(path + ".lock")
			f.Close()
			return nil, fmt.Errorf("%w: %s is locked (pid %s); stop the other payd or use another database.path", ErrLocked, path, string(pid))
		}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
		db.lock = f
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", o.Synchronous)
	q.Set("_txlock", "immediate")
	q.Set("cache", "private")
	w, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db.w = w
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("_foreign_keys", "on")
	rq.Set("_query_only", "true")
	r, err := sql.Open("sqlite3", "file:"+path+"?"+rq.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	db.r = r
	return db, nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the connections and releases the lock.
func (db *DB) Close() error {
	var err error
	db.readMu.Lock()
	for _, st := range db.readStmts {
		_ = st.Close()
	}
	db.readStmts = nil
	db.readMu.Unlock()
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		_ = st.Close()
	}
	db.stmts = nil
	db.stmtMu.Unlock()
	if db.r != nil {
		err = errors.Join(err, db.r.Close())
	}
	if db.w != nil {
		err = errors.Join(err, db.w.Close())
	}
	if db.leases != nil {
		err = errors.Join(err, db.leases.Close())
	}
	if db.lock != nil {
		_ = db.lock.Truncate(0)
		err = errors.Join(err, db.lock.Close())
	}
	return err
}

// Writer returns the single writer connection (for the few callers that batch
// their own transactions, e.g. group commit).
func (db *DB) Writer() *sql.DB { return db.w }

// Reader returns the read-only pool.
func (db *DB) Reader() *sql.DB { return db.r }

// Tx is a write transaction.
type Tx struct {
	*sql.Tx
	db *DB

	outboxLocked bool // PostgreSQL: this transaction holds the outbox order lock
}

// exec runs a hot write statement through the writer's prepared-statement
// cache (SQLite parses each statement once instead of on every call). A
// statement not prepared yet runs unprepared and is prepared before the next
// transaction begins: preparing inside one would wait for the writer
// connection this transaction holds.
func (tx *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := tx.db.cached(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// queryRow is exec for a statement that returns one row.
func (tx *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := tx.db.cached(q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

// cached returns q's prepared statement, or nil after noting q as wanted.
func (db *DB) cached(q string) *sql.Stmt {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := db.stmts[q]; ok {
		return st
	}
	if db.wanted == nil {
		db.wanted = map[string]bool{}
	}
	db.wanted[q] = true
	return nil
}

// prepareWanted prepares the statements transactions asked for; called with
// no transaction open by this goroutine.
func (db *DB) prepareWanted(ctx context.Context) {
	db.stmtMu.Lock()
	var qs []string
	for q := range db.wanted {
		qs = append(qs, q)
	}
	db.wanted = nil
	db.stmtMu.Unlock()
	for _, q := range qs {
		st, err := db.w.PrepareContext(ctx, q)
		if err != nil {
			continue // runs unprepared; the error shows where it runs
		}
		db.stmtMu.Lock()
		if db.stmts == nil {
			db.stmts = map[string]*sql.Stmt{}
		}
		if _, dup := db.stmts[q]; dup {
			_ = st.Close()
		} else {
			db.stmts[q] = st
		}
		db.stmtMu.Unlock()
	}
}

// Write runs fn in one IMMEDIATE transaction on the writer connection and
// commits it if fn returns nil. Every state change and the events it causes go
// through one Write.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	db.stmtMu.Lock()
	want := len(db.wanted) > 0
	db.stmtMu.Unlock()
	if want {
		db.prepareWanted(ctx)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&Tx{Tx: tx, db: db}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Ping checks the database answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (db *DB) provider() (*goose.Provider, error) {
	if db.pg {
		sub, err := fs.Sub(pgMigrations, "migrations/postgres")
		if err != nil {
			return nil, err
		}
		return goose.NewProvider(goose.DialectPostgres, db.w, sub)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, db.w, sub)
}

// Migrate applies every pending migration and returns how many it applied. It
// refuses a database whose version is newer than this binary knows.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, err := db.provider()
	if err != nil {
		return 0, fmt.Errorf("store: migrations: %w", err)
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	srcs := p.ListSources()
	var latest int64
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	if cur > latest {
		return 0, fmt.Errorf("%w: schema version %d, this payd knows up to %d; upgrade payd (or restore a backup)", ErrTooNew, cur, latest)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	return len(res), nil
}

// SchemaVersion returns the database's schema version and the newest this
// binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, err
	}
	if s := p.ListSources(); len(s) > 0 {
		latest = s[len(s)-1].Version
	}
	return current, latest, nil
}

// Backup writes a consistent copy of the database to dst (VACUUM INTO), which
// must not exist. A payd started on the copy sees every committed invoice.
func (db *DB) Backup(ctx context.Context, dst string) error {
	if db.pg {
		return errors.New("store: backup: payd backup copies SQLite databases; back PostgreSQL up with pg_dump or a replica (docs/production.md)")
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: backup: %s already exists", dst)
	}
	if _, err := db.w.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("store: backup to %s: %w", dst, err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict ("ok").
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	if db.pg {
		return "ok", db.Ping(ctx) // PostgreSQL checks its pages itself (data checksums, amcheck)
	}
	var s string
	err := db.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&s)
	return s, err
}

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }
