package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver payd uses
)

// sqliteDSN opens path with the pragmas store.Open uses for its writer.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	q.Set("cache", "private")
	return "file:" + path + "?" + q.Encode()
}

// rawInserter is figure 1's baseline: invoice-sized rows (~1 KB, three
// secondary indexes, like store's invoices table) inserted one transaction
// per row through a prepared statement on one connection, same pragmas as
// payd's store.
type rawInserter struct {
	db   *sql.DB
	stmt *sql.Stmt
	desc string
	n    int
}

func newRawInserter(path string) (*rawInserter, error) {
	db, err := sql.Open("sqlite3", sqliteDSN(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	for _, s := range []string{
		`CREATE TABLE invoices (id TEXT PRIMARY KEY, status TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,
			order_id TEXT NOT NULL, description TEXT NOT NULL, metadata TEXT, created_at INTEGER NOT NULL,
			expires_at INTEGER NOT NULL, monitor_until INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE INDEX invoices_status ON invoices (status, id)`,
		`CREATE INDEX invoices_order ON invoices (order_id, id) WHERE order_id <> ''`,
		`CREATE INDEX invoices_monitor ON invoices (monitor_until)`,
	} {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			return nil, fmt.Errorf("baseline schema: %w", err)
		}
	}
	stmt, err := db.Prepare(`INSERT INTO invoices (id, status, amount, currency, order_id, description, metadata, created_at, expires_at, monitor_until)
		VALUES (?, 'new', '25.00', 'USD', ?, ?, '{"customer":"42"}', ?, ?, ?)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &rawInserter{db: db, stmt: stmt, desc: strings.Repeat("x", 850)}, nil
}

// insertOne inserts one row in its own transaction.
func (r *rawInserter) insertOne() error {
	r.n++
	var id [10]byte
	_, _ = rand.Read(id[:])
	now := time.Now().Unix()
	tx, err := r.db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Stmt(r.stmt).Exec("inv_"+hex.EncodeToString(id[:]), fmt.Sprintf("A-%d", r.n), r.desc, now, now+900, now+86400); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// rate inserts for d and returns rows/s.
func (r *rawInserter) rate(d time.Duration) (float64, error) {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		if err := r.insertOne(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func (r *rawInserter) close() { r.stmt.Close(); r.db.Close() }
