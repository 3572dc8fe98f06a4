package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/payd/payd/internal/testnode"
)

func TestPostgresMigrateAndCheck(t *testing.T) {
	url := testnode.StartPostgres(t).NewDatabase(t)
	env := map[string]string{"PAYD_DATABASE_DRIVER": "postgres", "PAYD_DATABASE_URL": url}
	out, _, err := runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, "migrated from schema version 0") {
		t.Fatalf("first migrate: %v %q", err, out)
	}
	out, _, err = runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v %q", err, out)
	}
	path := filepath.Join(t.TempDir(), "payd.yaml")
	// The node is unreachable, the database is not: check reports both.
	if err := os.WriteFile(path, []byte(strings.Replace(goodBitcoin, "127.0.0.1:8332", "127.0.0.1:1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, env, "check", "--config", path, "--timeout", "2s")
	if !strings.Contains(out, "database: ok") || !strings.Contains(out, "up to date") {
		t.Fatalf("check does not show the database: %v\n%s", err, out)
	}
	if strings.Contains(out, "postgres://payd@") && strings.Contains(out, "password") {
		t.Fatalf("check prints a password:\n%s", out)
	}
}

func TestPostgresCheckUnreachable(t *testing.T) {
	port, err := testnode.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PAYD_DATABASE_DRIVER": "postgres",
		"PAYD_DATABASE_URL": "postgres://payd:hunter2hunter2@127.0.0.1:" + strconv.Itoa(port) + "/payd?sslmode=disable"}
	path := filepath.Join(t.TempDir(), "payd.yaml")
	if err := os.WriteFile(path, []byte(goodBitcoin), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, env, "check", "--config", path, "--timeout", "2s")
	if err == nil || !strings.Contains(out, "database: UNREACHABLE") || !strings.Contains(err.Error(), "database.url") {
		t.Fatalf("want the database unreachable: %v\n%s", err, out)
	}
	if strings.Contains(out+err.Error(), "hunter2") {
		t.Fatalf("the password leaks:\n%s\n%v", out, err)
	}
}

func TestDatabaseDriverValidated(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown driver", map[string]string{"PAYD_DATABASE_DRIVER": "mysql"}, `database.driver: is "mysql"`},
		{"postgres without url", map[string]string{"PAYD_DATABASE_DRIVER": "postgres"}, "database.url: is not a PostgreSQL URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "payd.yaml")
			if err := os.WriteFile(path, []byte(goodBitcoin), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := runCLI(t, tt.env, "check", "--offline", "--config", path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q, got %v", tt.want, err)
			}
		})
	}
}
