package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payd/payd/dashboard"
	"github.com/payd/payd/store"
)

func runCLIStdin(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// TestAdminCreate: the password comes from stdin, only its argon2id hash is
// stored, a second run resets it, and bad input changes nothing.
func TestAdminCreate(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "payd.db")
	env := map[string]string{"PAYD_DATABASE_PATH": dbPath}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"no name", "a long password\n", []string{"admin", "create", "--password-stdin"}, "--name is required"},
		{"bad role", "a long password\n", []string{"admin", "create", "--name", "a", "--role", "root"}, "--role"},
		{"short password", "short\n", []string{"admin", "create", "--name", "alice"}, "at least 10"},
		{"no password", "", []string{"admin", "create", "--name", "alice"}, "no password"},
	} {
		_, _, err := runCLIStdin(t, env, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != 2 {
			t.Errorf("%s: %v (exit %d), want exit 2 with %q", tc.name, err, exitCode(err), tc.want)
		}
	}
	out, _, err := runCLIStdin(t, env, "first password!\n", "admin", "create", "--name", "alice", "--password-stdin")
	if err != nil || !strings.Contains(out, "/dashboard/") {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	if _, _, err := runCLIStdin(t, env, "second password!\r\n", "admin", "create", "--name", "alice", "--role", "viewer"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := db.AdminCount(context.Background()); n != 1 {
		t.Fatalf("%d admins, want 1 (a second run resets the same one)", n)
	}
	a, err := db.AdminByName(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(a.PasswordHash, "password") || !strings.HasPrefix(a.PasswordHash, "$argon2id$") || a.Role != "viewer" {
		t.Fatalf("stored %+v", a)
	}
	for pw, want := range map[string]bool{"second password!": true, "first password!": false} {
		if ok, _ := dashboard.VerifyPassword(pw, a.PasswordHash); ok != want {
			t.Errorf("password %q verifies %v, want %v", pw, ok, want)
		}
	}
}
