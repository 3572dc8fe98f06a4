package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/payd/payd/store"
)

// copyDatabase is payd migrate --from sqlite:PATH --to postgres:URL: it
// creates the target's schema and copies the source into it (store.Copy).
func copyDatabase(cmd *cobra.Command, from, to string) error {
	path, url, err := parseCopyFlags(from, to)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	st, err := os.Stat(path)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--from: %w", err)}
	}
	if st.IsDir() {
		return &exitError{code: 1, err: fmt.Errorf("--from: %s is a directory; give the database file (database.path)", path)}
	}
	src, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--from: %w", err)}
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, url, store.PostgresOptions{})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--to: %w", err)}
	}
	defer dst.Close()
	cur, latest, err := dst.SchemaVersion(ctx)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--to: %s: %w", dst.Path(), err)}
	}
	if cur != 0 && cur != latest {
		// An older payd schema: not empty, and not for this copy to upgrade.
		return &exitError{code: 1, err: fmt.Errorf("--to: %s: %w: it has payd's schema version %d already; migrate into an empty database", dst.Path(), store.ErrNotEmpty, cur)}
	}
	if _, err := dst.Migrate(ctx); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--to: %w", err)}
	}

	if pid, held := store.HeldBy(path); held {
		fmt.Fprintf(errw, "payd (pid %s) is running on %s: the copy is its state now; what it writes after this is NOT copied. Stop it before you switch over.\n", pid, path)
	}
	fmt.Fprintf(errw, "copying %s into %s (schema version %d)…\n", path, dst.Path(), latest)
	started := time.Now()
	const every = 100000
	rows, err := store.Copy(ctx, src, dst, store.CopyOptions{ProgressRows: every, Progress: func(table string, n int64) {
		if n > 0 && n%every == 0 { // the long tables only; the summary has the rest
			fmt.Fprintf(errw, "  %-20s %d rows…\n", table, n)
		}
	}})
	if err != nil {
		switch {
		case errors.Is(err, store.ErrNotEmpty):
			err = fmt.Errorf("--to: %s: %w", dst.Path(), err)
		case errors.Is(err, store.ErrSchemaVersion) && strings.Contains(err.Error(), "the source"):
			err = fmt.Errorf("--from: %s: %w", path, err)
		}
		return &exitError{code: 1, err: err}
	}
	took := time.Since(started)
	var total int64
	fmt.Fprintf(out, "copied %s into %s in %s; every table's row count matches the source snapshot:\n", path, dst.Path(), took.Round(time.Millisecond))
	for _, r := range rows {
		fmt.Fprintf(out, "  %-20s %d\n", r.Table, r.Rows)
		total += r.Rows
	}
	fmt.Fprintf(out, "  %-20s %d\n", "total", total)
	fmt.Fprintln(out, "next: stop payd if it still runs on SQLite, set database.driver: postgres and database.url (PAYD_DATABASE_URL), start payd.")
	return nil
}

// parseCopyFlags checks --from sqlite:PATH and --to postgres:URL and returns
// the path and the URL. --to also takes the URL alone (postgres://…,
// postgresql://…).
func parseCopyFlags(from, to string) (path, url string, err error) {
	if from == "" || to == "" {
		return "", "", errors.New("--from and --to go together: payd migrate --from sqlite:PATH --to postgres:URL (without both, migrate upgrades the configured database)")
	}
	scheme, rest, ok := strings.Cut(from, ":")
	switch {
	case !ok:
		return "", "", fmt.Errorf("--from %q: name the engine, e.g. --from sqlite:%s", from, from)
	case scheme == "postgres" || scheme == "postgresql":
		return "", "", errors.New("--from: payd migrate copies from SQLite (sqlite:PATH); to move a PostgreSQL database, use pg_dump and pg_restore")
	case scheme != "sqlite":
		return "", "", fmt.Errorf("--from: unknown engine %q; write sqlite:PATH, e.g. --from sqlite:/var/lib/payd/payd.db", scheme)
	}
	path = strings.TrimPrefix(rest, "//") // sqlite:///var/lib/payd/payd.db
	if path == "" {
		return "", "", errors.New("--from sqlite: the path is empty; write sqlite:PATH, e.g. --from sqlite:/var/lib/payd/payd.db")
	}
	switch {
	case strings.HasPrefix(to, "postgres://"), strings.HasPrefix(to, "postgresql://"):
		url = to
	case strings.HasPrefix(to, "postgres:"):
		url = strings.TrimPrefix(to, "postgres:")
	case strings.HasPrefix(to, "sqlite:"):
		if p := strings.TrimPrefix(strings.TrimPrefix(to, "sqlite:"), "//"); samePath(p, path) {
			return "", "", errors.New("--from and --to name the same database; --to is the new PostgreSQL database: postgres:URL")
		}
		return "", "", errors.New("--to: payd migrate copies into PostgreSQL (postgres:URL); for a copy of a SQLite database use payd backup FILE")
	default:
		return "", "", errors.New("--to: write postgres:URL, e.g. --to postgres://payd@127.0.0.1:5432/payd?sslmode=disable (the password in PGPASSWORD)")
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return "", "", errors.New("--to: the URL after postgres: is not a postgres:// URL; write e.g. --to postgres:postgres://payd@127.0.0.1:5432/payd?sslmode=disable")
	}
	return path, url, nil
}

// samePath reports whether two paths name the same file (or would).
func samePath(a, b string) bool {
	if sa, err := os.Stat(a); err == nil {
		if sb, err := os.Stat(b); err == nil {
			return os.SameFile(sa, sb)
		}
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}
