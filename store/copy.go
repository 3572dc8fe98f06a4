package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// Copy moves a shop from SQLite to PostgreSQL (payd migrate --from
// sqlite:PATH --to postgres:URL). The source is read inside one SQLite read
// transaction, so it is one consistent snapshot even while a payd keeps
// writing to it (WAL: the writer goes on, the snapshot does not move); the
// target is written inside one PostgreSQL transaction, so it ends up with the
// whole snapshot or with nothing. Rows are streamed table by table with COPY,
// each row exactly as stored (primary keys, event seqs, derivation counters,
// chain cursors), and the identity sequences are set past the highest value
// the source ever handed out, so new rows never collide with copied ones.

// copyTables is every table Copy carries, in the order it writes them: a
// table after the tables its foreign keys point at. TestCopyCoversSchema
// fails when a migration adds a table that is in neither copyTables nor
// skippedTables.
var copyTables = []string{
	"invoices",
	"invoice_methods",
	"addresses",
	"derivation_counters",
	"payments",
	"lightning_invoices",
	"events",
	"chain_blocks",
	"api_keys",
	"idempotency_keys",
	"webhook_endpoints",
	"webhook_deliveries",
	"webhook_attempts",
	"webhook_cursor",
	"links",
	"refunds",
	"refund_inputs",
	"admins",
	"admin_sessions",
	"audit_log",
}

// skippedTables are the schema's tables Copy leaves behind, and why.
var skippedTables = map[string]string{
	// Which instance runs a singleton part. A lone SQLite payd never writes
	// here; a copied lease would name a holder that does not exist on the
	// new setup and make its instances wait for it to expire. The target's
	// instances take fresh leases when they start (fencing tokens start
	// again at 1, which is safe: a fenced write checks holder and token).
	"leases": "leases belong to the instances of one deployment; the new instances take their own",
	// goose's bookkeeping: the target's own migrations wrote it.
	"goose_db_version": "the schema version; the target's migrations record their own",
}

// Copy errors.
var (
	// ErrNotEmpty: the copy's target already holds rows.
	ErrNotEmpty = errors.New("store: target database is not empty")
	// ErrSchemaVersion: source or target is not at the schema version this
	// payd knows.
	ErrSchemaVersion = errors.New("store: schema version mismatch")
)

// TableRows is one table's row count.
type TableRows struct {
	Table string
	Rows  int64
}

// CopyOptions tune Copy.
type CopyOptions struct {
	// Progress, if set, is called with a table's rows written so far, every
	// ProgressRows rows and once when the table is done.
	Progress func(table string, rows int64)
	// ProgressRows is how often Progress is called (default 50000 rows).
	ProgressRows int64
}

// Copy copies every table of src (SQLite) into dst (PostgreSQL) and returns
// the rows per table, in copy order. dst must be migrated to the schema
// version of this payd and hold no rows (ErrNotEmpty); src must be at the
// same version (ErrSchemaVersion; run payd migrate on it first). After the
// copy, the row count of each table in dst is checked against the source
// snapshot before anything is committed.
func Copy(ctx context.Context, src, dst *DB, o CopyOptions) ([]TableRows, error) {
	if src.pg || !dst.pg {
		return nil, errors.New("store: copy: copies a SQLite database into PostgreSQL only")
	}
	if o.ProgressRows <= 0 {
		o.ProgressRows = 50000
	}
	dcur, latest, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: copy: target schema version: %w", err)
	}
	if dcur != latest {
		return nil, fmt.Errorf("%w: target is at schema version %d, this payd's is %d; migrate the target first", ErrSchemaVersion, dcur, latest)
	}

	// The source snapshot: a deferred read transaction on a read-only
	// connection takes its WAL snapshot at the first SELECT and keeps it.
	stx, err := src.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: copy: begin source snapshot: %w", err)
	}
	defer stx.Rollback() // read only
	snap, err := readSnapshotSchema(ctx, stx, latest)
	if err != nil {
		return nil, err
	}

	conn, err := pgx.ConnectConfig(ctx, dst.pgConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("store: copy: connect to %s: %w", dst.path, err)
	}
	defer conn.Close(context.Background())
	ttx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: copy: begin: %w", err)
	}
	defer ttx.Rollback(context.Background()) // after Commit a no-op

	if err := lockEmptyTarget(ctx, ttx); err != nil {
		return nil, err
	}
	out := make([]TableRows, 0, len(copyTables))
	for _, table := range copyTables {
		n, err := copyTable(ctx, stx, ttx, table, snap.columns[table], o)
		if err != nil {
			return nil, err
		}
		out = append(out, TableRows{Table: table, Rows: n})
	}
	if err := resetSequences(ctx, ttx, snap.sequences); err != nil {
		return nil, err
	}
	// Verify before committing: every table holds what the snapshot held.
	for _, tr := range out {
		var want, got int64
		if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+tr.Table).Scan(&want); err != nil {
			return nil, fmt.Errorf("store: copy: count source %s: %w", tr.Table, err)
		}
		if err := ttx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{tr.Table}.Sanitize()).Scan(&got); err != nil {
			return nil, fmt.Errorf("store: copy: count target %s: %w", tr.Table, err)
		}
		if got != want || tr.Rows != want {
			return nil, fmt.Errorf("store: copy: %s: the source snapshot has %d rows, %d were written and the target holds %d; nothing was committed", tr.Table, want, tr.Rows, got)
		}
	}
	if err := ttx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: copy: commit: %w", err)
	}
	return out, nil
}

