package testnode

import (
	"context"
	"database/sql"
	"os"
	"testing"
)

func TestPostgresCluster(t *testing.T) {
	p := StartPostgres(t)
	ctx := context.Background()
	url := p.NewDatabase(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	// A crash and restart keep committed rows (the restart test's premise).
	p.Crash()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	// The pool's old connection died with the server: open a fresh one.
	db.Close()
	if db, err = sql.Open("pgx", url); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Fatalf("after restart: %q, %v", v, err)
	}
	dir := p.Dir
	p.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cluster directory %s left behind: %v", dir, err)
	}
}
