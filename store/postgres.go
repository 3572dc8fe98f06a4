package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/payd/payd/invoice"
)

// PostgreSQL: the same store, the same SQL. Every query is written once, in
// the SQL both dialects understand, with SQLite's "?" placeholders; the
// connector below rewrites a query for PostgreSQL once (cached) on its way to
// pgx: "?" → "$n", SQLite's INDEXED BY hints dropped (PostgreSQL's planner
// picks the same partial indexes by itself). The few statements that cannot
// be shared branch on db.pg (events' seq, the outbox order lock, backups).
//
// Types: every SQLite INTEGER is a BIGINT (unix seconds and milliseconds,
// counters), amounts stay TEXT decimal strings in base units exactly as in
// SQLite (they exceed 2^63; payd never does arithmetic on them in SQL), and
// booleans are 0/1 BIGINTs so the Go code scans the same values.

//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// Dialect names the database engine of a DB.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Dialect returns the database's engine.
func (db *DB) Dialect() Dialect {
	if db.pg {
		return Postgres
	}
	return SQLite
}

// PostgresOptions tune OpenPostgres.
type PostgresOptions struct {
	// MaxConns caps the read pool (default 8). Writes go through their own
	// small pool (WriteConns).
	MaxConns int
	// WriteConns is the number of concurrent write transactions of this
	// process (default 1: one writer, as with SQLite, so group commit and
	// the code's read-modify-write sequences behave the same; instances
	// writing concurrently are serialized by row locks and the outbox lock).
	WriteConns int
	// ConnectTimeout bounds each connection attempt (default 5s).
	ConnectTimeout time.Duration
}

// OpenPostgres connects to the PostgreSQL database at url
// (postgres://user:pass@host:port/db?sslmode=…). It does not migrate.
func OpenPostgres(ctx context.Context, url string, o PostgresOptions) (*DB, error) {
	if url == "" {
		return nil, errors.New("store: database.url is empty")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	if o.WriteConns <= 0 {
		o.WriteConns = 1
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: database.url: %w", err)
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > o.ConnectTimeout {
		cfg.ConnectTimeout = o.ConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "payd"
	}
	db := &DB{path: redactURL(url), now: time.Now, pg: true, pgConfig: cfg}
	open := func(n int) *sql.DB {
		d := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
		d.SetMaxOpenConns(n)
		d.SetMaxIdleConns(n)
		d.SetConnMaxIdleTime(5 * time.Minute)
		return d
	}
	db.w = open(o.WriteConns)
	db.r = open(o.MaxConns)
	// Lease renewals must not queue behind this instance's writes (one
	// writer connection, busy under load): they get a connection of their own.
	db.leases = open(1)
	if err := db.w.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", db.path, err)
	}
	return db, nil
}

// redactURL drops a password from a connection URL for logs and errors.
func redactURL(s string) string {
	cfg, err := pgconn.ParseConfig(s)
	if err != nil {
		return "postgres"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// pgConnector hands database/sql pgx connections that take the store's
// SQLite-flavoured SQL.
type pgConnector struct{ inner driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.inner.Driver() }

// pgConn is a pgx connection whose queries are rebound on the way in.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(q)) }

func (c pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(q))
}

func (c pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(q), args)
}

func (c pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(q), args)
}

// CheckNamedValue lets a Go bool bind to the 0/1 BIGINT columns payd's
// schema uses for flags (as SQLite stores them) and to real boolean columns
// (goose's is_applied) alike.
func (c pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = flag(b)
	}
	return nil
}

// flag is a bool that pgx encodes as a boolean or as the integer 0/1,
// whichever the parameter's type is.
type flag bool

func (f flag) BoolValue() (pgtype.Bool, error) { return pgtype.Bool{Bool: bool(f), Valid: true}, nil }

func (f flag) Int64Value() (pgtype.Int8, error) {
	var n int64
	if f {
		n = 1
	}
	return pgtype.Int8{Int64: n, Valid: true}, nil
}

var (
	rebound   sync.Map // SQLite query → PostgreSQL query
	indexedBy = regexp.MustCompile(`(?i)\s+INDEXED\s+BY\s+[A-Za-z_][A-Za-z0-9_]*`)
	// SQLite spellings PostgreSQL lacks: CROSS JOIN … ON (SQLite's
	// join-order hint; an inner join) and the scalar MAX(a, b) / MIN(a, b),
	// which payd only ever writes with a parameter first.
	sqliteOnly = strings.NewReplacer("CROSS JOIN", "JOIN", "MAX(?", "GREATEST(?", "MIN(?", "LEAST(?")
)

// rebind turns "?" placeholders outside literals, quoted identifiers and
// comments into $1, $2, … and drops INDEXED BY hints.
func rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	src := sqliteOnly.Replace(indexedBy.ReplaceAllString(q, ""))
	var b strings.Builder
	b.Grow(len(src) + 16)
	n := 0
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case ch == '\'' || ch == '"':
			j := i + 1
			for j < len(src) {
				if src[j] == ch {
					if j+1 < len(src) && src[j+1] == ch { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(src) {
				j = len(src) - 1
			}
			b.WriteString(src[i : j+1])
			i = j
		case ch == '-' && i+1 < len(src) && src[i+1] == '-':
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				j = len(src) - i - 1
			}
			b.WriteString(src[i : i+j+1])
			i += j
		case ch == '?':
			j := i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 { // ?NNN: SQLite's numbered parameter
				b.WriteString(src[i+1 : j])
				i = j - 1
				continue
			}
			n++
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(ch)
		}
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}