// snapshotSchema is what Copy reads of the source's schema.
type snapshotSchema struct {
	columns   map[string][]string // table → columns, in the source's order
	sequences map[string]int64    // sqlite_sequence: AUTOINCREMENT table → highest value ever used
}

// readSnapshotSchema checks the source inside its snapshot: a payd database
// at schema version latest whose tables are all known to the copy.
func readSnapshotSchema(ctx context.Context, stx *sql.Tx, latest int64) (*snapshotSchema, error) {
	tables, err := queryStrings(ctx, stx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: copy: read source schema: %w", err)
	}
	if !slices.Contains(tables, "goose_db_version") {
		return nil, fmt.Errorf("%w: the source has no schema version table; it is not a payd database", ErrSchemaVersion)
	}
	var cur sql.NullInt64
	if err := stx.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&cur); err != nil {
		return nil, fmt.Errorf("store: copy: read source schema version: %w", err)
	}
	if cur.Int64 != latest {
		fix := "run `payd migrate` on it first (with database.path set to it), or start this payd on it once"
		if cur.Int64 > latest {
			fix = "a newer payd wrote it: copy it with that payd"
		}
		return nil, fmt.Errorf("%w: the source is at schema version %d, this payd's is %d; %s", ErrSchemaVersion, cur.Int64, latest, fix)
	}
	for _, t := range tables {
		if _, skip := skippedTables[t]; !skip && !slices.Contains(copyTables, t) {
			return nil, fmt.Errorf("store: copy: the source has a table %s this payd does not know how to copy", t)
		}
	}
	s := &snapshotSchema{columns: map[string][]string{}, sequences: map[string]int64{}}
	for _, t := range copyTables {
		cols, err := queryStrings(ctx, stx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, t)
		if err != nil {
			return nil, fmt.Errorf("store: copy: columns of source %s: %w", t, err)
		}
		if len(cols) == 0 {
			return nil, fmt.Errorf("store: copy: the source has no table %s", t)
		}
		s.columns[t] = cols
	}
	rows, err := stx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return nil, fmt.Errorf("store: copy: read source sequences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, fmt.Errorf("store: copy: read source sequences: %w", err)
		}
		s.sequences[name] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: copy: read source sequences: %w", err)
	}
	return s, nil
}

