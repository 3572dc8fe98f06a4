package testnode

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
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

// reachableBy follows the permission bits from / down: the owner of a 0700
// directory may enter it, another user may not, and nobody enters a
// directory without its x bit.
func TestReachableBy(t *testing.T) {
	base := t.TempDir() // 0700, ours
	open := filepath.Join(base, "open")
	shut := filepath.Join(base, "shut")
	inner := filepath.Join(shut, "inner")
	for _, d := range []string{open, inner} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(shut, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(shut, 0o755) })
	me, other := os.Getuid(), 54321
	for _, tt := range []struct {
		dir  string
		uid  int
		want bool
	}{
		{open, me, true},
		{inner, me, false},   // shut has no x bit, even for its owner
		{open, other, false}, // base is 0700
		{"/", other, true},
	} {
		if got := reachableBy(tt.dir, tt.uid, tt.uid); got != tt.want {
			t.Errorf("reachableBy(%s, %d) = %v, want %v", tt.dir, tt.uid, got, tt.want)
		}
	}
}
