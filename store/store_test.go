package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openTest opens a migrated database for one test: SQLite, or PostgreSQL
// when the test runs inside TestPostgres (conformance_test.go).
func openTest(t *testing.T, o Options) *DB {
	t.Helper()
	if onPostgres(t) {
		return openPostgresTest(t)
	}
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "payd.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestMigrateIdempotentAndTooNewRefused(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	if n, err := db.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d, %v", n, err)
	}
	cur, latest, err := db.SchemaVersion(ctx)
	if err != nil || cur != latest || cur < 1 {
		t.Fatalf("version %d/%d %v", cur, latest, err)
	}
	// Pretend a newer payd migrated this database.
	if _, err := db.w.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, true)`, latest+100); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); !errors.Is(err, ErrTooNew) || !strings.Contains(err.Error(), "upgrade payd") {
		t.Fatalf("want ErrTooNew, got %v", err)
	}
}

func TestExclusiveLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payd.db")
	a, err := Open(context.Background(), path, Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), path, Options{Exclusive: true})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "stop the other payd") {
		t.Fatalf("second exclusive Open: %v", err)
	}
	a.Close()
	b, err := Open(context.Background(), path, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	b.Close()
}

func TestPragmas(t *testing.T) {
	db := openTest(t, Options{})
	var mode string
	var fk, sync int
	if err := db.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if err := db.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d", fk)
	}
	if err := db.w.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 1 {
		t.Fatalf("synchronous %d (want 1 = NORMAL)", sync)
	}
	// The read pool cannot write.
	if _, err := db.r.Exec(`INSERT INTO api_keys (id, name, hash, scopes, created_at) VALUES ('k','n','h','s',0)`); err == nil {
		t.Fatal("read pool accepted a write")
	}
}

// TestKillLosesNothingCommitted runs a child process that commits rows one
// transaction at a time and prints each id after its commit; the parent kills
// it with SIGKILL mid-stream and checks that every printed id is in the file.
func TestKillLosesNothingCommitted(t *testing.T) {
	if os.Getenv("PAYD_STORE_CRASH_CHILD") != "" {
		crashChild(os.Getenv("PAYD_STORE_CRASH_CHILD"))
		return
	}
	path := filepath.Join(t.TempDir(), "payd.db")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestKillLosesNothingCommitted$")
		cmd.Env = append(os.Environ(), "PAYD_STORE_CRASH_CHILD="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var committed []string
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(time.Duration(200+round*150) * time.Millisecond)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
				committed = append(committed, id)
			}
			if time.Now().After(deadline) && len(committed) > 10 {
				break
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		db, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s, err := db.IntegrityCheck(context.Background()); err != nil || s != "ok" {
			t.Fatalf("integrity_check: %q %v", s, err)
		}
		for _, id := range committed {
			var n int
			if err := db.r.QueryRow(`SELECT count(*) FROM api_keys WHERE id = ?`, id).Scan(&n); err != nil || n != 1 {
				t.Fatalf("round %d: committed row %s lost after kill -9 (%v)", round, id, err)
			}
		}
		t.Logf("round %d: %d committed rows survived kill -9", round, len(committed))
		db.Close()
	}
}

func crashChild(path string) {
	ctx := context.Background()
	db, err := Open(ctx, path, Options{Exclusive: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := db.Migrate(ctx); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("key_%d_%d", os.Getpid(), i)
		err := db.Write(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, scopes, created_at) VALUES (?, 'crash', ?, 'invoices:read', 0)`, id, strings.Repeat("ab", 32))
			return err
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("committed", id)
	}
}