// isPGUnique reports a PostgreSQL unique violation.
func isPGUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// outboxLockKey is the transaction-level advisory lock every transaction that
// appends events takes first (PostgreSQL only). Sequence values are handed
// out at INSERT but become visible at COMMIT; with several writers a reader
// could see seq 11 before 10 commits and move its cursor past 10 for good.
// Holding this lock from the first event insert to commit makes seq order
// commit order, which the webhook fan-out cursor, GET /v1/events and the
// websocket replay rely on. It is held only for the tail of a transaction.
const outboxLockKey = 0x70617964_6f757462 // "paydoutb"

func (tx *Tx) lockOutbox(ctx context.Context) error {
	if !tx.db.pg || tx.outboxLocked {
		return nil
	}
	// pg_notify is sent at commit (once per transaction): every instance's
	// outbox tail (Listen) wakes and reads the new events.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?), pg_notify('`+EventsChannel+`', '')`, int64(outboxLockKey)); err != nil {
		return fmt.Errorf("store: lock outbox: %w", err)
	}
	tx.outboxLocked = true
	return nil
}

// pgInsertEvents is InsertEvents and InsertEventsBulk for PostgreSQL: one
// multi-row INSERT … RETURNING per chunk, seqs matched back by event id.
func (tx *Tx) pgInsertEvents(ctx context.Context, evs []invoice.Event) error {
	if err := tx.lockOutbox(ctx); err != nil {
		return err
	}
	at := 0
	args := make([]any, 0, maxBulkRows*5)
	for _, n := range chunks(len(evs)) {
		args = args[:0]
		idx := make(map[string]int, n)
		for i, e := range evs[at : at+n] {
			args = append(args, e.ID, string(e.Type), e.InvoiceID, unix(e.CreatedAt), string(e.Payload))
			idx[e.ID] = at + i
		}
		rows, err := tx.QueryContext(ctx, bulkInsert(`INSERT INTO events (id, type, invoice_id, created_at, payload)`, 5, n)+` RETURNING id, seq`, args...)
		if err != nil {
			if isPGUnique(err) {
				return fmt.Errorf("store: insert %d events: %w: %v", n, ErrConflict, err)
			}
			return fmt.Errorf("store: insert %d events: %w", n, err)
		}
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				rows.Close()
				return fmt.Errorf("store: insert %d events: %w", n, err)
			}
			evs[idx[id]].Seq = seq
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("store: insert %d events: %w", n, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: insert %d events: %w", n, err)
		}
		at += n
	}
	return nil
}

// pgReserveIndexes is ReserveIndexes for PostgreSQL: the counter's upsert as
// one autocommit statement (one round trip instead of BEGIN, upsert, COMMIT)
// on a connection of the pool rather than the writer, so a reservation does
// not queue behind the batch transaction in flight. The row lock serializes
// reservations of every instance; the statement commits (durably) before
// the indexes are handed out, as the transaction did.
func (db *DB) pgReserveIndexes(ctx context.Context, chainName string, n int) (uint32, error) {
	return scanNextIndexes(db.r.QueryRowContext(ctx, nextIndexesSQL, chainName, n, n), chainName, n)
}

// pgAdvanceIndex is AdvanceIndex for PostgreSQL. There instances hand out
// indexes they reserved beforehand (ReserveIndexes, committed), so the
// counter is normally past next already: the statement then inserts
// nothing and, unlike an upsert that finds its row, takes no lock on the
// chain's counter row. Such a lock would be held to the end of the batch
// transaction and make every other instance's batch (and reservation) wait
// for this one's commit. Only a counter behind next (or none) is written,
// the same way as on SQLite.
func (tx *Tx) pgAdvanceIndex(ctx context.Context, chainName string, next uint32) error {
	_, err := tx.exec(ctx, `INSERT INTO derivation_counters (chain, next_index)
		SELECT CAST(? AS TEXT), CAST(? AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM derivation_counters WHERE chain = ? AND next_index >= ?)
		ON CONFLICT (chain) DO UPDATE SET next_index = CASE WHEN excluded.next_index > derivation_counters.next_index
		THEN excluded.next_index ELSE derivation_counters.next_index END`, chainName, next, chainName, next)
	if err != nil {
		return fmt.Errorf("store: advance index of %s: %w", chainName, err)
	}
	return nil
}

// EventsChannel is the PostgreSQL notification channel every transaction that
// appends events notifies at commit.
const EventsChannel = "payd_events"

// Listen calls wake on every notification of channel, and once after each
// (re)connection (notifications sent while disconnected are lost, so the
// caller reads what it missed). It runs until ctx is done, reconnecting with
// a backoff of up to 2s when the database goes away. On SQLite it only waits
// for ctx (one process: callers are told in-process).
func (db *DB) Listen(ctx context.Context, channel string, wake func()) error {
	if !db.pg {
		<-ctx.Done()
		return nil
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channel, wake, &backoff)
		if ctx.Err() != nil {
			return nil
		}
		_ = err // the caller polls meanwhile; the next attempt reports nothing new
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

func (db *DB) listenOnce(ctx context.Context, channel string, wake func(), backoff *time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, db.pgConfig.ConnectTimeout+time.Second)
	conn, err := pgx.ConnectConfig(cctx, db.pgConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	*backoff = 100 * time.Millisecond
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