// lockEmptyTarget locks every table of the target against writers (NOWAIT:
// a payd already writing to it is an error, not a wait) and refuses a target
// that holds any row.
func lockEmptyTarget(ctx context.Context, ttx pgx.Tx) error {
	all := append(slices.Clone(copyTables), "leases")
	ids := make([]string, len(all))
	for i, t := range all {
		ids[i] = pgx.Identifier{t}.Sanitize()
	}
	if _, err := ttx.Exec(ctx, `LOCK TABLE `+strings.Join(ids, ", ")+` IN EXCLUSIVE MODE NOWAIT`); err != nil {
		return fmt.Errorf("store: copy: lock the target's tables (is a payd running on it? stop it): %w", err)
	}
	var full []string
	for i, t := range all {
		var n int64
		if err := ttx.QueryRow(ctx, `SELECT count(*) FROM `+ids[i]).Scan(&n); err != nil {
			return fmt.Errorf("store: copy: count target %s: %w", t, err)
		}
		if n > 0 {
			full = append(full, fmt.Sprintf("%d %s", n, t))
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: it has %s; migrate into an empty database (a new one from createdb, or drop this one and create it again)", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// copyTable streams one table from the snapshot into the target with COPY
// and returns the rows written.
func copyTable(ctx context.Context, stx *sql.Tx, ttx pgx.Tx, table string, cols []string, o CopyOptions) (int64, error) {
	tcols, err := targetColumns(ctx, ttx, table)
	if err != nil {
		return 0, err
	}
	if a, b := slices.Sorted(slices.Values(cols)), slices.Sorted(slices.Values(tcols)); !slices.Equal(a, b) {
		return 0, fmt.Errorf("%w: table %s has columns (%s) in the source and (%s) in the target", ErrSchemaVersion, table, strings.Join(a, ", "), strings.Join(b, ", "))
	}
	rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		return 0, fmt.Errorf("store: copy: read %s: %w", table, err)
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		n++
		if o.Progress != nil && n%o.ProgressRows == 0 {
			o.Progress(table, n)
		}
		return vals, nil
	})
	written, err := ttx.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
	if err != nil {
		return 0, fmt.Errorf("store: copy: %s (row %d): %w", table, n, err)
	}
	if o.Progress != nil {
		o.Progress(table, written)
	}
	return written, nil
}

func targetColumns(ctx context.Context, ttx pgx.Tx, table string) ([]string, error) {
	rows, err := ttx.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, fmt.Errorf("store: copy: columns of target %s: %w", table, err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: copy: columns of target %s: %w", table, err)
	}
	return cols, nil
}

// resetSequences sets each identity (or serial) column's sequence of the
// copied tables past the highest value in use, or ever handed out on the
// source (SQLite AUTOINCREMENT never reuses a deleted row's value, so
// neither does the target), so the target's next row gets a fresh value.
func resetSequences(ctx context.Context, ttx pgx.Tx, floor map[string]int64) error {
	rows, err := ttx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')
		ORDER BY table_name, column_name`)
	if err != nil {
		return fmt.Errorf("store: copy: identity columns: %w", err)
	}
	type col struct{ table, column string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.table, &c.column)
	})
	if err != nil {
		return fmt.Errorf("store: copy: identity columns: %w", err)
	}
	for _, c := range cols {
		if !slices.Contains(copyTables, c.table) {
			continue
		}
		var top int64
		if err := ttx.QueryRow(ctx, `SELECT COALESCE(MAX(`+pgx.Identifier{c.column}.Sanitize()+`), 0) FROM `+pgx.Identifier{c.table}.Sanitize()).Scan(&top); err != nil {
			return fmt.Errorf("store: copy: highest %s.%s: %w", c.table, c.column, err)
		}
		top = max(top, floor[c.table])
		// setval(seq, 1, false): the next value is 1; setval(seq, n, true): n+1.
		if _, err := ttx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), GREATEST($3::bigint, 1), $3::bigint > 0)`,
			pgx.Identifier{c.table}.Sanitize(), c.column, top); err != nil {
			return fmt.Errorf("store: copy: set the sequence of %s.%s to %d: %w", c.table, c.column, top, err)
		}
	}
	return nil
}

func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

// HeldBy reports whether a payd holds the SQLite database at path (its
// Exclusive lock on path.lock) and the pid it wrote there. It never creates
// the lock file and holds nothing once it returns.
func HeldBy(path string) (pid string, held bool) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path + ".lock")
		return strings.TrimSpace(string(b)), true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return "", false
}
