package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // reads payd's PostgreSQL database
	_ "github.com/mattn/go-sqlite3"    // reads payd's SQLite file

	"github.com/payd/payd/internal/testnode"
)

// The suite runs once on SQLite and once on PostgreSQL
// (PAYD_TEST_DATABASE=postgres, see testnode.StartPayd); these helpers look
// at payd's database behind its back on either.

// openDatabase opens payd's database read-only (SQLite) or as the superuser
// (PostgreSQL), closed at the test's cleanup.
func openDatabase(t *testing.T, p *testnode.Payd) (*sql.DB, bool) {
	t.Helper()
	var db *sql.DB
	var err error
	pg := p.PostgresURL != ""
	if pg {
		db, err = sql.Open("pgx", p.PostgresURL)
	} else {
		db, err = sql.Open("sqlite3", "file:"+filepath.Join(p.Dir, "payd.db")+"?mode=ro&_busy_timeout=10000")
	}
	if err != nil {
		t.Fatalf("open payd's database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, pg
}

// integrityCheck checks payd's database while payd runs and returns "ok" or
// what is wrong: PRAGMA integrity_check on SQLite; on PostgreSQL amcheck's
// verify_heapam on every table and bt_index_check (every heap tuple
// indexed) on every B-tree index of payd's schema.
func integrityCheck(t *testing.T, p *testnode.Payd) string {
	t.Helper()
	db, pg := openDatabase(t, p)
	if !pg {
		return rowsOf(t, db, `PRAGMA integrity_check`)
	}
	if _, err := db.Exec(`CREATE EXTENSION IF NOT EXISTS amcheck`); err != nil {
		t.Fatalf("create extension amcheck: %v", err)
	}
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r'`).Scan(&tables); err != nil || tables == 0 {
		return fmt.Sprintf("no tables to check in payd's schema (%v)", err)
	}
	res := rowsOf(t, db, `SELECT c.relname || ' block ' || v.blkno || ': ' || v.msg
		   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
		        LATERAL verify_heapam(c.oid) v
		  WHERE n.nspname = current_schema() AND c.relkind = 'r'`)
	// bt_index_check raises an error on the first corrupt index.
	if _, err := db.Exec(`SELECT bt_index_check(c.oid, true)
		   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		   JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace
		  WHERE a.amname = 'btree' AND n.nspname = current_schema()`); err != nil {
		res = strings.TrimPrefix(res+"; "+err.Error(), "; ")
	}
	if res == "" {
		return "ok"
	}
	return res
}

// rowsOf runs a query of one text column and joins its rows with "; ".
func rowsOf(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var res []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return strings.Join(res, "; ")
}

// storedBytes returns everything payd's database holds: the SQLite file and
// its -wal and -shm, or on PostgreSQL every row of every table of payd's
// schema as text.
func storedBytes(t *testing.T, p *testnode.Payd) [][]byte {
	t.Helper()
	var out [][]byte
	if p.PostgresURL == "" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(filepath.Join(p.Dir, "payd.db") + suffix)
			if err == nil {
				out = append(out, b)
			} else if suffix == "" {
				t.Fatal(err)
			}
		}
		return out
	}
	db, _ := openDatabase(t, p)
	rows, err := db.Query(`SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatal("payd's PostgreSQL database has no tables")
	}
	for _, tbl := range tables {
		var s sql.NullString
		if err := db.QueryRow(`SELECT string_agg(r::text, E'\n') FROM ` + tbl + ` r`).Scan(&s); err != nil {
			t.Fatalf("read %s: %v", tbl, err)
		}
		out = append(out, []byte(s.String))
	}
	return out
}
